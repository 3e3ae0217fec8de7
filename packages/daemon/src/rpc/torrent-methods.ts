/**
 * Torrent methods other than `torrent-add`: get, set, the actions (start, stop, verify,
 * reannounce), remove, set-location, rename-path and the queue moves. `ids` is read as
 * Transmission reads it: absent = every torrent; a number; a hash string; `"recently-active"`;
 * or a list of numbers and hashes. Ids that match nothing are skipped silently.
 */
import { mkdir } from 'node:fs/promises'
import type { TrackedTorrent } from '../torrent-registry.js'
import { fieldContext, torrentObject } from './torrent-fields.js'
import { RpcError, optBool, optInt, optIntList, optNumber, optString, optStringList, type Args, type RpcHost } from './rpc-types.js'

const HASH = /^[0-9a-fA-F]{40}$/

/** The torrents `args.ids` names. */
export function selectTorrents (host: RpcHost, args: Args): TrackedTorrent[] {
  const ids = args.ids
  if (ids === undefined) return host.registry.all()
  if (ids === 'recently-active') return host.registry.recentlyActive()
  const list = Array.isArray(ids) ? ids : [ids]
  if (list.length > 100_000) throw new RpcError('too many ids')
  const out: TrackedTorrent[] = []
  for (const id of list) {
    let entry: TrackedTorrent | undefined
    if (typeof id === 'number' && Number.isInteger(id)) entry = host.registry.get(id)
    else if (typeof id === 'string' && HASH.test(id)) entry = host.registry.get(id.toLowerCase())
    else if (typeof id === 'string' && /^\d+$/.test(id)) entry = host.registry.get(Number(id))
    else throw new RpcError('invalid or corrupt torrent id')
    if (entry !== undefined && !out.includes(entry)) out.push(entry)
  }
  return out
}

export function torrentGet (host: RpcHost, args: Args): Record<string, unknown> {
  const fields = args.fields
  if (!Array.isArray(fields) || !fields.every((f) => typeof f === 'string')) throw new RpcError('no fields specified')
  const format = optString(args, 'format') ?? 'objects'
  if (format !== 'objects' && format !== 'table') throw new RpcError('argument "format" must be "objects" or "table"')
  const nowSec = Math.floor(Date.now() / 1000)
  const objects = selectTorrents(host, args).map((entry) => torrentObject(fieldContext(entry, {
    nowSec,
    downloadDir: host.downloadDirOf(entry.torrent),
    queuePosition: host.registry.queuePosition(entry),
    torrentFile: host.torrentFileOf(entry.torrent)
  }), fields))
  const torrents = format === 'table'
    ? [fields, ...objects.map((o) => (fields).map((f) => o[f] ?? null))]
    : objects
  const out: Record<string, unknown> = { torrents }
  if (args.ids === 'recently-active') out.removed = host.registry.recentlyRemoved()
  return out
}

