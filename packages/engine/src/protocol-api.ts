/**
 * `@lodestone/engine/protocol`: the lower-level building blocks the engine is made of, for protocol
 * work (a tool that speaks the wire, a custom tracker client, a test harness). They are exported as
 * they are, so they may change between releases more freely than the application API at the
 * package root (`@lodestone/engine`), which this subpath does not repeat: import the engine,
 * settings, errors and ports from the root.
 *
 * What is here: bencode; the peer wire (handshake, message codecs and parser, the extension protocol,
 * ut_metadata, ut_pex, BEP 52 hash messages); BEP 52 merkle hashing and proofs, and torrent-file building blocks; the piece picker,
 * piece state, choker, verifier and file priorities; peer connections, the connection manager,
 * listen router, peer ids, rate limiter and meter; trackers (HTTP, UDP, compact peers, the manager);
 * storage (piece layout, content storage, file-handle cache); metadata exchange, PEX, the queue;
 * resume-data records and session persistence; the coarse scheduler; the engine's default settings
 * per subsystem.
 *
 * The surface is recorded in `packages/engine/api/engine-protocol.api.md` (update it with
 * `npm run api:update`).
 *
 * @packageDocumentation
 *
 * @module @lodestone/engine/protocol
 */

// bencode and the peer wire
export * from './protocol/bencode.js'
export * from './protocol/handshake.js'
export * from './protocol/wire-messages.js'
export * from './protocol/hash-messages.js'
export { MessageParser, createMessageCollector, parseMessages, DEFAULT_MAX_MESSAGE_LENGTH_BYTES, type MessageParserSettings } from './protocol/message-parser.js'
export * from './protocol/extension-protocol.js'
export { UT_METADATA, UT_METADATA_LOCAL_ID, METADATA_PIECE_BYTES, metadataPieceCount, metadataPieceLength, encodeMetadataRequest, encodeMetadataReject, encodeMetadataData, decodeMetadataMessage, createUtMetadataExtension, type UtMetadataMessage, type UtMetadataPeer, type UtMetadataSink, type UtMetadataOptions } from './protocol/ut-metadata.js'
export * from './protocol/ut-pex.js'

// Torrent files: v2 merkle trees, path checks, creation steps
export * from './metainfo/merkle.js'
export { fileTreeShape, hashRequestProblem, uncleCount, verifyHashes, pieceLayerRequests, PieceLayerTree, type FileTreeShape } from './v2/merkle-proof.js'
export * from './metainfo/path-safety.js'
export { parseInfoDictionary } from './metainfo/parse-torrent.js'
export { hashPiece } from './metainfo/create-piece-hasher.js'
export { listSourceFiles, compareSourcePaths, type SourceFile, type SourceListing } from './metainfo/create-file-list.js'
export { buildTorrentFile, type TorrentFileFields } from './metainfo/build-torrent-file.js'

// A torrent's parts
export { PiecePicker, type PiecePickerDeps, type PieceSpace, type PickOptions, type BlockReceivedResult, type PieceStatus } from './torrent/piece-picker.js'
export { defaultPiecePickerSettings } from './torrent/piece-picker-settings.js'
export { PieceProgress, BlockState, blockCountOf } from './torrent/piece-state.js'
export { Choker, type ChokerDeps, type ChokerPeer, type ChokeDecision, type RechokeOptions } from './torrent/choker.js'
export { defaultChokerSettings } from './torrent/choker-settings.js'
export { PieceVerifier, pieceLengthOf, type PieceVerifierDeps, type PieceCheck } from './torrent/piece-verifier.js'
export { TorrentStateMachine, canTransition, allowedTransitions } from './torrent/torrent-state.js'
export type { TorrentDeps, TorrentInit } from './torrent/torrent.js'
export { FilePriorities, selectOnlyPriorities, expandFileIndexRanges, type PrioritySpace } from './torrent/file-priorities.js'
export { createPieceReadStream, type ReadStreamHost } from './torrent/read-stream.js'
export { moveTorrentStorage, recoverStorageMove, moveMarkerPath, type MoveStorageDeps } from './torrent/move-storage.js'
export { countWantedBytes, type WantedBytes } from './torrent/wanted-bytes.js'

