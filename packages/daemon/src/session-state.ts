/**
 * Transmission's session values (`session-get` / `session-set`). Some are the engine's settings
 * seen under Transmission's names (peer limits, PEX/DHT/LSD, queue sizes): those are read from
 * and written to the engine. The rest have no engine counterpart as such — speed limits in kB/s
 * with an on/off switch, the alternative ("turtle") limits, the seed ratio switch — and live here;
 * `engineRateLimits()` turns them into the engine's one pair of global rates.
 *
 * What `session-set` changes is saved in the state directory and applied again on the next start,
 * over the config file (Transmission, too, keeps RPC changes across restarts).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { EngineSettings, PartialEngineSettings } from '@lodestone/engine'
import { RpcError } from './rpc/rpc-types.js'

type Kind = 'int' | 'bool' | 'real' | 'string'

/** The values kept here, with Transmission's defaults. */
export interface OwnSessionValues {
  'speed-limit-down': number
  'speed-limit-down-enabled': boolean
  'speed-limit-up': number
  'speed-limit-up-enabled': boolean
  'alt-speed-down': number
  'alt-speed-up': number
  'alt-speed-enabled': boolean
  'alt-speed-time-enabled': boolean
  'alt-speed-time-begin': number
  'alt-speed-time-end': number
  'alt-speed-time-day': number
  seedRatioLimit: number
  seedRatioLimited: boolean
  'idle-seeding-limit': number
  'idle-seeding-limit-enabled': boolean
  'start-added-torrents': boolean
  'rename-partial-files': boolean
  'incomplete-dir': string
  'incomplete-dir-enabled': boolean
  'script-torrent-done-enabled': boolean
  'script-torrent-done-filename': string
  'queue-stalled-enabled': boolean
  'queue-stalled-minutes': number
  'trash-original-torrent-files': boolean
  'cache-size-mb': number
  'blocklist-enabled': boolean
  'blocklist-url': string
  'download-dir': string
}

const OWN_KINDS: Record<keyof OwnSessionValues, Kind> = {
  'speed-limit-down': 'int',
  'speed-limit-down-enabled': 'bool',
  'speed-limit-up': 'int',
  'speed-limit-up-enabled': 'bool',
  'alt-speed-down': 'int',
  'alt-speed-up': 'int',
  'alt-speed-enabled': 'bool',
  'alt-speed-time-enabled': 'bool',
  'alt-speed-time-begin': 'int',
  'alt-speed-time-end': 'int',
  'alt-speed-time-day': 'int',
  seedRatioLimit: 'real',
  seedRatioLimited: 'bool',
  'idle-seeding-limit': 'int',
  'idle-seeding-limit-enabled': 'bool',
  'start-added-torrents': 'bool',
  'rename-partial-files': 'bool',
  'incomplete-dir': 'string',
  'incomplete-dir-enabled': 'bool',
  'script-torrent-done-enabled': 'bool',
  'script-torrent-done-filename': 'string',
  'queue-stalled-enabled': 'bool',
  'queue-stalled-minutes': 'int',
  'trash-original-torrent-files': 'bool',
  'cache-size-mb': 'int',
  'blocklist-enabled': 'bool',
  'blocklist-url': 'string',
  'download-dir': 'string'
}

