/**
 * Decides which peers get a TCP connection: global and per-torrent connection limits, a limit on
 * half-open (dialling) connections, a fair connect queue across torrents, a banned set, and
 * self-connection and duplicate detection (seed 000's ConnectionManager).
 *
 * Why the engine, not each torrent, owns this: the limits are global (one process, one set of
 * file descriptors, one uplink), and duplicate/self detection needs to see every connection.
 * Torrents hand it candidate addresses and receive sockets; they never dial themselves.
 *
 * Accounting invariant: every connection the manager knows of holds exactly one slot from dial
 * (or, incoming, from the handshake naming its torrent) until its owner releases it, and a slot counts toward the global limit and, once it
 * belongs to a torrent, toward that torrent's limit. `halfOpen` counts dials in flight only.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { ConnectOptions, ITcpSocket, ISocketFactory } from '../interfaces/socket.js'
import { bytesEqual, toHex } from '../util/bytes.js'
import type { IpFilter } from '../ip-filter/ip-filter.js'
import type { EncryptionPolicy } from '../transport/mse/encryption-policy.js'
import { PEX_FLAG_PREFERS_ENCRYPTION, PEX_FLAG_UTP } from '../protocol/ut-pex.js'
import { formatPeerAddress, type PeerAddress } from './peer-address.js'
import { defaultConnectionSettings, type ConnectionSettings } from './connection-settings.js'
import { CandidateQueue } from './candidate-queue.js'
import { SparseMap, SparseSet } from '../util/sparse-collections.js'

export interface ConnectionManagerDeps {
  socketFactory: ISocketFactory
  clock: IClock
  /** Our 20-byte peer id, for self-connection detection. */
  peerId: Uint8Array
  logger?: Logger
  /** Told of every peer the IP filter refuses (candidates to dial and incoming connections). */
  onPeerBlocked?: (event: PeerBlockedEvent) => void
  /** MSE/PE for dialled connections of owners that give an `skey`; without it dials are plaintext. */
  encryption?: EncryptionPolicy
  /** Dials a peer (the engine's TCP/uTP dialer). @default socketFactory.connectTcp */
  dial?: (host: string, port: number, options: ConnectOptions) => Promise<ITcpSocket>
  /** A peer is said to support uTP (PEX flag 0x04): the dialer tries uTP first for it. */
  hintUtp?: (host: string, port: number) => void
}

/** A peer refused by the IP filter. */
export interface PeerBlockedEvent {
  /** `host:port` */
  address: string
  /** 'outgoing': a candidate that is not dialled; 'incoming': a connection closed before its handshake. */
  direction: 'outgoing' | 'incoming'
  /** The torrent the candidate was for (unknown for incoming connections before the handshake). */
  torrentId?: string
  reason: 'ip-filter'
}

/** What a torrent gives the manager: where to deliver sockets, and whether it wants more. */
export interface ConnectionOwner {
  /** False while the torrent does not want new connections (paused, complete and idle...). */
  wantsConnections (): boolean
  /** This torrent's own connection cap, overriding `maxConnectionsPerTorrent`. */
  maxConnections? (): number | undefined
  /** The 20-byte info hash our handshakes name, which keys an encrypted dial (MSE's SKEY). */
  readonly skey?: Uint8Array
  /** An outgoing dial succeeded. The owner now owns `socket` and must release `slot` when it closes. */
  onOutgoing (socket: ITcpSocket, slot: ConnectionSlot): void
  /** An outgoing dial failed. */
  onConnectFailed? (address: PeerAddress, error: LodestoneError): void
  /**
   * BEP 40: an incoming peer at `address` finds the torrent at its connection limit. The owner may
   * close a connection that ranks below it (returning true: the newcomer takes that place, the
   * count briefly one over until the closed socket releases its slot) or keep them all (false).
   */
  makeRoomFor? (address: PeerAddress): boolean
}

/** Why `identify` refused a peer. */
export type IdentifyResult = 'ok' | 'self' | 'duplicate' | 'banned'

/** Why a connection was not admitted. */
export type AdmitRefusal = 'banned' | 'ip-filtered' | 'global-limit' | 'torrent-limit' | 'unknown-torrent' | 'closed' | 'pending-limit'

