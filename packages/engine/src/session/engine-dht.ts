/**
 * The engine's DHT (issue 10): one {@link DhtNode} on the shared UDP socket's `krpc` channel,
 * announcing and looking up every running torrent that is not private.
 *
 * - A torrent in the metadata phase, downloading or seeding announces (a get_peers lookup plus
 *   announce_peer with our listen port) at once, then every `reannounceMs` (~15 minutes); peers
 *   found go to the torrent with source 'dht' (the metadata phase takes them too). Our own
 *   address is left out (a node gets its announce back, INTEROP-NOTES).
 * - `Torrent.reannounce()` ('reannounce-requested') starts a round now, unless one is running, or
 *   as soon as `MIN_REANNOUNCE_MS` since the last round's start has passed (a user's repeated
 *   clicks must not turn into a lookup each).
 * - A private torrent never touches the DHT (BEP 27); a magnet counts as public until its
 *   metadata says otherwise, then it stops.
 * - The first announce does not wait for the node's bootstrap: its get_peers lookup starts at once
 *   from whatever the node knows, a thin table lending it the bootstrap nodes as seeds (as
 *   libtorrent seeds a lookup from its routers), and peers reach the torrent as answers arrive, so
 *   a magnet's metadata fetch starts on the first one. A dead bootstrap or table node then costs one
 *   lookup slot, not the query time-out before the torrent's lookup can even begin.
 * - A round that reached no node, or that found no peer for a torrent still wanting peers (metadata
 *   phase or downloading), is retried sooner, doubling to the interval: the seed may announce just
 *   after our lookup passed the nodes it announces to. A seeding torrent whose round reached nodes
 *   keeps the interval even when it found no peer: its announce is stored at the closest nodes,
 *   which is what a seed's round is for, and leechers find it there. libtorrent 2.0 does the same
 *   (every torrent once per dht_announce_interval, 15 minutes, an empty reply changing nothing),
 *   and has no shorter retry at all, for leechers either.
 * - `dht:state` (node id and good nodes) is read from the session store when the node starts and
 *   written on `save()` / close, so a restart bootstraps from known nodes before the routers.
 * - Bootstrap entries the socket cannot reach are left out: from a socket bound to loopback only
 *   loopback literals (names would resolve to the internet). This is also what keeps engines that
 *   tests bind to 127.0.0.1 off the public routers.
 */
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import type { ISessionStore } from '../interfaces/session-store.js'
import type { IUdpSocket } from '../interfaces/socket.js'
import type { PeerAddress, PeerSource } from '../peer/peer-address.js'
import { TorrentState, type StateChange } from '../torrent/torrent-state.js'
import { canonicalIp, ipFamily, parseIp } from '../tracker/compact-peers.js'
import { fromUtf8, utf8 } from '../util/bytes.js'
import { DhtNode } from '../dht/dht-node.js'
import type { EngineSettings } from './engine-settings.js'
import { DHT_STATE_KEY } from '../dht/dht-state.js'
import type { DhtStats } from '../dht/dht-stats.js'

/** What the engine's DHT needs of a torrent (Torrent satisfies it). */
export interface DhtTorrent {
  readonly id: string
  readonly state: TorrentState
  readonly hasMetadata: boolean
  readonly meta: { private: boolean }
  /** The info hash, and a hybrid's truncated v2 hash: the DHT keys it is found under. */
  handshakeHashes: () => Uint8Array[]
  addPeer: (address: PeerAddress, source: PeerSource) => boolean
  on: ((event: 'state-changed', listener: (change: StateChange) => void) => () => void) &
    ((event: 'reannounce-requested', listener: () => void) => () => void)
}

export interface EngineDhtDeps {
  clock: IClock
  random: IRandom
  /** The engine's settings: sections `dht`, `discovery` (its `dht` switch) and `listen` (the host). */
  settings: () => Pick<EngineSettings, 'dht' | 'discovery' | 'listen'>
  /** The engine's UDP socket's `krpc` channel once bound, else null. */
  channel: () => IUdpSocket | null
  /** The bound TCP port (what we announce), or null. */
  listenPort: () => number | null
  sessionStore?: ISessionStore
  logger?: Logger
  onWarning: (error: unknown) => void
}

