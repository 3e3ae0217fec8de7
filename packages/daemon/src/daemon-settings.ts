/**
 * The daemon's settings: where it listens for RPC, who may call it, where files and state go, and
 * the engine's own settings (the same `EngineSettings` schema the CLI and the library use, under
 * `engine`). They come from three places, later winning: defaults, the `--config` JSON file,
 * command-line flags. A config file is validated strictly — an unknown key is an error naming it —
 * because a misspelt `rpcPasword` silently ignored would leave the RPC open.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { resolveSettings, type PartialEngineSettings } from '@lodestone/engine'
import { DaemonConfigError } from './daemon-errors.js'

export interface DaemonSettings {
  /** Address the RPC server binds. @default '127.0.0.1' */
  rpcHost: string
  /** @default 9091 (Transmission's) */
  rpcPort: number
  /** Default directory for torrents' files; always one of the storage roots. */
  downloadDir: string
  /** Resume data and the daemon's own state (torrent ids, dates, labels). */
  stateDir: string
  /** More directories RPC calls may put files in (`download-dir`, `torrent-set-location`); `downloadDir` is always allowed. */
  storageRoots: string[]
  /** HTTP basic auth: both set, or neither. @default null */
  rpcUsername: string | null
  rpcPassword: string | null
  /** Host names accepted in the `Host` header besides IP literals and `localhost` (DNS-rebinding guard). */
  rpcHostAllowList: string[]
  /** Web origins allowed to call the RPC from a page (a request with another `Origin` is refused). */
  rpcOriginAllowList: string[]
  /** Largest RPC request body accepted. @default 10 MiB (a base64 .torrent of ~7 MiB) */
  maxRequestBodyBytes: number
  /**
   * Transmission's web client to serve under `/transmission/web/` (Debian: transmission-common's
   * `/usr/share/transmission/web`); null: `$TRANSMISSION_WEB_HOME`, else that Debian directory when
   * it exists, else none.
   */
  webClientDir: string | null
  /** Engine settings, sections merged over the engine's defaults (see `EngineSettings`). */
  engine: PartialEngineSettings
}

/** The keys a config file may hold (everything in DaemonSettings). */
const KEYS: ReadonlyArray<keyof DaemonSettings> = [
  'rpcHost', 'rpcPort', 'downloadDir', 'stateDir', 'storageRoots', 'rpcUsername', 'rpcPassword',
  'rpcHostAllowList', 'rpcOriginAllowList', 'maxRequestBodyBytes', 'webClientDir', 'engine'
]

/** `$XDG_DATA_HOME/lodestone/daemon`, else `~/.local/share/lodestone/daemon`. */
export function defaultDaemonStateDir (): string {
  const xdg = process.env.XDG_DATA_HOME
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.local', 'share'), 'lodestone', 'daemon')
}

export function defaultDaemonSettings (): DaemonSettings {
  return {
    rpcHost: '127.0.0.1',
    rpcPort: 9091,
    downloadDir: join(homedir(), 'Downloads'),
    stateDir: defaultDaemonStateDir(),
    storageRoots: [],
    rpcUsername: null,
    rpcPassword: null,
    rpcHostAllowList: [],
    rpcOriginAllowList: [],
    maxRequestBodyBytes: 10 * 1024 * 1024,
    webClientDir: null,
    engine: {}
  }
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function expectString (key: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new DaemonConfigError(key, 'must be a non-empty string')
  return value
}

function expectStringList (key: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) throw new DaemonConfigError(key, 'must be a list of non-empty strings')
  return value as string[]
}

function expectPort (key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) throw new DaemonConfigError(key, 'must be a port number 0..65535')
  return value
}

/**
 * Validates a parsed config file (or any partial settings object) and returns it typed. Engine
 * settings are checked with the engine's own `resolveSettings`, so its errors name the setting
 * (`engine.listen.port`).
 * @throws DaemonConfigError naming the first bad or unknown key.
 */
