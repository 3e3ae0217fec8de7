/**
 * `createMemoryEngine`: the engine wired to in-memory adapters, for tests and simulations. Wiring
 * only: one host of a MemoryNetwork, a MemoryFileSystem, the given clock (a ManualClock in swarm
 * tests) and randomness, and by default the portable WebCrypto hasher.
 *
 * ```ts
 * const clock = new ManualClock()
 * const network = new MemoryNetwork({ clock })
 * const engine = createMemoryEngine({ socketFactory: network.host('10.0.0.1'), clock, random: seededRandom(1) })
 * ```
 *
 * @module @lodestone/engine/presets/memory
 */
import { MemoryFileSystem } from '../adapters/memory/memory-filesystem.js'
import { BtEngine } from '../src/session/bt-engine.js'
import { resolveSettings, testingSettings, type PartialEngineSettings } from '../src/session/engine-settings.js'
import { WebCryptoHasher } from '../src/hashing/web-crypto-hasher.js'
import type { IClock } from '../src/interfaces/clock.js'
import type { IFileSystem } from '../src/interfaces/filesystem.js'
import type { IHttpClient } from '../src/interfaces/http-client.js'
import type { LogEntry, LogLevel } from '../src/interfaces/logger.js'
import type { IPortMapper } from '../src/interfaces/port-mapper.js'
import type { IRandom } from '../src/interfaces/random.js'
import type { ISessionStore } from '../src/interfaces/session-store.js'
import type { ISocketFactory } from '../src/interfaces/socket.js'
import type { IPieceHasher } from '../src/metainfo/create-piece-hasher.js'
import { createLogger } from '../src/logging/logger.js'
import { StorageRootManager } from '../src/storage/storage-root-manager.js'

export interface MemoryEngineConfig {
  /** This engine's host on a MemoryNetwork (`network.host('10.0.0.1')`). */
  socketFactory: ISocketFactory
  clock: IClock
  /** Every storage root maps to this filesystem. @default a new MemoryFileSystem */
  fs?: IFileSystem
  random?: IRandom
  /** @default a WebCryptoHasher */
  hasher?: IPieceHasher
  /** Merged over `testingSettings()` (small budgets, port 0 on all of the host's addresses, no discovery). */
  settings?: PartialEngineSettings
  sessionStore?: ISessionStore
  /** For trackers and web seeds (a stub in tests); absent: neither HTTP trackers nor web seeds. */
  httpClient?: IHttpClient
  /** Gateway port mapping (a fake in tests); mapping also needs `portMapping.enabled`, off in `testingSettings()`. */
  portMapper?: IPortMapper
  onLog?: (entry: LogEntry) => void
  /** @default 'info' */
  logLevel?: LogLevel | 'off'
}

/** A BtEngine on in-memory adapters; its files are in `config.fs` (or a fresh MemoryFileSystem). */
export function createMemoryEngine (config: MemoryEngineConfig): BtEngine {
  const fs = config.fs ?? new MemoryFileSystem({ clock: config.clock })
  const storageRoots = new StorageRootManager(() => fs)
  storageRoots.addRoot({ token: 'memory', label: 'Memory', path: '/' })
  storageRoots.setDefaultRoot('memory')
  const logger = config.onLog !== undefined
    ? createLogger({ sink: config.onLog, clock: config.clock, level: config.logLevel ?? 'info' })
    : undefined
  return new BtEngine({
    socketFactory: config.socketFactory,
    clock: config.clock,
    hasher: config.hasher ?? new WebCryptoHasher(),
    storageRoots,
    ...(config.random !== undefined ? { random: config.random } : {}),
    ...(config.sessionStore !== undefined ? { sessionStore: config.sessionStore } : {}),
    ...(config.httpClient !== undefined ? { httpClient: config.httpClient } : {}),
    ...(config.portMapper !== undefined ? { portMapper: config.portMapper } : {}),
    ...(logger !== undefined ? { logger } : {})
  }, resolveSettings(config.settings, testingSettings({ listen: { host: '' } })))
}
