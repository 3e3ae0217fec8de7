/**
 * The connected peers of one torrent: each connection's session (attach, wire its events, detach),
 * filling its request pipeline from the picker, receiving blocks into the piece assembly, serving
 * its requests from storage under the upload limits, and choking.
 *
 * Ownership (DESIGN rule 4): each PeerConnection owns its protocol state and request books; this
 * owns the sessions and the decisions that need more than one peer (choking, cancels in end-game,
 * pre-empting pipelines for streaming). Pieces go to the {@link PieceAssembly}; the torrent owns the
 * lifecycle, the known addresses and bans.
 *
 * Request updates are coalesced into one pass per tick (STYLE.md §6): events mark a peer (or all
 * peers) for a refill, and one microtask fills them.
 */
import { LodestoneError, ProtocolError, hasCode } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import type { ITcpSocket, ReceivedRange } from '../interfaces/socket.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { PeerExtensionFactory } from '../protocol/extension-protocol.js'
import { createLtDontHaveExtension, type LtDontHaveExtension } from '../protocol/lt-donthave.js'
import type { BlockRequest } from '../protocol/wire-messages.js'
import type { ConnectionManager, ConnectionSlot } from '../peer/connection-manager.js'
import { formatPeerAddress, type PeerAddress, type PeerSource } from '../peer/peer-address.js'
import { PeerConnection } from '../peer/peer-connection.js'
import { isUnlimited, waitForBytes } from '../peer/rate-limit-wait.js'
import type { RateLimiter } from '../peer/rate-limiter.js'
import type { RateMeter } from '../peer/rate-meter.js'
import type { PexCandidate, PexHandler } from '../pex/pex-handler.js'
import type { DownloadSettings, EngineSettings } from '../session/engine-settings.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import { bytesEqual } from '../util/bytes.js'
import type { CoarseScheduler } from '../util/coarse-scheduler.js'
import { readWithTailPadding } from '../v2/tail-padding.js'
import type { TorrentHashes } from '../v2/torrent-hashes.js'
import type { Choker, ChokerPeer } from './choker.js'
import { PeerSession, pexCandidates, type PickerPeer } from './peer-session.js'
import type { PieceAssembly, TorrentCounters } from './piece-assembly.js'
import type { PiecePicker } from './piece-picker.js'
import { lowestPriorityPeer } from './peer-eviction.js'
import { SuperSeeder } from './super-seeder.js'
import type { PeerInfo, TorrentEvents } from './torrent-types.js'
import { peerHungUp } from '../peer/peer-hung-up.js'
import { SparseMap, SparseSet } from '../util/sparse-collections.js'

/** Request size: the credit one request costs against the download limiter. */
const BLOCK_BYTES = 16_384

/** Ordinary requests a peer keeps when streaming pre-empts its pipeline (see preemptForDeadlines). */
const PREEMPT_KEEP_REQUESTS = 4


/** A seed, or a peer that says it only uploads now (BEP 21 `upload_only`): it wants nothing. */
function onlyUploads (s: PeerSession): boolean {
  return s.conn.isSeed || s.conn.extendedHandshake?.uploadOnly === true
}