/** Session keys that are engine settings: how to read and write each. */
const ENGINE_KEYS: Record<string, { kind: Kind, read: (s: EngineSettings) => unknown, write: (v: unknown) => PartialEngineSettings }> = {
  'peer-limit-global': { kind: 'int', read: (s) => s.connection.maxConnections, write: (v) => ({ connection: { maxConnections: v as number } }) },
  'peer-limit-per-torrent': { kind: 'int', read: (s) => s.connection.maxConnectionsPerTorrent, write: (v) => ({ connection: { maxConnectionsPerTorrent: v as number } }) },
  'pex-enabled': { kind: 'bool', read: (s) => s.discovery.pex, write: (v) => ({ discovery: { pex: v as boolean } }) },
  'dht-enabled': { kind: 'bool', read: (s) => s.discovery.dht, write: (v) => ({ discovery: { dht: v as boolean } }) },
  'lpd-enabled': { kind: 'bool', read: (s) => s.discovery.lsd, write: (v) => ({ discovery: { lsd: v as boolean } }) },
  'port-forwarding-enabled': { kind: 'bool', read: (s) => s.discovery.portMapping, write: (v) => ({ discovery: { portMapping: v as boolean } }) },
  'download-queue-size': { kind: 'int', read: (s) => s.queue.maxActiveDownloads === 0 ? 5 : s.queue.maxActiveDownloads, write: (v) => ({ queue: { maxActiveDownloads: v as number } }) },
  'download-queue-enabled': { kind: 'bool', read: (s) => s.queue.maxActiveDownloads > 0, write: (v) => v === false ? { queue: { maxActiveDownloads: 0 } } : {} },
  // Transmission's three words for the engine's MSE/PE modes.
  encryption: {
    kind: 'string',
    read: (s) => s.encryption.mode === 'require' ? 'required' : s.encryption.mode === 'prefer' ? 'preferred' : 'tolerated',
    write: (v) => {
      const mode = v === 'required' ? 'require' : v === 'preferred' ? 'prefer' : v === 'tolerated' ? 'disable' : null
      if (mode === null) throw new RpcError('argument "encryption" must be "required", "preferred" or "tolerated"')
      return { encryption: { mode } }
    }
  },
  'seed-queue-size': { kind: 'int', read: (s) => s.queue.maxActiveSeeds === 0 ? 10 : s.queue.maxActiveSeeds, write: (v) => ({ queue: { maxActiveSeeds: v as number } }) }
}

function defaults (downloadDir: string): OwnSessionValues {
  return {
    'speed-limit-down': 100,
    'speed-limit-down-enabled': false,
    'speed-limit-up': 100,
    'speed-limit-up-enabled': false,
    'alt-speed-down': 50,
    'alt-speed-up': 50,
    'alt-speed-enabled': false,
    'alt-speed-time-enabled': false,
    'alt-speed-time-begin': 540,
    'alt-speed-time-end': 1020,
    'alt-speed-time-day': 127,
    seedRatioLimit: 2,
    seedRatioLimited: false,
    'idle-seeding-limit': 30,
    'idle-seeding-limit-enabled': false,
    'start-added-torrents': true,
    'rename-partial-files': false,
    'incomplete-dir': downloadDir,
    'incomplete-dir-enabled': false,
    'script-torrent-done-enabled': false,
    'script-torrent-done-filename': '',
    'queue-stalled-enabled': false,
    'queue-stalled-minutes': 30,
    'trash-original-torrent-files': false,
    'cache-size-mb': 4,
    'blocklist-enabled': false,
    'blocklist-url': '',
    'download-dir': downloadDir
  }
}

function checkKind (key: string, kind: Kind, value: unknown): unknown {
  switch (kind) {
    case 'bool':
      if (typeof value === 'boolean') return value
      if (value === 0 || value === 1) return value === 1
      break
    case 'int':
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value
      break
    case 'real':
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value
      break
    case 'string':
      if (typeof value === 'string') return value
      break
  }
  throw new RpcError(`argument "${key}" has the wrong type (expected ${kind === 'real' ? 'a number' : kind === 'int' ? 'a non-negative integer' : `a ${kind === 'bool' ? 'boolean' : 'string'}`})`)
}

export class SessionState {
  private own: OwnSessionValues
  /** Engine settings changed over RPC (saved, re-applied at start). */
  private enginePatch: PartialEngineSettings = {}
  private saveChain: Promise<void> = Promise.resolve()
  /** Totals of earlier runs (session-stats' cumulative-stats); `sessionCount` counts this run too. */
  readonly before = { uploadedBytes: 0, downloadedBytes: 0, filesAdded: 0, sessionCount: 0, secondsActive: 0 }

  constructor (private readonly file: string, downloadDir: string) {
    this.own = defaults(downloadDir)
  }

  get values (): Readonly<OwnSessionValues> { return this.own }

  /** The engine settings RPC callers changed, to apply over the config. */
  get engineOverrides (): PartialEngineSettings { return this.enginePatch }

