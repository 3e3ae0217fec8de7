/**
 * Entry of the browser build (`npm run build:browser` → `packages/engine/dist/browser/lodestone.js`):
 * the engine's public API, the browser and io-daemon adapters and their presets, in one ES module
 * with no Node built-ins.
 *
 * ```html
 * <script type="module">
 *   import { createDaemonEngine, IndexedDBSessionStore } from './lodestone.js'
 *   const engine = await createDaemonEngine({ daemon: { port, authToken }, contentRoots, sessionStore: new IndexedDBSessionStore() })
 * </script>
 * ```
 */
export * from '../src/index.js'
export { MemorySessionStore } from '../adapters/memory/memory-session-store.js'
export * from '../adapters/browser/index.js'
export {
  DaemonConnection, DaemonSocketFactory, DaemonFileSystem, DaemonHttpClient, RequestLimiter,
  type DaemonConnectionOptions, type DaemonFileSystemOptions, type DaemonSocketSettings
} from '../adapters/daemon/index.js'
export {
  createDaemonEngine, createDaemonWithOPFSEngine,
  type DaemonEngineConfig, type DaemonOPFSEngineConfig, type DaemonInfo, type DaemonContentRoot
} from '../presets/daemon.js'
export { createBrowserEngine, type BrowserEngineConfig } from '../presets/browser.js'