export function parseDaemonSettings (raw: unknown): Partial<DaemonSettings> {
  if (!isPlainObject(raw)) throw new DaemonConfigError('', 'the config must be a JSON object')
  const out: Partial<DaemonSettings> = {}
  for (const [key, value] of Object.entries(raw)) {
    if (!(KEYS as readonly string[]).includes(key)) throw new DaemonConfigError(key, 'unknown setting')
    switch (key as keyof DaemonSettings) {
      case 'rpcHost': out.rpcHost = expectString(key, value); break
      case 'rpcPort': out.rpcPort = expectPort(key, value); break
      case 'downloadDir': out.downloadDir = expectString(key, value); break
      case 'stateDir': out.stateDir = expectString(key, value); break
      case 'storageRoots': out.storageRoots = expectStringList(key, value); break
      case 'rpcUsername': out.rpcUsername = value === null ? null : expectString(key, value); break
      case 'rpcPassword': out.rpcPassword = value === null ? null : expectString(key, value); break
      case 'rpcHostAllowList': out.rpcHostAllowList = expectStringList(key, value); break
      case 'rpcOriginAllowList': out.rpcOriginAllowList = expectStringList(key, value); break
      case 'maxRequestBodyBytes':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1024) throw new DaemonConfigError(key, 'must be an integer of at least 1024')
        out.maxRequestBodyBytes = value
        break
      case 'webClientDir': out.webClientDir = value === null ? null : expectString(key, value); break
      case 'engine':
        out.engine = parseEngineSection(value)
        break
    }
  }
  return out
}

function parseEngineSection (value: unknown): PartialEngineSettings {
  if (!isPlainObject(value)) throw new DaemonConfigError('engine', 'must be an object of settings sections')
  try {
    resolveSettings(value)
  } catch (err) {
    const key = (err as { details?: { key?: unknown } }).details?.key
    const reason = (err as { details?: { reason?: unknown } }).details?.reason
    throw new DaemonConfigError(typeof key === 'string' && key !== '' ? `engine.${key}` : 'engine', typeof reason === 'string' ? reason : String(err))
  }
  return value
}

/**
 * Layers settings (defaults ← file ← flags) and checks what only the whole can say: credentials
 * come in pairs, and a non-loopback RPC address needs them. Paths are made absolute.
 * @throws DaemonConfigError
 */
export function mergeDaemonSettings (...layers: Array<Partial<DaemonSettings>>): DaemonSettings {
  const out = defaultDaemonSettings()
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue
      if (key === 'engine') out.engine = mergeEngine(out.engine, value as PartialEngineSettings)
      else (out as unknown as Record<string, unknown>)[key] = value
    }
  }
  out.downloadDir = resolve(out.downloadDir)
  out.stateDir = resolve(out.stateDir)
  out.storageRoots = out.storageRoots.map((r) => resolve(r))
  if (out.webClientDir !== null) out.webClientDir = resolve(out.webClientDir)
  if ((out.rpcUsername === null) !== (out.rpcPassword === null)) {
    throw new DaemonConfigError(out.rpcUsername === null ? 'rpcUsername' : 'rpcPassword', 'rpcUsername and rpcPassword go together')
  }
  if (!isLoopbackHost(out.rpcHost) && out.rpcPassword === null) {
    throw new DaemonConfigError('rpcHost', `listening on ${out.rpcHost} (beyond loopback) needs rpcUsername and rpcPassword`)
  }
  return out
}

function mergeEngine (base: PartialEngineSettings, patch: PartialEngineSettings): PartialEngineSettings {
  const out: Record<string, Record<string, unknown>> = { ...(base as Record<string, Record<string, unknown>>) }
  for (const [section, values] of Object.entries(patch as Record<string, Record<string, unknown> | undefined>)) {
    if (values === undefined) continue
    out[section] = { ...out[section], ...values }
  }
  return out
}

/** 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}