  /** Reads what earlier runs saved (none or unreadable: defaults). */
  async load (): Promise<void> {
    try {
      const saved = JSON.parse(await readFile(this.file, 'utf8')) as { own?: Record<string, unknown>, engine?: PartialEngineSettings, stats?: Record<string, unknown> }
      for (const key of Object.keys(this.before) as Array<keyof SessionState['before']>) {
        const v = saved.stats?.[key]
        if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) this.before[key] = v
      }
      for (const [key, value] of Object.entries(saved.own ?? {})) {
        const kind = OWN_KINDS[key as keyof OwnSessionValues]
        if (kind === undefined) continue
        try { (this.own as unknown as Record<string, unknown>)[key] = checkKind(key, kind, value) } catch { /* a bad saved value keeps the default */ }
      }
      if (typeof saved.engine === 'object' && saved.engine !== null) this.enginePatch = saved.engine
    } catch { /* first run */ }
  }

  /** Every key `session-get` answers that lives here or in the engine. */
  view (engine: EngineSettings): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.own }
    for (const [key, spec] of Object.entries(ENGINE_KEYS)) out[key] = spec.read(engine)
    out['seed-queue-enabled'] = engine.queue.maxActiveSeeds > 0
    return out
  }

  /**
   * Validates and applies a `session-set`'s arguments; returns the engine settings patch to apply
   * (empty when none). Keys `session-set` may not change (version, config-dir…) and unknown keys
   * are ignored, as Transmission ignores them; a known key with a wrong type is an error and
   * nothing is applied.
   * @throws RpcError
   */
  set (args: Record<string, unknown>): { enginePatch: PartialEngineSettings, downloadDir: string | null } {
    const own: Record<string, unknown> = {}
    const patches: PartialEngineSettings[] = []
    for (const [key, value] of Object.entries(args)) {
      const ownKind = OWN_KINDS[key as keyof OwnSessionValues]
      if (ownKind !== undefined) { own[key] = checkKind(key, ownKind, value); continue }
      const spec = ENGINE_KEYS[key]
      if (spec !== undefined) patches.push(spec.write(checkKind(key, spec.kind, value)))
    }
    const downloadDir = typeof own['download-dir'] === 'string' ? own['download-dir'] : null
    Object.assign(this.own, own)
    let enginePatch: PartialEngineSettings = {}
    for (const p of patches) enginePatch = mergePatch(enginePatch, p)
    this.enginePatch = mergePatch(this.enginePatch, enginePatch)
    return { enginePatch, downloadDir }
  }

  /** The engine's global rates in bytes/s from the kB/s limits and the alternative-speed switch (0 = unlimited). */
  engineRateLimits (): { downloadRateBytesPerSec: number, uploadRateBytesPerSec: number } {
    const v = this.own
    if (v['alt-speed-enabled']) return { downloadRateBytesPerSec: v['alt-speed-down'] * 1000, uploadRateBytesPerSec: v['alt-speed-up'] * 1000 }
    return {
      downloadRateBytesPerSec: v['speed-limit-down-enabled'] ? v['speed-limit-down'] * 1000 : 0,
      uploadRateBytesPerSec: v['speed-limit-up-enabled'] ? v['speed-limit-up'] * 1000 : 0
    }
  }

  /** Saves the values, with `totals` (earlier runs plus this one) as the stats of record. */
  async save (totals: SessionState['before'] = this.before): Promise<void> {
    const text = JSON.stringify({ version: 1, own: this.own, engine: this.enginePatch, stats: totals })
    const write = async (): Promise<void> => {
      await mkdir(dirname(this.file), { recursive: true })
      await writeFile(`${this.file}.tmp`, text)
      await rename(`${this.file}.tmp`, this.file)
    }
    this.saveChain = this.saveChain.then(write, write)
    await this.saveChain
  }
}

export function mergePatch (a: PartialEngineSettings, b: PartialEngineSettings): PartialEngineSettings {
  const out: Record<string, Record<string, unknown>> = { ...(a as Record<string, Record<string, unknown>>) }
  for (const [section, values] of Object.entries(b as Record<string, Record<string, unknown> | undefined>)) {
    if (values !== undefined) out[section] = { ...out[section], ...values }
  }
  return out
}
