/**
 * BEP 11 peer exchange for one torrent: tells each ut_pex-capable peer which peers we are
 * connected to (as a diff against what that peer last heard from us), and hands the peers it
 * tells us about to the torrent as connection candidates.
 *
 * Why per torrent with per-peer state: the diff is per recipient (each peer heard a different
 * history), while the set of peers to advertise is the torrent's. The torrent supplies that set
 * through `connectedPeers()` and takes learned peers through `onPeers`, so PEX never dials nor
 * touches connections itself — learned peers go through the same connection manager path (limits,
 * bans, duplicates) as tracker peers.
 *
 * Rules: at most one message per peer per `intervalMs` (BEP 11: once a minute; libtorrent closes
 * a peer that sends more than 6 within a minute), at most `maxAddedPerMessage` added and
 * `maxDroppedPerMessage` dropped per message (the rest goes in the next one). Incoming messages
 * closer together than `minIncomingIntervalMs` are ignored and counted (flooding); at most
 * `maxIncomingPeersPerMessage` added peers of one message are read. Private torrents (BEP 27)
 * must not use PEX: the torrent does not create a handler for them, so `ut_pex` is neither
 * announced in the extended handshake nor read.
 *
 * Advertised address: for a peer we dialled, the address we dialled (flag 0x10, reachable); for a
 * peer that dialled us, its listen port from the extended handshake (`p`), else it is not advertised
 * (its source port is useless to others), as libtorrent does.
 */
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { ExtendedHandshake, PeerExtension, PeerExtensionContext, PeerExtensionFactory } from '../protocol/extension-protocol.js'
import { decodePexMessage, encodePexMessage, PEX_FLAG_PREFERS_ENCRYPTION, PEX_FLAG_SEED, UT_PEX_NAME, type PexPeer } from '../protocol/ut-pex.js'
import { canonicalIp, formatIpv4, formatIpv6 } from '../tracker/compact-peers.js'
import type { CoarseScheduler, ScheduledTask } from '../util/coarse-scheduler.js'
import { formatPeerAddress, type PeerAddress } from '../peer/peer-address.js'
import type { PexSettings } from './pex-settings.js'

/** The id we receive ut_pex under (libtorrent uses 1 as well; ids are per side, any free one works). */
export const UT_PEX_LOCAL_ID = 1

/** A connected peer as PEX advertises it. */
export interface PexCandidate {
  /** `host:port` of the connection (the slot address): identifies the connection. */
  connectionKey: string
  /** The address others can dial. */
  address: PeerAddress
  /** PEX_FLAG_* bits. */
  flags: number
}

export interface PexHandlerDeps {
  clock: IClock
  scheduler: CoarseScheduler
  /** Read on use: run-time changes apply. */
  settings: () => PexSettings
  /** The peers to advertise now (connected, handshake done, with a dialable address). */
  connectedPeers: () => Iterable<PexCandidate>
  /** Peers a connection told us about (already limited and filtered). */
  onPeers: (peers: PexPeer[], fromConnectionKey: string) => void
  /** Our listen port, to recognise ourselves in what peers send. */
  listenPort: () => number | null
  logger?: Logger
}

/** Counters for stats and tests. */
export interface PexStats {
  messagesSent: number
  messagesReceived: number
  /** Incoming messages ignored because they came too soon after the previous one. */
  messagesIgnored: number
  /** Added peers handed to the torrent. */
  peersLearned: number
  /** Added peers left out: beyond the per-message cap, or ourselves. */
  peersIgnored: number
}

/** One connection's PEX state. */
class PexPeerState implements PeerExtension {
  readonly name = UT_PEX_NAME
  readonly localId = UT_PEX_LOCAL_ID
  /** What this peer has heard from us: advertised address key → address. */
  readonly sent = new Map<string, PeerAddress>()
  supported = false
  lastSentAtMs: number | null = null
  lastReceivedAtMs: number | null = null

  constructor (
    private readonly handler: PexHandler,
    readonly context: PeerExtensionContext,
    readonly connectionKey: string
  ) {}

  onHandshake (_handshake: ExtendedHandshake, remoteId: number | undefined): void {
    this.supported = remoteId !== undefined
  }

  onMessage (payload: Uint8Array): void {
    this.handler.received(this, payload)
  }

  onClose (): void {
    this.handler.forget(this)
  }
}

export class PexHandler {
  private readonly peers = new Set<PexPeerState>()
  private task: ScheduledTask | null = null
  private taskPeriodMs = 0
  private closed = false
  private readonly counters: PexStats = { messagesSent: 0, messagesReceived: 0, messagesIgnored: 0, peersLearned: 0, peersIgnored: 0 }

  constructor (private readonly deps: PexHandlerDeps) {
    this.schedule()
  }

  /** The extension factory for one new connection whose slot address is `connectionAddress`. */
  extension (connectionAddress: PeerAddress): PeerExtensionFactory {
    const key = formatPeerAddress(connectionAddress)
    return (context) => {
      const state = new PexPeerState(this, context, key)
      if (!this.closed) this.peers.add(state)
      return state
    }
  }

