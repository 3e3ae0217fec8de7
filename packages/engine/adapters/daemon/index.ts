/** Adapters over the io-daemon bridge (a browser engine's way to TCP/UDP and the disk).
 *
 * @module @lodestone/engine/adapters/daemon
 */
export * from './bridge-protocol.js'
export { DaemonConnection, type DaemonConnectionOptions, type BridgeWebSocket, type BridgeWebSocketConstructor, type SocketFrameHandler } from './daemon-connection.js'
export { DaemonSocketFactory, DaemonTcpSocket, DaemonUdpSocket, defaultDaemonSocketSettings, type DaemonSocketSettings } from './daemon-socket-factory.js'
export { DaemonFileSystem, RequestLimiter, normalizePath, type DaemonFileSystemOptions } from './daemon-filesystem.js'
export { BridgeFileWriter, type BridgeFileWriterSettings } from './bridge-file-writer.js'
export { DaemonHttpClient } from './daemon-http-client.js'