/** What the peers need from their torrent. Functions are read on use (settings change at run time). */
export interface TorrentPeersHost {
  /** The torrent's id (info hash hex), its key in the connection manager. */
  readonly id: string
  readonly infoHash: Uint8Array
  readonly clock: IClock
  readonly scheduler: CoarseScheduler
  readonly connections: ConnectionManager
  /** Our 20-byte peer id. */
  readonly peerId: Uint8Array
  readonly listenPort: () => number | null
  readonly log: Logger | undefined
  readonly counters: TorrentCounters
  readonly downloadMeter: RateMeter
  readonly uploadMeter: RateMeter
  /** The torrent's own limiters (children of the engine's); each peer gets a child of these. */
  readonly uploadLimiter: RateLimiter | null
  readonly downloadLimiter: RateLimiter | null
  readonly choker: Choker<PeerSession>
  readonly assembly: PieceAssembly
  /** Tie-breaks (super-seeding's piece choice). */
  readonly random: IRandom
  /** Serves our info dict (BEP 9); every connection gets an instance. */
  readonly utMetadata: PeerExtensionFactory
  /** True while the torrent is in the swarm (downloading or seeding, not paused). */
  isActive: () => boolean
  meta: () => TorrentMetainfo
  picker: () => PiecePicker<PickerPeer>
  storage: () => TorrentContentStorage
  settings: () => EngineSettings
  downloadSettings: () => DownloadSettings
  pex: () => PexHandler | null
  /** BEP 16: this torrent super-seeds while it is a seed (the `superSeeding` override). */
  superSeeding: () => boolean
  /** BEP 52 hash messages (v2 and hybrid torrents; null for v1). */
  hashes: () => TorrentHashes | null
  /** How the torrent learned of an address it dialled (undefined: not known). */
  sourceOf: (address: PeerAddress) => PeerSource | undefined
  /** We lost a verified piece (its data is gone): mark it missing and want it again. */
  pieceLost: (piece: number) => void
  /** Remembers an address to (re)connect to later; `seed`: the peer there is a seed (not dialled while we are one). */
  rememberPeer: (address: PeerAddress, source: PeerSource, seed?: boolean) => void
  emit: <K extends keyof TorrentEvents>(event: K, payload: TorrentEvents[K]) => void
}

export class TorrentPeers {
  private readonly sessions = new SparseSet<PeerSession>()
  private refillAll = false
  private readonly refillSet = new SparseSet<PeerSession>()
  private refillScheduled = false
  /** True once end-game started during this download (reset when the torrent (re)joins or wants more). */
  endGameFired = false
  /** BEP 16 piece offers while super-seeding. */
  readonly superSeeder: SuperSeeder
  private wasSuperSeeding = false
  /**
   * Pieces we announced and then lost (BEP 54): a request for one is refused, not treated as a
   * request for a piece we never had, since a peer without lt_donthave still thinks we have it.
   * Each keeps the path the failed read named, so every later refusal's warning names the file too.
   */
  private readonly lostPieces = new SparseMap<number, string>()

  constructor (private readonly host: TorrentPeersHost) {
    this.superSeeder = new SuperSeeder({ random: host.random, picker: host.picker, sessions: () => this.sessions })
  }

  /** Super-seeding now: asked for, and we have every piece. */
  private get superSeeding (): boolean {
    return this.host.superSeeding() && this.host.picker().isComplete
  }

  /** Snapshots of the connected peers (handshake done). */
  infos (): PeerInfo[] {
    const pieceCount = this.host.meta().pieceCount
    const out: PeerInfo[] = []
    for (const s of this.sessions) if (s.identified) out.push(s.info(pieceCount))
    return out
  }

  /** Sessions, handshake done or not. */
  get sessionCount (): number { return this.sessions.size }

  /** Connected peers (handshake done) and how many of them are seeds. */
  counts (): { peers: number, seeds: number } {
    let seeds = 0
    let peers = 0
    for (const s of this.sessions) {
      if (!s.identified) continue
      peers++
      if (s.conn.isSeed) seeds++
    }
    return { peers, seeds }
  }

  /** How PEX advertises the connected peers. */
  pexCandidates (): Iterable<PexCandidate> {
    return pexCandidates(this.sessions)
  }

  /**
   * BEP 40: the torrent is full and `address` wants in. The connected peer of the lowest canonical
   * priority is closed when the newcomer ranks above it (libtorrent does the same), sparing
   * connections in their first seconds (see EVICTION_GRACE_MS); returns whether room was made.
   */
  makeRoomFor (address: PeerAddress): boolean {
    const lowest = lowestPriorityPeer(this.sessions, address, this.host.listenPort() ?? 0, this.host.clock.now())
    if (lowest === null) return false
    this.host.log?.debug('closing the lowest-priority peer for a newcomer', { closed: lowest.address, newcomer: formatPeerAddress(address) })
    lowest.conn.close(new LodestoneError('PEER_CLOSED', { reason: 'too many connections: a peer of higher priority (BEP 40) took its place' }))
    return true
  }

