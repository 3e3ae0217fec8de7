/** Node adapters: one file per port implementation.
 *
 * @module @lodestone/engine/adapters/node
 */
export { NodeHasher, defaultNodeHasherSettings, type NodeHasherSettings } from './node-hasher.js'
export { NodeFileSystem, toStorageError } from './node-filesystem.js'
export { NodeSocketFactory, defaultNodeSocketFactorySettings, type NodeSocketFactorySettings, type NodeSocketFactoryDeps } from './node-socket-factory.js'
export { SystemClock, type SystemClockSettings } from './node-clock.js'
export { NodeHttpClient, defaultNodeHttpClientSettings, type NodeHttpClientSettings } from './node-http-client.js'
export { FileSessionStore, encodeSessionKey, decodeSessionKey, MAX_ENCODED_KEY_LENGTH, type FileSessionStoreSettings } from './file-session-store.js'
export { PackedSessionStore, PACK_FILE_NAME, MAX_PACKED_KEY_BYTES, type PackedSessionStoreSettings } from './packed-session-store.js'
export { NodePortMapper, defaultNodePortMapperSettings, defaultGateway, type NodePortMapperSettings } from './node-port-mapper.js'
