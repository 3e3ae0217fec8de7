/**
 * `createBrowserEngine`: a browser engine with no bridge (seed 004's browser preset): content in the
 * Origin Private File System, resume data in IndexedDB, and peers over WebRTC only, found through
 * WebSocket trackers the way WebTorrent finds them. Wiring only; `engine.close()` also closes the
 * trackers, the peer connections and the OPFS worker.
 *
 * ```ts
 * const engine = await createBrowserEngine({ webrtc: { trackers: ['wss://tracker.example/announce'] } })
 * await engine.restoreSession()
 * const torrent = await engine.addTorrent('magnet:?xt=urn:btih:…')
 * ```
 *
 * @module @lodestone/engine/presets/browser
 */
import { IndexedDBSessionStore } from '../adapters/browser/indexeddb-session-store.js'
import { OpfsFileSystem } from '../adapters/browser/opfs-filesystem.js'
import type { WebRtcPeerSettings } from '../adapters/browser/webrtc/webrtc-peers.js'
import type { IFileSystem } from '../src/interfaces/filesystem.js'
import type { LogEntry, LogLevel } from '../src/interfaces/logger.js'
import type { ISessionStore } from '../src/interfaces/session-store.js'
import type { BtEngine } from '../src/session/bt-engine.js'
import type { PartialEngineSettings } from '../src/session/engine-settings.js'
import { StorageRootManager } from '../src/storage/storage-root-manager.js'
import { buildBrowserSideEngine } from './daemon.js'

export interface BrowserEngineConfig {
  /** WebRTC peers: WebSocket trackers (besides each torrent's own ws(s):// trackers), ICE servers, limits. */
  webrtc?: Partial<WebRtcPeerSettings>
  /** @default an IndexedDBSessionStore named 'lodestone-session' */
  sessionStore?: ISessionStore
  /** OPFS directory for content. @default 'lodestone' */
  opfsRoot?: string
  settings?: PartialEngineSettings
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
}

export async function createBrowserEngine (config: BrowserEngineConfig = {}): Promise<BtEngine> {
  const fs = await OpfsFileSystem.create(config.opfsRoot !== undefined ? { root: config.opfsRoot } : {})
  const storageRoots = new StorageRootManager((): IFileSystem => fs)
  storageRoots.addRoot({ token: 'opfs', label: 'Browser storage', path: `opfs:/${config.opfsRoot ?? 'lodestone'}` })
  storageRoots.setDefaultRoot('opfs')
  const sessionStore = config.sessionStore ?? new IndexedDBSessionStore('lodestone-session')
  return buildBrowserSideEngine({
    config: {
      ...config,
      webrtc: config.webrtc ?? {},
      // No UDP without the bridge: trackers are WebSocket ones, DHT and LSD cannot run.
      settings: { ...config.settings, discovery: { dht: false, lsd: false, portMapping: false, ...config.settings?.discovery } }
    },
    socketFactory: null,
    storageRoots,
    sessionStore,
    closeWith: [fs, ...(config.sessionStore === undefined ? [sessionStore as IndexedDBSessionStore] : [])]
  })
}
