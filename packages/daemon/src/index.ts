/**
 * `@lodestone/daemon`: Lodestone as a service. One engine with its session store, driven over
 * Transmission's RPC (version 17) at `/transmission/rpc`, so transmission-remote, Transmission's
 * web client and Transmission client libraries work with it.
 *
 * ```ts
 * const daemon = await LodestoneDaemon.start({ settings: mergeDaemonSettings({ downloadDir: '/srv/dl', rpcPort: 9091 }) })
 * process.on('SIGTERM', () => { void daemon.close() })
 * ```
 */
export { LodestoneDaemon, type DaemonOptions } from './daemon.js'
export {
  defaultDaemonSettings, defaultDaemonStateDir, parseDaemonSettings, mergeDaemonSettings, isLoopbackHost,
  type DaemonSettings
} from './daemon-settings.js'
export { DaemonConfigError } from './daemon-errors.js'
export { StorageRoots } from './storage-roots.js'
export { SESSION_ID_HEADER, newSessionId } from './rpc/rpc-http.js'
export { RPC_VERSION, RPC_VERSION_MINIMUM } from './rpc/session-methods.js'
export { TR_STATUS } from './rpc/torrent-status.js'
export { TORRENT_FIELDS } from './rpc/torrent-fields.js'
export { LodestoneApiClient, ApiClientError, type ApiClientOptions, type ApiTorrentSummary, type ApiTorrentDetail } from './api/api-client.js'
export { EVENTS_PATH, type ApiEvent } from './api/api-events.js'
