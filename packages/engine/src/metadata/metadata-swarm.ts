/**
 * The swarm side of fetching metadata for a magnet link: connections and trackers while the
 * info dict is unknown, feeding a {@link MetadataFetcher}.
 *
 * Why a separate component and not the torrent's own peer handling: without metadata there is no
 * piece count, picker, verifier or storage, and every path of the download code assumes them. So
 * this phase has its own small owner — it dials the magnet's `x.pe` peers, added peers and
 * tracker peers, accepts incoming connections, speaks only the handshake and ut_metadata (it has
 * nothing to serve and requests no blocks) — and is closed once the metadata is verified. The
 * torrent then joins the swarm normally and re-dials the peers learned here (their listen
 * addresses included). That costs one reconnect per peer, once per magnet, and keeps the
 * download path free of "no metadata yet" branches.
 *
 * Used by `Torrent` (magnet added with `engine.addTorrent`) and by `engine.downloadMetadata`.
 */
import { LodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { IHasher } from '../interfaces/hasher.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import type { ITcpSocket } from '../interfaces/socket.js'
import type { MagnetLink } from '../metainfo/magnet.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { HandshakeHeader } from '../protocol/handshake.js'
import { createUtMetadataExtension } from '../protocol/ut-metadata.js'
import { TrackerManager, type TrackerManagerDeps } from '../tracker/tracker-manager.js'
import { bytesEqual } from '../util/bytes.js'
import type { CoarseScheduler, ScheduledTask } from '../util/coarse-scheduler.js'
import type { ConnectionManager, ConnectionSlot, IncomingTicket } from '../peer/connection-manager.js'
import type { EngineSettings } from '../session/engine-settings.js'
import { MetadataFetcher } from './metadata-fetcher.js'
import type { MetadataFetcherSettings } from './metadata-fetcher-settings.js'
import { formatPeerAddress, type PeerAddress } from '../peer/peer-address.js'
import { PeerConnection } from '../peer/peer-connection.js'
import { TypedEmitter } from '../util/typed-emitter.js'
import { peerHungUp } from '../peer/peer-hung-up.js'

/**
 * `left` announced to trackers while the size is unknown (no `xl`): any non-zero value marks us
 * as a leecher; 16 EiB-ish values break some trackers, so a plain large one.
 */
const UNKNOWN_LEFT_BYTES = 2 ** 40
/** Fetcher time-outs are checked this often. */
const TICK_MS = 1_000

export interface MetadataSwarmDeps {
  clock: IClock
  random: IRandom
  hasher: IHasher
  connections: ConnectionManager
  scheduler: CoarseScheduler
  peerId: Uint8Array
  listenPort: () => number | null
  settings: () => EngineSettings
  trackers?: Pick<TrackerManagerDeps, 'httpClient' | 'udpSocket'>
  logger?: Logger
}

export interface MetadataSwarmInit {
  /** Key under which the connection manager counts this swarm's connections. */
  ownerId: string
  magnet: MagnetLink
  fetcher?: Partial<MetadataFetcherSettings>
}

export interface MetadataSwarmEvents {
  'metadata': { meta: TorrentMetainfo, infoBytes: Uint8Array }
  'failed': { error: LodestoneError }
  /** A peer's listen address (from `x.pe`, a tracker, or an extended handshake), for later reconnects. */
  'peer-discovered': { address: PeerAddress }
  'warning': { error: unknown }
}

export class MetadataSwarm extends TypedEmitter<MetadataSwarmEvents> {
  readonly fetcher: MetadataFetcher
  private readonly conns = new Set<PeerConnection>()
  private readonly pending: PeerAddress[] = []
  private tracker: TrackerManager | null = null
  private tick: ScheduledTask | null = null
  private started = false
  /** Rejects a pending `fetch` when the swarm is closed under it. */
  private onClosed: (() => void) | null = null
  private closed = false

  constructor (private readonly deps: MetadataSwarmDeps, private readonly init: MetadataSwarmInit) {
    super()
    this.onListenerError = (error, event) => {
      if (event === 'warning') deps.logger?.warn('warning listener threw', { error: String(error) })
      else this.emit('warning', { error })
    }
    this.fetcher = new MetadataFetcher(
      { hasher: deps.hasher, clock: deps.clock, ...(deps.logger !== undefined ? { logger: deps.logger } : {}) },
      init.magnet, init.fetcher ?? {})
    this.fetcher.on('metadata', (m) => { this.emit('metadata', m) })
    this.fetcher.on('failed', (f) => { this.emit('failed', f) })
    this.fetcher.on('warning', ({ error }) => { this.emit('warning', { error }) })
    for (const peer of init.magnet.peers) this.pending.push({ host: peer.host, port: peer.port })
  }

  get peerCount (): number { return this.conns.size }

  /** Registers with the connection manager, dials known peers, announces to the magnet's trackers. */
  start (): void {
    if (this.started || this.closed) return
    this.started = true
    const id = this.init.ownerId
    this.deps.connections.addTorrent(id, {
      wantsConnections: () => !this.closed,
      skey: this.init.magnet.infoHash,
      onOutgoing: (socket, slot) => { this.attach(socket, slot, true) }
    })
    for (const address of this.pending.splice(0)) this.deps.connections.addCandidate(id, address)
    this.tick = this.deps.scheduler.every(TICK_MS, () => {
      this.fetcher.tick()
      // Re-dial back-offs elapse on a pump.
      this.deps.connections.schedulePump()
    })
    this.startTrackers()
  }

  /** Queues a peer to dial. */
  addPeer (address: PeerAddress): void {
    if (this.closed) return
    if (!this.started) this.pending.push(address)
    else this.deps.connections.addCandidate(this.init.ownerId, address)
  }

  /** Takes an incoming connection routed here by info hash. */
  acceptIncoming (socket: ITcpSocket, header: HandshakeHeader, ticket: IncomingTicket): void {
    if (this.closed || !this.started || !bytesEqual(header.infoHash, this.init.magnet.infoHash)) {
      ticket.release()
      socket.close()
      return
    }
    const slot = ticket.claim(this.init.ownerId)
    if (typeof slot === 'string') {
      socket.close()
      return
    }
    this.attach(socket, slot, false)
  }

  /**
   * Starts and waits for the verified metadata. The swarm is left running: the caller closes it.
   * @throws LodestoneError METADATA_INVALID (the info dict matching the hash is not a valid torrent),
   *   METADATA_TIMEOUT, ABORTED (signal), CLOSED (the swarm was closed meanwhile).
   */
  async fetch (options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<TorrentMetainfo> {
    const { signal, timeoutMs } = options
    if (signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'downloadMetadata' }, { cause: signal.reason })
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'metadata download' })
    const cleanups: Array<() => void> = []
    try {
      return await new Promise<TorrentMetainfo>((resolve, reject) => {
        cleanups.push(this.on('metadata', ({ meta }) => { resolve(meta) }))
        cleanups.push(this.on('failed', ({ error }) => { reject(error) }))
        this.onClosed = () => { reject(new LodestoneError('CLOSED', { what: 'metadata download' })) }
        if (signal !== undefined) {
          const onAbort = (): void => { reject(new LodestoneError('ABORTED', { operation: 'downloadMetadata' }, { cause: signal.reason })) }
          signal.addEventListener('abort', onAbort, { once: true })
          cleanups.push(() => { signal.removeEventListener('abort', onAbort) })
        }
        if (timeoutMs !== undefined) {
          const timer = this.deps.clock.setTimeout(() => { reject(new LodestoneError('METADATA_TIMEOUT', { timeoutMs })) }, timeoutMs)
          cleanups.push(() => { timer.cancel() })
        }
        this.start()
      })
    } finally {
      this.onClosed = null
      for (const cleanup of cleanups) cleanup()
    }
  }

  /**
   * Closes the connections whose host `test` picks (the engine's IP filter changed), with
   * PEER_BANNED. Returns their addresses and directions.
   */
  closePeersWhere (test: (host: string) => boolean, reason: string): Array<{ address: string, direction: 'outgoing' | 'incoming' }> {
    const closed: Array<{ address: string, direction: 'outgoing' | 'incoming' }> = []
    for (const conn of [...this.conns]) {
      if (!test(conn.remoteAddress)) continue
      const address = formatPeerAddress({ host: conn.remoteAddress, port: conn.remotePort })
      closed.push({ address, direction: conn.outgoing ? 'outgoing' : 'incoming' })
      conn.close(new LodestoneError('PEER_BANNED', { address, reason }))
    }
    return closed
  }

  /** Closes every connection and timer; trackers get `stopped` (bounded by their time-out). Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.onClosed?.()
    this.fetcher.close()
    this.tick?.cancel()
    this.tick = null
    if (this.started) this.deps.connections.removeTorrent(this.init.ownerId)
    for (const conn of [...this.conns]) conn.close()
    const tracker = this.tracker
    this.tracker = null
    if (tracker !== null) {
      await tracker.stop().catch(() => {})
      tracker.close()
    }
  }

  private startTrackers (): void {
    const transports = this.deps.trackers
    const urls = this.init.magnet.trackers
    if (transports === undefined || !this.deps.settings().discovery.trackers || urls.length === 0) return
    const tracker = new TrackerManager(urls.map((u) => [u]), {
      clock: this.deps.clock,
      random: this.deps.random,
      ...transports,
      ...(this.deps.logger !== undefined ? { logger: this.deps.logger.child('tracker') } : {}),
      getAnnounceState: () => ({
        infoHash: this.init.magnet.infoHash,
        peerId: this.deps.peerId,
        port: this.deps.listenPort() ?? 0,
        uploadedBytes: 0,
        downloadedBytes: 0,
        leftBytes: this.init.magnet.exactLengthBytes ?? UNKNOWN_LEFT_BYTES,
        numWant: 50
      })
    })
    tracker.on('peers', ({ peers }) => {
      for (const peer of peers) {
        this.emit('peer-discovered', { address: peer })
        if (!this.closed) this.deps.connections.addCandidate(this.init.ownerId, peer)
      }
    })
    tracker.on('warning', ({ error }) => { this.emit('warning', { error }) })
    this.tracker = tracker
    tracker.start()
  }

  private attach (socket: ITcpSocket, slot: ConnectionSlot, outgoing: boolean): void {
    if (this.closed) {
      slot.release()
      socket.close()
      return
    }
    const listenPort = this.deps.listenPort()
    let conn: PeerConnection
    try {
      conn = new PeerConnection(
        { socket, clock: this.deps.clock, scheduler: this.deps.scheduler, ...(this.deps.logger !== undefined ? { logger: this.deps.logger } : {}) },
        this.deps.settings().peer,
        {
          infoHash: this.init.magnet.infoHash,
          localPeerId: this.deps.peerId,
          outgoing,
          localBitfield: () => null,
          v2: this.init.magnet.infoHashV2 !== null,
          extensions: [createUtMetadataExtension({ metadata: () => null, sink: this.fetcher })],
          ...(listenPort !== null ? { listenPort } : {}),
          ...(slot.acceptedAtMs !== null ? { handshakeStartedAtMs: slot.acceptedAtMs } : {})
        })
    } catch (error) {
      slot.release()
      socket.close()
      this.emit('warning', { error })
      return
    }
    this.conns.add(conn)
    slot.onReplaced(() => {
      conn.close(new LodestoneError('PEER_DUPLICATE', { address: formatPeerAddress(slot.address), reason: 'replaced by the connection the peer dialled' }))
    })
    let identified = false
    conn.on('handshake-received', ({ peerId }) => {
      const verdict = slot.identify(peerId)
      identified = verdict === 'ok'
      if (verdict === 'ok') return
      const address = formatPeerAddress(slot.address)
      conn.close(verdict === 'banned'
        ? new LodestoneError('PEER_BANNED', { address, reason: 'banned host' })
        : new LodestoneError('PEER_DUPLICATE', { address, reason: verdict === 'self' ? 'connected to ourselves' : 'already connected to this peer' }))
    })
    conn.on('extended-handshake', ({ handshake }) => {
      if (handshake.p !== undefined) this.emit('peer-discovered', { address: { host: slot.address.host, port: handshake.p } })
    })
    conn.on('warning', ({ error }) => { this.emit('warning', { error }) })
    conn.on('closed', ({ reason }) => {
      this.conns.delete(conn)
      slot.release()
      // A peer we dialled that hung up (not one we refused) is dialled again while the metadata is
      // still wanted — soon when its handshake had gone through: it was fine a moment ago.
      const hungUp = peerHungUp(reason)
      const transient = reason === undefined || hungUp || reason.code === 'PEER_TIMEOUT'
      if (outgoing && transient && !this.closed && !this.fetcher.done) {
        this.deps.connections.redialLater(this.init.ownerId, slot.address, { afterHandshake: identified, hungUp })
      }
    })
  }
}
