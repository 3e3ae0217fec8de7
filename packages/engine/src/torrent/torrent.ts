/**
 * One torrent: its state machine, its peers, and the glue between the picker (which blocks),
 * the peer connections (the wire), the verifier (are the bytes right) and storage (the disk).
 *
 * Ownership (DESIGN rule 4): each PeerConnection owns its protocol state and request books; the
 * PiecePicker owns piece/block state; TorrentContentStorage owns files. The torrent owns the
 * piece buffers being assembled, the decisions that need more than one peer (choking, bans,
 * interest after a piece completes), and the lifecycle.
 *
 * Data path: `piece-received` → picker.blockReceived (accept or count as waste) → copy into the
 * piece buffer (allocated by the hasher when it can hash it in place) → piece complete → verify
 * (one hasher job) → one coalesced storage write → picker.pieceVerified → HAVE → 'piece-verified'.
 * A piece never counts, and is never announced or served, before it is verified and written.
 *
 * Bounded memory: complete pieces waiting for the hasher or the disk are counted in
 * `awaitingBytes`; above `download.maxUnverifiedBytes` no new requests are sent (blocks already
 * requested still arrive and finish their pieces, so this cannot deadlock). Pieces being
 * assembled are bounded by the pipelines, which the picker fills from started pieces first.
 *
 * Bans: a failed piece whose blocks all came from one host counts against that host; after
 * `hashFailuresBeforeBan` such failures it is banned. For pieces with several contributors the
 * failed piece's block hashes are remembered per sender; when the piece later verifies, every
 * host whose block differs from the good one is banned at once (it certainly sent bad data) —
 * honest co-contributors are never blamed.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import type { ITcpSocket } from '../interfaces/socket.js'
import type { IPieceHasher } from '../metainfo/create-piece-hasher.js'
import type { MagnetLink } from '../metainfo/magnet.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { HandshakeHeader } from '../protocol/handshake.js'
import { PEX_FLAG_REACHABLE, PEX_FLAG_SEED } from '../protocol/ut-pex.js'
import { createUtMetadataExtension } from '../protocol/ut-metadata.js'
import type { BlockRequest } from '../protocol/wire-messages.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import { TrackerManager, type TrackerManagerDeps, type TrackerStatus } from '../tracker/tracker-manager.js'
import { Bitfield } from '../util/bitfield.js'
import { bytesEqual, toHex } from '../util/bytes.js'
import { Choker, type ChokerPeer } from './choker.js'
import type { CoarseScheduler, ScheduledTask } from '../util/coarse-scheduler.js'
import type { ConnectionManager, ConnectionSlot, IncomingTicket } from '../peer/connection-manager.js'
import { effectiveDownloadSettings, resolveTorrentSettings, type DownloadSettings, type EngineSettings, type TorrentSettings } from '../session/engine-settings.js'
import { formatPeerAddress, parsePeerAddress, type PeerAddress, type PeerSource } from '../peer/peer-address.js'
import { PeerConnection } from '../peer/peer-connection.js'
import { PexHandler, type PexCandidate } from '../pex/pex-handler.js'
import { PiecePicker } from './piece-picker.js'
import { PieceVerifier } from './piece-verifier.js'
import type { RateLimiter } from '../peer/rate-limiter.js'
import { RateMeter } from '../peer/rate-meter.js'
import { TorrentState, TorrentStateMachine, type StateChange } from './torrent-state.js'
import type { TorrentResumeHint } from '../session/resume-data.js'
import { TypedEmitter } from '../util/typed-emitter.js'
import { FilePriorities, checkPriorityValue, type TorrentFile } from './file-priorities.js'
import { createPieceReadStream, type ReadStreamOptions } from './read-stream.js'
import type { MetadataFetcherSettings } from '../metadata/metadata-fetcher.js'
import { MetadataSwarm } from '../metadata/metadata-swarm.js'
import { countWantedBytes } from './wanted-bytes.js'

/** Most bytes of idle piece buffers kept for reuse. */
const POOL_MAX_BYTES = 32 * 1024 * 1024

/** Request size: the credit one request costs against the download limiter. */
const BLOCK_BYTES = 16_384

/**
 * True when `view` is over shared memory. A page that is not cross-origin isolated has no
 * `SharedArrayBuffer` global at all (referencing it throws), so test for the global first:
 * shared memory is an optimisation where it exists, never a requirement.
 */
function isShared (view: Uint8Array): boolean {
  return typeof SharedArrayBuffer === 'function' && view.buffer instanceof SharedArrayBuffer
}

/** Reused by {@link copyBlock}; blocks are at most 16 KiB (the picker refuses other lengths). */
let alignScratch = new Uint8Array(BLOCK_BYTES)

/**
 * Copies a received block into its piece buffer. When the piece buffer is shared memory (the
 * hasher's zero-copy buffers) and the block's view is not 8-byte aligned — socket chunks put
 * blocks at arbitrary offsets — V8 copies byte by byte: measured 1.6 GB/s against 7 GB/s, the
 * largest cost of receiving. Going through an aligned scratch buffer keeps both copies fast (5 GB/s).
 */
function copyBlock (target: Uint8Array, block: Uint8Array, offset: number): void {
  if ((block.byteOffset & 7) === 0 || !isShared(target)) {
    target.set(block, offset)
    return
  }
  if (alignScratch.length < block.length) alignScratch = new Uint8Array(block.length)
  const scratch = alignScratch.subarray(0, block.length)
  scratch.set(block)
  target.set(scratch, offset)
}

function asLodestoneError (error: unknown): LodestoneError {
  return isLodestoneError(error)
    ? error
    : new LodestoneError('INTERNAL', { reason: error instanceof Error ? error.message : String(error) }, { cause: error })
}

/** True when no level from `limiter` up limits anything (the common case: skip the bookkeeping). */
function isUnlimited (limiter: RateLimiter): boolean {
  for (let l: RateLimiter | null = limiter; l !== null; l = l.parent) if (l.rateBytesPerSec !== 0) return false
  return true
}

/** Waits until `limiter` has granted `bytes` (in as many grants as it takes). */
async function acquire (limiter: RateLimiter, bytes: number): Promise<void> {
  let need = bytes - limiter.request(bytes)
  while (need > 0) {
    await new Promise<void>((resolve) => { limiter.onAvailable(resolve) })
    need -= limiter.request(need)
  }
}

/** Runs of set bits as `[from, to)` piece ranges. */
function pieceRanges (pieces: Bitfield): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (const piece of pieces.ones()) {
    const last = out[out.length - 1]
    if (last !== undefined && last[1] === piece) last[1] = piece + 1
    else out.push([piece, piece + 1])
  }
  return out
}

/** Ordinary requests a peer keeps when streaming pre-empts its pipeline (see preemptForDeadlines). */
const PREEMPT_KEEP_REQUESTS = 4

/** Addresses remembered per torrent for (re)connecting; older ones are forgotten beyond this. */
const MAX_KNOWN_PEERS = 2_000
/** How often stats-driven housekeeping runs (request refill safety net, connect queue). */
const HOUSEKEEPING_INTERVAL_MS = 1_000

/** A snapshot of one connected peer. */
export interface PeerInfo {
  /** `host:port` as connected (for incoming peers the port is their ephemeral source port). */
  address: string
  peerIdHex: string | null
  /** e.g. "Transmission 3.00", from the peer id. */
  clientName: string | null
  direction: 'outgoing' | 'incoming'
  downloadRateBytesPerSec: number
  uploadRateBytesPerSec: number
  downloadedBytes: number
  uploadedBytes: number
  amChoking: boolean
  amInterested: boolean
  peerChoking: boolean
  peerInterested: boolean
  snubbed: boolean
  /** Fraction of the pieces the peer has, 0..1. */
  progress: number
  outstandingRequests: number
  latencyMs: number | null
  /** How we learned of the peer ('incoming' when it dialled us). */
  source: PeerSource
}

/** Counters and rates of one torrent. */
export interface TorrentStats {
  state: TorrentState
  /** Verified bytes over wanted bytes, 0..1 (1 once every wanted piece is verified). */
  progress: number
  totalBytes: number
  /** Bytes of the pieces to download: `totalBytes` unless files or pieces are skipped (priority 0). */
  wantedBytes: number
  /** Bytes of verified pieces. */
  verifiedBytes: number
  pieceCount: number
  havePieces: number
  /** Payload accepted from peers (this session). */
  downloadedBytes: number
  /** Payload sent to peers (this session). */
  uploadedBytes: number
  /** Bytes received and thrown away: unrequested or duplicate blocks, and pieces that failed their check. */
  wastedBytes: number
  downloadRateBytesPerSec: number
  uploadRateBytesPerSec: number
  peers: number
  /** Connected peers that have every piece. */
  seeds: number
  hashFailures: number
  bannedPeers: number
  /** True once end-game started during this download. */
  endGame: boolean
  /** Complete pieces waiting for the hasher or the disk. */
  awaitingBytes: number
  /** Pieces being assembled in memory. */
  inFlightPieces: number
}