/**
 * One connection's claim on the limits. The holder calls `identify` once the handshake gave the
 * remote peer id, and `release` exactly when the socket closes (idempotent).
 */
export interface ConnectionSlot {
  readonly torrentId: string
  readonly address: PeerAddress
  readonly direction: 'outgoing' | 'incoming'
  /** Hex peer id once identified. */
  readonly peerIdHex: string | null
  /**
   * Incoming: when the socket was accepted (clock ms). The handshake deadline counts from then,
   * so time spent in the listener is not granted a second time by the peer connection.
   */
  readonly acceptedAtMs: number | null
  /**
   * Registers the remote peer id: refuses ourselves, a banned host, or a second connection to the
   * same peer. When both sides dialled each other at once, both keep the same one of the two
   * connections (the one dialled by the side with the lower peer id); if that is this one, the
   * other slot's `onReplaced` callback runs and its holder must close it.
   */
  identify (peerId: Uint8Array): IdentifyResult
  /** Called when a later connection to the same peer wins the tie-break (see `identify`). */
  onReplaced (cb: () => void): void
  /**
   * The peer is also reachable at `address` (an incoming peer's listen port from its extended
   * handshake, or an address we dialled that turned out to be this peer): candidates naming it are
   * refused while this slot is held, instead of being dialled and dropped as duplicates.
   */
  knownAs (address: PeerAddress): void
  release (): void
}

/**
 * A place in the pending-incoming budget for a socket whose handshake has not named a torrent
 * yet. It holds no connection slot: claiming one (global and torrent limits) happens at `claim`.
 */
export interface IncomingTicket {
  /** When the socket was accepted (clock ms). */
  readonly acceptedAtMs: number
  /** Moves the slot to `torrentId`, or refuses (the ticket is then released). */
  claim (torrentId: string): ConnectionSlot | AdmitRefusal
  release (): void
}

interface TorrentEntry {
  owner: ConnectionOwner
  /** Slots held by this torrent (dialling, handshaking or connected). */
  slots: SparseSet<SlotImpl>
  /**
   * Addresses (keys) of peers this torrent has a slot with — a slot's own address and the
   * addresses it is also known as (see `ConnectionSlot.knownAs`) — each with how many slots hold
   * it: not re-queued or re-dialled.
   */
  addressKeys: SparseMap<string, number>
  /** Peer ids (hex) identified in this torrent. */
  peerIds: SparseMap<string, SlotImpl>
  /** Candidates to dial: the main queue, then PEX-learned ones at a limited rate. */
  queue: CandidateQueue
  /**
   * Address key → back-off record: failed attempts since the last good handshake, when to try
   * again, and hang-ups after a good handshake (kept across reconnects, see redialLater).
   */
  failures: SparseMap<string, { count: number, retryAtMs: number, hangups?: number }>
}

/** Counters for stats and tests. */
export interface ConnectionManagerStats {
  connections: number
  halfOpen: number
  pendingIncoming: number
  queuedCandidates: number
  droppedCandidates: number
  refusedIncoming: number
  selfConnections: number
  duplicates: number
  bannedHosts: number
  /** Peers refused by the IP filter (candidates and incoming connections). */
  blockedPeers: number
}

export class ConnectionManager {
  private readonly torrents = new Map<string, TorrentEntry>()
  private readonly banned = new Map<string, string>()
  /** Address keys found to be ourselves: never dialled again. */
  private readonly selfAddresses = new Set<string>()
  private settings: ConnectionSettings
  private totalSlots = 0
  private halfOpen = 0
  private pendingIncoming = 0
  private pumpScheduled = false
  private closed = false
  /** Round-robin cursor over torrents, so one torrent's long queue cannot starve the others. */
  private rrIndex = 0
  private readonly dials = new Set<AbortController>()
  private counters = { droppedCandidates: 0, refusedIncoming: 0, selfConnections: 0, duplicates: 0, blockedPeers: 0 }
  private ipFilter: IpFilter | null = null

  constructor (private readonly deps: ConnectionManagerDeps, settings: ConnectionSettings = defaultConnectionSettings) {
    this.settings = { ...settings }
  }

  /** Applies new limits; lowering them does not close connections, it only stops new ones. */
  updateSettings (settings: ConnectionSettings): void {
    this.settings = { ...settings }
    this.schedulePump()
  }

