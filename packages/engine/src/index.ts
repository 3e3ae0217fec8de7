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