  /** Closes every connection (leaving the swarm). */
  closeAll (): void {
    for (const s of [...this.sessions]) s.conn.close()
  }

  /** Closes the peers whose host `test` picks with PEER_BANNED; returns their addresses and directions. */
  closeWhere (test: (host: string) => boolean, reason: string): Array<{ address: string, direction: 'outgoing' | 'incoming' }> {
    const closed: Array<{ address: string, direction: 'outgoing' | 'incoming' }> = []
    for (const s of [...this.sessions]) {
      if (!test(s.host)) continue
      closed.push({ address: s.address, direction: s.slot.direction })
      s.conn.close(new LodestoneError('PEER_BANNED', { address: s.address, reason }))
    }
    return closed
  }

  /** Closes every connection to a banned host. */
  closeHost (host: string, reason: string): void {
    for (const s of [...this.sessions]) {
      if (s.host === host) s.conn.close(new LodestoneError('PEER_BANNED', { address: s.address, reason }))
    }
  }

  /** A piece was verified: HAVE to the peers that lack it, and interest re-evaluated. */
  announceHave (piece: number): void {
    this.lostPieces.delete(piece)
    const picker = this.host.picker()
    for (const s of this.sessions) {
      if (s.conn.state !== 'active') continue
      // HAVE suppression, to seeds only: a super-seed (BEP 16) looks like a peer with a few pieces
      // and offers the next one when it hears we have the last — even one it "has" itself.
      if (!s.conn.isSeed) s.conn.have(piece)
      if (s.conn.amInterested && !picker.isInteresting(s)) s.conn.notInterested()
    }
  }

  /**
   * A verified piece's data is gone (a read for an upload found its file missing or short): the
   * torrent un-haves it, and the peers that speak BEP 54 hear DONTHAVE so they stop asking.
   */
  dropPiece (piece: number, path: string): void {
    if (!this.host.picker().hasPiece(piece)) return
    this.lostPieces.set(piece, path)
    this.host.pieceLost(piece)
    let told = 0
    for (const s of this.sessions) if (s.conn.state === 'active' && s.dontHave?.send(piece) === true) told++
    this.host.log?.warn('piece lost', { piece, path, told })
  }

  /**
   * The download finished: seeds and upload-only peers (BEP 21) are closed when we have
   * everything, the others hear not-interested, and every peer hears that we are upload-only now.
   */
  afterFinished (): void {
    const picker = this.host.picker()
    for (const s of [...this.sessions]) {
      if (s.conn.state !== 'active') continue
      if (picker.isComplete && onlyUploads(s)) {
        this.closeAsSeed(s)
        continue
      }
      s.conn.notInterested()
      s.conn.sendExtendedHandshake()
    }
  }

  /** We want pieces again (priorities changed): BEP 21 `upload_only: 0` to every peer. */
  afterWantingMore (): void {
    for (const s of this.sessions) if (s.conn.state === 'active') s.conn.sendExtendedHandshake()
  }

  /** What we want changed (priorities): interest is re-evaluated for every peer. */
  updateAllInterest (): void {
    for (const s of this.sessions) this.updateInterest(s)
  }

  /**
   * Streaming: a peer answers requests in order, so time-critical blocks asked for behind a deep
   * pipeline of ordinary ones would wait for all of them. The newest ordinary requests to peers
   * that have a streamed piece are cancelled (a few stay, so the connection keeps its pace) and
   * the freed slots are refilled, deadline pieces first — libtorrent does the same for deadlines.
   */
  preemptForDeadlines (streamed: ReadonlyMap<number, number>): void {
    const critical = [...streamed.keys()]
    const picker = this.host.picker()
    for (const s of this.sessions) {
      const { conn } = s
      if (conn.state !== 'active' || !critical.some((p) => conn.isSeed || conn.bitfield?.get(p) === true)) continue
      const out = conn.outstandingRequests()
      let extra = out.length - PREEMPT_KEEP_REQUESTS
      for (let i = out.length - 1; i >= 0 && extra > 0; i--) {
        const r = out[i]!
        if (streamed.has(r.piece) || !conn.cancel(r.piece, r.begin, r.length)) continue
        picker.blockRequestFailed(s, r.piece, r.begin)
        extra--
      }
    }
    this.scheduleRefillAll()
  }

