/** `@lodestone/io-daemon`: the I/O bridge a browser engine reaches TCP/UDP and files through. */
export { startIoDaemon, AUTH_TIMEOUT_MS, type IoDaemon, type IoDaemonOptions } from './io-daemon.js'
export { rootKeyOf, confine, pathSegments, PathRefusedError, type StorageRootInfo, type ResolvedRoot } from './storage-roots.js'
export { RECV_WINDOW_BYTES, SEND_HARD_LIMIT_BYTES, WS_HIGH_WATER_BYTES } from './socket-session.js'
export { MAX_IO_BYTES } from './file-service.js'
