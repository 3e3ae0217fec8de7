/** A torrent's API shapes: what it is made from (deps, init) and what it reports (events, stats, peers). */
import type { LodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import type { PeerTransport } from '../interfaces/socket.js'
import type { IPieceHasher } from '../metainfo/create-piece-hasher.js'
import type { MagnetLink } from '../metainfo/magnet.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { MetadataFetcherSettings } from '../metadata/metadata-fetcher-settings.js'
import type { ConnectionManager } from '../peer/connection-manager.js'
import type { PeerSource } from '../peer/peer-address.js'
import type { RateLimiter } from '../peer/rate-limiter.js'
import type { EngineSettings, TorrentSettings } from '../session/engine-settings.js'
import type { TorrentResumeHint } from '../session/resume-data.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import type { TrackerManagerDeps, TrackerStatus } from '../tracker/tracker-manager.js'
import type { CoarseScheduler } from '../util/coarse-scheduler.js'
import type { StateChange, TorrentState } from './torrent-state.js'

/** A snapshot of one connected peer. */
export interface PeerInfo {
  /** `host:port` as connected (for incoming peers the port is their ephemeral source port). */
  address: string
  peerIdHex: string | null
  /** e.g. "Transmission 3.00", from the peer id. */
  clientName: string | null
  direction: 'outgoing' | 'incoming'
  /** 'utp' when the connection runs over uTP (BEP 29), else 'tcp'. */
  transport: PeerTransport
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
  /**
   * Protocol encryption (MSE/PE) of the connection: 'rc4' (encrypted), 'plaintext' (obfuscated
   * handshake, clear stream) or 'none'.
   */
  encryption: 'rc4' | 'plaintext' | 'none'
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
  /** Payload accepted from peers and web seeds (this session). */
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
  /** BEP 19 web seeds in use (not resting after a drop); listed in `peers()` with source 'webseed'. */
  webSeeds: number
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
  /**
   * A connection ended before the BitTorrent handshake identified the peer: e.g. PEER_ENCRYPTION_FAILED
   * (the peer refused the encrypted opening, or a plaintext one under `encryption.mode` 'require'),
   * PEER_CLOSED, PEER_TIMEOUT. Per peer, so a user can see why a peer never connected.
   */
  'peer-handshake-failed': { address: string, direction: 'outgoing' | 'incoming', reason: LodestoneError }
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
  /** `reannounce()` was called while in the swarm: the engine's DHT announces now (its minimum interval allowing). */
  'reannounce-requested': Record<string, never>
  /** `renamePath` renamed a file or folder: `path` (in the torrent) is now `target`. */
  'path-renamed': { path: string, name: string, target: string }
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