  /**
   * Applies an IP filter (null: none) to every later dial and incoming connection, and drops
   * queued candidates it denies. Connections already open are their owners' to close.
   */
  setIpFilter (filter: IpFilter | null): void {
    this.ipFilter = filter
    if (filter === null) return
    for (const entry of this.torrents.values()) {
      entry.queue.filter((a) => filter.isAllowed(a.host))
    }
  }

  /** True when the IP filter denies `host`. */
  isBlocked (host: string): boolean {
    return this.ipFilter !== null && !this.ipFilter.isAllowed(host)
  }

  addTorrent (torrentId: string, owner: ConnectionOwner): void {
    if (this.torrents.has(torrentId)) return
    this.torrents.set(torrentId, {
      owner,
      // Sparse: most of 10 000 seeding torrents never see a peer (issue 13).
      slots: new SparseSet(),
      addressKeys: new SparseMap(),
      peerIds: new SparseMap(),
      queue: new CandidateQueue(),
      failures: new SparseMap()
    })
  }

  /**
   * Forgets a torrent's queue. Slots it still holds stay counted until their owner releases
   * them (the torrent closes its peers); dials in flight for it are closed on arrival.
   */
  removeTorrent (torrentId: string): void {
    const entry = this.torrents.get(torrentId)
    if (entry === undefined) return
    entry.queue.clear()
    this.torrents.delete(torrentId)
  }

  /** Drops the queued candidates of a torrent (e.g. when it pauses) but keeps it registered. */
  clearCandidates (torrentId: string): void {
    const entry = this.torrents.get(torrentId)
    if (entry === undefined) return
    entry.queue.clear()
  }

  /**
   * Queues an address to dial for `torrentId`. Returns false when it is refused: banned host,
   * ourselves, already connected or queued, given up on, queue full or unknown torrent.
   * `lowPriority`: learned only through peer exchange, dialled after the others and at most
   * `pexDialsPerSecond` (see CandidateQueue).
   */
  addCandidate (torrentId: string, address: PeerAddress, options: { lowPriority?: boolean } = {}): boolean {
    const entry = this.torrents.get(torrentId)
    if (entry === undefined || this.closed) return false
    const key = formatPeerAddress(address)
    if (this.banned.has(address.host) || this.selfAddresses.has(key)) return false
    if (this.isBlocked(address.host)) {
      this.blocked(key, 'outgoing', torrentId)
      return false
    }
    if (entry.addressKeys.has(key) || entry.queue.has(key)) return false
    const failure = entry.failures.get(key)
    if (failure !== undefined && failure.count >= this.settings.maxConnectAttempts) return false
    if (entry.queue.length >= this.settings.maxCandidatesPerTorrent) {
      this.counters.droppedCandidates++
      return false
    }
    entry.queue.push({ host: address.host, port: address.port }, options)
    this.schedulePump()
    return true
  }

  /**
   * A peer's address said it prefers encrypted connections (its extended handshake's `e`, or a
   * PEX flag about it): the encryption policy stops treating it as plaintext-only.
   */
  peerPrefersEncryption (address: PeerAddress): void {
    this.deps.encryption?.peerPrefersEncryption(formatPeerAddress(address))
  }

  /**
   * What a PEX entry's flags say about dialling `address` (BEP 11): 0x01, it prefers encrypted
   * connections; 0x04, it supports uTP, so the dialer tries uTP first.
   */
  pexFlagsHeard (address: PeerAddress, flags: number): void {
    if ((flags & PEX_FLAG_PREFERS_ENCRYPTION) !== 0) this.peerPrefersEncryption(address)
    if ((flags & PEX_FLAG_UTP) !== 0) this.deps.hintUtp?.(address.host, address.port)
  }

  /** Candidates waiting to be dialled for a torrent. */
  queuedCount (torrentId: string): number {
    return this.torrents.get(torrentId)?.queue.length ?? 0
  }

  /** Slots (dialling, handshaking and connected) held by a torrent. */
  connectionCount (torrentId: string): number {
    return this.torrents.get(torrentId)?.slots.size ?? 0
  }

