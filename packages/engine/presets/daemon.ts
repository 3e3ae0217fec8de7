/**
 * Presets for a browser engine that reaches the network through the io-daemon (seed 004):
 *
 * - `createDaemonEngine`: sockets, files and HTTP trackers through the daemon; content in the
 *   daemon's storage roots (opaque keys), resume data in the given session store.
 * - `createDaemonWithOPFSEngine`: sockets through the daemon, content in the Origin Private File
 *   System, resume data in IndexedDB unless another store is given.
 *
 * Wiring only. `engine.close()` also closes the bridge connection (and the OPFS worker).
 *
 * ```ts
 * const engine = await createDaemonEngine({
 *   daemon: { port: info.port, authToken: info.token },
 *   contentRoots: info.roots,                      // [{ key, label }] as `lodestone io-daemon` printed
 *   sessionStore: new IndexedDBSessionStore('lodestone')
 * })
 * await engine.restoreSession()
 * ```
 *
 * @module @lodestone/engine/presets/daemon
 */
import { BrowserClock } from '../adapters/browser/browser-clock.js'
import { BrowserHasher } from '../adapters/browser/browser-hasher.js'
import { IndexedDBSessionStore } from '../adapters/browser/indexeddb-session-store.js'
import { OpfsFileSystem } from '../adapters/browser/opfs-filesystem.js'
import { BridgeFileWriter } from '../adapters/daemon/bridge-file-writer.js'
import { DaemonConnection, type BridgeWebSocketConstructor } from '../adapters/daemon/daemon-connection.js'
import { DaemonFileSystem, RequestLimiter } from '../adapters/daemon/daemon-filesystem.js'
import { DaemonHttpClient } from '../adapters/daemon/daemon-http-client.js'
import { DaemonSocketFactory } from '../adapters/daemon/daemon-socket-factory.js'
import { WebRtcPeers, withWebRtcPeers, type WebRtcPeerSettings } from '../adapters/browser/webrtc/webrtc-peers.js'
import { LodestoneError } from '../src/errors.js'
import type { IFileSystem } from '../src/interfaces/filesystem.js'
import type { LogEntry, LogLevel } from '../src/interfaces/logger.js'
import type { ISessionStore } from '../src/interfaces/session-store.js'
import type { ISocketFactory } from '../src/interfaces/socket.js'
import { createLogger } from '../src/logging/logger.js'
import { BtEngine } from '../src/session/bt-engine.js'
import type { PartialEngineSettings } from '../src/session/engine-settings.js'
import { StorageRootManager } from '../src/storage/storage-root-manager.js'

export interface DaemonInfo {
  /** The daemon's port on `host`. */
  port: number
  /** The token the daemon printed. */
  authToken: string
  /** @default '127.0.0.1' */
  host?: string
  /** For Node (tests): a WebSocket class; browsers use their own. */
  WebSocket?: BridgeWebSocketConstructor
  /**
   * Run the bridge's WebSocket in a dedicated worker, beside the page's main thread (falls back
   * to the page's WebSocket where workers cannot start). @default true where `Worker` exists
   */
  worker?: boolean
}

/** A daemon storage root, as `lodestone io-daemon` prints it (`token` is accepted for `key`). */
export interface DaemonContentRoot { key?: string, token?: string, label: string }

interface CommonConfig {
  /** Engine settings merged over the defaults. */
  settings?: PartialEngineSettings
  /** Listening port through the daemon (0: any free port). Overrides `settings.listen.port`. */
  port?: number
  onLog?: (entry: LogEntry) => void
  /** @default 'info' */
  logLevel?: LogLevel | 'off'
  /**
   * Hash worker count. 0 hashes through WebCrypto on the page's thread, which there only copies the
   * input: Chromium computes the digest on its own crypto threads. Measured in bench/browser
   * (64 MiB through the bridge, 3 A/B pairs) 0 used 20-25 % less renderer CPU than a worker pool
   * and finished sooner (RESULTS.md). @default 0
   */
  hasherWorkers?: number
  /**
   * WebRTC peers besides the TCP ones (WebSocket trackers as WebTorrent uses them): the engine then
   * swarms with WebTorrent browser peers and TCP peers at once.
   */
  webrtc?: Partial<WebRtcPeerSettings>
}

export interface DaemonEngineConfig extends CommonConfig {
  daemon: DaemonInfo
  contentRoots: readonly DaemonContentRoot[]
  /** Key of the default root. @default the first of `contentRoots` */
  defaultContentRoot?: string
  sessionStore?: ISessionStore
}

export interface DaemonOPFSEngineConfig extends CommonConfig {
  daemon: DaemonInfo
  /** @default an IndexedDBSessionStore named 'lodestone-session' */
  sessionStore?: ISessionStore
  /** OPFS directory for content. @default 'lodestone' */
  opfsRoot?: string
}