/** Re-announce interval (BEP 5 clients announce every 15 to 30 minutes). */
const REANNOUNCE_MS = 15 * 60_000
/** Forced re-announces (`Torrent.reannounce()`) start a round at most this often. */
const MIN_REANNOUNCE_MS = 60_000
/** First retry of an announce round that reached no node. */
const RETRY_MS = 10_000

const ACTIVE_STATES: ReadonlySet<TorrentState> = new Set([TorrentState.Metadata, TorrentState.Downloading, TorrentState.Seeding, TorrentState.FetchingHashes])

interface Tracked {
  torrent: DhtTorrent
  off: () => void
  timer: ITimer | null
  running: boolean
  retryMs: number
  abort: AbortController | null
  /** When the last round started (clock ms), or null before the first. */
  lastRoundMs: number | null
  /** When `timer` fires (clock ms). */
  dueMs: number
}

export class EngineDht {
  private node: DhtNode | null = null
  private starting: Promise<DhtNode | null> | null = null
  private readonly tracked = new Map<string, Tracked>()
  private closed = false

  constructor (private readonly deps: EngineDhtDeps) {}

  /** The node, once started (null while the DHT is off or the socket is not bound). */
  get dhtNode (): DhtNode | null { return this.node }

  /** Whether the DHT is on: `discovery.dht` and `dht.enabled`. */
  get enabled (): boolean {
    const s = this.deps.settings()
    return s.discovery.dht && s.dht.enabled
  }

  /** Starts the node if the DHT is on and the socket is bound; idempotent. */
  async start (): Promise<DhtNode | null> {
    if (this.node !== null || this.closed || !this.enabled) return this.node
    this.starting ??= this.createNode().finally(() => { this.starting = null })
    return this.starting
  }

  private async createNode (): Promise<DhtNode | null> {
    const channel = this.deps.channel()
    if (channel === null) return null
    let state: unknown = null
    try {
      const bytes = await this.deps.sessionStore?.get(DHT_STATE_KEY)
      if (bytes !== undefined && bytes !== null) state = JSON.parse(fromUtf8(bytes))
    } catch (error) {
      this.deps.onWarning(error) // a damaged state only costs a bootstrap from the routers
    }
    if (this.closed || this.node !== null) return this.node
    const settings = this.deps.settings().dht
    const host = this.deps.settings().listen.host
    const family = ipFamily(host) ?? 4
    this.node = new DhtNode({
      socket: channel,
      clock: this.deps.clock,
      random: this.deps.random,
      families: [family],
      ...(this.deps.logger !== undefined ? { logger: this.deps.logger } : {})
    }, { ...settings, bootstrapNodes: reachableFrom(host, settings.bootstrapNodes) }, state)
    this.node.start()
    for (const t of this.tracked.values()) this.schedule(t, 0)
    return this.node
  }

  /** Follows a torrent: announces while it runs (unless private). */
  track (torrent: DhtTorrent): void {
    if (this.closed || this.tracked.has(torrent.id)) return
    const t: Tracked = { torrent, off: () => {}, timer: null, running: false, retryMs: RETRY_MS, abort: null, lastRoundMs: null, dueMs: 0 }
    const offState = torrent.on('state-changed', () => { this.onStateChanged(t) })
    const offForced = torrent.on('reannounce-requested', () => { this.onReannounceRequested(t) })
    t.off = () => { offState(); offForced() }
    this.tracked.set(torrent.id, t)
    this.onStateChanged(t)
  }

  untrack (id: string): void {
    const t = this.tracked.get(id)
    if (t === undefined) return
    this.tracked.delete(id)
    t.off()
    this.cancel(t)
  }

  stats (): DhtStats | null {
    return this.node?.stats() ?? null
  }

  /** Writes `dht:state` to the session store (no-op without a node or a store). */
  async save (): Promise<void> {
    if (this.node === null || this.deps.sessionStore === undefined) return
    await this.deps.sessionStore.set(DHT_STATE_KEY, utf8(JSON.stringify(this.node.saveState())))
  }

