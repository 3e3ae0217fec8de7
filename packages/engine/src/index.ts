/**
 * @packageDocumentation
 * `@lodestone/engine`: a platform-agnostic BitTorrent engine. The core exported here reaches the
 * world only through the ports in `interfaces/`; presets (`@lodestone/engine/presets/node`,
 * `.../presets/memory`) wire adapters to it.
 */
export * from './errors.js'
export * from './interfaces/index.js'
export { TypedEmitter, type Listener } from './core/typed-emitter.js'
export type * from './metainfo/types.js'
export * from './protocol/bencode.js'
export { WebCryptoHasher, createDefaultHasher } from './core/web-crypto-hasher.js'
export * from './metainfo/parse-torrent.js'
export * from './metainfo/merkle.js'
export * from './metainfo/magnet.js'
export * from './metainfo/path-safety.js'
export * from './metainfo/create-torrent.js'
export { hashPiece, type IPieceHasher, type INativePathFileSystem, type PieceHashRequest, type PieceHashResult, type FilePieceSegment } from './metainfo/create-piece-hasher.js'
export { listSourceFiles, compareSourcePaths, type SourceFile, type SourceListing } from './metainfo/create-file-list.js'
export { SinkLogger, createLogger, nullLogger, formatLogEntry, isLevelAtLeast, defaultLoggerSettings, type LogSink, type LogClock, type LoggerSettings, type LoggerDeps, type SinkLoggerOptions } from './logging/logger.js'
export { RingBufferLogger, type LogEntryFilter, type RingBufferLoggerOptions } from './logging/ring-buffer-logger.js'
