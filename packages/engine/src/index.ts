/**
 * `@lodestone/engine`: a platform-agnostic BitTorrent engine. This root is the application API:
 * the engine and its torrents, their events and stats, settings, errors, alerts, torrent-file and
 * magnet helpers, IP filter loading, logging, and the ports (`I…` interfaces) an adapter implements.
 *
 * Ready-made wiring lives in subpaths: `@lodestone/engine/presets/node` (and `/memory`, `/browser`,
 * `/daemon`) and the adapters they use (`@lodestone/engine/adapters/…`). The lower-level building
 * blocks (wire codecs, bencode, picker, choker, trackers, peer connections, resume-data records)
 * are in `@lodestone/engine/protocol`.
 *
 * The surface is recorded in `packages/engine/api/engine.api.md`; a test fails when it changes
 * without that report (update it with `npm run api:update`).
 *
 * @packageDocumentation
 *
 * @module @lodestone/engine
 */

// Errors
export * from './errors.js'

// Ports an adapter implements (filesystem, sockets, clock, hasher, session store, HTTP, logger, random)
export * from './interfaces/index.js'
export type { IPieceHasher, INativePathFileSystem, PieceHashRequest, PieceHashResult, FilePieceSegment } from './metainfo/create-piece-hasher.js'
export { WebCryptoHasher, createDefaultHasher } from './hashing/web-crypto-hasher.js'
export { TypedEmitter, type Listener } from './util/typed-emitter.js'

// The engine, its torrents, their events and stats
export { BtEngine, type BtEngineDeps, type BtEngineEvents, type AddTorrentOptions, type RemoveTorrentOptions, type EngineStats, type EngineStatsEvent, type RestoreSessionResult } from './session/bt-engine.js'
export { Torrent, type TorrentEvents, type TorrentStats, type PeerInfo } from './torrent/torrent.js'
export { TorrentState, TORRENT_STATES, isActiveState, type StateChange } from './torrent/torrent-state.js'
export { FilePriority, type TorrentFile } from './torrent/file-priorities.js'
export { PiecePriority, MAX_PIECE_PRIORITY, DEFAULT_PIECE_PRIORITY } from './torrent/piece-priority.js'
export type { ReadStreamOptions } from './torrent/read-stream.js'
export type { PeerAddress, PeerSource } from './peer/peer-address.js'
export type { PeerBlockedEvent, ConnectionManagerStats } from './peer/connection-manager.js'
export type { ListenRouterStats } from './peer/listen-router.js'
export type { TrackerStatus, AnnounceState } from './tracker/tracker-manager.js'
export type { TorrentResumeHint } from './session/resume-data.js'
export { Bitfield } from './util/bitfield.js'
export { StorageRootManager, type StorageRoot, type CreateFileSystem, type StorageRootManagerEvents } from './storage/storage-root-manager.js'

// Settings
export {
  defaultEngineSettings, resolveSettings, testingSettings,
  type EngineSettings, type PartialEngineSettings, type TorrentSettings, type ListenSettings, type DownloadSettings,
  type RateLimitSettings, type DiscoverySettings, type SessionSettings
} from './session/engine-settings.js'
export type { ConnectionSettings } from './peer/connection-settings.js'
export type { PeerSettings } from './peer/peer-settings.js'
export type { PiecePickerSettings } from './torrent/piece-picker-settings.js'
export type { ChokerSettings, SeedingChokeAlgorithm } from './torrent/choker-settings.js'
export type { TorrentContentStorageSettings } from './storage/storage-settings.js'
export type { MetadataFetcherSettings } from './metadata/metadata-fetcher-settings.js'
export type { PexSettings } from './pex/pex-settings.js'
export type { QueueSettings } from './session/queue-settings.js'
export type { EncryptionSettings, EncryptionMode, EncryptionLevel } from './transport/mse/encryption-settings.js'
export type { TransportSettings } from './transport/transport-settings.js'
export type { EncryptionStats } from './transport/mse/encryption-policy.js'
export type { MseFailureReason } from './transport/mse/mse-handshake.js'
export type { DhtSettings } from './dht/dht-settings.js'
export type { RoutingTableSettings as DhtRoutingTableSettings } from './dht/routing-table.js'
export type { PeerStoreSettings as DhtPeerStoreSettings } from './dht/peer-store.js'
export type { KrpcLimits } from './dht/krpc-codec.js'
export type { DhtStats } from './dht/dht-stats.js'
export type { EngineUdpStats } from './session/engine-udp.js'
export type { PortMappingSettings } from './session/engine-settings.js'
export type { PortMappingStats, PortMappingState, PortMappingEvent } from './session/port-mapping.js'
export type { UdpMuxStats, UdpChannelStats } from './transport/udp-mux.js'
export type { UtpStats } from './transport/utp/utp-stats.js'
export type { LsdSettings, LsdStats } from './lsd/local-peer-discovery.js'
export type { WebSeedSettings } from './webseed/web-seed-health.js'

// Alerts
export { AlertQueue, type Alert } from './session/alerts.js'
export { ALERT_CATEGORY_BITS, ALL_ALERT_CATEGORIES, alertCategoryMask, type AlertCategory, type AlertSettings } from './session/alert-settings.js'

// Torrent files and magnet links: parse, create, verify
export type * from './metainfo/types.js'
export { parseTorrent, defaultMetainfoLimits, type MetainfoLimits, type ParseTorrentOptions } from './metainfo/parse-torrent.js'
export {
  parseMagnet, buildMagnet, magnetFromMetainfo, parseSelectOnly, isFileSelected, MAX_MAGNET_LENGTH_CHARS,
  type MagnetLink, type MagnetPeer, type MagnetBuildInput, type FileIndexRange
} from './metainfo/magnet.js'
export {
  createTorrent, autoPieceLength, MIN_PIECE_LENGTH_BYTES, MAX_PIECE_LENGTH_BYTES, AUTO_MAX_PIECE_LENGTH_BYTES,
  type CreateTorrentOptions, type CreateTorrentDeps, type CreatedTorrent
} from './metainfo/create-torrent.js'
export { verifyTorrentData, type VerifyDataResult, type VerifyDataDeps, type VerifyDataOptions, type FileVerifyResult, type PieceDataStatus } from './storage/verify-data.js'

// IP filter (eMule ipfilter.dat, PeerGuardian .p2p)
export { IpFilter, type IpFilterAccess, type IpFilterRule, type IpRange, type ParsedIp, type ParsedRange } from './ip-filter/ip-filter.js'
export { parseIpFilterList, parseEmuleIpFilter, parseP2pIpFilter, detectIpFilterFormat, type IpFilterFormat, type IpFilterLoadOptions, type IpFilterLoadResult, type IpFilterLineError } from './ip-filter/ip-filter-formats.js'

// Logging
export { SinkLogger, ScopedLogger, createLogger, nullLogger, formatLogEntry, isLevelAtLeast, defaultLoggerSettings, type LogSink, type LogClock, type LoggerSettings, type LoggerDeps, type SinkLoggerOptions } from './logging/logger.js'
export { RingBufferLogger, matchesLogFilter, type LogEntryFilter, type RingBufferLoggerOptions } from './logging/ring-buffer-logger.js'