  /** Bans a host (all its ports) for the life of the manager. Its connections are the caller's to close. */
  ban (host: string, reason: string): void {
    if (this.banned.has(host)) return
    this.banned.set(host, reason)
    for (const entry of this.torrents.values()) {
      entry.queue.filter((a) => a.host !== host)
    }
    this.deps.logger?.info('host banned', { host, reason })
  }

  isBanned (host: string): boolean {
    return this.banned.has(host)
  }

  /** Banned hosts and why. */
  bannedHosts (): ReadonlyMap<string, string> {
    return this.banned
  }

  /**
   * Admits an incoming socket before its handshake: refused when the host is banned or filtered,
   * every connection slot is taken, or the pending-incoming budget is full ('pending-limit': the
   * listener may evict its oldest pending handshake and ask again). The listener closes the
   * socket on refusal.
   */
  acceptIncoming (address: PeerAddress): IncomingTicket | AdmitRefusal {
    if (this.closed) return 'closed'
    if (this.banned.has(address.host)) {
      this.counters.refusedIncoming++
      return 'banned'
    }
    if (this.isBlocked(address.host)) {
      this.counters.refusedIncoming++
      this.blocked(formatPeerAddress(address), 'incoming')
      return 'ip-filtered'
    }
    if (this.totalSlots >= this.settings.maxConnections) {
      this.counters.refusedIncoming++
      return 'global-limit'
    }
    // Not counted as refused: the listener makes room and asks again, and counts what it does.
    if (this.pendingIncoming >= this.settings.maxPendingIncoming) return 'pending-limit'
    this.pendingIncoming++
    const acceptedAtMs = this.deps.clock.now()
    let done = false
    const release = (): void => {
      if (done) return
      done = true
      this.pendingIncoming--
      this.schedulePump()
    }
    return {
      acceptedAtMs,
      claim: (torrentId) => {
        if (done) return 'closed'
        release()
        const entry = this.torrents.get(torrentId)
        if (entry === undefined) return 'unknown-torrent'
        // The filter may have changed while the handshake was read.
        if (this.isBlocked(address.host)) {
          this.counters.refusedIncoming++
          this.blocked(formatPeerAddress(address), 'incoming', torrentId)
          return 'ip-filtered'
        }
        if (this.totalSlots >= this.settings.maxConnections) {
          this.counters.refusedIncoming++
          return 'global-limit'
        }
        if (entry.slots.size >= this.torrentLimit(entry) && entry.owner.makeRoomFor?.(address) !== true) {
          this.counters.refusedIncoming++
          return 'torrent-limit'
        }
        return this.openSlot(torrentId, entry, address, 'incoming', acceptedAtMs)
      },
      release
    }
  }

  /** Dials queued candidates while the limits allow. Coalesced: many calls → one pass per tick. */
  schedulePump (): void {
    if (this.pumpScheduled || this.closed) return
    this.pumpScheduled = true
    queueMicrotask(() => {
      this.pumpScheduled = false
      this.pump()
    })
  }

  /** One pass over the connect queues (the engine also calls it from its periodic tick for back-offs). */
  pump (): void {
    if (this.closed) return
    // Only torrents with candidates: an engine seeding 10 000 torrents has almost none, and a turn
    // over all of them on every pump made closing it O(n²).
    const ids: string[] = []
    for (const [id, entry] of this.torrents) if (entry.queue.length > 0) ids.push(id)
    if (ids.length === 0) return
    let idle = 0
    // Round robin: one dial per torrent per turn, until limits stop us or a full turn finds nothing.
    while (this.halfOpen < this.settings.maxHalfOpen &&
      this.totalSlots < this.settings.maxConnections && idle < ids.length) {
      const id = ids[this.rrIndex % ids.length]!
      this.rrIndex = (this.rrIndex + 1) % ids.length
      const entry = this.torrents.get(id)
      if (entry !== undefined && this.dialNext(id, entry)) idle = 0
      else idle++
    }
  }

  /** Stops dialling, aborts dials in flight. Slots still held are the owners' to release. */
  close (): void {
    if (this.closed) return
    this.closed = true
    for (const dial of this.dials) dial.abort()
    this.dials.clear()
    for (const entry of this.torrents.values()) {
      entry.queue.clear()
    }
  }

