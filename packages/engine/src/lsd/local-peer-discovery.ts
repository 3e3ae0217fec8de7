/**
 * BEP 14 local service discovery for the engine: announces every running non-private torrent on
 * the LAN's multicast group and adds the peers other clients announce (source 'lsd').
 *
 * - One socket on port 6771, shared with other clients on the host (SO_REUSEADDR) and joined to
 *   239.192.152.143 (plus ff15::efc0:988f where IPv6 multicast works); without a socket factory
 *   that can do multicast (the memory network, a browser) LSD is simply off.
 * - Off when the engine listens on loopback only: nobody on the LAN could connect to the port we
 *   would announce (and it keeps engines that tests bind to 127.0.0.1 off the multicast group).
 * - Rate-limited: a torrent is announced at start and every `announceIntervalMs` (BEP 14 allows
 *   one announce per minute at most), and all messages share a small per-second budget.
 * - Our own announces come back through multicast loopback: the `cookie` recognises them.
 * - A private torrent is never announced and never takes LSD peers (BEP 27).
 */
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import type { ISocketFactory, IUdpSocket, UdpRemote } from '../interfaces/socket.js'
import type { PeerAddress, PeerSource } from '../peer/peer-address.js'
import { TorrentState, type StateChange } from '../torrent/torrent-state.js'
import { canonicalIp } from '../tracker/compact-peers.js'
import { toHex } from '../util/bytes.js'
import { TokenBucket } from '../dht/query-rate-limiter.js'
import { encodeLsdMessage, LSD_GROUP_V4, LSD_GROUP_V6, LSD_PORT, parseLsdMessage } from './lsd-message.js'

/** Settings section `lsd`. */
export interface LsdSettings {
  /** BEP 14 local service discovery (also needs `discovery.lsd`). @default true */
  enabled: boolean
  /** Re-announce interval per torrent. @default 300_000 */
  announceIntervalMs: number
}

export const defaultLsdSettings: Readonly<LsdSettings> = { enabled: true, announceIntervalMs: 5 * 60_000 }

/** BEP 14: no more than one announce per torrent per minute. */
const MIN_ANNOUNCE_INTERVAL_MS = 60_000

/** What LSD needs of a torrent (Torrent satisfies it). */
export interface LsdTorrent {
  readonly id: string
  readonly state: TorrentState
  readonly hasMetadata: boolean
  readonly meta: { private: boolean }
  handshakeHashes: () => Uint8Array[]
  addPeer: (address: PeerAddress, source: PeerSource) => boolean
  on: (event: 'state-changed', listener: (change: StateChange) => void) => () => void
}

export interface LocalPeerDiscoveryDeps {
  socketFactory: ISocketFactory
  clock: IClock
  random: IRandom
  /** The engine's settings: `discovery.lsd` and `lsd.enabled` switch it, `listen.host`, `lsd.announceIntervalMs`. */
  settings: () => { discovery: { lsd: boolean }, lsd: LsdSettings, listen: { host: string } }
  listenPort: () => number | null
  logger?: Logger
  onWarning: (error: unknown) => void
}

/** Counters of `engine.stats().lsd` (BEP 14 local service discovery). */
export interface LsdStats {
  /** BT-SEARCH datagrams we sent (one per torrent and multicast group). */
  announcesOut: number
  /** Datagrams that reached the LSD sockets, our own echoes included. */
  messagesIn: number
  /** Well-formed BT-SEARCH announces from other clients (our own, recognised by the cookie, left out). */
  announcesIn: number
  /** Messages that were not BT-SEARCH (or broke a bound). */
  malformed: number
  /** Peers handed to a torrent (an address new to it) from announces for its info hash. */
  peersFound: number
}

const ACTIVE_STATES: ReadonlySet<TorrentState> = new Set([TorrentState.Metadata, TorrentState.Downloading, TorrentState.Seeding, TorrentState.FetchingHashes])

interface Tracked { torrent: LsdTorrent, off: () => void, timer: ITimer | null, lastAnnounceMs: number }

export class LocalPeerDiscovery {
  private sockets: Array<{ socket: IUdpSocket, group: string }> = []
  private starting: Promise<void> | null = null
  private started = false
  private closed = false
  /** Made when LSD starts (not before: an engine with LSD off draws nothing from its random source). */
  private cookie = ''
  private readonly tracked = new Map<string, Tracked>()
  private readonly budget: TokenBucket
  private readonly counters: LsdStats = { announcesOut: 0, messagesIn: 0, announcesIn: 0, malformed: 0, peersFound: 0 }

  constructor (private readonly deps: LocalPeerDiscoveryDeps) {
    this.budget = new TokenBucket({ perSecond: 5, burst: 10 }, deps.clock.now())
  }

