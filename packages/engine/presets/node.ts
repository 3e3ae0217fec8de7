/**
 * `createNodeEngine`: the engine wired to Node adapters (seed 004's preset). Wiring only: sockets
 * from node:net, files under `downloadPath`, a worker-thread hasher over all cores, the system clock.
 *
 * ```ts
 * const engine = createNodeEngine({ downloadPath: './downloads', port: 6881 })
 * const torrent = await engine.addTorrent(await readFile('x.torrent'))
 * ```
 *
 * @module @lodestone/engine/presets/node
 */
import { NodeFileSystem, NodeHasher, NodeHttpClient, NodePortMapper, NodeSocketFactory, SystemClock } from '../adapters/node/index.js'
import { PackedSessionStore } from '../adapters/node/packed-session-store.js'
import { BtEngine } from '../src/session/bt-engine.js'
import type { PartialEngineSettings } from '../src/session/engine-settings.js'
import type { LogEntry, LogLevel } from '../src/interfaces/logger.js'
import type { IRandom } from '../src/interfaces/random.js'
import type { ISessionStore } from '../src/interfaces/session-store.js'
import { createLogger } from '../src/logging/logger.js'
import { StorageRootManager } from '../src/storage/storage-root-manager.js'

export interface NodeEngineConfig {
  /** Default directory for torrents' files (a storage root; `addTorrent` may name others). */
  downloadPath: string
  /** Listening port; 0 picks a free one. Overrides `settings.listen.port`. @default 6881 */
  port?: number
  /** Interface to listen on. Overrides `settings.listen.host`. @default all interfaces */
  host?: string
  /** Any engine settings (sections merged over the defaults). */
  settings?: PartialEngineSettings
  sessionStore?: ISessionStore
  /**
   * Directory for resume data (a PackedSessionStore, created on first use; records a FileSessionStore
   * left there are taken over); then
   * `engine.restoreSession()` brings torrents back after a restart. Ignored when `sessionStore`
   * is given. The preset has no default location: the CLI picks one under the user's data dir.
   */
  stateDir?: string
  /** Receives log entries at `logLevel` and above. */
  onLog?: (entry: LogEntry) => void
  /** @default 'info' */
  logLevel?: LogLevel | 'off'
  /** Hasher worker threads. @default available parallelism */
  hasherWorkers?: number
  /** Randomness (peer id, tie-breaks). @default WebCrypto */
  random?: IRandom
}

/** A BtEngine on Node: call `engine.close()` to release its sockets, files and worker threads. */
export function createNodeEngine (config: NodeEngineConfig): BtEngine {
  const clock = new SystemClock()
  const storageRoots = new StorageRootManager((_token, root) => new NodeFileSystem(root.path))
  storageRoots.addRoot({ token: config.downloadPath, label: 'Downloads', path: config.downloadPath })
  storageRoots.setDefaultRoot(config.downloadPath)
  const logger = config.onLog !== undefined
    ? createLogger({ sink: config.onLog, clock, level: config.logLevel ?? 'info' })
    : undefined
  const settings: PartialEngineSettings = {
    ...config.settings,
    listen: {
      ...config.settings?.listen,
      ...(config.port !== undefined ? { port: config.port } : {}),
      ...(config.host !== undefined ? { host: config.host } : {})
    }
  }
  const socketFactory = new NodeSocketFactory({}, logger !== undefined ? { log: logger.child('socket') } : {})
  // Used only while settings allow it (portMapping.enabled, a listener not on loopback).
  const portMapper = new NodePortMapper()
  const ownStore = config.sessionStore === undefined && config.stateDir !== undefined ? new PackedSessionStore(config.stateDir) : null
  return new BtEngine({
    socketFactory,
    portMapper,
    // Last to close: cuts peer sockets still lingering after their close (a peer that never reads).
    // The store it made releases its file after the engine's last save.
    closeWith: [...(ownStore !== null ? [ownStore] : []), portMapper, socketFactory],
    clock,
    hasher: new NodeHasher(config.hasherWorkers !== undefined ? { workers: config.hasherWorkers } : {}),
    storageRoots,
    httpClient: new NodeHttpClient(),
    ...(config.random !== undefined ? { random: config.random } : {}),
    ...(config.sessionStore !== undefined
      ? { sessionStore: config.sessionStore }
      : ownStore !== null ? { sessionStore: ownStore } : {}),
    ...(logger !== undefined ? { logger } : {})
  }, settings)
}