  stats (): ConnectionManagerStats {
    let queued = 0
    for (const entry of this.torrents.values()) queued += entry.queue.length
    return {
      connections: this.totalSlots,
      halfOpen: this.halfOpen,
      pendingIncoming: this.pendingIncoming,
      queuedCandidates: queued,
      bannedHosts: this.banned.size,
      ...this.counters
    }
  }

  private dialNext (torrentId: string, entry: TorrentEntry): boolean {
    if (entry.slots.size >= this.torrentLimit(entry) || !entry.owner.wantsConnections()) return false
    const now = this.deps.clock.now()
    // The first candidate not backing off; ones backing off keep their place.
    const next = entry.queue.take(now, (key) => (entry.failures.get(key)?.retryAtMs ?? 0) > now, this.settings.pexDialsPerSecond)
    if (next === null) return false
    const { address, key } = next
    if (this.banned.has(address.host) || this.selfAddresses.has(key) || entry.addressKeys.has(key)) return true
    if (this.isBlocked(address.host)) {
      this.blocked(key, 'outgoing', torrentId)
      return true
    }
    if (next.fromReserve) entry.queue.spentReserveDial()
    this.dial(torrentId, entry, address, key, next.fromReserve)
    return true
  }

  private blocked (address: string, direction: 'outgoing' | 'incoming', torrentId?: string): void {
    this.counters.blockedPeers++
    this.deps.onPeerBlocked?.({ address, direction, ...(torrentId !== undefined ? { torrentId } : {}), reason: 'ip-filter' })
  }

  private torrentLimit (entry: TorrentEntry): number {
    return entry.owner.maxConnections?.() ?? this.settings.maxConnectionsPerTorrent
  }

  /** `lowPriority`: the address came from the PEX reserve, and a retry after a failure goes back there. */
  private dial (torrentId: string, entry: TorrentEntry, address: PeerAddress, key: string, lowPriority = false): void {
    const slot = this.openSlot(torrentId, entry, address, 'outgoing')
    this.halfOpen++
    const abort = new AbortController()
    this.dials.add(abort)
    const settle = (): void => {
      this.dials.delete(abort)
      this.halfOpen--
    }
    const options = { signal: abort.signal, timeoutMs: this.settings.connectTimeoutMs }
    const dialing = this.deps.dial !== undefined
      ? this.deps.dial(address.host, address.port, options)
      : this.deps.socketFactory.connectTcp(address.host, address.port, options)
    dialing.then((socket) => {
      settle()
      const current = this.torrents.get(torrentId)
      if (this.closed || current !== entry || slot.released) {
        socket.close()
        slot.release()
        return
      }
      // The back-off record stays until the handshake succeeds (identifySlot): a peer that accepts
      // TCP and then drops the handshake keeps counting toward maxConnectAttempts.
      entry.owner.onOutgoing(this.encryptOutgoing(socket, entry, slot), slot)
      this.schedulePump()
    }, (error: unknown) => {
      settle()
      slot.release()
      const failure = entry.failures.get(key) ?? { count: 0, retryAtMs: 0 }
      failure.count++
      failure.retryAtMs = this.deps.clock.now() + this.settings.retryBackoffMs * 2 ** (failure.count - 1)
      entry.failures.set(key, failure)
      // Re-queue for a later attempt unless we gave up on it.
      if (failure.count < this.settings.maxConnectAttempts && this.torrents.get(torrentId) === entry && !this.closed) {
        if (!entry.queue.has(key)) entry.queue.push(address, { lowPriority })
      }
      const err: LodestoneError = isLodestoneError(error)
        ? error
        : new LodestoneError('PEER_CONNECT_FAILED', { address: key, reason: String(error) }, { cause: error })
      if (!this.closed) entry.owner.onConnectFailed?.(address, err)
      this.schedulePump()
    })
  }

  /**
   * Wraps a dialled socket per the encryption policy. A peer that refuses the encrypted opening
   * (under 'prefer') is dialled again in plaintext as soon as this connection's slot is released.
   */
  private encryptOutgoing (socket: ITcpSocket, entry: TorrentEntry, slot: SlotImpl): ITcpSocket {
    const policy = this.deps.encryption
    const skey = entry.owner.skey
    if (policy === undefined || skey === undefined) return socket
    const wrapped = policy.wrapOutgoing(socket, slot.key, skey, () => { slot.redialOnRelease = true })
    slot.plaintextDial = wrapped === socket
    return wrapped
  }

