/**
 * `EngineSettings`: one object made of per-subsystem sections (STYLE.md §8, DESIGN rule 9).
 * Each section has defaults; `resolveSettings(partial)` merges a partial over them and validates
 * every key, throwing SETTINGS_INVALID with the dotted key so a CLI flag or RPC call that sets
 * `connection.maxHalfOpen: -1` is told exactly what is wrong.
 *
 * Validation is driven by the defaults (an unknown key or a wrong type is refused) plus a table of
 * ranges, so adding a setting to a section is one line in its interface and one in its defaults.
 */
import { LodestoneError } from '../errors.js'
import { defaultAlertSettings, type AlertSettings } from './alert-settings.js'
import { defaultQueueSettings, type QueueSettings } from './queue-settings.js'
import { defaultMetadataFetcherSettings, type MetadataFetcherSettings } from '../metadata/metadata-fetcher-settings.js'
import { defaultConnectionSettings, type ConnectionSettings } from '../peer/connection-settings.js'
import { defaultPeerSettings, resolvePeerSettings, type PeerSettings } from '../peer/peer-settings.js'
import { defaultPexSettings, type PexSettings } from '../pex/pex-settings.js'
import { defaultEncryptionSettings, type EncryptionSettings } from '../transport/mse/encryption-settings.js'
import { defaultTorrentContentStorageSettings, type TorrentContentStorageSettings } from '../storage/storage-settings.js'
import { defaultChokerSettings, validateChokerSettings, type ChokerSettings } from '../torrent/choker-settings.js'
import { resolveDhtSettings, type DhtSettings } from '../dht/dht-settings.js'
import { defaultLsdSettings, type LsdSettings } from '../lsd/local-peer-discovery.js'
import { defaultPiecePickerSettings, type PiecePickerSettings } from '../torrent/piece-picker-settings.js'
import { defaultWebSeedSettings, type WebSeedSettings } from '../webseed/web-seed-health.js'
import { defaultTransportSettings, type TransportSettings } from '../transport/transport-settings.js'

/** Where the engine listens for incoming peer connections (one port for every torrent). */
export interface ListenSettings {
  /** 0 picks a free port. @default 6881 */
  port: number
  /** Interface to bind; '' means all interfaces. @default '' */
  host: string
  /** Accept incoming connections at all. @default true */
  enabled: boolean
}

export const defaultListenSettings: Readonly<ListenSettings> = { port: 6881, host: '', enabled: true }

/**
 * How a torrent downloads and verifies. Every key can be overridden per torrent. Per-connection
 * behaviour (pipeline, time-outs, upload queue) is in `peer` (PeerSettings).
 */
export interface DownloadSettings {
  /**
   * Bytes of pieces a torrent holds in memory: every piece started (requested, being received, or
   * complete and waiting for the hasher or the disk) keeps a piece-sized buffer until it is verified
   * and written. No new piece is started above it (blocks of started pieces are still requested;
   * a piece larger than the budget is fetched one at a time), and idle buffers are kept for reuse
   * only within it, so memory does not grow with torrent size or a slow disk. 24 MiB: a 500-block
   * request pipeline (8 MiB) plus as much again waiting for the disk; bench/download peaks at
   * ≈ 137 MB RSS on the hybrid tree at load 17 (177 MB when only the waiting pieces were counted and
   * 32 MiB of idle buffers were pooled besides). @default 25_165_824
   */
  maxUnverifiedBytes: number
  /** Failed pieces a host may be the sole sender of before it is banned. @default 2 */
  hashFailuresBeforeBan: number
  /** Pieces hashed concurrently while checking existing data (0: the hasher's concurrency × 2). @default 0 */
  checkConcurrency: number
  /** Check existing files on start (off only for brand-new downloads known to be empty). @default true */
  checkExistingData: boolean
}

export const defaultDownloadSettings: Readonly<DownloadSettings> = {
  maxUnverifiedBytes: 24 * 1024 * 1024,
  hashFailuresBeforeBan: 2,
  checkConcurrency: 0,
  checkExistingData: true
}

