/**
 * BEP 47 attributes on disk: symlinks, executable and hidden files.
 *
 * When: a link is created with the torrent's 0-byte files, at start (it holds no piece data); `x`
 * and `h` are applied once per file, right after storage first writes to it (or creates it empty)
 * in this run, so a download-in-progress is already executable — like libtorrent, which creates
 * such files with an executable mode. Files storage never writes (data a user supplied to seed)
 * keep their modes. All of it goes through optional filesystem port methods; without them
 * (a platform without symlinks or modes) nothing is applied and the data is unaffected.
 *
 * Safety: the metainfo parser guarantees a link's target stays inside the torrent
 * (symlink-target.ts), the target is written relative to the link, and the adapter re-checks that
 * it resolves inside the storage root before creating anything.
 */
import type { FileAttributes, IFileSystem } from '../interfaces/filesystem.js'
import type { TorrentFileEntry } from '../metainfo/types.js'
import { relativeSymlinkTarget } from '../metainfo/symlink-target.js'

/** The attributes of `file` that {@link IFileSystem.setAttributes} applies; null when none. */
export function fileAttributesOf (file: Pick<TorrentFileEntry, 'attr' | 'symlinkPath'>): FileAttributes | null {
  if (file.symlinkPath !== undefined) return null
  const executable = file.attr.includes('x')
  const hidden = file.attr.includes('h')
  if (!executable && !hidden) return null
  return { ...(executable ? { executable } : {}), ...(hidden ? { hidden } : {}) }
}

/** Applies `file`'s `x` / `h` attributes to `path`, when it has any and the port can. */
export async function applyFileAttributes (fs: IFileSystem, path: string, file: Pick<TorrentFileEntry, 'attr' | 'symlinkPath'>): Promise<void> {
  const attributes = fileAttributesOf(file)
  if (attributes === null || fs.setAttributes === undefined) return
  await fs.setAttributes(path, attributes)
}

/**
 * Creates `file`'s link at `path` (its directory must exist), relative to the link's directory.
 * Resolves false when the port has no symlinks (nothing created).
 */
export async function createSymlink (fs: IFileSystem, path: string, file: Pick<TorrentFileEntry, 'path' | 'symlinkPath'>): Promise<boolean> {
  if (file.symlinkPath === undefined || fs.symlink === undefined) return false
  await fs.symlink(relativeSymlinkTarget(file.path, file.symlinkPath), path)
  return true
}
