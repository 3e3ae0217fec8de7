/**
 * Renaming a file or folder of a torrent (Transmission's torrent-rename-path, libtorrent's
 * rename_file): `path` names a file or a folder by its '/'-separated path in the torrent (the
 * first component is the torrent's folder, or the file of a single-file torrent) and `name` is
 * its new last component. Every file at or under `path` gets the new path, on disk too when its
 * data exists; the storage keeps the new paths, which the session's resume data carries over a
 * restart. The info dict is untouched, so the info hash and the pieces stay what they were.
 */
import { LodestoneError } from '../errors.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'

/** What a rename changes: each file's index and its new path in the storage root. */
export interface RenamePlan {
  changes: Array<{ fileIndex: number, to: string }>
  /** The new path of the renamed file or folder. */
  target: string
}

function invalid (name: string, reason: string): LodestoneError {
  return new LodestoneError('ARGUMENT_INVALID', { name, reason })
}

/**
 * The renames that give the file or folder at `path` (among `paths`, the files' current paths)
 * the last component `name`.
 * @throws LodestoneError ARGUMENT_INVALID for a bad name (empty, `.`, `..`, `/`, NUL), a path that
 *   names no file or folder, or a new path another file already has (or lies under).
 */
export function planRename (paths: readonly string[], path: string, name: string): RenamePlan {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw invalid('name', `${JSON.stringify(name)} is not a valid file name (empty, ".", "..", "/" or NUL)`)
  }
  const cut = path.lastIndexOf('/')
  if (path === '' || path.includes('\0') || path.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw invalid('path', `${JSON.stringify(path)} is not a path in the torrent`)
  }
  const target = cut < 0 ? name : `${path.slice(0, cut + 1)}${name}`
  const under = (p: string, dir: string): boolean => p === dir || p.startsWith(`${dir}/`)
  const changes: RenamePlan['changes'] = []
  paths.forEach((p, fileIndex) => {
    if (under(p, path)) changes.push({ fileIndex, to: target + p.slice(path.length) })
  })
  if (changes.length === 0) throw invalid('path', `no file or folder ${JSON.stringify(path)} in the torrent`)
  if (target === path) return { changes: [], target }
  const clash = paths.find((p) => !under(p, path) && under(p, target))
  if (clash !== undefined) throw invalid('name', `${JSON.stringify(target)} collides with the torrent's ${JSON.stringify(clash)}`)
  return { changes, target }
}

/**
 * Renames the file or folder at `path` to `name` in `storage` (see {@link planRename}). A name
 * already taken on disk by something that is not the torrent's is refused too.
 * @throws LodestoneError ARGUMENT_INVALID (see planRename, or the target exists on disk); STORAGE_* from the filesystem.
 */
export async function renamePath (storage: TorrentContentStorage, fileCount: number, path: string, name: string): Promise<RenamePlan> {
  const paths = Array.from({ length: fileCount }, (_, i) => storage.filePath(i))
  const plan = planRename(paths, path, name)
  if (plan.changes.length === 0) return plan
  if (await storage.fileSystem.exists(plan.target)) throw invalid('name', `${JSON.stringify(plan.target)} exists on disk already`)
  await storage.renameFiles(plan.changes)
  return plan
}
