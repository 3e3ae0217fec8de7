/**
 * @packageDocumentation
 * `@lodestone/engine`: a platform-agnostic BitTorrent engine. The core exported here reaches the
 * world only through the ports in `interfaces/`; presets (`@lodestone/engine/presets/node`,
 * `.../presets/memory`) wire adapters to it.
 */
export * from './errors.js'
export * from './interfaces/index.js'
export { TypedEmitter, type Listener } from './util/typed-emitter.js'
export type * from './metainfo/types.js'
export * from './protocol/bencode.js'
export { WebCryptoHasher, createDefaultHasher } from './hashing/web-crypto-hasher.js'
export * from './metainfo/parse-torrent.js'
export * from './metainfo/merkle.js'
export * from './metainfo/magnet.js'
export * from './metainfo/path-safety.js'
export * from './metainfo/create-torrent.js'
export { hashPiece, type IPieceHasher, type INativePathFileSystem, type PieceHashRequest, type PieceHashResult, type FilePieceSegment } from './metainfo/create-piece-hasher.js'
export { listSourceFiles, compareSourcePaths, type SourceFile, type SourceListing } from './metainfo/create-file-list.js'
export { SinkLogger, createLogger, nullLogger, formatLogEntry, isLevelAtLeast, defaultLoggerSettings, type LogSink, type LogClock, type LoggerSettings, type LoggerDeps, type SinkLoggerOptions } from './logging/logger.js'
export { RingBufferLogger, type LogEntryFilter, type RingBufferLoggerOptions } from './logging/ring-buffer-logger.js'
export { PiecePriority, MAX_PIECE_PRIORITY, DEFAULT_PIECE_PRIORITY } from './torrent/piece-priority.js'
export { defaultPiecePickerSettings, type PiecePickerSettings } from './torrent/piece-picker-settings.js'
export { PiecePicker, type PiecePickerDeps, type PieceSpace, type PickOptions, type BlockReceivedResult, type PieceStatus } from './torrent/piece-picker.js'
export { PieceProgress, BlockState, blockCountOf } from './torrent/piece-state.js'
export { defaultChokerSettings, type ChokerSettings, type SeedingChokeAlgorithm } from './torrent/choker-settings.js'
export { Choker, type ChokerDeps, type ChokerPeer, type ChokeDecision, type RechokeOptions } from './torrent/choker.js'
export { RateLimiter, defaultRateLimiterSettings, MIN_BURST_BYTES, type RateLimiterSettings, type RateLimiterDeps } from './peer/rate-limiter.js'
export { PieceLayout, filePathOf, type ContentLayout, type FileSpan } from './storage/piece-layout.js'
export { FileHandleCache, defaultFileHandleCacheSettings, type FileHandleCacheSettings, type FileAccess } from './storage/file-handle-cache.js'
export { defaultTorrentContentStorageSettings, type TorrentContentStorageSettings } from './storage/storage-settings.js'
export { TorrentContentStorage, PART_FILE_DIRECTORY, type TorrentContentStorageDeps, type StorageStats } from './storage/torrent-content-storage.js'
export { StorageRootManager, normalizeTorrentId, type StorageRoot, type CreateFileSystem, type StorageRootManagerEvents } from './storage/storage-root-manager.js'
export * from './protocol/handshake.js'
export * from './protocol/wire-messages.js'
export { MessageParser, createMessageCollector, parseMessages, DEFAULT_MAX_MESSAGE_LENGTH_BYTES, type MessageParserSettings } from './protocol/message-parser.js'
export * from './protocol/extension-protocol.js'
export { PeerConnection, LODESTONE_CLIENT_NAME, ipToBytes, type PeerConnectionState, type PeerConnectionEvents, type PeerConnectionDeps, type PeerConnectionInit, type PeerConnectionStats } from './peer/peer-connection.js'
export { defaultPeerSettings, resolvePeerSettings, type PeerSettings } from './peer/peer-settings.js'
export { readIncomingHandshakeHeader, type IncomingHandshake, type IncomingHandshakeOptions } from './peer/incoming-handshake.js'
export { clientNameFromPeerId, parsePeerClient, generatePeerId, LODESTONE_PEER_ID_PREFIX, type PeerClient } from './peer/peer-id.js'
export { RateMeter, defaultRateMeterSettings, type RateMeterSettings } from './peer/rate-meter.js'
export { CoarseScheduler, defaultCoarseSchedulerSettings, type CoarseSchedulerSettings, type ScheduledTask } from './util/coarse-scheduler.js'
export { BtEngine, type BtEngineDeps, type BtEngineEvents, type AddTorrentOptions, type RemoveTorrentOptions, type EngineStats } from './session/bt-engine.js'
export { Torrent, type TorrentDeps, type TorrentInit, type TorrentEvents, type TorrentStats, type PeerInfo } from './torrent/torrent.js'
export { TorrentState, TORRENT_STATES, TorrentStateMachine, canTransition, allowedTransitions, isActiveState, type StateChange } from './torrent/torrent-state.js'
export {
  resolveSettings, resolveTorrentSettings, effectiveDownloadSettings, testingSettings, defaultEngineSettings,
  defaultListenSettings, defaultDownloadSettings, defaultRateLimitSettings, defaultDiscoverySettings,
  type EngineSettings, type PartialEngineSettings, type TorrentSettings, type ListenSettings, type DownloadSettings,
  type RateLimitSettings, type DiscoverySettings
} from './session/engine-settings.js'
export { defaultConnectionSettings, type ConnectionSettings } from './peer/connection-settings.js'
export { ConnectionManager, type ConnectionManagerDeps, type ConnectionOwner, type ConnectionSlot, type IncomingTicket, type IdentifyResult, type AdmitRefusal, type ConnectionManagerStats } from './peer/connection-manager.js'
export { ListenRouter, type ListenRouterDeps, type ListenRouterStats, type IncomingHandler } from './peer/listen-router.js'
export { PieceVerifier, pieceLengthOf, type PieceVerifierDeps, type PieceCheck } from './torrent/piece-verifier.js'
export { parsePeerAddress as parseAddress, formatPeerAddress, type PeerAddress } from './peer/peer-address.js'
export {
  defaultTrackerSettings, parseTrackerUrl, dedupePeers, MAX_SCRAPE_HASHES,
  type AnnounceEvent, type AnnounceParams, type AnnounceResult, type ScrapeEntry, type ScrapeResult, type TrackerClient,
  type TrackerRequestOptions, type TrackerSettings, type TrackerUrl
} from './tracker/announce.js'
export { decodeCompactPeers, encodeCompactPeers, compactPeerCount, parseIp, canonicalIp, ipFamily, formatIpv4, formatIpv6, COMPACT_PEER_V4_BYTES, COMPACT_PEER_V6_BYTES, type IpFamily } from './tracker/compact-peers.js'
export { HttpTracker, buildAnnounceUrl, parseAnnounceResponse, parseScrapeResponse, scrapeUrlFor, percentEncodeBytes, DEFAULT_ANNOUNCE_INTERVAL_SEC, type HttpTrackerDeps, type ParsedAnnounce } from './tracker/http-tracker.js'
export { UdpTracker, UdpTrackerSocket, defaultUdpTrackerSocketSettings, type UdpTrackerDeps, type UdpTrackerSocketDeps, type UdpTrackerSocketSettings, type UdpTrackerSocketStats, type UdpEndpoint } from './tracker/udp-tracker.js'
export { TrackerManager, defaultTrackerManagerSettings, type TrackerManagerDeps, type TrackerManagerSettings, type TrackerManagerEvents, type TrackerStatus, type AnnounceState, type StopOptions as TrackerStopOptions } from './tracker/tracker-manager.js'
export { verifyTorrentData, type VerifyDataResult, type VerifyDataDeps, type VerifyDataOptions, type FileVerifyResult, type PieceDataStatus } from './storage/verify-data.js'
export {
  RESUME_DATA_VERSION, ENGINE_TORRENTS_KEY, resumeKeys, encodeTorrentList, decodeTorrentList, encodeBitfieldRecord, decodeBitfieldRecord,
  encodeProgressRecord, decodeProgressRecord, encodePeersRecord, decodePeersRecord, encodeTorrentFile,
  type FileStamp, type BitfieldRecord, type ProgressRecord, type PeersRecord, type TorrentIntent, type TorrentResumeHint
} from './session/resume-data.js'
export { SessionPersistence, resumeHintFor, stampFiles, type SessionPersistenceDeps, type StoredTorrent, type TrackOptions } from './session/session-persistence.js'
export { defaultSessionSettings, type SessionSettings } from './session/engine-settings.js'
export type { RestoreSessionResult } from './session/bt-engine.js'
export { UT_METADATA, UT_METADATA_LOCAL_ID, METADATA_PIECE_BYTES, metadataPieceCount, metadataPieceLength, encodeMetadataRequest, encodeMetadataReject, encodeMetadataData, decodeMetadataMessage, createUtMetadataExtension, type UtMetadataMessage, type UtMetadataPeer, type UtMetadataSink, type UtMetadataOptions } from './protocol/ut-metadata.js'
export { defaultMetadataFetcherSettings, type MetadataFetcherSettings } from './metadata/metadata-fetcher-settings.js'
export { MetadataFetcher, type MetadataFetcherDeps, type MetadataFetcherEvents, type MetadataTarget } from './metadata/metadata-fetcher.js'
export { MetadataSwarm, type MetadataSwarmDeps, type MetadataSwarmInit, type MetadataSwarmEvents } from './metadata/metadata-swarm.js'
export { buildTorrentFile, type TorrentFileFields } from './metainfo/build-torrent-file.js'
export { IpFilter, parseIpRange, parseIpAddress, formatIpv4Number, formatIpv6BigInt, type IpFilterAccess, type IpFilterRule, type IpRange, type ParsedIp, type ParsedRange } from './ip-filter/ip-filter.js'
export { parseEmuleIpFilter, parseP2pIpFilter, parseIpFilterList, detectIpFilterFormat, type IpFilterFormat, type IpFilterLoadOptions, type IpFilterLoadResult, type IpFilterLineError } from './ip-filter/ip-filter-formats.js'
export { ALERT_CATEGORY_BITS, ALL_ALERT_CATEGORIES, alertCategoryMask, defaultAlertSettings, type AlertCategory, type AlertSettings } from './session/alert-settings.js'
export { AlertQueue, categoryOfError, type Alert, type AlertQueueDeps } from './session/alerts.js'
export type { PeerBlockedEvent } from './peer/connection-manager.js'
export type { EngineStatsEvent } from './session/bt-engine.js'
export { matchesLogFilter } from './logging/ring-buffer-logger.js'
export { defaultPexSettings, type PexSettings } from './pex/pex-settings.js'
export { PexHandler, UT_PEX_LOCAL_ID, type PexCandidate, type PexHandlerDeps, type PexStats } from './pex/pex-handler.js'
export * from './protocol/ut-pex.js'
export type { PeerSource } from './peer/peer-address.js'
export { FilePriorities, FilePriority, selectOnlyPriorities, expandFileIndexRanges, type TorrentFile, type PrioritySpace } from './torrent/file-priorities.js'
export { createPieceReadStream, type ReadStreamOptions, type ReadStreamHost } from './torrent/read-stream.js'
export { defaultQueueSettings, type QueueSettings } from './session/queue-settings.js'
export { QueueManager, type QueueManagerDeps } from './session/queue-manager.js'
export { moveTorrentStorage, recoverStorageMove, moveMarkerPath, type MoveStorageDeps } from './torrent/move-storage.js'
export { encodeMagnetRecord, decodeMagnetRecord, type MagnetRecord } from './session/resume-data.js'
export { type StoredMagnet } from './session/session-persistence.js'
export { countWantedBytes, type WantedBytes } from './torrent/wanted-bytes.js'