  // ------------------------------------------------------------------ sessions

  /** Wraps a connected socket (dialled or accepted) in a peer connection and a session. */
  attach (socket: ITcpSocket, slot: ConnectionSlot, outgoing: boolean, infoHash: Uint8Array = this.host.infoHash): void {
    const host = this.host
    const settings = host.settings()
    const listenPort = host.listenPort()
    const pex = host.pex()
    // Filled right after the connection exists; readBlock is only called once it is active.
    const holder: { session: PeerSession | null } = { session: null }
    let dontHave: LtDontHaveExtension | null = null
    let conn: PeerConnection
    try {
      conn = new PeerConnection(
        { socket, clock: host.clock, scheduler: host.scheduler, ...(host.log !== undefined ? { logger: host.log } : {}) },
        settings.peer,
        {
          infoHash,
          localPeerId: host.peerId,
          outgoing,
          pieceCount: host.meta().pieceCount,
          v2: host.meta().version !== 'v1',
          // BEP 16: a super-seed says it has nothing, then offers pieces one at a time.
          localBitfield: () => (this.superSeeding ? null : host.picker().bitfield()),
          // A super-seed does not say it is a seed (libtorrent does the same).
          uploadOnly: () => host.picker().isFinished && !this.superSeeding,
          prefersEncryption: () => (host.settings().encryption.mode === 'disable' ? undefined : true),
          readBlock: (request) => {
            if (holder.session === null) return Promise.reject(new LodestoneError('INTERNAL', { reason: 'block requested before the session existed' }))
            return this.readBlock(holder.session, request)
          },
          releaseBlock: (data) => { host.storage().releaseBlock(data) },
          cachedPieces: () => host.storage().recentlyCachedPieces(),
          ...(listenPort !== null ? { listenPort } : {}),
          ...(slot.acceptedAtMs !== null ? { handshakeStartedAtMs: slot.acceptedAtMs } : {}),
          extensions: [
            host.utMetadata,
            createLtDontHaveExtension({ dontHave: (piece) => { this.onDontHave(holder.session, piece) } }, (ext) => { dontHave = ext }),
            ...(pex !== null ? [pex.extension(slot.address)] : [])
          ]
        }
      )
    } catch (error) {
      slot.release()
      socket.close()
      host.emit('warning', { error })
      return
    }
    const source = outgoing ? host.sourceOf(slot.address) ?? 'manual' : 'incoming'
    const session = new PeerSession(conn, slot, host.clock.now(), source, socket)
    holder.session = session
    const v2 = host.meta().infoHashV2
    session.v2Hashes = v2 !== null && bytesEqual(infoHash, v2.subarray(0, 20))
    session.dontHave = dontHave
    session.uploadLimiter = host.uploadLimiter?.createChild() ?? null
    session.downloadLimiter = host.downloadLimiter?.createChild() ?? null
    slot.onReplaced(() => {
      conn.close(new LodestoneError('PEER_DUPLICATE', { address: session.address, reason: 'replaced by the connection the peer dialled' }))
    })
    this.sessions.add(session)
    this.wire(session)
  }