  /** Whether LSD runs: on in the settings, a multicast-capable socket factory, not bound to loopback. */
  get enabled (): boolean {
    const s = this.deps.settings()
    if (!s.discovery.lsd || !s.lsd.enabled || this.deps.socketFactory.bindUdpMulticast === undefined) return false
    const host = canonicalIp(s.listen.host)
    return host === null ? s.listen.host !== 'localhost' : !(host.startsWith('127.') || host === '::1')
  }

  stats (): LsdStats | null { return this.started ? { ...this.counters } : null }

  /** Binds the multicast sockets (once the engine listens); idempotent; failures are warnings. */
  async start (): Promise<void> {
    if (this.started || this.closed || !this.enabled) return
    this.starting ??= this.bind()
    await this.starting
  }

  private async bind (): Promise<void> {
    const bindMulticast = this.deps.socketFactory.bindUdpMulticast
    if (bindMulticast === undefined) return
    this.cookie = toHex(this.deps.random.fill(new Uint8Array(8)))
    for (const group of [LSD_GROUP_V4, LSD_GROUP_V6]) {
      try {
        const socket = await bindMulticast.call(this.deps.socketFactory, group, LSD_PORT)
        if (this.closed) { socket.close(); return }
        socket.onMessage((data, remote) => { this.onMessage(data, remote) })
        this.sockets.push({ socket, group })
      } catch (error) {
        // IPv6 multicast is often unavailable; IPv4 failing is worth a warning.
        if (group === LSD_GROUP_V4) this.deps.onWarning(error)
      }
    }
    this.started = this.sockets.length > 0
    if (this.started) for (const t of this.tracked.values()) this.schedule(t, 0)
  }

  track (torrent: LsdTorrent): void {
    if (this.closed || this.tracked.has(torrent.id)) return
    const t: Tracked = { torrent, off: () => {}, timer: null, lastAnnounceMs: -Infinity }
    t.off = torrent.on('state-changed', () => { this.onStateChanged(t) })
    this.tracked.set(torrent.id, t)
    this.onStateChanged(t)
  }

  untrack (id: string): void {
    const t = this.tracked.get(id)
    if (t === undefined) return
    this.tracked.delete(id)
    t.off()
    t.timer?.cancel()
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    for (const id of [...this.tracked.keys()]) this.untrack(id)
    for (const { socket } of this.sockets) socket.close()
    this.sockets = []
  }

  private wanted (torrent: LsdTorrent): boolean {
    return ACTIVE_STATES.has(torrent.state) && !(torrent.hasMetadata && torrent.meta.private)
  }

  private onStateChanged (t: Tracked): void {
    if (!this.wanted(t.torrent)) {
      t.timer?.cancel()
      t.timer = null
      return
    }
    if (t.timer === null && this.started) this.schedule(t, Math.max(0, t.lastAnnounceMs + MIN_ANNOUNCE_INTERVAL_MS - this.deps.clock.now()))
  }

  private schedule (t: Tracked, delayMs: number): void {
    t.timer?.cancel()
    t.timer = this.deps.clock.setTimeout(() => {
      t.timer = null
      this.announce(t)
    }, delayMs)
  }

  private announce (t: Tracked): void {
    if (this.closed || !this.wanted(t.torrent) || this.tracked.get(t.torrent.id) !== t) return
    const port = this.deps.listenPort()
    const now = this.deps.clock.now()
    if (port !== null && this.budget.take(now)) {
      const hashes = t.torrent.handshakeHashes().map(toHex)
      for (const { socket, group } of this.sockets) {
        socket.send(encodeLsdMessage(group, port, hashes, this.cookie), group, LSD_PORT)
        this.counters.announcesOut++
      }
      t.lastAnnounceMs = now
      this.schedule(t, Math.max(MIN_ANNOUNCE_INTERVAL_MS, this.deps.settings().lsd.announceIntervalMs))
    } else {
      this.schedule(t, 1_000) // over the budget (or not listening yet): try again shortly
    }
  }

  private onMessage (data: Uint8Array, remote: UdpRemote): void {
    this.counters.messagesIn++
    const message = parseLsdMessage(data)
    if (message === null) { this.counters.malformed++; return }
    if (message.cookie === this.cookie) return
    this.counters.announcesIn++
    const host = canonicalIp(remote.address) ?? remote.address
    for (const hash of message.infoHashes) {
      for (const t of this.tracked.values()) {
        if (!this.wanted(t.torrent) || !t.torrent.handshakeHashes().some((h) => toHex(h) === hash)) continue
        try {
          if (t.torrent.addPeer({ host, port: message.port }, 'lsd')) this.counters.peersFound++
        } catch (error) {
          this.deps.onWarning(error)
        }
      }
    }
  }
}