  /** Saves the state, stops every announce and the node (the socket is the engine's). Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    await this.starting
    await this.save().catch((error: unknown) => { this.deps.onWarning(error) })
    this.closed = true
    for (const id of [...this.tracked.keys()]) this.untrack(id)
    this.node?.close()
  }

  private wanted (torrent: DhtTorrent): boolean {
    return ACTIVE_STATES.has(torrent.state) && !(torrent.hasMetadata && torrent.meta.private)
  }

  private onStateChanged (t: Tracked): void {
    if (!this.wanted(t.torrent)) { this.cancel(t); return }
    if (t.timer === null && !t.running) this.schedule(t, 0)
  }

  private onReannounceRequested (t: Tracked): void {
    if (!this.wanted(t.torrent) || t.running) return
    const sinceMs = t.lastRoundMs === null ? Infinity : this.deps.clock.now() - t.lastRoundMs
    const delayMs = Math.max(0, MIN_REANNOUNCE_MS - sinceMs)
    // A round already due sooner (a retry) stays.
    if (t.timer !== null && t.dueMs <= this.deps.clock.now() + delayMs) return
    this.schedule(t, delayMs)
  }

  private cancel (t: Tracked): void {
    t.timer?.cancel()
    t.timer = null
    t.abort?.abort()
    t.abort = null
    t.retryMs = RETRY_MS
  }

  private schedule (t: Tracked, delayMs: number): void {
    if (this.closed || t.running) return
    t.timer?.cancel()
    t.dueMs = this.deps.clock.now() + delayMs
    t.timer = this.deps.clock.setTimeout(() => {
      t.timer = null
      this.announce(t).catch((error: unknown) => { this.deps.onWarning(error) })
    }, delayMs)
  }

  private async announce (t: Tracked): Promise<void> {
    if (!this.wanted(t.torrent) || this.tracked.get(t.torrent.id) !== t) return
    const node = this.node ?? await this.start()
    if (node === null) return // no socket yet: start() schedules every torrent once it has one
    t.running = true
    t.lastRoundMs = this.deps.clock.now()
    const abort = new AbortController()
    t.abort = abort
    let reached = 0
    let found = 0
    try {
      const port = this.deps.listenPort()
      for (const hash of t.torrent.handshakeHashes()) {
        if (abort.signal.aborted) break
        const result = await node.announce(hash, {
          ...(port !== null ? { port } : {}),
          signal: abort.signal,
          onPeers: (peers) => { this.deliver(t, peers) }
        })
        reached += result.announcedTo
        found += result.peers.length
      }
    } finally {
      t.running = false
      if (t.abort === abort) t.abort = null
    }
    if (abort.signal.aborted || !this.wanted(t.torrent)) return
    if (reached > 0 && (found > 0 || t.torrent.state === TorrentState.Seeding)) {
      t.retryMs = RETRY_MS
      this.schedule(t, REANNOUNCE_MS)
    } else {
      this.schedule(t, t.retryMs)
      t.retryMs = Math.min(t.retryMs * 2, REANNOUNCE_MS)
    }
  }

  private deliver (t: Tracked, peers: readonly PeerAddress[]): void {
    if (!this.wanted(t.torrent)) return
    const ownPort = this.deps.listenPort()
    const external = this.node?.stats().externalIp ?? null
    for (const peer of peers) {
      if (peer.port === ownPort && (isLoopback(peer.host) || peer.host === external || peer.host === canonicalIp(this.deps.settings().listen.host))) continue
      try {
        t.torrent.addPeer(peer, 'dht')
      } catch (error) {
        this.deps.onWarning(error)
      }
    }
  }
}

function isLoopback (host: string): boolean {
  const ip = parseIp(host)
  if (ip === null) return host === 'localhost'
  return ip.length === 4 ? ip[0] === 127 : ip.every((b, i) => b === (i === 15 ? 1 : 0))
}

/** The bootstrap entries a socket bound to `host` can reach (see the module comment). */
function reachableFrom (host: string, entries: readonly string[]): string[] {
  if (!isLoopback(host)) return [...entries]
  return entries.filter((entry) => {
    const colon = entry.lastIndexOf(':')
    return colon > 0 && isLoopback(entry.slice(0, colon).replace(/^\[(.*)\]$/, '$1'))
  })
}