function settingsWith (config: CommonConfig): PartialEngineSettings {
  return {
    ...config.settings,
    listen: { ...config.settings?.listen, ...(config.port !== undefined ? { port: config.port } : {}) }
  }
}

/** @internal Shared by the presets: an engine on the given sockets and storage. */
export function buildBrowserSideEngine (parts: {
  config: CommonConfig
  /** null: no bridge (WebRTC peers only). */
  socketFactory: ISocketFactory | null
  storageRoots: StorageRootManager
  sessionStore?: ISessionStore
  httpClient?: DaemonHttpClient
  closeWith: Array<{ close: () => void | Promise<void> }>
}): BtEngine {
  const clock = new BrowserClock()
  const { config } = parts
  const logger = config.onLog !== undefined ? createLogger({ sink: config.onLog, clock, level: config.logLevel ?? 'info' }) : undefined
  const peers = config.webrtc !== undefined || parts.socketFactory === null
    ? new WebRtcPeers(config.webrtc ?? {}, logger !== undefined ? { log: logger.child('webrtc') } : {})
    : null
  const engine = new BtEngine({
    socketFactory: peers !== null ? withWebRtcPeers(parts.socketFactory, peers) : parts.socketFactory ?? withWebRtcPeers(null, new WebRtcPeers()),
    clock,
    hasher: new BrowserHasher({ workers: config.hasherWorkers ?? 0 }),
    storageRoots: parts.storageRoots,
    ...(parts.httpClient !== undefined ? { httpClient: parts.httpClient } : {}),
    ...(parts.sessionStore !== undefined ? { sessionStore: parts.sessionStore } : {}),
    ...(logger !== undefined ? { logger } : {}),
    closeWith: [...(peers !== null ? [peers] : []), ...parts.closeWith]
  }, settingsWith(config))
  peers?.attach(engine)
  return engine
}

/**
 * Connects to the daemon and builds the engine.
 * @throws PEER_CONNECT_FAILED (address 'io-daemon') when the daemon is unreachable or refuses the token;
 *   ARGUMENT_INVALID without content roots.
 */
export async function createDaemonEngine (config: DaemonEngineConfig): Promise<BtEngine> {
  const roots = config.contentRoots.map((r) => ({ key: r.key ?? r.token ?? '', label: r.label }))
  if (roots.length === 0 || roots.some((r) => r.key === '')) throw new LodestoneError('ARGUMENT_INVALID', { name: 'contentRoots', reason: 'at least one root with a key' })
  const conn = await DaemonConnection.connect({ ...config.daemon, port: config.daemon.port, authToken: config.daemon.authToken })
  const limiter = new RequestLimiter()
  const writer = new BridgeFileWriter(conn)
  const storageRoots = new StorageRootManager((token) => new DaemonFileSystem({ httpBase: conn.httpBase, authToken: conn.authToken, rootKey: token, limiter, writer }))
  for (const r of roots) storageRoots.addRoot({ token: r.key, label: r.label, path: r.label })
  storageRoots.setDefaultRoot(config.defaultContentRoot ?? roots[0]?.key ?? '')
  const socketFactory = new DaemonSocketFactory(conn)
  return buildBrowserSideEngine({
    config,
    socketFactory,
    storageRoots,
    httpClient: new DaemonHttpClient(socketFactory),
    ...(config.sessionStore !== undefined ? { sessionStore: config.sessionStore } : {}),
    closeWith: [conn]
  })
}

/** Connects to the daemon for sockets; content goes to OPFS. */
export async function createDaemonWithOPFSEngine (config: DaemonOPFSEngineConfig): Promise<BtEngine> {
  const fs = await OpfsFileSystem.create(config.opfsRoot !== undefined ? { root: config.opfsRoot } : {})
  let conn: DaemonConnection
  try {
    conn = await DaemonConnection.connect({ ...config.daemon })
  } catch (err) { fs.close(); throw err }
  const storageRoots = new StorageRootManager((): IFileSystem => fs)
  storageRoots.addRoot({ token: 'opfs', label: 'Browser storage', path: `opfs:/${config.opfsRoot ?? 'lodestone'}` })
  storageRoots.setDefaultRoot('opfs')
  const socketFactory = new DaemonSocketFactory(conn)
  const sessionStore = config.sessionStore ?? new IndexedDBSessionStore('lodestone-session')
  return buildBrowserSideEngine({
    config,
    socketFactory,
    storageRoots,
    httpClient: new DaemonHttpClient(socketFactory),
    sessionStore,
    closeWith: [conn, fs, ...(config.sessionStore === undefined ? [sessionStore as IndexedDBSessionStore] : [])]
  })
}