  private wire (s: PeerSession): void {
    const { conn } = s
    const host = this.host
    conn.on('handshake-received', ({ peerId }) => {
      const verdict = s.slot.identify(peerId)
      if (verdict !== 'ok') {
        const address = s.address
        conn.close(verdict === 'banned'
          ? new LodestoneError('PEER_BANNED', { address, reason: 'banned host' })
          : new LodestoneError('PEER_DUPLICATE', { address, reason: verdict === 'self' ? 'connected to ourselves' : 'already connected to this peer' }))
        return
      }
      s.identified = true
      host.emit('peer-connected', { peer: s.info(host.meta().pieceCount) })
    })
    conn.on('extended-handshake', ({ handshake }) => {
      const p = handshake.p
      if (p !== undefined && p > 0 && p < 65536) {
        s.listenAddress = { host: s.host, port: p }
        host.rememberPeer(s.listenAddress, s.source)
        // Others' PEX and our trackers name an incoming peer by this address: not one to dial now.
        s.slot.knownAs(s.listenAddress)
      }
      // BEP 10 `e`: remembered for the next dial to the address we dialled or the peer listens on.
      const dialAddress = s.slot.direction === 'outgoing' ? s.slot.address : s.listenAddress
      if (handshake.prefersEncryption === true && dialAddress !== null) host.connections.peerPrefersEncryption(dialAddress)
      // BEP 21: a seed keeps no connection to a peer that only uploads.
      if (handshake.uploadOnly === true && host.picker().isComplete) {
        this.closeAsSeed(s)
        return
      }
      this.scheduleRefill(s)
    })
    conn.on('bitfield', ({ bitfield, source }) => {
      const picker = host.picker()
      if (source === 'have-all') picker.peerHaveAll(s)
      else if (source === 'have-none') picker.peerHaveNone(s)
      else picker.peerBitfield(s, bitfield)
      this.afterAvailability(s)
    })
    conn.on('have', ({ piece }) => {
      host.picker().peerHave(s, piece)
      this.afterAvailability(s)
      if (this.superSeeding) this.superSeeder.peerHave(piece)
    })
    conn.on('unchoked', () => { this.scheduleRefill(s) })
    conn.on('allowed-fast', ({ piece }) => {
      host.picker().peerAllowedFast(s, piece)
      this.scheduleRefill(s)
    })
    conn.on('suggested', ({ piece }) => { host.picker().peerSuggest(s, piece) })
    conn.on('interested', () => { this.fillFreeSlots() })
    conn.on('not-interested', () => { this.fillFreeSlots() })
    conn.on('piece-received', ({ piece, begin, data, origin }) => { this.onBlock(s, piece, begin, data, origin) })
    conn.on('wasted-received', ({ lengthBytes }) => { host.counters.wastedBytes += lengthBytes })
    conn.on('requests-dropped', ({ blocks }) => { this.releaseBlocks(s, blocks) })
    conn.on('request-timed-out', ({ blocks }) => { this.releaseBlocks(s, blocks) })
    conn.on('rejected', (block) => { this.releaseBlocks(s, [block]) })
    conn.on('drained', () => { this.scheduleRefill(s) })
    conn.on('hash-message-received', (message) => {
      host.hashes()?.onMessage(conn, message)
      this.scheduleRefill(s)
    })
    conn.on('warning', ({ error }) => { host.emit('warning', { error }) })
    conn.on('closed', ({ reason }) => { this.detach(s, reason) })
  }