/** Typed events (STYLE.md §5). */
export interface TorrentEvents {
  'state-changed': StateChange
  /** A piece passed its hash check and was written; `durationMs` from its first block to now. */
  'piece-verified': { piece: number, durationMs: number }
  /** A piece failed its hash check; `peers` are the hosts that sent its blocks. */
  'hash-failed': { piece: number, peers: string[] }
  'peer-connected': { peer: PeerInfo }
  'peer-disconnected': { address: string, peerIdHex: string | null, reason?: LodestoneError }
  /** A host was banned (hash failures); its connections are closed. */
  'peer-banned': { host: string, reason: string }
  /** Every remaining block is requested: duplicates are now sent, with cancels when they arrive. */
  'end-game': { remainingPieces: number }
  /** Every wanted piece is verified (after a download, or found on disk by the check). */
  'completed': Record<string, never>
  /** The check of existing data finished. */
  'checked': { havePieces: number, durationMs: number }
  /** Something failed that the torrent works around (a listener threw, a peer read failed). */
  'warning': { error: unknown }
  /** A fatal problem; the torrent is now in state `error`. */
  'error': { error: LodestoneError }
  /** A magnet's metadata arrived and was verified; `meta` is now available (then the check, download). */
  'metadata': { meta: TorrentMetainfo }
  /** The engine removed the torrent (its read streams error with TORRENT_REMOVED). */
  'removed': Record<string, never>
  /** A seed limit (`seedRatioLimit` / `seedTimeLimitSec`) was reached: seeding is paused. */
  'seed-limit-reached': { reason: 'ratio' | 'time', ratio: number, seedingTimeSec: number }
  /** `moveStorage` finished: the files are in the root `token` now. */
  'storage-moved': { token: string }
  /** A tracker's status changed (an announce started, answered or failed). */
  'tracker-updated': { tracker: TrackerStatus }
}

export interface TorrentDeps {
  clock: IClock
  random: IRandom
  /** Any IHasher; `hashPiece` / `allocate` fast paths are used when present. */
  hasher: IPieceHasher
  /** The torrent's files. A magnet gives `createStorage` instead (called once the metadata is known). */
  storage?: TorrentContentStorage
  /** Magnets: makes the storage once the metadata arrived (`storage` is ignored until then). */
  createStorage?: (meta: TorrentMetainfo) => TorrentContentStorage
  connections: ConnectionManager
  scheduler: CoarseScheduler
  /** Our 20-byte peer id. */
  peerId: Uint8Array
  /** Our listen port (for the extended handshake and trackers), or null. */
  listenPort: () => number | null
  /**
   * Tracker transports (http client, shared UDP socket). Absent: the torrent announces to no
   * tracker (peers come from `addPeer` only).
   */
  trackers?: Pick<TrackerManagerDeps, 'httpClient' | 'udpSocket'>
  /** The engine's rate limiters; the torrent hangs its own and its peers' limiters below them. */
  limits?: { upload: RateLimiter, download: RateLimiter }
  logger?: Logger
  /** Moves the files to another storage root (the engine's move-storage). Absent: moveStorage is refused. */
  moveStorage?: (target: string, options: { signal?: AbortSignal }) => Promise<void>
  /** The engine's queue: may the torrent take a slot now? Absent: always. */
  admit?: (kind: 'download' | 'seed') => boolean
}

export interface TorrentInit {
  /** The metainfo; absent for a magnet link (then `magnet` is required and BEP 9 fetches it). */
  meta?: TorrentMetainfo
  /** A magnet link: the torrent starts in state `metadata`, fetching the info dict from peers. */
  magnet?: MagnetLink
  /** Limits of the metadata fetch (magnets). */
  metadataFetcher?: Partial<MetadataFetcherSettings>
  /** The engine's current settings (read on use, so run-time updates apply). */
  settings: () => EngineSettings
  /** Per-torrent overrides of the download section. */
  overrides?: TorrentSettings
  /** Resume data: the first start trusts these pieces instead of checking every piece. */
  resume?: TorrentResumeHint
  /** One priority per file (0 = skip … 7 = top); all normal by default. */
  filePriorities?: ArrayLike<number>
}

/** A piece being assembled. */
interface PieceBuffer {
  data: Uint8Array
  /** Host that sent each block (for bans). */
  senders: Array<string | null>
  firstBlockAtMs: number
  /** Complete and handed to the verifier / disk. */
  busy: boolean
}

/** One connected peer, as the torrent sees it. */
class PeerSession {
  readonly connectedAtMs: number
  readonly host: string
  /** Per-peer rate limiters (children of the torrent's), closed when the peer leaves. */
  uploadLimiter: RateLimiter | null = null
  downloadLimiter: RateLimiter | null = null
  /** Download bytes granted by the limiter and not yet spent on requests. */
  downloadCredit = 0
  /** The tail of this peer's queue of upload grants. */
  uploadTurn: Promise<void> = Promise.resolve()
  /** Cancels a pending limiter wake-up. */
  cancelDownloadWait: (() => void) | null = null
  /** Listen address learned from the extended handshake (`p`), for reconnecting later. */
  listenAddress: PeerAddress | null = null
  identified = false

  constructor (readonly conn: PeerConnection, readonly slot: ConnectionSlot, nowMs: number, readonly source: PeerSource) {
    this.connectedAtMs = nowMs
    this.host = slot.address.host
  }

  get address (): string { return formatPeerAddress(this.slot.address) }

  info (pieceCount: number): PeerInfo {
    const s = this.conn.stats()
    const bf = this.conn.bitfield
    return {
      address: this.address,
      peerIdHex: this.slot.peerIdHex,
      clientName: this.conn.clientName,
      direction: this.slot.direction,
      downloadRateBytesPerSec: s.downloadRateBytesPerSec,
      uploadRateBytesPerSec: s.uploadRateBytesPerSec,
      downloadedBytes: s.downloadedBytes,
      uploadedBytes: s.uploadedBytes,
      amChoking: this.conn.amChoking,
      amInterested: this.conn.amInterested,
      peerChoking: this.conn.peerChoking,
      peerInterested: this.conn.peerInterested,
      snubbed: this.conn.snubbed,
      progress: bf === null || pieceCount === 0 ? 0 : bf.count / pieceCount,
      outstandingRequests: s.outstandingRequests,
      latencyMs: s.latencyMs,
      source: this.source
    }
  }

  /** How PEX advertises this peer; null when others could not dial it (no listen port known). */
  pexCandidate (): PexCandidate | null {
    if (!this.identified || this.conn.state !== 'active') return null
    const outgoing = this.slot.direction === 'outgoing'
    const address = outgoing ? this.slot.address : this.listenAddress
    if (address === null) return null
    const flags = (this.conn.isSeed ? PEX_FLAG_SEED : 0) | (outgoing ? PEX_FLAG_REACHABLE : 0)
    return { connectionKey: this.address, address, flags }
  }
}

function * pexCandidates (sessions: Iterable<PeerSession>): Iterable<PexCandidate> {
  for (const s of sessions) {
    const c = s.pexCandidate()
    if (c !== null) yield c
  }
}

export class Torrent extends TypedEmitter<TorrentEvents> {
  /** Null until a magnet's metadata arrived (see `meta`, `hasMetadata`). */
  private metaValue: TorrentMetainfo | null = null
  private readonly magnet: MagnetLink | null
  /** The metadata phase of a magnet (connections and trackers while the info dict is unknown). */
  private metadataSwarm: MetadataSwarm | null = null
  private cancelMetadataWait: (() => void) | null = null
  private readonly metadataFetcherSettings: Partial<MetadataFetcherSettings>
  /** Serves our info dict to peers (BEP 9); every connection gets an instance. */
  private readonly utMetadata = createUtMetadataExtension({ metadata: () => this.metaValue?.infoBytes ?? null })
  /** The info hash as 40 lowercase hex characters: the torrent's id. */
  readonly id: string
  readonly infoHash: Uint8Array

  /** `storage` is absent only while a magnet's metadata is unknown, when nothing reads it. */
  private readonly deps: TorrentDeps & { storage: TorrentContentStorage }
  private readonly engineSettings: () => EngineSettings
  private overrides: TorrentSettings
  private downloadSettingsMemo: { engine: DownloadSettings, overrides: TorrentSettings, value: DownloadSettings } | null = null
  private readonly sm: TorrentStateMachine
  // Made with the metadata (in the constructor, or when a magnet's arrives): never read before.
  private picker!: PiecePicker<PeerSession>
  private readonly choker: Choker<PeerSession>
  private verifier!: PieceVerifier
  private readonly log: Logger | undefined

  private readonly sessions = new Set<PeerSession>()
  /** Addresses to (re)connect to, each with the source that first reported it. */
  private readonly knownPeers = new Map<string, PeerAddress & { source: PeerSource }>()
  /** BEP 11 peer exchange while active (never for private torrents). */
  private pex: PexHandler | null = null
  private readonly buffers = new Map<number, PieceBuffer>()
  /**
   * Full-size piece buffers to reuse. Fresh memory costs a page fault per 4 KiB on first write,
   * which measured as the single largest cost of receiving blocks (≈ 1.2 GB/s vs ≈ 20 GB/s for a
   * copy into touched memory); bounded by POOL_MAX_BYTES and the unverified-bytes budget.
   */
  private readonly bufferPool: Uint8Array[] = []
  /** Failed pieces' block hashes per sender, for the smart ban: piece → block → host → sha1 hex. */
  private readonly suspectBlocks = new Map<number, Map<number, Map<string, string>>>()
  private readonly hostFailures = new Map<string, number>()
  private readonly bannedHosts = new Set<string>()
  private readonly pendingIo = new Set<Promise<unknown>>()

  private tasks: ScheduledTask[] = []
  private tracker: TrackerManager | null = null
  private readonly trackerStops = new Set<Promise<void>>()
  private active = false
  /** Bumped by stop/fail: async flows of an older generation give up. */
  private generation = 0
  private stopping: Promise<void> | null = null
  private starting: Promise<void> | null = null
  private hashResume: (() => void) | null = null
  private errorValue: LodestoneError | null = null
  private readonly initialFilePriorities: ArrayLike<number> | null
  private filePriorities: FilePriorities | null = null
  /** Serializes priority changes (each awaits storage). */
  private priorityChain: Promise<void> = Promise.resolve()
  /** Read streams' deadline references per piece. */
  private readonly streamWants = new Map<number, number>()
  private disposed = false
  private preemptScheduled = false
  /** What a queued torrent does when dequeued: start from scratch, or resume. */
  private queuedFrom: 'stopped' | 'paused' = 'stopped'
  /** Consumed by the next start (resume data, or the pieces known before an error). */
  private resumeHint: TorrentResumeHint | null = null
  /** The start in progress ends in `paused` instead of joining the swarm (see startPaused). */
  private restPaused = false