// Peers
export { PeerConnection, LODESTONE_CLIENT_NAME, ipToBytes, type PeerConnectionState, type PeerConnectionEvents, type PeerConnectionDeps, type PeerConnectionInit, type PeerConnectionStats } from './peer/peer-connection.js'
export type { EmptyEvent } from './peer/peer-connection-types.js'
export { defaultPeerSettings, resolvePeerSettings } from './peer/peer-settings.js'
export { readIncomingHandshakeHeader, type IncomingHandshake, type IncomingHandshakeOptions } from './peer/incoming-handshake.js'
export { clientNameFromPeerId, parsePeerClient, generatePeerId, LODESTONE_PEER_ID_PREFIX, type PeerClient } from './peer/peer-id.js'
export { RateLimiter, defaultRateLimiterSettings, MIN_BURST_BYTES, type RateLimiterSettings, type RateLimiterDeps } from './peer/rate-limiter.js'
export { RateMeter, defaultRateMeterSettings, type RateMeterSettings } from './peer/rate-meter.js'
export { defaultConnectionSettings } from './peer/connection-settings.js'
export { ConnectionManager, type ConnectionManagerDeps, type ConnectionOwner, type ConnectionSlot, type IncomingTicket, type IdentifyResult, type AdmitRefusal, type ConnectionManagerStats } from './peer/connection-manager.js'
export { ListenRouter, type ListenRouterDeps, type ListenRouterStats, type IncomingHandler } from './peer/listen-router.js'
export { parsePeerAddress as parseAddress, formatPeerAddress } from './peer/peer-address.js'

// Trackers
export {
  defaultTrackerSettings, parseTrackerUrl, dedupePeers, MAX_SCRAPE_HASHES,
  type AnnounceEvent, type AnnounceParams, type AnnounceResult, type ScrapeEntry, type ScrapeResult, type TrackerClient,
  type TrackerRequestOptions, type TrackerSettings, type TrackerUrl
} from './tracker/announce.js'
export { decodeCompactPeers, encodeCompactPeers, compactPeerCount, parseIp, canonicalIp, ipFamily, formatIpv4, formatIpv6, COMPACT_PEER_V4_BYTES, COMPACT_PEER_V6_BYTES, type IpFamily } from './tracker/compact-peers.js'
export { HttpTracker, buildAnnounceUrl, parseAnnounceResponse, parseScrapeResponse, scrapeUrlFor, percentEncodeBytes, DEFAULT_ANNOUNCE_INTERVAL_SEC, type HttpTrackerDeps, type ParsedAnnounce } from './tracker/http-tracker.js'
export { UdpTracker, UdpTrackerSocket, defaultUdpTrackerSocketSettings, type UdpTrackerDeps, type UdpTrackerSocketDeps, type UdpTrackerSocketSettings, type UdpTrackerSocketStats, type UdpEndpoint } from './tracker/udp-tracker.js'
export { TrackerManager, defaultTrackerManagerSettings, type TrackerManagerDeps, type TrackerManagerSettings, type TrackerManagerEvents, type StopOptions as TrackerStopOptions } from './tracker/tracker-manager.js'

// Storage
export { PieceLayout, filePathOf, type ContentLayout, type FileSpan } from './storage/piece-layout.js'
export { FileHandleCache, defaultFileHandleCacheSettings, type FileHandleCacheSettings, type FileAccess } from './storage/file-handle-cache.js'
export { FileHandlePool, type PooledHandle } from './storage/file-handle-pool.js'
export { defaultTorrentContentStorageSettings } from './storage/storage-settings.js'
export { TorrentContentStorage, PART_FILE_DIRECTORY, type TorrentContentStorageDeps, type StorageStats } from './storage/torrent-content-storage.js'
export { normalizeTorrentId } from './storage/storage-root-manager.js'