  private detach (s: PeerSession, reason: LodestoneError | undefined): void {
    if (!this.sessions.delete(s)) return
    this.host.hashes()?.peerGone(s.conn)
    const picker = this.host.picker()
    picker.removePeer(s)
    this.superSeeder.forget(s)
    s.cancelDownloadWait?.()
    s.uploadLimiter?.close()
    s.downloadLimiter?.close()
    s.slot.release()
    // An unchoked peer that left frees its slot for a peer waiting for one now, not at the next rechoke.
    if (!s.conn.amChoking) this.fillFreeSlots()
    // A peer we dialled that hung up or went quiet (not one we refused) is dialled again after a
    // back-off while either side still wants data: otherwise a seeder that dropped one connection
    // (e.g. Transmission refusing a second concurrent handshake from one IP) is lost for good, and
    // so is a leecher of ours that restarts — Transmission drops and restarts a magnet once it has
    // the metadata, then waits to be dialled again (it never dials loopback peers itself). Two
    // seeds have nothing to exchange. After a good handshake the first re-dial comes quickly.
    const hungUp = peerHungUp(reason)
    const transient = reason === undefined || hungUp || reason.code === 'PEER_TIMEOUT'
    const wanted = !picker.isFinished || !onlyUploads(s)
    if (s.slot.direction === 'outgoing' && transient && this.host.isActive() && wanted) {
      this.host.connections.redialLater(this.host.id, s.slot.address, { afterHandshake: s.identified, hungUp })
    }
    // Pieces of a peer that left keep their received blocks; requests were freed by removePeer.
    if (s.identified) {
      this.host.emit('peer-disconnected', { address: s.address, peerIdHex: s.slot.peerIdHex, ...(reason !== undefined ? { reason } : {}) })
    } else if (reason !== undefined) {
      this.host.emit('peer-handshake-failed', { address: s.address, direction: s.slot.direction, reason })
    }
    this.scheduleRefillAll()
  }