  private openSlot (torrentId: string, entry: TorrentEntry, address: PeerAddress, direction: 'outgoing' | 'incoming', acceptedAtMs: number | null = null): SlotImpl {
    const slot = new SlotImpl(torrentId, address, direction, acceptedAtMs, entry, this)
    entry.slots.add(slot)
    holdKey(entry, slot.key)
    this.totalSlots++
    return slot
  }

  /** @internal used by SlotImpl */
  identifySlot (slot: SlotImpl, entry: TorrentEntry, peerId: Uint8Array): IdentifyResult {
    if (this.banned.has(slot.address.host) || this.isBlocked(slot.address.host)) return 'banned'
    if (bytesEqual(peerId, this.deps.peerId)) {
      this.counters.selfConnections++
      // Remember the dialled address as ourselves; an incoming self connection's address is
      // ephemeral and not worth remembering.
      if (slot.direction === 'outgoing') this.selfAddresses.add(slot.key)
      return 'self'
    }
    const hex = toHex(peerId)
    const existing = entry.peerIds.get(hex)
    if (existing !== undefined && existing !== slot) {
      this.counters.duplicates++
      // Simultaneous open: A dialled B while B dialled A. Each side sees one outgoing and one
      // incoming connection; keeping "the one I identified first" would make each side drop a
      // different one and lose both. Both sides instead keep the connection dialled by the peer
      // with the lower id.
      const weDialLower = compareBytes(this.deps.peerId, peerId) < 0
      const keepNew = existing.direction !== slot.direction && (slot.direction === 'outgoing') === weDialLower
      if (!keepNew) {
        // The address we dialled is this peer's: while the kept connection lives, PEX and trackers
        // naming it must not make us dial it again (each such dial ends here, as a duplicate).
        if (slot.direction === 'outgoing') existing.knownAs(slot.address)
        return 'duplicate'
      }
      entry.peerIds.set(hex, slot)
      existing.replaced()
      if (slot.direction === 'outgoing') this.handshakeSucceeded(entry, slot.key)
      return 'ok'
    }
    entry.peerIds.set(hex, slot)
    if (slot.direction === 'outgoing') this.handshakeSucceeded(entry, slot.key)
    return 'ok'
  }

  /** A good handshake clears failed attempts; the hang-up count stays (see redialLater). */
  private handshakeSucceeded (entry: TorrentEntry, key: string): void {
    const failure = entry.failures.get(key)
    if (failure === undefined) return
    if ((failure.hangups ?? 0) === 0) {
      entry.failures.delete(key)
      return
    }
    failure.count = 0
    failure.retryAtMs = 0
  }

  /**
   * An outgoing connection to `address` ended while its torrent still wants the peer (it hung up,
   * dropped our handshake, or went quiet): dial it again after the back-off a failed dial gets.
   * It counts as a failed attempt until a handshake succeeds, so a peer that keeps hanging up
   * during the handshake is forgotten after `maxConnectAttempts`. Back-offs elapse on the
   * periodic {@link schedulePump} the torrents call.
   *
   * `afterHandshake`: the connection had completed its handshake, so the peer was fine a moment
   * ago — it is dialled again after `reconnectDelayMs`, doubling per such hang-up, and only once
   * that delay reaches `retryBackoffMs` do hang-ups count as failed attempts. A peer that keeps
   * accepting and hanging up is thus still dropped, after a few quick tries.
   *
   * `hungUp`: the peer accepted the TCP connection and closed it before the handshake finished.
   * It was reachable too and gets the same quick re-dials: Transmission 3.00 closes at once a
   * connection from an address that already has a handshake in progress with it (any torrent), so
   * a dial that races another from the same host — ours after a magnet's metadata phase, another
   * process on 127.0.0.1 — would otherwise wait the full `retryBackoffMs` (30 s).
   */
  redialLater (torrentId: string, address: PeerAddress, options: { afterHandshake?: boolean, hungUp?: boolean } = {}): void {
    const entry = this.torrents.get(torrentId)
    if (entry === undefined || this.closed) return
    const key = formatPeerAddress(address)
    if (this.banned.has(address.host) || this.selfAddresses.has(key)) return
    const failure = entry.failures.get(key) ?? { count: 0, retryAtMs: 0 }
    const now = this.deps.clock.now()
    const quick = options.afterHandshake === true || options.hungUp === true
    const hangups = (failure.hangups ?? 0) + (quick ? 1 : 0)
    const quickDelayMs = this.settings.reconnectDelayMs * 2 ** (hangups - 1)
    if (quick) failure.hangups = hangups
    if (quick && quickDelayMs < this.settings.retryBackoffMs) {
      failure.retryAtMs = now + quickDelayMs
    } else {
      failure.count++
      failure.retryAtMs = now + this.settings.retryBackoffMs * 2 ** (failure.count - 1)
    }
    entry.failures.set(key, failure)
    if (failure.count >= this.settings.maxConnectAttempts || entry.queue.has(key)) return
    if (entry.queue.length >= this.settings.maxCandidatesPerTorrent) return
    entry.queue.push(address)
  }