/** Global rate limits; 0 means unlimited. */
export interface RateLimitSettings {
  /** @default 0 */
  downloadRateBytesPerSec: number
  /** @default 0 */
  uploadRateBytesPerSec: number
}

export const defaultRateLimitSettings: Readonly<RateLimitSettings> = { downloadRateBytesPerSec: 0, uploadRateBytesPerSec: 0 }

/** Peer discovery features; all of them are off in tests (loopback only). */
export interface DiscoverySettings {
  /**
   * BEP 5, the DHT (what the daemon shows as `dht-enabled`); it runs when this and `dht.enabled`
   * are both on (the `dht` section holds its tunables). @default true
   */
  dht: boolean
  /** BEP 14 local service discovery; runs when this and `lsd.enabled` are on (never on a loopback-only listener). @default true */
  lsd: boolean
  /**
   * UPnP / NAT-PMP port mapping (what the daemon shows as `port-forwarding-enabled`); it runs when
   * this and `portMapping.enabled` are both on (the `portMapping` section holds its tunables). @default true
   */
  portMapping: boolean
  /** BEP 11 peer exchange (never on private torrents; tunables in section `pex`). @default true */
  pex: boolean
  /** Announce to trackers. @default true */
  trackers: boolean
}

export const defaultDiscoverySettings: Readonly<DiscoverySettings> = {
  dht: true, lsd: true, portMapping: true, pex: true, trackers: true
}

/**
 * Port mapping (issue 12): the listen port, TCP and UDP, forwarded by the gateway through UPnP IGD
 * or NAT-PMP (the engine's IPortMapper). Never tried for an engine bound to a loopback address.
 */
export interface PortMappingSettings {
  /** Map the listen port (with `discovery.portMapping`). @default true */
  enabled: boolean
  /** Try UPnP IGD (SSDP discovery, SOAP AddPortMapping). @default true */
  upnp: boolean
  /** Try NAT-PMP (RFC 6886) with the default gateway. @default true */
  natPmp: boolean
  /** Lease asked for; a mapping is renewed when half of what was granted has passed. @default 3600 */
  leaseSec: number
  /** First retry after a failed mapping, doubling up to `maxRetryMs`. @default 30_000 */
  retryMs: number
  /** @default 900_000 */
  maxRetryMs: number
  /** How long `engine.close()` waits for the gateway to confirm each removal. @default 2_000 */
  unmapTimeoutMs: number
}

export const defaultPortMappingSettings: Readonly<PortMappingSettings> = {
  enabled: true, upnp: true, natPmp: true, leaseSec: 3600, retryMs: 30_000, maxRetryMs: 900_000, unmapTimeoutMs: 2_000
}

/** Resume data in the session store (only used when the engine has one). */
export interface SessionSettings {
  /** Save torrents whose progress, stats or peers changed this often; 0: only on events. @default 30_000 */
  saveIntervalMs: number
  /** After pieces verify, save the bitfield this much later (one save per batch); 0: at once. @default 2_000 */
  bitfieldSaveDelayMs: number
  /** Peers remembered per torrent. @default 200 */
  maxSavedPeers: number
}

export const defaultSessionSettings: Readonly<SessionSettings> = { saveIntervalMs: 30_000, bitfieldSaveDelayMs: 2_000, maxSavedPeers: 200 }

