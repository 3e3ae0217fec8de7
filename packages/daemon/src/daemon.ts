/**
 * `lodestone daemon`: one engine (the Node preset, with its file session store under the state
 * directory) run as a service and driven over HTTP — Transmission's RPC at `/transmission/rpc`.
 *
 * Start: state files are read, the engine restores every torrent of the last run, then the RPC
 * server listens. Stop (`close()`): the server stops taking requests, then the daemon's records,
 * the session values and the engine's resume data are saved and the engine closes.
 *
 * State directory layout: `resume/` (the engine's session store, a PackedSessionStore: `session.pack`), `torrents/<hash>.torrent`
 * (a copy of each torrent's metainfo, Transmission's `torrentFile`), `torrents.json` (ids' dates,
 * labels, limits), `session.json` (what `session-set` changed, cumulative stats).
 */
import { existsSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { hasCode, parseMagnet, parseTorrent, type BtEngine, type LogEntry, type LogLevel, type Torrent, type TorrentMetainfo } from '@lodestone/engine'
import { buildTorrentFile } from '@lodestone/engine/protocol'
import { createNodeEngine } from '@lodestone/engine/presets/node'
import type { DaemonSettings } from './daemon-settings.js'
import { loadOrCreateApiToken } from './http/api-auth.js'
import { createRouter } from './http/http-router.js'
import { DaemonMetrics } from './http/metrics.js'
import { EventHub } from './api/api-events.js'
import { handleApi, type ApiHost } from './api/api-routes.js'
import { RpcEndpoint, type RpcAccess } from './rpc/rpc-http.js'
import { RpcError, type AddOptions, type CumulativeStats } from './rpc/rpc-types.js'
import { SessionState, mergePatch } from './session-state.js'
import { StorageRoots } from './storage-roots.js'
import { TorrentRegistry, type TrackedTorrent } from './torrent-registry.js'

export interface DaemonOptions {
  settings: DaemonSettings
  /** Engine log entries at `logLevel` and above. */
  onLog?: (entry: LogEntry) => void
  /** @default 'warn' */
  logLevel?: LogLevel | 'off'
  /** Daemon diagnostics (one line each, no newline): failures of background work, reload notes. */
  onDiagnostic?: (line: string) => void
  /** Shown in `session-get`'s version. @default '0.0.0' */
  version?: string
  /** An RPC client sent `session-close` (Transmission shuts down): the owner decides (the CLI stops). */
  onSessionClose?: () => void
}

const SAVE_DELAY_MS = 1_000
/** Log entries kept for `/api/v1/log`. */
const LOG_RING_ENTRIES = 1_000
const DEBIAN_WEB_CLIENT_DIR = '/usr/share/transmission/web'

/** Where Transmission's web client is, if anywhere (see DaemonSettings.webClientDir). */
function webClientDirOf (s: DaemonSettings): string | null {
  if (s.webClientDir !== null) return s.webClientDir
  const env = process.env.TRANSMISSION_WEB_HOME
  if (env !== undefined && env !== '') return env
  return existsSync(join(DEBIAN_WEB_CLIENT_DIR, 'index.html')) ? DEBIAN_WEB_CLIENT_DIR : null
}

function accessOf (s: DaemonSettings): RpcAccess {
  return { username: s.rpcUsername, password: s.rpcPassword, hostAllowList: s.rpcHostAllowList, originAllowList: s.rpcOriginAllowList, maxBodyBytes: s.maxRequestBodyBytes }
}

export class LodestoneDaemon implements ApiHost {
  readonly registry: TorrentRegistry
  readonly session: SessionState
  readonly roots: StorageRoots
  readonly version: string
  readonly rpc: RpcEndpoint
  private readonly metrics: DaemonMetrics
  private engineValue: BtEngine | null = null
  private server: Server | null = null
  private settingsValue: DaemonSettings
  private saveTimer: NodeJS.Timeout | null = null
  private readonly startedAtMs = Date.now()
  /** Bytes of torrents removed during this run (session-stats counts them still). */
  private readonly removedBytes = { downloadedBytes: 0, uploadedBytes: 0 }
  private filesAddedThisRun = 0
  private closing: Promise<void> | null = null
  private events: EventHub | null = null
  /** Torrents being re-added at another location (their entries stay). */
  private readonly relocating = new Set<string>()
  private ticker: NodeJS.Timeout | null = null
  /** The latest engine log entries (at the configured level), newest last. */
  private readonly logRing: LogEntry[] = []
  /** Token for the daemon's own HTTP surface (files, metrics, API); kept in `<stateDir>/api-token`. */
  apiToken = ''

  private constructor (private readonly options: DaemonOptions) {
    const s = options.settings
    this.settingsValue = s
    this.version = options.version ?? '0.0.0'
    this.registry = new TorrentRegistry(join(s.stateDir, 'torrents.json'))
    this.session = new SessionState(join(s.stateDir, 'session.json'), s.downloadDir)
    this.roots = new StorageRoots([s.downloadDir, ...s.storageRoots])
    this.rpc = new RpcEndpoint(this, accessOf(s))
    this.metrics = new DaemonMetrics({ engine: () => this.engine, sessionBytes: () => this.sessionStats().current })
  }

  /** Starts a daemon: state read, torrents restored, RPC listening. */
  static async start (options: DaemonOptions): Promise<LodestoneDaemon> {
    const daemon = new LodestoneDaemon(options)
    await daemon.open()
    return daemon
  }

  get engine (): BtEngine {
    if (this.engineValue === null) throw new Error('the daemon is not started')
    return this.engineValue
  }

  get settings (): DaemonSettings { return this.settingsValue }

  get configDir (): string { return this.settingsValue.stateDir }

  /** The file holding the API token (mode 0600). */
  get apiTokenFile (): string { return join(this.settingsValue.stateDir, 'api-token') }

  /** The RPC port bound (useful with rpcPort 0). */
  get rpcPort (): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0
  }

  /** `http://host:port/transmission/rpc`. */
  get rpcUrl (): string {
    const host = this.settingsValue.rpcHost.includes(':') ? `[${this.settingsValue.rpcHost}]` : this.settingsValue.rpcHost
    return `http://${host}:${this.rpcPort}/transmission/rpc`
  }

  private async open (): Promise<void> {
    const s = this.settingsValue
    await mkdir(s.stateDir, { recursive: true })
    await mkdir(s.downloadDir, { recursive: true })
    await Promise.all([this.registry.load(), this.session.load()])
    this.apiToken = await loadOrCreateApiToken(this.apiTokenFile)
    this.session.before.sessionCount += 1
    const engine = createNodeEngine({
      downloadPath: s.downloadDir,
      stateDir: join(s.stateDir, 'resume'),
      settings: this.engineSettings(s),
      logLevel: this.options.logLevel ?? 'warn',
      onLog: (entry) => {
        this.logRing.push(entry)
        if (this.logRing.length > LOG_RING_ENTRIES) this.logRing.shift()
        this.options.onLog?.(entry)
      }
    })
    this.engineValue = engine
    engine.on('torrent-added', ({ torrent }) => { this.track(torrent) })
    engine.on('torrent-removed', ({ id }) => { if (!this.relocating.has(id)) this.registry.untrack(id) })
    engine.on('warning', ({ error }) => { this.warn(error) })
    const restored = await engine.restoreSession()
    for (const { id, error } of restored.failed) this.diagnostic(`could not restore ${id}: ${error.message}`)
    if (engine.settings.listen.enabled) await engine.listen()
    await this.listenRpc()
  }

  /** Engine settings: the config's, then what session-set changed, then the session's rate limits. */
  private engineSettings (s: DaemonSettings): NonNullable<Parameters<BtEngine['updateSettings']>[0]> {
    const v = this.session.values
    return mergePatch(mergePatch(s.engine, this.session.engineOverrides), {
      rateLimit: this.rateLimits(s),
      queue: { seedRatioLimit: v.seedRatioLimited ? v.seedRatioLimit : 0 }
    })
  }

  /**
   * The engine's global rates: the session's (Transmission's speed limits, alt speed) where one is
   * on, else the config file's `engine.rateLimit` (0 = unlimited).
   */
  private rateLimits (s: DaemonSettings): { downloadRateBytesPerSec: number, uploadRateBytesPerSec: number } {
    const session = this.session.engineRateLimits()
    return {
      downloadRateBytesPerSec: session.downloadRateBytesPerSec > 0 ? session.downloadRateBytesPerSec : s.engine.rateLimit?.downloadRateBytesPerSec ?? 0,
      uploadRateBytesPerSec: session.uploadRateBytesPerSec > 0 ? session.uploadRateBytesPerSec : s.engine.rateLimit?.uploadRateBytesPerSec ?? 0
    }
  }

  private async listenRpc (): Promise<void> {
    const server = createServer({ requestTimeout: 60_000, headersTimeout: 20_000, maxHeaderSize: 16_384 }, createRouter({
      rpc: this.rpc,
      engine: () => this.engine,
      webClientDir: () => webClientDirOf(this.settingsValue),
      apiToken: () => this.apiToken,
      access: () => this.rpc.access,
      apiRoutes: [(path, url, req, res) => {
        if (path === '/metrics') {
          this.metrics.serve(req, res).catch(() => { res.destroy() })
          return true
        }
        return handleApi(this, path, url, req, res)
      }]
    }))
    const events = new EventHub({ engine: this.engine, registry: this.registry, version: this.version, apiToken: () => this.apiToken, access: () => this.rpc.access })
    this.events = events
    server.on('upgrade', (req, socket, head) => { events.handleUpgrade(req, socket, head) })
    // Once a second: activity dates and the event stream's stats. The daemon's own timer, because
    // the engine's 'stats' event is not running while its only torrents are magnets.
    this.ticker = setInterval(() => { this.tick() }, 1_000)
    this.ticker.unref()
    server.on('clientError', (_err, socket) => { socket.destroy() })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.settingsValue.rpcPort, this.settingsValue.rpcHost, () => {
        server.removeListener('error', reject)
        resolve()
      })
    })
    this.server = server
  }

  // ------------------------------------------------------------------ torrents

  /** Tracks a torrent and follows its events (once per torrent object). */
  private track (torrent: Torrent): TrackedTorrent {
    const known = this.registry.get(torrent.id)
    if (known !== undefined && known.torrent === torrent) return known
    const entry = this.registry.track(torrent)
    const nowSec = (): number => Math.floor(Date.now() / 1000)
    torrent.on('state-changed', ({ to }) => {
      this.registry.touch(entry)
      if ((to === 'downloading' || to === 'seeding' || to === 'metadata') && entry.startDateSec === 0) entry.startDateSec = nowSec()
      if (to === 'stopped' || to === 'paused') entry.startDateSec = 0
    })
    torrent.on('completed', () => {
      if (entry.record.doneDateSec === 0) entry.record.doneDateSec = nowSec()
      this.registry.touch(entry)
      this.saveSoon()
    })
    torrent.on('seed-limit-reached', () => { entry.finished = true })
    torrent.on('metadata', ({ meta }) => { this.keepTorrentFile(meta).catch((err: unknown) => { this.warn(err) }) })
    if (torrent.state !== 'stopped' && torrent.state !== 'paused') entry.startDateSec = nowSec()
    return entry
  }

  async addTorrent (input: Uint8Array | string, options: AddOptions): Promise<{ entry: TrackedTorrent, duplicate: boolean }> {
    const engine = this.engine
    let meta: TorrentMetainfo | null = null
    let id: string
    if (typeof input === 'string') {
      try { id = parseMagnet(input).id } catch (err) { throw new RpcError(`invalid magnet link: ${(err as Error).message}`) }
    } else {
      try { meta = await parseTorrent(input) } catch (err) { throw new RpcError(`invalid or corrupt torrent file: ${(err as Error).message}`) }
      id = meta.id
    }
    const existing = this.registry.get(id)
    if (existing !== undefined) return { entry: existing, duplicate: true }
    // Transmission creates a download dir that does not exist yet (it was confined to the roots).
    const downloadPath = options.downloadDir ?? this.session.values['download-dir']
    await mkdir(downloadPath, { recursive: true })
    const priorities = meta !== null && options.filePriorities !== null ? options.filePriorities(meta.files.length) : undefined
    let torrent: Torrent
    try {
      torrent = await engine.addTorrent(meta ?? input, {
        start: !options.paused,
        downloadPath,
        ...(priorities !== undefined ? { filePriorities: priorities } : {}),
        ...(options.peerLimit !== null ? { settings: { maxConnections: options.peerLimit } } : {})
      })
    } catch (err) {
      const again = hasCode(err, 'TORRENT_DUPLICATE') ? this.registry.get(id) : undefined
      if (again !== undefined) return { entry: again, duplicate: true }
      throw new RpcError(`cannot add the torrent: ${(err as Error).message}`)
    }
    const entry = this.track(torrent)
    if (options.labels !== null) entry.record.labels = [...options.labels]
    if (meta !== null) await this.keepTorrentFile(meta)
    else if (options.filePriorities !== null) {
      const choose = options.filePriorities
      torrent.once('metadata', ({ meta: m }) => {
        Promise.resolve().then(async () => { await torrent.setFilePriorities(choose(m.files.length)) }).catch((err: unknown) => { this.warn(err) })
      })
    }
    this.filesAddedThisRun++
    this.saveSoon()
    return { entry, duplicate: false }
  }

  /** A copy of the metainfo in the state dir (Transmission's `torrentFile`). */
  private async keepTorrentFile (meta: TorrentMetainfo): Promise<void> {
    const dir = join(this.settingsValue.stateDir, 'torrents')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, `${meta.id}.torrent`), buildTorrentFile(meta.infoBytes, { announce: meta.announce, urlList: meta.urlList }))
  }

  torrentFileOf (torrent: Torrent): string {
    return torrent.hasMetadata ? join(this.settingsValue.stateDir, 'torrents', `${torrent.id}.torrent`) : ''
  }

  downloadDirOf (torrent: Torrent): string {
    return this.engine.storageRoots.getRootForTorrent(torrent.id)?.path ?? this.settingsValue.downloadDir
  }

  async removeTorrent (entry: TrackedTorrent, deleteData: boolean): Promise<void> {
    const stats = entry.torrent.stats()
    await this.engine.removeTorrent(entry.torrent.id, { deleteFiles: deleteData })
    this.removedBytes.downloadedBytes += stats.downloadedBytes
    this.removedBytes.uploadedBytes += stats.uploadedBytes
    this.registry.untrack(entry.torrent.id)
    await rm(join(this.settingsValue.stateDir, 'torrents', `${entry.torrent.id}.torrent`), { force: true })
    this.saveSoon()
  }

  /**
   * Transmission's set-location without `move`: the data is (to be) found at `target`. The torrent
   * is re-added there under the same id, with its priorities and settings, and its data checked —
   * running torrents check on start; a stopped one is checked and stays stopped.
   */
  async relocate (entry: TrackedTorrent, target: string): Promise<void> {
    const old = entry.torrent
    const meta = old.metadata
    if (meta === null) throw new RpcError('the torrent\'s metadata is not known yet')
    const running = !['stopped', 'paused', 'error'].includes(old.state)
    const priorities = old.files.map((f) => f.priority)
    const settings = old.settingsOverrides
    await mkdir(target, { recursive: true })
    this.relocating.add(old.id)
    try {
      await this.engine.removeTorrent(old.id)
      const fresh = await this.engine.addTorrent(meta, { downloadPath: target, start: running, filePriorities: priorities, settings })
      this.track(fresh)
      if (!running) {
        Promise.resolve().then(async () => {
          await fresh.startPaused()
          await fresh.recheck()
          await fresh.stop()
        }).catch((err: unknown) => { this.warn(err) })
      }
    } finally {
      this.relocating.delete(old.id)
    }
    this.saveSoon()
  }

  requestClose (): void {
    this.options.onSessionClose?.()
  }

  // ------------------------------------------------------------------ session

  applySession (): void {
    const v = this.session.values
    this.engine.updateSettings({ rateLimit: this.rateLimits(this.settingsValue), queue: { seedRatioLimit: v.seedRatioLimited ? v.seedRatioLimit : 0 } })
    this.saveSoon()
  }

  sessionStats (): { current: CumulativeStats, cumulative: CumulativeStats } {
    let down = this.removedBytes.downloadedBytes
    let up = this.removedBytes.uploadedBytes
    for (const entry of this.registry.all()) {
      const s = entry.torrent.stats()
      down += s.downloadedBytes
      up += s.uploadedBytes
    }
    const current: CumulativeStats = {
      uploadedBytes: up,
      downloadedBytes: down,
      filesAdded: this.filesAddedThisRun,
      sessionCount: 1,
      secondsActive: Math.floor((Date.now() - this.startedAtMs) / 1000)
    }
    const b = this.session.before
    const cumulative: CumulativeStats = {
      uploadedBytes: b.uploadedBytes + up,
      downloadedBytes: b.downloadedBytes + down,
      filesAdded: b.filesAdded + current.filesAdded,
      sessionCount: b.sessionCount,
      secondsActive: b.secondsActive + current.secondsActive
    }
    return { current, cumulative }
  }

  private tick (): void {
    const nowMs = Date.now()
    for (const entry of this.registry.all()) {
      const s = entry.torrent.stats()
      if (s.downloadRateBytesPerSec > 0 || s.uploadRateBytesPerSec > 0) entry.record.activityDateSec = Math.floor(nowMs / 1000)
    }
    this.events?.tick(nowMs)
  }

  logEntries (): readonly LogEntry[] {
    return this.logRing
  }

  get maxBodyBytes (): number { return this.settingsValue.maxRequestBodyBytes }

  warn (error: unknown): void {
    this.diagnostic(`warning: ${error instanceof Error ? error.message : String(error)}`)
  }

  private diagnostic (line: string): void {
    this.options.onDiagnostic?.(line)
  }

  saveSoon (): void {
    if (this.saveTimer !== null || this.closing !== null) return
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null
      this.saveRecords().catch((err: unknown) => { this.warn(err) })
    }, SAVE_DELAY_MS)
    this.saveTimer.unref()
  }

  private async saveRecords (): Promise<void> {
    await this.registry.save()
    await this.session.save(this.sessionStats().cumulative)
  }

  /**
   * Applies new settings (SIGHUP): credentials, allow-lists, body limit, storage roots and engine
   * settings take effect at once; the RPC address, state dir and download dir need a restart
   * (said in a diagnostic). The session id is renewed, so clients handshake again.
   */
  reload (settings: DaemonSettings): void {
    const old = this.settingsValue
    for (const key of ['rpcHost', 'rpcPort', 'stateDir', 'downloadDir'] as const) {
      if (settings[key] !== old[key]) this.diagnostic(`${key} changed: takes effect after a restart`)
    }
    this.settingsValue = { ...settings, rpcHost: old.rpcHost, rpcPort: old.rpcPort, stateDir: old.stateDir, downloadDir: old.downloadDir }
    this.roots.set([old.downloadDir, ...settings.storageRoots])
    this.rpc.access = accessOf(this.settingsValue)
    this.rpc.rotateSessionId()
    this.engine.updateSettings(this.engineSettings(this.settingsValue))
  }

  /** Stops the RPC server, saves everything, closes the engine. Idempotent. */
  async close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    if (this.saveTimer !== null) clearTimeout(this.saveTimer)
    this.saveTimer = null
    if (this.ticker !== null) clearInterval(this.ticker)
    this.ticker = null
    this.events?.close()
    const server = this.server
    if (server !== null) {
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      server.closeAllConnections()
      await closed
    }
    const engine = this.engineValue
    if (engine === null) return
    try {
      await this.saveRecords()
      await engine.saveState()
    } finally {
      await engine.close()
    }
  }
}