  /**
   * BEP 54: the peer lost a piece. Its bitfield and the availability counts drop it.
   * @throws ProtocolError PEER_PROTOCOL_VIOLATION for an index beyond the piece count (closes the peer).
   */
  private onDontHave (s: PeerSession | null, piece: number): void {
    const pieceCount = this.host.meta().pieceCount
    if (piece >= pieceCount) throw new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: `lt_donthave for piece ${piece} of ${pieceCount}` })
    if (s === null || s.conn.state !== 'active') return
    s.conn.bitfield?.set(piece, false)
    if (this.host.picker().peerDontHave(s, piece)) this.afterAvailability(s)
  }

  /** The peer's availability changed: update interest and maybe request. */
  private afterAvailability (s: PeerSession): void {
    if (s.conn.state !== 'active') return
    // Two seeds (or a seed and an upload-only peer, BEP 21) have nothing to say to each other.
    if (this.host.picker().isComplete && onlyUploads(s)) {
      this.closeAsSeed(s)
      return
    }
    this.updateInterest(s)
    this.scheduleRefill(s)
    if (this.superSeeding) this.superSeeder.peerReady(s)
  }

  /**
   * We are complete and `s` only uploads: close it, and remember its addresses as a seed's, so
   * PEX and trackers naming them do not make us dial it again just to close it again.
   */
  private closeAsSeed (s: PeerSession): void {
    if (s.slot.direction === 'outgoing') this.host.rememberPeer(s.slot.address, s.source, true)
    if (s.listenAddress !== null) this.host.rememberPeer(s.listenAddress, s.source, true)
    s.conn.close()
  }

  private updateInterest (s: PeerSession): void {
    if (s.conn.state !== 'active') return
    if (this.host.picker().isInteresting(s)) s.conn.interested()
    else s.conn.notInterested()
  }

  /**
   * Reads a block (a run of blocks) a peer asked for. Not async: this is once per upload read, and
   * each async layer costs a promise, a microtask and a function V8 optimises on its own.
   */
  private readBlock (s: PeerSession, request: BlockRequest): Promise<Uint8Array> {
    if (!this.host.picker().hasPiece(request.piece)) {
      const lostPath = this.lostPieces.get(request.piece)
      if (lostPath !== undefined) return Promise.reject(new LodestoneError('STORAGE_NOT_FOUND', { path: lostPath }))
      return Promise.reject(new LodestoneError('PEER_PROTOCOL_VIOLATION', { reason: `requested piece ${request.piece} we do not have` }))
    }
    // Upload limits: the block is read only once its bytes are granted, and the peer connection
    // reads a bounded number ahead, so a limited upload holds little memory.
    // A limiter has one wake-up callback per consumer, so the peer's parallel reads take turns.
    const limiter = s.uploadLimiter
    if (limiter !== null && !isUnlimited(limiter)) {
      const turn = s.uploadTurn.then(async () => { await waitForBytes(limiter, request.length) })
      s.uploadTurn = turn.catch(() => {})
      return turn.then(() => this.readGranted(request))
    }
    return this.readGranted(request)
  }

  private readGranted (request: BlockRequest): Promise<Uint8Array> {
    const storage = this.host.storage()
    return readWithTailPadding(this.host.meta(), request, (piece, begin, length) => storage.readBlock(piece, begin, length),
      (view) => { storage.releaseBlock(view) }).then((data) => {
      this.host.counters.uploadedBytes += data.length
      this.host.uploadMeter.add(data.length)
      return data
    }, (error: unknown) => {
      // The data of a piece we had is gone (file deleted or truncated under us).
      if (hasCode(error, 'STORAGE_NOT_FOUND')) this.dropPiece(request.piece, error.details.path)
      throw error
    })
  }

  // ------------------------------------------------------------------ requests

  private scheduleRefill (s: PeerSession): void {
    this.refillSet.add(s)
    this.scheduleRefillPass()
  }

  /** Every peer may request again (budget freed, a peer left, end-game began, priorities changed). */
  scheduleRefillAll (): void {
    this.refillAll = true
    this.scheduleRefillPass()
  }

  /** Coalesces request updates into one pass per tick (STYLE.md §6). */
  private scheduleRefillPass (): void {
    if (this.refillScheduled) return
    this.refillScheduled = true
    queueMicrotask(() => {
      this.refillScheduled = false
      const targets = this.refillAll ? [...this.sessions] : [...this.refillSet]
      this.refillAll = false
      this.refillSet.clear()
      for (const s of targets) this.fillRequests(s)
    })
  }

  private fillRequests (s: PeerSession): void {
    const { conn } = s
    if (!this.host.isActive() || conn.state !== 'active' || !this.sessions.has(s)) return
    const hashes = this.host.hashes()
    if (s.v2Hashes) hashes?.pump(conn)
    const picker = this.host.picker()
    // BEP 52: no block requests until the piece layers that verify them are in.
    if (picker.isFinished || hashes?.fetching === true) return
    if (!conn.amInterested) {
      this.updateInterest(s)
      if (!conn.amInterested) return
    }
    let slots = conn.availableRequestSlots()
    if (slots <= 0 || !conn.isWritable) return
    // Download limits act on requests: a block is asked for only with its bytes granted.
    const limiter = s.downloadLimiter !== null && !isUnlimited(s.downloadLimiter) ? s.downloadLimiter : null
    if (limiter !== null && s.cancelDownloadWait === null) {
      const want = slots * BLOCK_BYTES - s.downloadCredit
      if (want > 0) s.downloadCredit += limiter.request(want)
      const affordable = Math.floor(s.downloadCredit / BLOCK_BYTES)
      if (affordable < slots) {
        s.cancelDownloadWait = limiter.onAvailable(() => {
          s.cancelDownloadWait = null
          this.scheduleRefill(s)
        })
      }
      slots = affordable
      if (slots <= 0) return
    } else if (limiter !== null) {
      slots = Math.min(slots, Math.floor(s.downloadCredit / BLOCK_BYTES))
      if (slots <= 0) return
    }
    const blocks = picker.pickBlocks(s, slots, { choked: conn.peerChoking, maxNewPieces: this.newPieceAllowance() })
    for (const b of blocks) {
      if (!conn.request(b.piece, b.begin, b.length)) picker.blockRequestFailed(s, b.piece, b.begin)
      else if (limiter !== null) s.downloadCredit -= BLOCK_BYTES
    }
    if (blocks.length < slots && !this.endGameFired && picker.isEndGame) {
      this.endGameFired = true
      this.host.log?.debug('end-game', { remaining: picker.remainingPieceCount })
      this.host.emit('end-game', { remainingPieces: picker.remainingPieceCount })
      // Other peers may now take duplicates.
      this.scheduleRefillAll()
    }
  }

  /**
   * How many more pieces may be started: every started piece holds a piece-sized buffer from its
   * first block until it is verified and written, and together they stay within
   * `download.maxUnverifiedBytes` (one piece at a time when a piece is larger than the budget).
   * Blocks of started pieces are always requested, so a full budget slows new work without
   * stalling pieces already in memory. Started pieces nobody is fetching (their peers left) are
   * not counted (PiecePicker.activePieceCount): they must not stop the rest of the download.
   */
  private newPieceAllowance (): number {
    const picker = this.host.picker()
    const started = picker.activePieceCount
    const fit = Math.floor(this.host.downloadSettings().maxUnverifiedBytes / this.host.meta().pieceLengthBytes)
    return Math.max(fit, 1) - started
  }

  /** Requests that will not be answered: the blocks become free for other peers. */
  private releaseBlocks (s: PeerSession, blocks: readonly BlockRequest[]): void {
    let freed = false
    const picker = this.host.picker()
    for (const b of blocks) if (picker.blockRequestFailed(s, b.piece, b.begin)) freed = true
    if (freed) this.scheduleRefillAll()
    else this.scheduleRefill(s)
  }

  private onBlock (s: PeerSession, piece: number, begin: number, data: Uint8Array, origin: ReceivedRange | undefined): void {
    const result = this.host.picker().blockReceived(s, piece, begin, data.length)
    for (const other of result.cancel) {
      // A web seed's range request cannot be cut short: its copy arrives and is not accepted.
      if (other !== s && other instanceof PeerSession) other.conn.cancel(piece, begin, data.length)
    }
    if (!result.accepted) {
      this.host.counters.wastedBytes += data.length
      this.scheduleRefill(s)
      return
    }
    this.host.counters.downloadedBytes += data.length
    this.host.downloadMeter.add(data.length)
    this.host.assembly.addBlock(piece, begin, data, s.host, result.pieceComplete, origin)
    this.scheduleRefill(s)
  }

  // ------------------------------------------------------------------ choking

  private chokerPeers (): Array<ChokerPeer<PeerSession>> {
    const out: Array<ChokerPeer<PeerSession>> = []
    for (const s of this.sessions) {
      if (s.conn.state !== 'active') continue
      out.push({
        peer: s,
        interested: s.conn.peerInterested,
        amChoking: s.conn.amChoking,
        downloadRateBytesPerSec: s.conn.downloadRateBytesPerSec,
        uploadRateBytesPerSec: s.conn.uploadRateBytesPerSec,
        snubbed: s.conn.snubbed,
        connectedAtMs: s.connectedAtMs
      })
    }
    return out
  }

  /** A choking round (every `rechokeIntervalMs`, and when the download finishes). */
  rechoke (): void {
    if (!this.host.isActive()) return
    // Super-seeding switched off: the peers hear of every piece now.
    const superSeeding = this.superSeeding
    if (this.wasSuperSeeding && !superSeeding) this.superSeeder.stop()
    this.wasSuperSeeding = superSeeding
    const decision = this.host.choker.rechoke(this.chokerPeers(), this.host.clock.now(), { seeding: this.host.picker().isFinished })
    for (const s of decision.choke) s.conn.choke()
    for (const s of decision.unchoke) s.conn.unchoke()
  }

  private fillFreeSlots (): void {
    if (!this.host.isActive()) return
    // Each interest change lands here, so a full snapshot every time made a swarm O(peers²): first
    // check that someone waits and a slot is free (with every slot taken, nothing would change).
    let waiting = false
    const unchoked = new Set<PeerSession>()
    for (const s of this.sessions) {
      if (s.conn.state !== 'active' || !s.conn.peerInterested) continue
      if (s.conn.amChoking) waiting = true
      else unchoked.add(s)
    }
    if (!waiting || !this.host.choker.hasFreeSlot(unchoked)) return
    const decision = this.host.choker.fillFreeSlots(this.chokerPeers(), this.host.clock.now(), { seeding: this.host.picker().isFinished })
    for (const s of decision.choke) s.conn.choke()
    for (const s of decision.unchoke) s.conn.unchoke()
  }
}