function reason (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** torrent-start / torrent-start-now: stopped or failed torrents start, paused ones resume. */
export function torrentStart (host: RpcHost, args: Args): Record<string, unknown> {
  for (const entry of selectTorrents(host, args)) {
    const t = entry.torrent
    entry.finished = false
    entry.stopAfterVerify = false
    host.registry.touch(entry)
    const run = async (): Promise<void> => {
      if (t.state === 'paused') { t.resume(); return }
      if (t.state === 'error') await t.stop()
      if (t.state === 'stopped') await t.start()
    }
    run().catch((err: unknown) => { host.warn(err) })
  }
  return {}
}

/** torrent-stop: asynchronous, as in Transmission (a list right after may still show it running). */
export function torrentStop (host: RpcHost, args: Args): Record<string, unknown> {
  for (const entry of selectTorrents(host, args)) {
    host.registry.touch(entry)
    entry.torrent.stop().catch((err: unknown) => { host.warn(err) })
  }
  return {}
}

/**
 * torrent-verify: re-checks the data. A stopped torrent is opened paused for the check and
 * stopped again after it (Transmission leaves it stopped); a magnet without metadata has nothing
 * to check.
 */
export function torrentVerify (host: RpcHost, args: Args): Record<string, unknown> {
  for (const entry of selectTorrents(host, args)) {
    const t = entry.torrent
    if (!t.hasMetadata) continue
    host.registry.touch(entry)
    const run = async (): Promise<void> => {
      const wasStopped = t.state === 'stopped' || t.state === 'error'
      if (t.state === 'error') await t.stop()
      if (wasStopped) await t.startPaused()
      await t.recheck()
      if (wasStopped) await t.stop()
    }
    run().catch((err: unknown) => { host.warn(err) })
  }
  return {}
}

/**
 * torrent-reannounce: every tracker now (each as soon as its `min interval` allows) and a DHT
 * round on a public torrent; a torrent not in the swarm has nothing to announce (as in Transmission).
 */
export function torrentReannounce (host: RpcHost, args: Args): Record<string, unknown> {
  for (const entry of selectTorrents(host, args)) {
    entry.torrent.reannounce()
    host.registry.touch(entry)
  }
  return {}
}

export async function torrentRemove (host: RpcHost, args: Args): Promise<Record<string, unknown>> {
  const deleteData = optBool(args, 'delete-local-data') ?? false
  for (const entry of selectTorrents(host, args)) {
    try {
      await host.removeTorrent(entry, deleteData)
    } catch (err) {
      throw new RpcError(`cannot remove ${entry.torrent.name}: ${reason(err)}`)
    }
  }
  return {}
}

/** Priorities for Transmission's -1/0/1 on the engine's 0..7 scale. */
export const PRIORITY_LOW = 1
export const PRIORITY_NORMAL = 4
export const PRIORITY_HIGH = 6

/**
 * Applies `files-wanted` / `files-unwanted` / `priority-high|normal|low` to a list of current
 * priorities (engine scale; 0 = skipped). An empty list means every file, as in Transmission.
 * @throws RpcError for an index past the file count.
 */
export function applyFileArgs (args: Args, current: number[]): number[] {
  const out = [...current]
  const count = out.length
  const indices = (key: string): number[] | undefined => {
    const list = optIntList(args, key)
    if (list === undefined) return undefined
    if (list.length === 0) return out.map((_, i) => i)
    for (const i of list) if (i >= count) throw new RpcError(`file index ${i} out of range (the torrent has ${count} files)`)
    return list
  }
  // Priorities first, then wanted/unwanted: a file given both a priority and "wanted" ends wanted at that priority.
  const levels: Array<[string, number]> = [['priority-low', PRIORITY_LOW], ['priority-normal', PRIORITY_NORMAL], ['priority-high', PRIORITY_HIGH]]
  const remembered = out.map((p) => p === 0 ? PRIORITY_NORMAL : p)
  for (const [key, level] of levels) {
    for (const i of indices(key) ?? []) {
      remembered[i] = level
      if (out[i] !== 0) out[i] = level
    }
  }
  for (const i of indices('files-wanted') ?? []) out[i] = remembered[i]!
  for (const i of indices('files-unwanted') ?? []) out[i] = 0
  return out
}

const FILE_KEYS = ['files-wanted', 'files-unwanted', 'priority-high', 'priority-normal', 'priority-low']

export async function torrentSet (host: RpcHost, args: Args): Promise<Record<string, unknown>> {
  const entries = selectTorrents(host, args)
  // Read (and so validate) every argument before changing anything.
  const downloadLimit = optInt(args, 'downloadLimit', 0)
  const downloadLimited = optBool(args, 'downloadLimited')
  const uploadLimit = optInt(args, 'uploadLimit', 0)
  const uploadLimited = optBool(args, 'uploadLimited')
  const peerLimit = optInt(args, 'peer-limit', 1, 65_535)
  const honors = optBool(args, 'honorsSessionLimits')
  const bandwidthPriority = optInt(args, 'bandwidthPriority', -1, 1)
  const seedRatioLimit = optNumber(args, 'seedRatioLimit', 0)
  const seedRatioMode = optInt(args, 'seedRatioMode', 0, 2)
  const labels = optStringList(args, 'labels')
  const location = optString(args, 'location')
  if (labels !== undefined && labels.some((l) => l.includes(',') || l.length > 256)) throw new RpcError('labels must not contain commas')
  const fileArgs = FILE_KEYS.some((k) => args[k] !== undefined)
  for (const entry of entries) {
    const r = entry.record
    if (downloadLimit !== undefined) r.downloadLimitKBps = downloadLimit
    if (downloadLimited !== undefined) r.downloadLimited = downloadLimited
    if (uploadLimit !== undefined) r.uploadLimitKBps = uploadLimit
    if (uploadLimited !== undefined) r.uploadLimited = uploadLimited
    if (honors !== undefined) r.honorsSessionLimits = honors
    if (bandwidthPriority !== undefined) r.bandwidthPriority = bandwidthPriority
    if (seedRatioLimit !== undefined) r.seedRatioLimit = seedRatioLimit
    if (seedRatioMode !== undefined) r.seedRatioMode = seedRatioMode
    if (labels !== undefined) r.labels = [...labels]
    const t = entry.torrent
    t.setRateLimits({
      downloadRateBytesPerSec: r.downloadLimited ? Math.max(1, r.downloadLimitKBps) * 1000 : 0,
      uploadRateBytesPerSec: r.uploadLimited ? Math.max(1, r.uploadLimitKBps) * 1000 : 0
    })
    const overrides = { ...t.settingsOverrides }
    if (peerLimit !== undefined) overrides.maxConnections = peerLimit
    if (r.seedRatioMode === 1) overrides.seedRatioLimit = r.seedRatioLimit
    else if (r.seedRatioMode === 2) overrides.seedRatioLimit = 0
    else delete overrides.seedRatioLimit
    try {
      t.setOverrides(overrides)
    } catch (err) {
      throw new RpcError(reason(err))
    }
    if (fileArgs) {
      if (!t.hasMetadata) throw new RpcError('the torrent\'s file list is not known yet (magnet without metadata)')
      await t.setFilePriorities(applyFileArgs(args, t.files.map((f) => f.priority)))
    }
    if (location !== undefined) await setLocation(host, entry, location, true)
    host.registry.touch(entry)
  }
  host.saveSoon()
  return {}
}

async function setLocation (host: RpcHost, entry: TrackedTorrent, location: string, move: boolean): Promise<void> {
  const target = await host.roots.confine(location, 'location')
  if (!entry.torrent.hasMetadata) throw new RpcError('the torrent\'s metadata is not known yet')
  if (!move) {
    try {
      await host.relocate(entry, target)
    } catch (err) {
      throw new RpcError(`cannot set the location of ${entry.torrent.name}: ${reason(err)}`)
    }
    return
  }
  try {
    await mkdir(target, { recursive: true })
    await entry.torrent.moveStorage(target)
  } catch (err) {
    throw new RpcError(`cannot move ${entry.torrent.name}: ${reason(err)}`)
  }
}

export async function torrentSetLocation (host: RpcHost, args: Args): Promise<Record<string, unknown>> {
  const location = optString(args, 'location')
  if (location === undefined) throw new RpcError('argument "location" is required')
  const move = optBool(args, 'move') ?? false
  await host.roots.confine(location, 'location')
  for (const entry of selectTorrents(host, args)) {
    await setLocation(host, entry, location, move)
    host.registry.touch(entry)
  }
  host.saveSoon()
  return {}
}

/**
 * torrent-rename-path: renames the file or folder `path` (in the torrent) to `name`, on disk when
 * its data exists, as Transmission does: exactly one torrent, and the answer repeats `path` and
 * `name` with the torrent's `id`. Bad names, unknown paths and collisions answer their reason.
 */
export async function torrentRenamePath (host: RpcHost, args: Args): Promise<Record<string, unknown>> {
  const path = optString(args, 'path')
  const name = optString(args, 'name')
  if (path === undefined || name === undefined) throw new RpcError('arguments "path" and "name" are required')
  const selected = selectTorrents(host, args)
  if (selected.length !== 1) throw new RpcError('torrent-rename-path requires 1 torrent')
  const entry = selected[0]!
  if (!entry.torrent.hasMetadata) throw new RpcError('the torrent\'s file list is not known yet (magnet without metadata)')
  try {
    await entry.torrent.renamePath(path, name)
  } catch (err) {
    throw new RpcError(`cannot rename ${JSON.stringify(path)} to ${JSON.stringify(name)}: ${reason(err)}`)
  }
  host.registry.touch(entry)
  host.saveSoon()
  return { path, name, id: entry.id }
}

export function queueMove (how: 'top' | 'up' | 'down' | 'bottom') {
  return (host: RpcHost, args: Args): Record<string, unknown> => {
    host.registry.moveInQueue(selectTorrents(host, args), how)
    return {}
  }
}