/** Every engine tunable, by subsystem. */
export interface EngineSettings {
  listen: ListenSettings
  /** TCP and uTP for peer connections (both on by default), and how a dial picks between them. */
  transport: TransportSettings
  connection: ConnectionSettings
  /** One peer connection: message limits, time-outs, pipeline, upload queue. */
  peer: PeerSettings
  download: DownloadSettings
  /** Piece selection (rarest-first, random-first, sequential, end-game). */
  picker: PiecePickerSettings
  /** Choking (tit-for-tat, optimistic unchoke, seeding algorithm). */
  choking: ChokerSettings
  /** Files on disk: open handles, read cache, preallocation. */
  storage: TorrentContentStorageSettings
  rateLimit: RateLimitSettings
  discovery: DiscoverySettings
  /**
   * The Mainline DHT (BEP 5): `enabled` (default true; never for private torrents), `bootstrapNodes`
   * (default the public routers), rate limits, table and store bounds.
   */
  dht: DhtSettings
  /** BEP 14 local service discovery: `enabled` (default true), the re-announce interval. */
  lsd: LsdSettings
  /** UPnP IGD / NAT-PMP mapping of the listen port: on/off, methods, lease, retries. */
  portMapping: PortMappingSettings
  /** BEP 9 metadata fetching for magnet links: size limit, time-outs. */
  metadata: MetadataFetcherSettings
  /** Resume data: how often and how soon it is saved. */
  session: SessionSettings
  /** BEP 11 peer exchange: message interval and caps. */
  pex: PexSettings
  /** Lifecycle queue (active download / seed slots) and seed limits. */
  queue: QueueSettings
  /** The alert queue (`engine.alerts`): size and category mask. */
  alerts: AlertSettings
  /** MSE/PE protocol encryption: mode ('prefer' | 'require' | 'disable'), level, handshake time-out. */
  encryption: EncryptionSettings
  /** BEP 19 web seeds: requests in flight and their size, time-outs, back-off and dropping. */
  webSeed: WebSeedSettings
}

/** Settings a caller may pass: any section, any subset of its keys. */
export type PartialEngineSettings = { [S in keyof EngineSettings]?: Partial<EngineSettings[S]> }

/** Per-torrent overrides of the download section (DESIGN rule 9), plus a per-torrent connection cap. */
export type TorrentSettings = Partial<DownloadSettings> & {
  /** Overrides `connection.maxConnectionsPerTorrent` for this torrent. */
  maxConnections?: number
  /** This torrent's own upload limit below the global one (0: only the global limit). @default 0 */
  uploadRateBytesPerSec?: number
  /** This torrent's own download limit below the global one (0: only the global limit). @default 0 */
  downloadRateBytesPerSec?: number
  /** Overrides `picker.sequential` for this torrent. */
  sequential?: boolean
  /**
   * BEP 16 super-seeding while this torrent is a seed: peers are offered one piece at a time, so
   * each piece leaves us about once and the peers spread it. @default false
   */
  superSeeding?: boolean
  /** Overrides `queue.seedRatioLimit` (0: no limit for this torrent). */
  seedRatioLimit?: number
  /** Overrides `queue.seedTimeLimitSec` (0: no limit for this torrent). */
  seedTimeLimitSec?: number
}

export function defaultEngineSettings (): EngineSettings {
  return {
    listen: { ...defaultListenSettings },
    transport: { ...defaultTransportSettings },
    connection: { ...defaultConnectionSettings },
    peer: { ...defaultPeerSettings },
    download: { ...defaultDownloadSettings },
    picker: { ...defaultPiecePickerSettings },
    choking: { ...defaultChokerSettings },
    storage: { ...defaultTorrentContentStorageSettings },
    rateLimit: { ...defaultRateLimitSettings },
    discovery: { ...defaultDiscoverySettings },
    dht: resolveDhtSettings(),
    lsd: { ...defaultLsdSettings },
    portMapping: { ...defaultPortMappingSettings },
    metadata: { ...defaultMetadataFetcherSettings },
    session: { ...defaultSessionSettings },
    pex: { ...defaultPexSettings },
    queue: { ...defaultQueueSettings },
    alerts: { ...defaultAlertSettings },
    encryption: { ...defaultEncryptionSettings },
    webSeed: { ...defaultWebSeedSettings }
  }
}

interface Range { min?: number, max?: number, integer?: boolean }

/**
 * Ranges per key; numbers not listed must be finite, >= 0 and integers. Lower bounds of 1 mark
 * settings where 0 would deadlock (no slot to ever connect or request through).
 */
