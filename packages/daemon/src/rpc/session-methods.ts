/**
 * Session methods: `session-get`, `session-set`, `session-stats`, `free-space`, `port-test`,
 * `blocklist-update`. `port-test` answers from local state (is the peer port bound?) — asking an
 * outside service, as Transmission does, is traffic we never make.
 */
import { statfs } from 'node:fs/promises'
import { RpcError, optString, type Args, type RpcHost } from './rpc-types.js'
import { transmissionStatus, TR_STATUS } from './torrent-status.js'

export const RPC_VERSION = 17
export const RPC_VERSION_MINIMUM = 14
export const RPC_VERSION_SEMVER = '5.3.0'

export function sessionGet (host: RpcHost, args: Args, sessionId: string): Record<string, unknown> {
  const engine = host.engine.settings
  const all: Record<string, unknown> = {
    ...host.session.view(engine),
    'blocklist-size': 0,
    'config-dir': host.configDir,
    'peer-port': host.engine.port ?? engine.listen.port,
    'peer-port-random-on-start': false,
    'rpc-version': RPC_VERSION,
    'rpc-version-minimum': RPC_VERSION_MINIMUM,
    'rpc-version-semver': RPC_VERSION_SEMVER,
    'session-id': sessionId,
    units: {
      'speed-units': ['kB/s', 'MB/s', 'GB/s', 'TB/s'],
      'speed-bytes': 1000,
      'size-units': ['kB', 'MB', 'GB', 'TB'],
      'size-bytes': 1000,
      'memory-units': ['KiB', 'MiB', 'GiB', 'TiB'],
      'memory-bytes': 1024
    },
    'utp-enabled': false,
    version: `4.0.0 (Lodestone ${host.version})`
  }
  const fields = args.fields
  if (fields === undefined) return all
  if (!Array.isArray(fields) || !fields.every((f) => typeof f === 'string')) throw new RpcError('argument "fields" must be a list of strings')
  const out: Record<string, unknown> = {}
  for (const f of fields) if (f in all) out[f] = all[f]
  return out
}

export async function sessionSet (host: RpcHost, args: Args): Promise<Record<string, unknown>> {
  const dir = optString(args, 'download-dir')
  // Checked before anything is applied: a refused directory changes nothing.
  const confined = dir === undefined ? undefined : await host.roots.confine(dir, 'download-dir')
  const { enginePatch } = host.session.set(confined === undefined ? args : { ...args, 'download-dir': confined })
  try {
    if (Object.keys(enginePatch).length > 0) host.engine.updateSettings(enginePatch)
  } catch (err) {
    throw new RpcError(err instanceof Error ? err.message : String(err))
  }
  host.applySession()
  return {}
}

export function sessionStats (host: RpcHost): Record<string, unknown> {
  let active = 0
  let paused = 0
  let down = 0
  let up = 0
  const entries = host.registry.all()
  for (const entry of entries) {
    const s = entry.torrent.stats()
    down += s.downloadRateBytesPerSec
    up += s.uploadRateBytesPerSec
    if (transmissionStatus(entry.torrent) === TR_STATUS.stopped) paused++
    else active++
  }
  const { current, cumulative } = host.sessionStats()
  return {
    activeTorrentCount: active,
    downloadSpeed: Math.round(down),
    pausedTorrentCount: paused,
    torrentCount: entries.length,
    uploadSpeed: Math.round(up),
    'cumulative-stats': cumulative,
    'current-stats': current
  }
}

export async function freeSpace (host: RpcHost, args: Args): Promise<Record<string, unknown>> {
  const path = optString(args, 'path')
  if (path === undefined) throw new RpcError('argument "path" is required')
  const confined = await host.roots.confine(path)
  try {
    const fs = await statfs(confined)
    return { path, 'size-bytes': Number(fs.bavail) * Number(fs.bsize), total_size: Number(fs.blocks) * Number(fs.bsize) }
  } catch (err) {
    throw new RpcError(`cannot read free space of ${path}: ${(err as Error).message}`)
  }
}

export function portTest (host: RpcHost): Record<string, unknown> {
  return { 'port-is-open': host.engine.port !== null, 'ip_protocol': 'ipv4' }
}