  stats (): PexStats {
    return { ...this.counters }
  }

  /** Sends what is due now (the scheduler calls it; tests may too). */
  tick (): void {
    if (this.closed) return
    const settings = this.deps.settings()
    if (this.taskPeriodMs !== tickPeriod(settings)) this.schedule()
    const now = this.deps.clock.now()
    let current: Map<string, PexCandidate> | null = null
    for (const state of this.peers) {
      if (!state.supported || state.context.remoteId === undefined) continue
      if (state.lastSentAtMs !== null && now - state.lastSentAtMs < settings.intervalMs) continue
      current ??= this.snapshot()
      this.sendDiff(state, current, settings, now)
    }
  }

  /** Stops the timer and forgets every connection's state. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.task?.cancel()
    this.task = null
    this.peers.clear()
  }

  /** @internal a connection closed */
  forget (state: PexPeerState): void {
    this.peers.delete(state)
  }

  /** @internal an incoming ut_pex message; a malformed one throws, which closes that peer. */
  received (state: PexPeerState, payload: Uint8Array): void {
    if (this.closed) return
    const settings = this.deps.settings()
    const now = this.deps.clock.now()
    if (state.lastReceivedAtMs !== null && now - state.lastReceivedAtMs < settings.minIncomingIntervalMs) {
      this.counters.messagesIgnored++
      state.context.logger?.debug('ut_pex message too soon: ignored', { sinceLastMs: now - state.lastReceivedAtMs })
      return
    }
    const message = decodePexMessage(payload, settings.maxIncomingPeersPerMessage)
    state.lastReceivedAtMs = now
    this.counters.messagesReceived++
    this.counters.peersIgnored += message.addedIgnored
    const self = this.selfAddress(state)
    const learned: PexPeer[] = []
    for (const peer of message.added) {
      if (self !== null && formatPeerAddress(peer.address) === self) {
        this.counters.peersIgnored++
        continue
      }
      learned.push(peer)
    }
    if (learned.length === 0) return
    this.counters.peersLearned += learned.length
    this.deps.onPeers(learned, state.connectionKey)
  }

  private schedule (): void {
    this.task?.cancel()
    if (this.closed) return
    this.taskPeriodMs = tickPeriod(this.deps.settings())
    this.task = this.deps.scheduler.every(this.taskPeriodMs, () => { this.tick() })
  }

  private snapshot (): Map<string, PexCandidate> {
    const out = new Map<string, PexCandidate>()
    for (const c of this.deps.connectedPeers()) out.set(formatPeerAddress(c.address), c)
    return out
  }

  private sendDiff (state: PexPeerState, current: Map<string, PexCandidate>, settings: PexSettings, now: number): void {
    const added: PexPeer[] = []
    const addedKeys: string[] = []
    for (const [key, c] of current) {
      if (added.length >= settings.maxAddedPerMessage) break
      // Not the recipient itself, and nothing it already heard.
      if (c.connectionKey === state.connectionKey || key === state.connectionKey || state.sent.has(key)) continue
      added.push({ address: c.address, flags: c.flags })
      addedKeys.push(key)
    }
    const dropped: PeerAddress[] = []
    const droppedKeys: string[] = []
    for (const [key, address] of state.sent) {
      if (dropped.length >= settings.maxDroppedPerMessage) break
      if (current.has(key)) continue
      dropped.push(address)
      droppedKeys.push(key)
    }
    if (added.length === 0 && dropped.length === 0) return
    if (!state.context.send(encodePexMessage({ added, dropped }))) return
    added.forEach((p, i) => state.sent.set(addedKeys[i]!, p.address))
    for (const key of droppedKeys) state.sent.delete(key)
    state.lastSentAtMs = now
    this.counters.messagesSent++
  }

  /** Our own listen address as this peer sees us (its `yourip` and our port), or null. */
  private selfAddress (state: PexPeerState): string | null {
    const port = this.deps.listenPort()
    const ip = state.context.remoteHandshake?.yourip
    if (port === null || ip === undefined) return null
    const host = ip.length === 4 ? formatIpv4(ip) : canonicalIp(formatIpv6(ip))
    return host === null ? null : formatPeerAddress({ host, port })
  }
}

/** How often to look for due messages: a second, or the interval when tests make it shorter. */
function tickPeriod (settings: PexSettings): number {
  return Math.max(1, Math.min(1_000, settings.intervalMs))
}

/** Whether a PEX entry carries flag 0x02: the peer is a seed or only uploads (BEP 11). */
export function pexIsSeed (peer: PexPeer): boolean {
  return (peer.flags & PEX_FLAG_SEED) !== 0
}

/** Whether a PEX entry carries flag 0x01: the peer prefers encrypted connections (BEP 11). */
export function pexPrefersEncryption (peer: PexPeer): boolean {
  return (peer.flags & PEX_FLAG_PREFERS_ENCRYPTION) !== 0
}