const RANGES: Record<string, Range> = {
  'listen.port': { min: 0, max: 65535 },
  'portMapping.leaseSec': { min: 1 },
  'portMapping.retryMs': { min: 1 },
  'portMapping.maxRetryMs': { min: 1 },
  'transport.utpConnectTimeoutMs': { min: 1 },
  'transport.utpTargetDelayMs': { min: 1 },
  'lsd.announceIntervalMs': { min: 60_000 },
  'connection.maxConnections': { min: 1 },
  'connection.maxConnectionsPerTorrent': { min: 1 },
  'connection.maxHalfOpen': { min: 1 },
  'connection.maxPendingIncoming': { min: 1 },
  'connection.connectTimeoutMs': { min: 1 },
  'connection.maxConnectAttempts': { min: 1 },
  'connection.reconnectDelayMs': { min: 1 },
  'connection.pexDialsPerSecond': { min: 0.1, integer: false },
  'download.maxUnverifiedBytes': { min: 16_384 },
  'download.hashFailuresBeforeBan': { min: 1 },
  'picker.endGameMaxRequestsPerBlock': { min: 1 },
  'choking.rechokeIntervalMs': { min: 100 },
  'choking.optimisticUnchokeIntervalMs': { min: 100 },
  'choking.newPeerWeight': { min: 1, integer: false },
  'storage.maxOpenFiles': { min: 1 },
  'pex.intervalMs': { min: 1 },
  'pex.maxAddedPerMessage': { min: 1 },
  'torrent.maxConnections': { min: 1 },
  'metadata.maxMetadataBytes': { min: 1 },
  'metadata.requestTimeoutMs': { min: 1 },
  'metadata.maxRequestsPerPeer': { min: 1 },
  'queue.seedRatioLimit': { integer: false },
  'alerts.maxQueued': { min: 1, max: 1_000_000 },
  'alerts.categoryMask': { min: 0, max: 511 },
  'encryption.handshakeTimeoutMs': { min: 1 },
  'webSeed.maxRequestsInFlight': { min: 1 },
  'webSeed.requestBytes': { min: 16_384 },
  'webSeed.requestTimeoutMs': { min: 1 },
  'webSeed.maxConsecutiveFailures': { min: 1 },
  'webSeed.maxHashFailures': { min: 1 }
}

/** String settings with a fixed set of values. */
const ENUMS: Record<string, readonly string[]> = {
  'choking.seedingAlgorithm': ['round-robin', 'fastest-upload'],
  'encryption.mode': ['prefer', 'require', 'disable'],
  'encryption.level': ['rc4', 'plaintext', 'both']
}

/** Keys that were renamed: `old dotted key → new dotted key`. Refused with "use X instead" (U). */
const RENAMED: Record<string, string> = {}

/**
 * Merges `partial` over `base` (the defaults unless given) and validates the result.
 * @throws LodestoneError SETTINGS_INVALID naming the dotted key (unknown key, wrong type, out of range).
 */
export function resolveSettings (partial: PartialEngineSettings = {}, base: EngineSettings = defaultEngineSettings()): EngineSettings {
  const out = cloneSettings(base)
  if (!isPlainObject(partial)) throw invalid('', 'settings must be an object')
  for (const [sectionName, sectionPatch] of Object.entries(partial)) {
    if (sectionPatch === undefined) continue
    const section = (out as unknown as Record<string, Record<string, unknown>>)[sectionName]
    if (section === undefined) throw invalid(sectionName, renamedOr(sectionName, 'unknown settings section'))
    if (!isPlainObject(sectionPatch)) throw invalid(sectionName, 'must be an object')
    for (const [key, value] of Object.entries(sectionPatch)) {
      if (value === undefined) continue
      const path = `${sectionName}.${key}`
      if (!(key in section)) throw invalid(path, renamedOr(path, 'unknown setting'))
      validateValue(path, section[key], value)
      section[key] = value
    }
  }
  validateSections(out)
  return out
}

/** Cross-field rules, checked by the owning subsystems' own validators. */
function validateSections (s: EngineSettings): void {
  if (!s.dht.bootstrapNodes.every((n) => typeof n === 'string' && /^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(n))) throw invalid('dht.bootstrapNodes', 'must be a list of HOST:PORT')
  if (!s.transport.tcp && !s.transport.utp) throw invalid('transport.tcp', 'transport.tcp and transport.utp cannot both be off')
  s.peer = resolvePeerSettings(s.peer)
  validateChokerSettings(s.choking)
}