// Session: settings defaults per subsystem, resume data, persistence, queueing, alerts
export {
  resolveTorrentSettings, effectiveDownloadSettings, defaultListenSettings, defaultDownloadSettings, defaultRateLimitSettings,
  defaultDiscoverySettings, defaultSessionSettings
} from './session/engine-settings.js'
export {
  RESUME_DATA_VERSION, ENGINE_TORRENTS_KEY, resumeKeys, encodeTorrentList, decodeTorrentList, encodeBitfieldRecord, decodeBitfieldRecord,
  encodeProgressRecord, decodeProgressRecord, encodePeersRecord, decodePeersRecord, encodeTorrentFile, encodeMagnetRecord, decodeMagnetRecord,
  type FileStamp, type BitfieldRecord, type ProgressRecord, type PeersRecord, type TorrentIntent, type MagnetRecord
} from './session/resume-data.js'
export { SessionPersistence, resumeHintFor, stampFiles, type SessionPersistenceDeps, type StoredTorrent, type StoredMagnet, type TrackOptions } from './session/session-persistence.js'
export { QueueManager, type QueueManagerDeps, type SlotClass } from './session/queue-manager.js'
export { defaultQueueSettings } from './session/queue-settings.js'
export { categoryOfError, type AlertQueueDeps } from './session/alerts.js'
export { defaultAlertSettings } from './session/alert-settings.js'

// Metadata exchange (BEP 9) and peer exchange (BEP 11)
export { MetadataFetcher, type MetadataFetcherDeps, type MetadataFetcherEvents, type MetadataTarget } from './metadata/metadata-fetcher.js'
export { defaultMetadataFetcherSettings } from './metadata/metadata-fetcher-settings.js'
export { MetadataSwarm, type MetadataSwarmDeps, type MetadataSwarmInit, type MetadataSwarmEvents } from './metadata/metadata-swarm.js'
export { PexHandler, UT_PEX_LOCAL_ID, type PexCandidate, type PexHandlerDeps, type PexStats } from './pex/pex-handler.js'
export { defaultPexSettings } from './pex/pex-settings.js'

// Transports: MSE/PE encryption
export { EncryptionPolicy, type EncryptionPolicyDeps } from './transport/mse/encryption-policy.js'
export { defaultEncryptionSettings } from './transport/mse/encryption-settings.js'
// The DHT node on its own (the CLI's `dht get-peers`, tools): BEP 5 lookups over any IUdpSocket.
export { DhtNode, type DhtNodeDeps, type LookupOptions as DhtLookupOptions, type AnnounceOptions as DhtAnnounceOptions, type AnnounceResult as DhtAnnounceResult } from './dht/dht-node.js'
export type { LookupResult as DhtLookupResult, LookupResponder as DhtLookupResponder } from './dht/lookup.js'
export { resolveDhtSettings, defaultDhtSettings, PUBLIC_DHT_ROUTERS, type DhtSettingsInput } from './dht/dht-settings.js'
export type { NodeId } from './dht/node-id.js'
export type { NodeContact } from './dht/compact-nodes.js'
export type { KrpcResponse, KrpcLimits } from './dht/krpc-codec.js'
export type { DhtState } from './dht/dht-state.js'
export type { RoutingTableSettings } from './dht/routing-table.js'
export type { PeerStoreSettings } from './dht/peer-store.js'

// IP ranges and the scheduler
export { parseIpRange, parseIpAddress, formatIpv4Number, formatIpv6BigInt } from './ip-filter/ip-filter.js'
export { CoarseScheduler, defaultCoarseSchedulerSettings, type CoarseSchedulerSettings, type ScheduledTask } from './util/coarse-scheduler.js'