  private awaitingBytes = 0
  private refillAll = false
  private readonly refillSet = new Set<PeerSession>()
  private refillScheduled = false
  private endGameFired = false
  private counters = { downloadedBytes: 0, uploadedBytes: 0, wastedBytes: 0, hashFailures: 0 }
  private readonly downloadMeter: RateMeter
  private readonly uploadMeter: RateMeter
  private readonly uploadLimiter: RateLimiter | null
  private readonly downloadLimiter: RateLimiter | null

  constructor (deps: TorrentDeps, init: TorrentInit) {
    super()
    this.deps = deps as TorrentDeps & { storage: TorrentContentStorage }
    const source = init.meta ?? init.magnet
    if (source === undefined) throw new LodestoneError('ARGUMENT_INVALID', { name: 'init', reason: 'needs meta or magnet' })
    this.magnet = init.meta === undefined ? init.magnet ?? null : null
    for (const peer of this.magnet?.peers ?? []) this.rememberPeer(peer, 'magnet')
    this.metadataFetcherSettings = init.metadataFetcher ?? {}
    this.id = source.id
    this.infoHash = source.infoHash
    this.engineSettings = init.settings
    this.overrides = init.overrides ?? {}
    this.resumeHint = init.resume ?? null
    this.initialFilePriorities = init.filePriorities ?? null
    this.log = deps.logger?.child('torrent', this.id.slice(0, 8))
    this.onListenerError = (error, event) => {
      if (event === 'warning') this.log?.warn('warning listener threw', { error: String(error) })
      else this.emit('warning', { error })
    }
    this.sm = new TorrentStateMachine((change) => { this.emit('state-changed', change) })
    this.choker = new Choker<PeerSession>({ random: deps.random }, this.engineSettings().choking)
    this.downloadMeter = new RateMeter(deps.clock)
    this.uploadMeter = new RateMeter(deps.clock)
    this.uploadLimiter = deps.limits?.upload.createChild() ?? null
    this.downloadLimiter = deps.limits?.download.createChild() ?? null
    this.applyRateOverrides()
    if (init.meta !== undefined) this.initMetadata(init.meta)
  }

  /** Everything that needs the metainfo: picker, verifier, priorities. Runs once. */
  private initMetadata (meta: TorrentMetainfo): void {
    this.metaValue = meta
    this.picker = new PiecePicker<PeerSession>(meta, { random: this.deps.random }, this.engineSettings().picker)
    this.verifier = new PieceVerifier({ hasher: this.deps.hasher }, meta)
    if (this.overrides.sequential !== undefined) this.picker.updateSettings({ sequential: this.overrides.sequential })
    if (this.initialFilePriorities !== null) this.picker.setPiecePriorities(this.priorities.piecePriorities())
  }

  /**
   * The metainfo.
   * @throws LodestoneError METADATA_PENDING for a magnet whose metadata has not arrived (see `hasMetadata`).
   */
  get meta (): TorrentMetainfo {
    if (this.metaValue === null) throw new LodestoneError('METADATA_PENDING', { torrentId: this.id })
    return this.metaValue
  }

  /** False while a magnet's metadata is being fetched ('metadata' fires when it arrives). */
  get hasMetadata (): boolean { return this.metaValue !== null }

  /** The metainfo, or null while a magnet's is being fetched. */
  get metadata (): TorrentMetainfo | null { return this.metaValue }

  /**
   * Per-torrent rate limits in bytes per second (0: only the engine's global limits apply).
   * @throws LodestoneError SETTINGS_INVALID for a negative rate.
   */
  setRateLimits (limits: { uploadRateBytesPerSec?: number, downloadRateBytesPerSec?: number }): void {
    // Kept in the overrides, so `setOverrides` / `settingsOverrides` see the same limits.
    this.overrides = { ...this.overrides, ...resolveTorrentSettings(limits) }
    this.applyRateOverrides()
  }

  /** Per-torrent limits from the overrides (TorrentSettings `uploadRateBytesPerSec` / `downloadRateBytesPerSec`). */
  private applyRateOverrides (): void {
    this.uploadLimiter?.setRate(this.overrides.uploadRateBytesPerSec ?? 0)
    this.downloadLimiter?.setRate(this.overrides.downloadRateBytesPerSec ?? 0)
  }

  /** Applies changed engine settings (choking, picker) from the next decision on. @internal */
  applySettings (): void {
    const s = this.engineSettings()
    this.choker.updateSettings(s.choking)
    if (this.metaValue === null) return
    this.picker.updateSettings(this.overrides.sequential !== undefined ? { ...s.picker, sequential: this.overrides.sequential } : s.picker)
  }

  /** Releases what outlives a stop (rate limiter queues); the engine calls it when removing the torrent. @internal */
  dispose (): void {
    this.uploadLimiter?.close()
    this.downloadLimiter?.close()
    if (!this.disposed) {
      this.disposed = true
      this.emit('removed', {})
    }
  }

  // ------------------------------------------------------------------ files, priorities, streaming, moving

  /** File and piece priorities, made on first use (the file list is known once the metainfo is). */
  private get priorities (): FilePriorities {
    this.filePriorities ??= new FilePriorities(this.meta, this.initialFilePriorities ?? undefined)
    return this.filePriorities
  }

  /** The torrent's files with their priorities and verified bytes (snapshots), each able to stream. */
  get files (): TorrentFile[] {
    const prio = this.priorities
    return this.meta.files.map((f, index) => {
      const verifiedBytes = prio.verifiedBytes(index, (piece) => this.picker.hasPiece(piece))
      return {
        index,
        path: this.deps.storage.filePath(index),
        lengthBytes: f.lengthBytes,
        priority: prio.file(index),
        verifiedBytes,
        progress: f.lengthBytes === 0 ? 1 : verifiedBytes / f.lengthBytes,
        padding: f.padding,
        createReadStream: (options?: ReadStreamOptions) => this.createReadStream(index, options)
      }
    })
  }