  /** @internal used by SlotImpl */
  aliasSlot (slot: SlotImpl, entry: TorrentEntry, key: string): void {
    if (slot.released || key === slot.key || slot.aliases.includes(key)) return
    slot.aliases.push(key)
    holdKey(entry, key)
    // A queued candidate for it would only be dialled to be dropped.
    entry.queue.delete(key)
  }

  /** @internal used by SlotImpl */
  releaseSlot (slot: SlotImpl, entry: TorrentEntry): void {
    entry.slots.delete(slot)
    dropKey(entry, slot.key)
    for (const alias of slot.aliases) dropKey(entry, alias)
    if (slot.peerIdHex !== null && entry.peerIds.get(slot.peerIdHex) === slot) entry.peerIds.delete(slot.peerIdHex)
    this.totalSlots--
    // A retry with the other opening (plaintext after a refused encrypted one, or the reverse: see
    // EncryptionPolicy) goes first: the peer was reachable a moment ago.
    const retry = slot.redialOnRelease ||
      (slot.plaintextDial && slot.peerIdHex === null && this.deps.encryption?.plaintextDialFailed(slot.key) === true)
    if (retry && !this.closed && this.torrents.get(slot.torrentId) === entry && !entry.queue.has(slot.key)) {
      entry.queue.push(slot.address, { first: true })
    }
    this.schedulePump()
  }
}

class SlotImpl implements ConnectionSlot {
  peerIdHex: string | null = null
  released = false
  /** Queue the address again when released (its encrypted dial was refused; the next is plaintext). */
  redialOnRelease = false
  /** Dialled without MSE under an encryption policy (see releaseSlot). */
  plaintextDial = false
  private replacedCb: (() => void) | null = null
  readonly key: string
  /** Other address keys this slot holds (see knownAs). */
  readonly aliases: string[] = []

  constructor (
    readonly torrentId: string,
    readonly address: PeerAddress,
    readonly direction: 'outgoing' | 'incoming',
    readonly acceptedAtMs: number | null,
    private readonly entry: TorrentEntry,
    private readonly manager: ConnectionManager
  ) {
    this.key = formatPeerAddress(address)
  }

  identify (peerId: Uint8Array): IdentifyResult {
    if (this.released) return 'duplicate'
    const result = this.manager.identifySlot(this, this.entry, peerId)
    if (result === 'ok') this.peerIdHex = toHex(peerId)
    return result
  }

  onReplaced (cb: () => void): void {
    this.replacedCb = cb
  }

  knownAs (address: PeerAddress): void {
    this.manager.aliasSlot(this, this.entry, formatPeerAddress(address))
  }

  /** @internal */
  replaced (): void {
    this.replacedCb?.()
  }

  release (): void {
    if (this.released) return
    this.released = true
    this.manager.releaseSlot(this, this.entry)
  }
}

function holdKey (entry: TorrentEntry, key: string): void {
  entry.addressKeys.set(key, (entry.addressKeys.get(key) ?? 0) + 1)
}

function dropKey (entry: TorrentEntry, key: string): void {
  const n = entry.addressKeys.get(key) ?? 0
  if (n <= 1) entry.addressKeys.delete(key)
  else entry.addressKeys.set(key, n - 1)
}

/** Lexicographic order of two byte strings. */
function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}