/**
 * Validates per-torrent overrides against the download section.
 * @throws LodestoneError SETTINGS_INVALID naming `torrent.<key>`.
 */
export function resolveTorrentSettings (partial: TorrentSettings = {}): TorrentSettings {
  if (!isPlainObject(partial)) throw invalid('torrent', 'must be an object')
  const out: Record<string, unknown> = {}
  const defaults = defaultDownloadSettings as unknown as Record<string, unknown>
  for (const [key, value] of Object.entries(partial)) {
    if (value === undefined) continue
    const path = `torrent.${key}`
    if (key === 'maxConnections') validateValue(path, 1, value)
    else if (key === 'uploadRateBytesPerSec' || key === 'downloadRateBytesPerSec') validateValue(path, 0, value)
    else if (key === 'sequential' || key === 'superSeeding') validateValue(path, false, value)
    else if (key === 'seedRatioLimit' || key === 'seedTimeLimitSec') validateValue(`queue.${key}`, defaultQueueSettings[key], value)
    else if (key in defaults) validateValue(`download.${key}`, defaults[key], value)
    else throw invalid(path, 'unknown per-torrent setting')
    out[key] = value
  }
  return out
}

/** The download section for one torrent: engine values with the torrent's overrides on top. */
export function effectiveDownloadSettings (engine: DownloadSettings, overrides: TorrentSettings): DownloadSettings {
  const out = { ...engine }
  for (const key of Object.keys(engine) as Array<keyof DownloadSettings>) {
    const v = overrides[key]
    if (v !== undefined) (out as Record<string, unknown>)[key] = v
  }
  return out
}

/**
 * Settings for tests and benches (A's TestingConfig): loopback, port 0, no discovery, and small
 * budgets so edge cases (budget exhausted, queue full) are hit with small torrents.
 */
export function testingSettings (overrides: PartialEngineSettings = {}): EngineSettings {
  const base = resolveSettings({
    listen: { port: 0, host: '127.0.0.1' },
    connection: { connectTimeoutMs: 5_000, retryBackoffMs: 1_000 },
    download: { maxUnverifiedBytes: 4 * 1024 * 1024 },
    storage: { readCacheBytes: 1024 * 1024 },
    discovery: { dht: false, lsd: false, portMapping: false, pex: false, trackers: true },
    dht: { enabled: false, bootstrapNodes: [] },
    portMapping: { enabled: false }
  })
  return resolveSettings(overrides, base)
}

function cloneSettings (s: EngineSettings): EngineSettings {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(s)) out[k] = { ...(v as object) }
  return out as unknown as EngineSettings
}

function validateValue (path: string, defaultValue: unknown, value: unknown): void {
  const expected = typeof defaultValue
  if (typeof value !== expected) throw invalid(path, `must be a ${expected}, got ${value === null ? 'null' : typeof value}`)
  if (typeof value === 'string') {
    const allowed = ENUMS[path]
    if (allowed !== undefined && !allowed.includes(value)) throw invalid(path, `must be one of ${allowed.join(', ')}`)
    return
  }
  if (typeof value !== 'number') return
  const range = RANGES[path] ?? {}
  if (!Number.isFinite(value)) throw invalid(path, 'must be a finite number')
  if ((range.integer ?? true) && !Number.isInteger(value)) throw invalid(path, 'must be an integer')
  const min = range.min ?? 0
  if (value < min) throw invalid(path, `must be >= ${min}`)
  if (range.max !== undefined && value > range.max) throw invalid(path, `must be <= ${range.max}`)
}

function renamedOr (path: string, reason: string): string {
  const renamed = RENAMED[path]
  return renamed !== undefined ? `renamed: use ${renamed} instead` : reason
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function invalid (key: string, reason: string): LodestoneError<'SETTINGS_INVALID'> {
  return new LodestoneError('SETTINGS_INVALID', { key, reason }, { message: `setting ${key}: ${reason}` })
}