  /**
   * Sets one file's priority (0 = skip, 1 = low, 4 = normal, 6 = high, 7 = top; see FilePriority).
   * @throws LodestoneError ARGUMENT_INVALID; STORAGE_* when an unskipped file's bytes cannot be restored.
   */
  async setFilePriority (fileIndex: number, priority: number): Promise<void> {
    const next = this.priorities.fileList()
    if (!Number.isInteger(fileIndex) || fileIndex < 0 || fileIndex >= next.length) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${fileIndex} outside 0..${next.length - 1}` })
    }
    next[fileIndex] = priority
    await this.setFilePriorities(next)
  }

  /**
   * Sets every file's priority. Skipped files are never created; bytes of theirs that share a
   * piece with a wanted file go to the part file. A torrent whose wanted pieces are all verified
   * is finished ('completed', state seeding); wanting more sends it back to downloading.
   * @throws LodestoneError ARGUMENT_INVALID; STORAGE_* when an unskipped file's bytes cannot be restored.
   */
  async setFilePriorities (priorities: ArrayLike<number>): Promise<void> {
    const next = this.priorities.validate(priorities)
    const run = this.priorityChain.then(async () => {
      const before = this.priorities.piecePriorities()
      this.priorities.setFiles(next)
      const after = this.priorities.piecePriorities()
      // Never lose bytes: pieces that stop being wanted stop being picked before storage drops
      // their skipped files' bytes, and newly wanted ones are picked only once storage keeps them.
      const interim = before.map((p, i) => Math.min(p, after[i]!))
      this.picker.setPiecePriorities(interim)
      await this.deps.storage.setFilePriorities(next)
      this.picker.setPiecePriorities(this.priorities.piecePriorities())
      this.afterWantedChanged()
    })
    this.priorityChain = run.catch(() => {})
    await run
  }

  /**
   * Sets (or with null clears) one piece's own priority, overriding its files' (0 skips the piece).
   * @throws LodestoneError ARGUMENT_INVALID
   */
  setPiecePriority (piece: number, priority: number | null): void {
    if (priority !== null) checkPriorityValue(priority)
    this.priorities.setPiece(piece, priority)
    this.picker.setPiecePriority(piece, this.priorities.piecePriorities()[piece]!)
    this.afterWantedChanged()
  }

  /** The priority the picker uses for `piece` (0..7). */
  getPiecePriority (piece: number): number {
    return this.picker.getPiecePriority(piece)
  }

  /** Picks new pieces in index order (true) or rarest-first (false); overrides `picker.sequential`. */
  setSequential (sequential: boolean): void {
    this.overrides = { ...this.overrides, sequential }
    this.picker.updateSettings({ sequential })
  }

  get sequential (): boolean {
    return this.overrides.sequential ?? this.engineSettings().picker.sequential
  }

  /**
   * Streams bytes `start..end` (inclusive) of file `fileIndex` while it downloads: the pieces it
   * needs next become time-critical, it waits for them to be verified, and reads them from
   * storage. Cancelling lowers them back. Errors when the torrent fails or is removed.
   * @throws LodestoneError ARGUMENT_INVALID (file index, range, a skipped or padding file).
   */
  createReadStream (fileIndex: number, options: ReadStreamOptions = {}): ReadableStream<Uint8Array> {
    const file = this.meta.files[fileIndex]
    if (file === undefined) throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${fileIndex} outside 0..${this.meta.files.length - 1}` })
    if (file.padding) throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${fileIndex} is padding` })
    if (this.priorities.file(fileIndex) === 0) throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${fileIndex} is skipped (priority 0): raise its priority to stream it` })
    const removed = (): LodestoneError => new LodestoneError('TORRENT_REMOVED', { id: this.id })
    return createPieceReadStream({
      pieceLengthBytes: this.meta.pieceLengthBytes,
      fileOffsetBytes: file.offsetBytes,
      fileLengthBytes: file.lengthBytes,
      hasPiece: (piece) => this.picker.hasPiece(piece),
      want: (piece, rank) => {
        this.streamWants.set(piece, (this.streamWants.get(piece) ?? 0) + 1)
        this.picker.setPieceDeadline(piece, this.deps.clock.now() + rank)
        this.schedulePreempt()
      },
      unwant: (piece) => {
        const n = (this.streamWants.get(piece) ?? 1) - 1
        if (n > 0) {
          this.streamWants.set(piece, n)
          return
        }
        this.streamWants.delete(piece)
        this.picker.clearPieceDeadline(piece)
      },
      read: async (piece, begin, lengthBytes) => this.deps.storage.read(piece, begin, lengthBytes),
      onPieceVerified: (cb) => this.on('piece-verified', ({ piece }) => { cb(piece) }),
      onFatal: (cb) => {
        const offError = this.on('error', ({ error }) => { cb(error) })
        const offRemoved = this.on('removed', () => { cb(removed()) })
        return () => { offError(); offRemoved() }
      },
      fatal: () => (this.disposed ? removed() : this.sm.is(TorrentState.Error) ? this.errorValue : null)
    }, options)
  }

  /**
   * Moves the torrent's files to another storage root (a root token, or a directory path that
   * becomes a root) while it runs: I/O pauses, files are renamed (same device) or copied, synced
   * and deleted at the old place, then I/O continues there. Crash-safe: a marker in both roots
   * lets the next start finish (or redo) an interrupted move. Emits 'storage-moved'.
   * @throws LodestoneError ARGUMENT_INVALID when the engine gave no mover; STORAGE_* on failure
   *   (the files stay at, or are moved back to, the old place).
   */
  async moveStorage (target: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const mover = this.deps.moveStorage
    if (mover === undefined) throw new LodestoneError('ARGUMENT_INVALID', { name: 'moveStorage', reason: 'this torrent has no storage mover' })
    await mover(target, options)
  }

  /** @internal Announces a finished move (the engine's mover calls it). */
  storageMoved (token: string): void {
    this.emit('storage-moved', { token })
  }

  /** Coalesces {@link preemptForDeadlines} into one pass per tick. */
  private schedulePreempt (): void {
    if (this.preemptScheduled) return
    this.preemptScheduled = true
    queueMicrotask(() => {
      this.preemptScheduled = false
      this.preemptForDeadlines()
    })
  }

  /**
   * Streaming: a peer answers requests in order, so time-critical blocks asked for behind a deep
   * pipeline of ordinary ones would wait for all of them. The newest ordinary requests to peers
   * that have a streamed piece are cancelled (a few stay, so the connection keeps its pace) and
   * the freed slots are refilled, deadline pieces first — libtorrent does the same for deadlines.
   */
  private preemptForDeadlines (): void {
    if (!this.active || this.streamWants.size === 0) return
    const critical = [...this.streamWants.keys()]
    for (const s of this.sessions) {
      const { conn } = s
      if (conn.state !== 'active' || !critical.some((p) => conn.isSeed || conn.bitfield?.get(p) === true)) continue
      const out = conn.outstandingRequests()
      let extra = out.length - PREEMPT_KEEP_REQUESTS
      for (let i = out.length - 1; i >= 0 && extra > 0; i--) {
        const r = out[i]!
        if (this.streamWants.has(r.piece) || !conn.cancel(r.piece, r.begin, r.length)) continue
        this.picker.blockRequestFailed(s, r.piece, r.begin)
        extra--
      }
    }
    this.scheduleRefillAll()
  }

  /** After priorities changed: interest, requests, and finished ⇄ downloading. */
  private afterWantedChanged (): void {
    for (const s of this.sessions) this.updateInterest(s)
    if (this.sm.is(TorrentState.Downloading) && this.picker.isFinished) {
      this.onFinished()
    } else if (this.sm.is(TorrentState.Seeding) && !this.picker.isFinished) {
      this.sm.transition(TorrentState.Downloading)
      this.endGameFired = false
    }
    this.scheduleRefillAll()
  }

  // ------------------------------------------------------------------ public API

  get name (): string { return this.metaValue?.name ?? this.magnet?.displayName ?? this.id }
  get state (): TorrentState { return this.sm.state }
  /** The error that put the torrent in state `error`, else null. */
  get error (): LodestoneError | null { return this.errorValue }
  /** Every wanted piece verified. */
  get isComplete (): boolean { return this.metaValue !== null && this.picker.isFinished }

  /** A copy of our bitfield. */
  bitfield (): Bitfield { return this.metaValue === null ? new Bitfield(0) : this.picker.bitfield() }

  /** Download settings in effect for this torrent (engine values with this torrent's overrides). */
  get downloadSettings (): DownloadSettings {
    // Read on every request refill: merged again only when either side was replaced (settings
    // updates and overrides always swap in new objects, never mutate them).
    const engine = this.engineSettings().download
    const memo = this.downloadSettingsMemo
    if (memo !== null && memo.engine === engine && memo.overrides === this.overrides) return memo.value
    const value = effectiveDownloadSettings(engine, this.overrides)
    this.downloadSettingsMemo = { engine, overrides: this.overrides, value }
    return value
  }

  /**
   * Replaces this torrent's overrides of the download settings (and its connection cap).
   * @throws LodestoneError SETTINGS_INVALID naming the key.
   */
  setOverrides (overrides: TorrentSettings): void {
    this.overrides = resolveTorrentSettings(overrides)
    this.applyRateOverrides()
  }

  /**
   * Starts the torrent: checks existing data (complete files go straight to seeding), then
   * connects to known peers. Resolves once it is downloading or seeding (or paused / stopped
   * meanwhile). Failures put the torrent in state `error` (and emit 'error') rather than reject.
   * @throws LodestoneError ILLEGAL_TRANSITION when not stopped.
   */
  async start (): Promise<void> {
    if (this.starting !== null) return this.starting
    if (this.sm.is(TorrentState.Error) && this.stopping === null) {
      // Restart after a failure (e.g. the disk was full and has space again): what was verified
      // and written in this session is still there, so it is trusted rather than re-hashed.
      const known = this.bitfield()
      await this.stop()
      if (this.starting !== null) return this.starting
      this.resumeHint ??= { trusted: known, recheck: null }
    }
    if (this.sm.is(TorrentState.Queued)) return
    if (this.deps.admit?.('download') === false) {
      this.queuedFrom = 'stopped'
      this.sm.transition(TorrentState.Queued)
      return
    }
    await this.beginStart()
  }

  /**
   * Starts into `paused` without joining the swarm: applies the resume data (checking files that
   * changed) and stops there, as a session restore does for a torrent the user had paused. A
   * magnet without metadata goes straight to paused. `resume()` continues (a magnet then fetches
   * its metadata).
   * @throws LodestoneError ILLEGAL_TRANSITION when not stopped.
   */
  async startPaused (): Promise<void> {
    if (this.starting !== null) return this.starting
    this.restPaused = this.sm.is(TorrentState.Stopped)
    await this.beginStart()
  }

  private async beginStart (): Promise<void> {
    this.sm.transition(TorrentState.Starting)
    const gen = ++this.generation
    this.errorValue = null
    this.starting = this.runStart(gen).finally(() => { this.starting = null })
    await this.starting
  }

  /** Which queue slot this queued torrent waits for. @internal */
  get queuedSlotClass (): 'download' | 'seed' {
    return this.queuedFrom === 'paused' && this.picker.isFinished ? 'seed' : 'download'
  }

  /** The queue gives this queued torrent a slot: it starts, or resumes where it was. @internal */
  dequeue (): void {
    if (!this.sm.is(TorrentState.Queued)) return
    if (this.queuedFrom === 'stopped') {
      void this.beginStart()
      return
    }
    this.sm.transition(this.picker.isFinished ? TorrentState.Seeding : TorrentState.Downloading)
    this.activate()
  }

  /** Over the queue's limit: leave the swarm and wait for a slot. False when it cannot now. @internal */
  queue (): boolean {
    if (!this.sm.is(TorrentState.Downloading, TorrentState.Seeding)) return false
    this.deactivate()
    this.queuedFrom = 'paused'
    this.sm.transition(TorrentState.Queued)
    return true
  }

  /** A seed limit was reached (the engine's queue checks): pause and tell. @internal */
  seedLimitReached (info: { reason: 'ratio' | 'time', ratio: number, seedingTimeSec: number }): void {
    if (!this.sm.is(TorrentState.Seeding)) return
    this.pause()
    this.emit('seed-limit-reached', info)
  }


  /** Pauses: drops connections, keeps progress. While checking data, suspends the check. */
  pause (): void {
    if (this.sm.is(TorrentState.Queued)) {
      // A queued torrent that never started has nothing to pause: it goes back to stopped.
      this.sm.transition(this.queuedFrom === 'paused' ? TorrentState.Paused : TorrentState.Stopped)
      return
    }
    if (this.sm.is(TorrentState.Hashing)) {
      this.sm.transition(TorrentState.HashingPaused)
      return
    }
    if (this.sm.is(TorrentState.Downloading, TorrentState.Seeding, TorrentState.Metadata)) {
      this.deactivate()
      this.sm.transition(TorrentState.Paused)
      return
    }
    if (this.sm.is(TorrentState.Paused, TorrentState.HashingPaused)) return
    throw new LodestoneError('ILLEGAL_TRANSITION', { from: this.sm.state, to: TorrentState.Paused })
  }

  /** Undoes pause. */
  resume (): void {
    if (this.sm.is(TorrentState.HashingPaused)) {
      this.sm.transition(TorrentState.Hashing)
      const r = this.hashResume
      this.hashResume = null
      r?.()
      return
    }
    if (this.sm.is(TorrentState.Paused) && this.metaValue === null) {
      const gen = ++this.generation
      this.starting = this.runStart(gen).finally(() => { this.starting = null })
      return
    }
    if (this.sm.is(TorrentState.Paused)) {
      if (this.deps.admit?.(this.picker.isFinished ? 'seed' : 'download') === false) {
        this.queuedFrom = 'paused'
        this.sm.transition(TorrentState.Queued)
        return
      }
      this.sm.transition(this.picker.isFinished ? TorrentState.Seeding : TorrentState.Downloading)
      this.activate()
      return
    }
    if (this.sm.is(TorrentState.Downloading, TorrentState.Seeding, TorrentState.Hashing, TorrentState.Queued)) return
    throw new LodestoneError('ILLEGAL_TRANSITION', { from: this.sm.state, to: TorrentState.Downloading })
  }

  /**
   * Checks the data on disk again (forced re-check): connections are dropped, every piece is
   * re-verified, then the torrent resumes downloading (pieces found bad are fetched again) or
   * seeding, or stays paused if it was. Failures put it in state `error`.
   * @throws LodestoneError ILLEGAL_TRANSITION unless downloading, seeding or paused.
   */
  async recheck (): Promise<void> {
    if (!this.sm.is(TorrentState.Downloading, TorrentState.Seeding, TorrentState.Paused) || this.metaValue === null) {
      throw new LodestoneError('ILLEGAL_TRANSITION', { from: this.sm.state, to: TorrentState.Hashing })
    }
    const wasPaused = this.sm.is(TorrentState.Paused)
    this.deactivate()
    const gen = ++this.generation
    this.sm.transition(TorrentState.Hashing)
    try {
      // Writes in flight belong to the old generation: let them land before reading the files.
      await Promise.allSettled([...this.pendingIo])
      if (gen !== this.generation) return
      this.buffers.clear()
      for (let piece = 0; piece < this.meta.pieceCount; piece++) this.picker.markMissing(piece)
      await this.checkExistingData(gen)
      if (gen !== this.generation) return
      if (wasPaused) {
        this.sm.transition(TorrentState.Paused)
        return
      }
      this.sm.transition(this.picker.isFinished ? TorrentState.Seeding : TorrentState.Downloading)
      this.activate()
    } catch (error) {
      if (gen === this.generation) this.fail(error)
    }
  }

  /**
   * Stops: closes every connection, waits for pending disk writes, closes files. Idempotent;
   * from `error` it clears the error.
   */
  async stop (): Promise<void> {
    if (this.stopping !== null) return this.stopping
    if (this.sm.is(TorrentState.Stopped)) return
    this.stopping = this.runStop().finally(() => { this.stopping = null })
    await this.stopping
  }

  /**
   * Adds a peer to connect to (`'127.0.0.1:6881'`, `'[::1]:6881'` or `{ host, port }`). Remembered
   * across pause/resume. Returns false when it is known already or refused (banned, ourselves).
   * `source` is recorded for {@link PeerInfo.source} (the first source of an address wins).
   * @throws LodestoneError ADDRESS_INVALID
   */
  addPeer (address: string | PeerAddress, source: PeerSource = 'manual'): boolean {
    const parsed = parsePeerAddress(address)
    if (this.bannedHosts.has(parsed.host) || this.deps.connections.isBanned(parsed.host)) return false
    const key = formatPeerAddress(parsed)
    const isNew = !this.knownPeers.has(key)
    if (isNew) {
      if (this.knownPeers.size >= MAX_KNOWN_PEERS) {
        const oldest = this.knownPeers.keys().next().value
        if (oldest !== undefined) this.knownPeers.delete(oldest)
      }
      this.knownPeers.set(key, { ...parsed, source })
    }
    this.metadataSwarm?.addPeer(parsed)
    if (!this.active) return isNew
    return this.deps.connections.addCandidate(this.id, parsed) || isNew
  }

  /** This torrent's setting overrides (a copy). */
  get settingsOverrides (): TorrentSettings {
    return { ...this.overrides }
  }

  /** Addresses this torrent knows to (re)connect to, as `host:port`, most recent last. */
  knownPeerAddresses (): string[] {
    return [...this.knownPeers.keys()]
  }

  /** Snapshots of this torrent's trackers (empty when it announces to none). */
  trackers (): TrackerStatus[] {
    return this.tracker?.trackers() ?? []
  }

  /** Snapshots of the connected peers (handshake done). */
  peers (): PeerInfo[] {
    const out: PeerInfo[] = []
    for (const s of this.sessions) if (s.identified) out.push(s.info(this.meta.pieceCount))
    return out
  }

  stats (): TorrentStats {
    if (this.metaValue === null) return this.metadataPhaseStats()
    const have = this.picker.haveCount
    let verifiedBytes = have * this.meta.pieceLengthBytes
    const last = this.meta.pieceCount - 1
    if (last >= 0 && this.picker.hasPiece(last)) verifiedBytes -= this.meta.pieceLengthBytes - this.verifier.pieceLength(last)
    let seeds = 0
    let peers = 0
    for (const s of this.sessions) {
      if (!s.identified) continue
      peers++
      if (s.conn.isSeed) seeds++
    }
    const total = this.meta.totalLengthBytes
    const remaining = this.picker.remainingPieceCount
    // No priorities object: nothing was ever skipped, every piece is wanted.
    const wanted = this.filePriorities === null
      ? { wantedBytes: total, verifiedWantedBytes: verifiedBytes }
      : countWantedBytes(this.meta.pieceCount, (p) => this.picker.pieceLength(p), (p) => this.picker.getPiecePriority(p) > 0, (p) => this.picker.hasPiece(p))
    return {
      state: this.sm.state,
      progress: wanted.wantedBytes === 0 || remaining === 0 ? 1 : Math.min(1, wanted.verifiedWantedBytes / wanted.wantedBytes),
      totalBytes: total,
      wantedBytes: wanted.wantedBytes,
      verifiedBytes,
      pieceCount: this.meta.pieceCount,
      havePieces: have,
      downloadedBytes: this.counters.downloadedBytes,
      uploadedBytes: this.counters.uploadedBytes,
      wastedBytes: this.counters.wastedBytes,
      downloadRateBytesPerSec: this.downloadMeter.rateBytesPerSec(),
      uploadRateBytesPerSec: this.uploadMeter.rateBytesPerSec(),
      peers,
      seeds,
      hashFailures: this.counters.hashFailures,
      bannedPeers: this.bannedHosts.size,
      endGame: this.endGameFired,
      awaitingBytes: this.awaitingBytes,
      inFlightPieces: this.buffers.size
    }
  }

  /**
   * Takes an incoming connection routed here by info hash (the engine's listener calls this).
   * @internal
   */
  acceptIncoming (socket: ITcpSocket, header: HandshakeHeader, ticket: IncomingTicket): void {
    if (this.metadataSwarm !== null) {
      this.metadataSwarm.acceptIncoming(socket, header, ticket)
      return
    }
    if (!this.active) {
      ticket.release()
      socket.close()
      return
    }
    const slot = ticket.claim(this.id)
    if (typeof slot === 'string') {
      socket.close()
      return
    }
    // A hybrid torrent answers under whichever of its two hashes the peer used.
    const infoHash = this.handshakeHashes().find((h) => bytesEqual(h, header.infoHash)) ?? this.infoHash
    this.attach(socket, slot, false, infoHash)
  }

  // ------------------------------------------------------------------ lifecycle internals

  /**
   * Magnets: the metadata phase (state `metadata`). A {@link MetadataSwarm} dials the known peers
   * and trackers and fetches the info dict; once it is verified the swarm closes, storage, picker
   * and verifier are made, and 'metadata' fires. Resolves false when paused, stopped or failed meanwhile.
   */
  private async fetchMetadata (gen: number): Promise<boolean> {
    const magnet = this.magnet
    if (magnet === null) throw new LodestoneError('INTERNAL', { reason: 'a torrent without metadata and without a magnet' })
    this.sm.transition(TorrentState.Metadata)
    const swarm = new MetadataSwarm({
      clock: this.deps.clock,
      random: this.deps.random,
      hasher: this.deps.hasher,
      connections: this.deps.connections,
      scheduler: this.deps.scheduler,
      peerId: this.deps.peerId,
      listenPort: this.deps.listenPort,
      settings: this.engineSettings,
      ...(this.deps.trackers !== undefined ? { trackers: this.deps.trackers } : {}),
      ...(this.log !== undefined ? { logger: this.log.child('metadata') } : {})
    }, { ownerId: this.id, magnet, fetcher: this.metadataFetcherSettings })
    swarm.on('peer-discovered', ({ address }) => {
      if (!this.bannedHosts.has(address.host)) this.rememberPeer(address, 'tracker')
    })
    swarm.on('warning', ({ error }) => { this.emit('warning', { error }) })
    this.metadataSwarm = swarm
    const result = await new Promise<TorrentMetainfo | null>((resolve, reject) => {
      this.cancelMetadataWait = () => { resolve(null) }
      swarm.on('metadata', ({ meta }) => { resolve(meta) })
      swarm.on('failed', ({ error }) => { reject(error) })
      for (const address of this.knownPeers.values()) swarm.addPeer(address)
      swarm.start()
    })
    // Closes the phase's connections at once, so the torrent can join the swarm under the same id.
    if (this.metadataSwarm === swarm) this.stopMetadataSwarm()
    if (result === null || gen !== this.generation) return false
    if (this.deps.createStorage !== undefined) this.deps.storage = this.deps.createStorage(result)
    this.initMetadata(result)
    this.emit('metadata', { meta: result })
    return gen === this.generation
  }

  /** Ends the metadata phase (if running): its connections close now, its trackers get `stopped`. */
  private stopMetadataSwarm (): void {
    const swarm = this.metadataSwarm
    if (swarm === null) return
    this.metadataSwarm = null
    const closing = swarm.close().finally(() => { this.trackerStops.delete(closing) })
    this.trackerStops.add(closing)
    const cancel = this.cancelMetadataWait
    this.cancelMetadataWait = null
    cancel?.()
  }

  /** Stats while a magnet's metadata is unknown: sizes from `xl` when given, else 0. */
  private metadataPhaseStats (): TorrentStats {
    const total = this.magnet?.exactLengthBytes ?? 0
    return {
      state: this.sm.state,
      progress: 0,
      totalBytes: total,
      wantedBytes: total,
      verifiedBytes: 0,
      pieceCount: 0,
      havePieces: 0,
      downloadedBytes: 0,
      uploadedBytes: 0,
      wastedBytes: 0,
      downloadRateBytesPerSec: 0,
      uploadRateBytesPerSec: 0,
      peers: this.metadataSwarm?.peerCount ?? 0,
      seeds: 0,
      hashFailures: 0,
      bannedPeers: this.bannedHosts.size,
      endGame: false,
      awaitingBytes: 0,
      inFlightPieces: 0
    }
  }

  private async runStart (gen: number): Promise<void> {
    const restPaused = this.restPaused
    this.restPaused = false
    try {
      if (this.metaValue === null && restPaused) {
        this.sm.transition(TorrentState.Paused)
        return
      }
      if (this.metaValue === null && !await this.fetchMetadata(gen)) return
      const dl = this.downloadSettings
      const hint = this.resumeHint
      this.resumeHint = null
      if (hint !== null) {
        for (const piece of hint.trusted.ones()) if (!this.picker.hasPiece(piece)) this.picker.markHave(piece)
        const ranges = hint.recheck === null ? [] : pieceRanges(hint.recheck)
        if (ranges.length > 0) {
          this.sm.transition(TorrentState.Hashing)
          await this.checkExistingData(gen, ranges)
          if (gen !== this.generation) return
        }
      } else if (dl.checkExistingData) {
        this.sm.transition(TorrentState.Hashing)
        await this.checkExistingData(gen)
        if (gen !== this.generation) return
      }
      // No piece covers a 0-byte file, so create them now (as libtorrent does).
      await this.deps.storage.createEmptyFiles()
      if (gen !== this.generation) return
      const complete = this.picker.isFinished
      if (complete) this.emit('completed', {})
      if (gen !== this.generation) return
      if (restPaused) {
        this.sm.transition(TorrentState.Paused)
        return
      }
      this.sm.transition(complete ? TorrentState.Seeding : TorrentState.Downloading)
      this.activate()
    } catch (error) {
      if (gen === this.generation) this.fail(error)
    }
  }

  /** Hashes the pieces in `ranges` (`[from, to)`, default all) and marks those that pass. */
  private async checkExistingData (gen: number, ranges: ReadonlyArray<readonly [number, number]> = [[0, this.meta.pieceCount]]): Promise<void> {
    const started = this.deps.clock.now()
    const dl = this.downloadSettings
    const limit = dl.checkConcurrency > 0 ? dl.checkConcurrency : Math.max(2, this.deps.hasher.concurrency * 2)
    const inFlight = new Set<Promise<void>>()
    const abort = new AbortController()
    // A holder, not a `let`: it is set from promise callbacks, which flow analysis cannot see.
    const check: { failure: LodestoneError | null } = { failure: null }
    try {
      for await (const { piece, data } of this.readRanges(ranges, abort.signal)) {
        if (gen !== this.generation) { abort.abort(); return }
        while (this.sm.is(TorrentState.HashingPaused)) {
          await new Promise<void>((resolve) => { this.hashResume = resolve })
          if (gen !== this.generation) return
        }
        if (data === null) continue
        const job = this.verifier.verify(piece, data).then((result) => {
          if (result === 'ok' && gen === this.generation && !this.picker.hasPiece(piece)) this.picker.markHave(piece)
        }, (error: unknown) => { check.failure ??= asLodestoneError(error) })
        inFlight.add(job)
        void job.finally(() => inFlight.delete(job))
        if (inFlight.size >= limit) await Promise.race(inFlight)
        if (check.failure !== null) throw check.failure
      }
      await Promise.all(inFlight)
      if (check.failure !== null) throw check.failure
    } finally {
      abort.abort()
    }
    if (gen === this.generation) {
      this.emit('checked', { havePieces: this.picker.haveCount, durationMs: this.deps.clock.now() - started })
    }
  }

  /** The pieces of each `[from, to)` range in turn, as {@link TorrentContentStorage.readPieces} yields them. */
  private async * readRanges (ranges: ReadonlyArray<readonly [number, number]>, signal: AbortSignal): AsyncGenerator<{ piece: number, data: Uint8Array | null }> {
    for (const [fromPiece, toPiece] of ranges) yield * this.deps.storage.readPieces({ fromPiece, toPiece, signal })
  }

  private async runStop (): Promise<void> {
    this.generation++
    const r = this.hashResume
    this.hashResume = null
    if (!this.sm.is(TorrentState.Error)) this.sm.transition(TorrentState.Stopping)
    r?.()
    this.deactivate()
    // Wait for the check loop and disk writes in flight, so files are not closed under them.
    if (this.starting !== null) await this.starting.catch(() => {})
    await Promise.allSettled([...this.pendingIo, ...this.trackerStops])
    this.buffers.clear()
    this.bufferPool.length = 0
    this.awaitingBytes = 0
    this.suspectBlocks.clear()
    if (this.metaValue !== null) {
      // Pieces whose buffers are gone start over: partial ones, and complete ones whose check or
      // write an error abandoned (the picker would otherwise wait for them for ever).
      for (let piece = 0; piece < this.metaValue.pieceCount; piece++) {
        const status = this.picker.pieceStatus(piece)
        if (status !== 'verified' && status !== 'missing') this.picker.pieceFailed(piece)
      }
    }
    try {
      if (this.metaValue !== null) await this.deps.storage.sync()
    } catch (error) {
      this.emit('warning', { error })
    }
    this.sm.transition(TorrentState.Stopped)
  }

  /** Fatal: state `error`, connections dropped, 'error' emitted. */
  private fail (error: unknown): void {
    const err = asLodestoneError(error)
    if (this.sm.is(TorrentState.Error, TorrentState.Stopped, TorrentState.Stopping)) {
      this.emit('warning', { error: err })
      return
    }
    this.generation++
    this.errorValue = err
    this.deactivate()
    this.sm.transition(TorrentState.Error)
    this.log?.error('torrent failed', { code: err.code })
    this.emit('error', { error: err })
  }

  /** Joins the swarm: connection owner, timers, known peers dialled. */
  private activate (): void {
    if (this.active) return
    this.active = true
    this.endGameFired = false
    this.deps.connections.addTorrent(this.id, {
      wantsConnections: () => this.active,
      maxConnections: () => this.overrides.maxConnections,
      onOutgoing: (socket, slot) => { this.attach(socket, slot, true) },
      onConnectFailed: (address, error) => {
        this.log?.debug('connect failed', { address: formatPeerAddress(address), code: error.code })
      }
    })
    const choking = this.engineSettings().choking
    this.choker.updateSettings(choking)
    this.tasks.push(this.deps.scheduler.every(choking.rechokeIntervalMs, () => { this.rechoke() }))
    this.tasks.push(this.deps.scheduler.every(HOUSEKEEPING_INTERVAL_MS, () => { this.housekeeping() }))
    for (const address of this.knownPeers.values()) this.deps.connections.addCandidate(this.id, address)
    this.startTrackers()
    this.startPex()
  }

  /** BEP 11 while active; BEP 27: never on a private torrent. */
  private startPex (): void {
    const settings = this.engineSettings()
    if (!settings.discovery.pex || this.meta.private) return
    this.pex = new PexHandler({
      clock: this.deps.clock,
      scheduler: this.deps.scheduler,
      settings: () => this.engineSettings().pex,
      listenPort: this.deps.listenPort,
      connectedPeers: () => pexCandidates(this.sessions),
      onPeers: (peers) => { for (const p of peers) this.addPeer(p.address, 'pex') },
      ...(this.log !== undefined ? { logger: this.log.child('pex') } : {})
    })
  }

  /** Announces to the torrent's trackers (BEP 12) while active; their peers become candidates. */
  private startTrackers (): void {
    const transports = this.deps.trackers
    if (transports === undefined || !this.engineSettings().discovery.trackers || this.meta.announce.length === 0) return
    const tracker = new TrackerManager(this.meta.announce, {
      clock: this.deps.clock,
      random: this.deps.random,
      ...transports,
      ...(this.log !== undefined ? { logger: this.log.child('tracker') } : {}),
      getAnnounceState: () => {
        const s = this.stats()
        return {
          infoHash: this.infoHash,
          peerId: this.deps.peerId,
          port: this.deps.listenPort() ?? 0,
          uploadedBytes: s.uploadedBytes,
          downloadedBytes: s.downloadedBytes,
          leftBytes: Math.max(0, s.totalBytes - s.verifiedBytes),
          numWant: this.picker.isFinished ? 0 : 50
        }
      }
    })
    tracker.on('peers', ({ peers }) => {
      for (const peer of peers) {
        if (this.bannedHosts.has(peer.host)) continue
        this.rememberPeer(peer, 'tracker')
        if (this.active) this.deps.connections.addCandidate(this.id, peer)
      }
    })
    tracker.on('warning', ({ error }) => { this.emit('warning', { error }) })
    tracker.on('status-changed', ({ tracker: status }) => { this.emit('tracker-updated', { tracker: status }) })
    this.tracker = tracker
    tracker.start()
  }

  /** Sends `stopped` to the trackers (bounded by their stop time-out) and forgets them. */
  private stopTrackers (): void {
    const tracker = this.tracker
    if (tracker === null) return
    this.tracker = null
    const stop = tracker.stop().finally(() => {
      tracker.close()
      this.trackerStops.delete(stop)
    })
    this.trackerStops.add(stop)
  }

  /** Leaves the swarm: closes every connection and timer. Progress and piece buffers stay. */
  private deactivate (): void {
    this.stopMetadataSwarm()
    if (!this.active) return
    this.active = false
    for (const t of this.tasks) t.cancel()
    this.tasks = []
    this.deps.connections.removeTorrent(this.id)
    this.stopTrackers()
    this.pex?.close()
    this.pex = null
    for (const s of [...this.sessions]) s.conn.close()
    // Blocks of unfinished pieces are dropped: their requests were released with the peers.
    for (const [piece, buf] of this.buffers) {
      if (buf.busy) continue
      this.buffers.delete(piece)
      this.recycleBuffer(buf.data)
    }
  }

  // ------------------------------------------------------------------ peers

  /**
   * The 20-byte hashes peers may use in handshakes for this torrent: the info hash, and for a
   * hybrid torrent also the truncated SHA-256 one (BEP 52: v2-capable peers may use it).
   */
  handshakeHashes (): Uint8Array[] {
    const out = [this.infoHash]
    const v2 = this.metaValue?.infoHashV2 ?? this.magnet?.infoHashV2 ?? null
    const hybrid = this.metaValue === null ? this.magnet?.infoHashV1 !== null : this.metaValue.version === 'hybrid'
    if (hybrid && v2 !== null) out.push(v2.subarray(0, 20))
    return out
  }

  private attach (socket: ITcpSocket, slot: ConnectionSlot, outgoing: boolean, infoHash: Uint8Array = this.infoHash): void {
    const settings = this.engineSettings()
    const listenPort = this.deps.listenPort()
    // Filled right after the connection exists; readBlock is only called once it is active.
    const holder: { session: PeerSession | null } = { session: null }
    let conn: PeerConnection
    try {
      conn = new PeerConnection(
        { socket, clock: this.deps.clock, scheduler: this.deps.scheduler, ...(this.log !== undefined ? { logger: this.log } : {}) },
        settings.peer,
        {
          infoHash,
          localPeerId: this.deps.peerId,
          outgoing,
          pieceCount: this.meta.pieceCount,
          localBitfield: () => this.picker.bitfield(),
          readBlock: async (request) => {
            if (holder.session === null) throw new LodestoneError('INTERNAL', { reason: 'block requested before the session existed' })
            return this.readBlock(holder.session, request)
          },
          ...(listenPort !== null ? { listenPort } : {}),
          extensions: [this.utMetadata, ...(this.pex !== null ? [this.pex.extension(slot.address)] : [])]
        }
      )
    } catch (error) {
      slot.release()
      socket.close()
      this.emit('warning', { error })
      return
    }
    const source = outgoing ? this.knownPeers.get(formatPeerAddress(slot.address))?.source ?? 'manual' : 'incoming'
    const session = new PeerSession(conn, slot, this.deps.clock.now(), source)
    holder.session = session
    session.uploadLimiter = this.uploadLimiter?.createChild() ?? null
    session.downloadLimiter = this.downloadLimiter?.createChild() ?? null
    slot.onReplaced(() => {
      conn.close(new LodestoneError('PEER_DUPLICATE', { address: session.address, reason: 'replaced by the connection the peer dialled' }))
    })
    this.sessions.add(session)
    this.wire(session)
  }

  private wire (s: PeerSession): void {
    const { conn } = s
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
      this.emit('peer-connected', { peer: s.info(this.meta.pieceCount) })
    })
    conn.on('extended-handshake', ({ handshake }) => {
      const p = handshake.p
      if (p !== undefined && p > 0 && p < 65536) {
        s.listenAddress = { host: s.host, port: p }
        this.rememberPeer(s.listenAddress, s.source)
      }
      this.scheduleRefill(s)
    })
    conn.on('bitfield', ({ bitfield, source }) => {
      if (source === 'have-all') this.picker.peerHaveAll(s)
      else if (source === 'have-none') this.picker.peerHaveNone(s)
      else this.picker.peerBitfield(s, bitfield)
      this.afterAvailability(s)
    })
    conn.on('have', ({ piece }) => {
      this.picker.peerHave(s, piece)
      this.afterAvailability(s)
    })
    conn.on('unchoked', () => { this.scheduleRefill(s) })
    conn.on('allowed-fast', ({ piece }) => {
      this.picker.peerAllowedFast(s, piece)
      this.scheduleRefill(s)
    })
    conn.on('suggested', ({ piece }) => { this.picker.peerSuggest(s, piece) })
    conn.on('interested', () => { this.fillFreeSlots() })
    conn.on('not-interested', () => { this.fillFreeSlots() })
    conn.on('piece-received', ({ piece, begin, data }) => { this.onBlock(s, piece, begin, data) })
    conn.on('wasted-received', ({ lengthBytes }) => { this.counters.wastedBytes += lengthBytes })
    conn.on('requests-dropped', ({ blocks }) => { this.releaseBlocks(s, blocks) })
    conn.on('request-timed-out', ({ blocks }) => { this.releaseBlocks(s, blocks) })
    conn.on('rejected', (block) => { this.releaseBlocks(s, [block]) })
    conn.on('drained', () => { this.scheduleRefill(s) })
    conn.on('warning', ({ error }) => { this.emit('warning', { error }) })
    conn.on('closed', ({ reason }) => { this.detach(s, reason) })
  }

  private detach (s: PeerSession, reason: LodestoneError | undefined): void {
    if (!this.sessions.delete(s)) return
    this.picker.removePeer(s)
    s.cancelDownloadWait?.()
    s.uploadLimiter?.close()
    s.downloadLimiter?.close()
    s.slot.release()
    // A peer we dialled that hung up or went quiet (not one we refused) is dialled again after a
    // back-off while we still want data: otherwise a seeder that dropped one connection (e.g.
    // Transmission refusing a second concurrent handshake from one IP) is lost for good.
    const transient = reason === undefined || reason.code === 'PEER_CLOSED' || reason.code === 'PEER_TIMEOUT'
    if (s.slot.direction === 'outgoing' && transient && this.active && !this.picker.isFinished) {
      this.deps.connections.redialLater(this.id, s.slot.address)
    }
    // Pieces of a peer that left keep their received blocks; requests were freed by removePeer.
    if (s.identified) {
      this.emit('peer-disconnected', { address: s.address, peerIdHex: s.slot.peerIdHex, ...(reason !== undefined ? { reason } : {}) })
    }
    this.scheduleRefillAll()
  }

  private rememberPeer (address: PeerAddress, source: PeerSource): void {
    const key = formatPeerAddress(address)
    if (this.knownPeers.has(key)) return
    if (this.knownPeers.size >= MAX_KNOWN_PEERS) {
      const oldest = this.knownPeers.keys().next().value
      if (oldest !== undefined) this.knownPeers.delete(oldest)
    }
    this.knownPeers.set(key, { host: address.host, port: address.port, source })
  }

  /** The peer's availability changed: update interest and maybe request. */
  private afterAvailability (s: PeerSession): void {
    if (s.conn.state !== 'active') return
    // Two seeds have nothing to say to each other.
    if (this.picker.isComplete && s.conn.isSeed) {
      s.conn.close()
      return
    }
    this.updateInterest(s)
    this.scheduleRefill(s)
  }

  private updateInterest (s: PeerSession): void {
    if (s.conn.state !== 'active') return
    if (this.picker.isInteresting(s)) s.conn.interested()
    else s.conn.notInterested()
  }

  private async readBlock (s: PeerSession, request: BlockRequest): Promise<Uint8Array> {
    if (!this.picker.hasPiece(request.piece)) {
      throw new LodestoneError('PEER_PROTOCOL_VIOLATION', { reason: `requested piece ${request.piece} we do not have` })
    }
    // Upload limits: the block is read only once its bytes are granted, and the peer connection
    // reads a bounded number ahead, so a limited upload holds little memory.
    // A limiter has one wake-up callback per consumer, so the peer's parallel reads take turns.
    const limiter = s.uploadLimiter
    if (limiter !== null && !isUnlimited(limiter)) {
      const turn = s.uploadTurn.then(async () => { await acquire(limiter, request.length) })
      s.uploadTurn = turn.catch(() => {})
      await turn
    }
    const data = await this.deps.storage.readBlock(request.piece, request.begin, request.length)
    this.counters.uploadedBytes += data.length
    this.uploadMeter.add(data.length)
    return data
  }

  // ------------------------------------------------------------------ requests

  private scheduleRefill (s: PeerSession): void {
    this.refillSet.add(s)
    this.scheduleRefillPass()
  }

  private scheduleRefillAll (): void {
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
    if (!this.active || conn.state !== 'active' || !this.sessions.has(s)) return
    if (this.picker.isFinished) return
    if (!conn.amInterested) {
      this.updateInterest(s)
      if (!conn.amInterested) return
    }
    if (this.awaitingBytes > this.downloadSettings.maxUnverifiedBytes) return
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
    const blocks = this.picker.pickBlocks(s, slots, { choked: conn.peerChoking })
    for (const b of blocks) {
      if (!conn.request(b.piece, b.begin, b.length)) this.picker.blockRequestFailed(s, b.piece, b.begin)
      else if (limiter !== null) s.downloadCredit -= BLOCK_BYTES
    }
    if (blocks.length < slots && !this.endGameFired && this.picker.isEndGame) {
      this.endGameFired = true
      this.log?.debug('end-game', { remaining: this.picker.remainingPieceCount })
      this.emit('end-game', { remainingPieces: this.picker.remainingPieceCount })
      // Other peers may now take duplicates.
      this.scheduleRefillAll()
    }
  }

  /** Requests that will not be answered: the blocks become free for other peers. */
  private releaseBlocks (s: PeerSession, blocks: readonly BlockRequest[]): void {
    let freed = false
    for (const b of blocks) if (this.picker.blockRequestFailed(s, b.piece, b.begin)) freed = true
    if (freed) this.scheduleRefillAll()
    else this.scheduleRefill(s)
  }

  private onBlock (s: PeerSession, piece: number, begin: number, data: Uint8Array): void {
    const result = this.picker.blockReceived(s, piece, begin, data.length)
    for (const other of result.cancel) {
      if (other !== s) other.conn.cancel(piece, begin, data.length)
    }
    if (!result.accepted) {
      this.counters.wastedBytes += data.length
      this.scheduleRefill(s)
      return
    }
    this.counters.downloadedBytes += data.length
    this.downloadMeter.add(data.length)
    let buf = this.buffers.get(piece)
    if (buf === undefined) {
      const length = this.verifier.pieceLength(piece)
      buf = {
        data: this.takeBuffer(length),
        senders: new Array<string | null>(Math.ceil(length / 16_384)).fill(null),
        firstBlockAtMs: this.deps.clock.now(),
        busy: false
      }
      this.buffers.set(piece, buf)
    }
    copyBlock(buf.data, data, begin)
    buf.senders[begin / 16_384] = s.host
    if (result.pieceComplete) this.completePiece(piece, buf)
    this.scheduleRefill(s)
  }

  /** A piece buffer: reused when one is idle, else from the hasher (shared memory it hashes in place). */
  private takeBuffer (length: number): Uint8Array {
    if (length === this.meta.pieceLengthBytes) {
      const pooled = this.bufferPool.pop()
      if (pooled !== undefined) return pooled
    }
    return this.deps.hasher.allocate?.(length) ?? new Uint8Array(length)
  }

  /**
   * Returns a buffer nobody uses any more (verified and written, or failed). Its stale bytes are
   * harmless: a piece completes only once every block was written into it again.
   */
  private recycleBuffer (data: Uint8Array): void {
    if (data.length !== this.meta.pieceLengthBytes) return
    const limit = Math.min(POOL_MAX_BYTES, this.downloadSettings.maxUnverifiedBytes)
    if ((this.bufferPool.length + 1) * data.length > limit) return
    this.bufferPool.push(data)
  }

  private completePiece (piece: number, buf: PieceBuffer): void {
    buf.busy = true
    const length = buf.data.length
    this.awaitingBytes += length
    const gen = this.generation
    const io = this.verifyAndStore(piece, buf, gen).catch((error: unknown) => {
      if (gen === this.generation) this.fail(error)
    }).finally(() => {
      this.awaitingBytes -= length
      this.pendingIo.delete(io)
      if (gen === this.generation) this.scheduleRefillAll()
    })
    this.pendingIo.add(io)
  }

  private async verifyAndStore (piece: number, buf: PieceBuffer, gen: number): Promise<void> {
    const check = await this.verifier.verify(piece, buf.data)
    if (gen !== this.generation) return
    if (check !== 'ok') {
      await this.onHashFailed(piece, buf, check)
      return
    }
    await this.deps.storage.writePiece(piece, buf.data)
    if (gen !== this.generation) return
    this.buffers.delete(piece)
    if (!this.deps.storage.isPieceStored(piece)) {
      // Skipped while in flight: its skipped file's bytes were dropped, so it is not had.
      this.recycleBuffer(buf.data)
      this.picker.pieceFailed(piece)
      return
    }
    const suspects = this.suspectBlocks.get(piece)
    if (suspects !== undefined) {
      this.suspectBlocks.delete(piece)
      await this.smartBan(buf.data, suspects)
    }
    this.recycleBuffer(buf.data)
    this.picker.pieceVerified(piece)
    for (const s of this.sessions) {
      if (s.conn.state !== 'active') continue
      // HAVE suppression: a peer that has the piece does not need to hear about it.
      if (s.conn.bitfield?.get(piece) !== true) s.conn.have(piece)
      if (s.conn.amInterested && !this.picker.isInteresting(s)) s.conn.notInterested()
    }
    this.emit('piece-verified', { piece, durationMs: this.deps.clock.now() - buf.firstBlockAtMs })
    if (this.picker.isFinished) this.onFinished()
  }

  private onFinished (): void {
    if (!this.sm.is(TorrentState.Downloading)) return
    this.sm.transition(TorrentState.Seeding)
    this.tracker?.completed()
    this.emit('completed', {})
    for (const s of [...this.sessions]) {
      if (s.conn.state !== 'active') continue
      if (this.picker.isComplete && s.conn.isSeed) s.conn.close()
      else s.conn.notInterested()
    }
    this.rechoke()
    this.deps.storage.sync().catch((error: unknown) => { this.emit('warning', { error }) })
  }

  private async onHashFailed (piece: number, buf: PieceBuffer, check: 'failed' | 'unverifiable'): Promise<void> {
    this.counters.hashFailures++
    this.counters.wastedBytes += buf.data.length
    const hosts = [...new Set(buf.senders.filter((h): h is string => h !== null))]
    this.log?.warn('piece failed its hash check', { piece, hosts, check })
    // Remember what each sender sent, block by block, before the buffer is dropped.
    if (hosts.length > 1) {
      const blocks = this.suspectBlocks.get(piece) ?? new Map<number, Map<string, string>>()
      for (let b = 0; b < buf.senders.length; b++) {
        const host = buf.senders[b]
        if (host === null || host === undefined) continue
        const digest = await this.deps.hasher.digest('sha1', buf.data.subarray(b * 16_384, (b + 1) * 16_384))
        const perHost = blocks.get(b) ?? new Map<string, string>()
        perHost.set(host, toHex(digest))
        blocks.set(b, perHost)
      }
      this.suspectBlocks.set(piece, blocks)
    }
    this.buffers.delete(piece)
    this.recycleBuffer(buf.data)
    this.picker.pieceFailed(piece)
    this.emit('hash-failed', { piece, peers: hosts })
    if (hosts.length === 1) {
      const host = hosts[0]!
      const n = (this.hostFailures.get(host) ?? 0) + 1
      this.hostFailures.set(host, n)
      if (n >= this.downloadSettings.hashFailuresBeforeBan) this.ban(host, `sole sender of ${n} pieces that failed their hash check`)
    }
  }

  /** A once-failed piece verified: ban every host whose remembered block differs from the good one. */
  private async smartBan (good: Uint8Array, suspects: Map<number, Map<string, string>>): Promise<void> {
    for (const [block, perHost] of suspects) {
      const digest = toHex(await this.deps.hasher.digest('sha1', good.subarray(block * 16_384, (block + 1) * 16_384)))
      for (const [host, sent] of perHost) {
        if (sent !== digest) this.ban(host, 'sent a block that differs from the verified piece')
      }
    }
  }

  /**
   * Closes the connected peers whose host `test` picks (the engine's IP filter changed), with
   * PEER_BANNED. Returns their addresses and directions. @internal
   */
  closePeersWhere (test: (host: string) => boolean, reason: string): Array<{ address: string, direction: 'outgoing' | 'incoming' }> {
    const closed: Array<{ address: string, direction: 'outgoing' | 'incoming' }> = []
    for (const s of [...this.sessions]) {
      if (!test(s.host)) continue
      closed.push({ address: s.address, direction: s.slot.direction })
      s.conn.close(new LodestoneError('PEER_BANNED', { address: s.address, reason }))
    }
    if (this.metadataSwarm !== null) closed.push(...this.metadataSwarm.closePeersWhere(test, reason))
    return closed
  }

  private ban (host: string, reason: string): void {
    if (this.bannedHosts.has(host)) return
    this.bannedHosts.add(host)
    this.deps.connections.ban(host, reason)
    for (const s of [...this.sessions]) {
      if (s.host === host) s.conn.close(new LodestoneError('PEER_BANNED', { address: s.address, reason }))
    }
    for (const [key, address] of this.knownPeers) if (address.host === host) this.knownPeers.delete(key)
    this.emit('peer-banned', { host, reason })
  }

  // ------------------------------------------------------------------ choking, housekeeping

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

  private rechoke (): void {
    if (!this.active) return
    const decision = this.choker.rechoke(this.chokerPeers(), this.deps.clock.now(), { seeding: this.picker.isFinished })
    for (const s of decision.choke) s.conn.choke()
    for (const s of decision.unchoke) s.conn.unchoke()
  }

  private fillFreeSlots (): void {
    if (!this.active) return
    const decision = this.choker.fillFreeSlots(this.chokerPeers(), this.deps.clock.now(), { seeding: this.picker.isFinished })
    for (const s of decision.choke) s.conn.choke()
    for (const s of decision.unchoke) s.conn.unchoke()
  }

  private housekeeping (): void {
    if (!this.active) return
    // Safety net for missed wake-ups (snub recovery, budget freed by a failed write...).
    this.scheduleRefillAll()
    // Candidates whose dial back-off elapsed are dialled only on a pump.
    this.deps.connections.schedulePump()
  }
}
