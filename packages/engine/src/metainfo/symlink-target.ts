/**
 * BEP 47 symlinks: a file entry with attribute `l` and a `symlink path`, the link's target as
 * components that BEP 47 says are relative to the torrent's root directory.
 *
 * Two readings exist in the wild. BEP 47's (relative to the root) and the one libtorrent 2.0's
 * creator writes: the raw `readlink` text, relative to the link's own directory (`docs/run` →
 * `../bin/run.sh` becomes `["..", "bin", "run.sh"]`). libtorrent's reader accepts both, so we do:
 * the root-relative reading wins when it names a file or directory of the torrent, then the
 * link-relative one; when neither names anything, the first that stays inside the torrent is kept
 * (a dangling link inside the torrent harms nothing).
 *
 * A link is only ever allowed to point inside the torrent: when every reading climbs out of the
 * root (more `..` than there are directories above), the torrent is refused with
 * `METAINFO_UNSAFE_PATH`, as a traversing file path is. libtorrent instead rewrites such a link to
 * point at itself; refusing says plainly that the torrent is hostile, and nothing is created.
 * Empty and `.` components are dropped; every other component must pass path-safety.ts. A target
 * that is the torrent root itself is refused too (a loop that serves no file).
 *
 * On disk the link is created relative to its own directory ({@link relativeSymlinkTarget}), so
 * the tree stays correct when it is moved or copied.
 */
import { LodestoneError } from '../errors.js'
import { unsafeComponentReason } from './path-safety.js'

function display (components: readonly string[]): string {
  return components.map((c) => JSON.stringify(c).slice(1, -1)).join('/')
}

function unsafe (path: readonly string[], reason: string): LodestoneError<'METAINFO_UNSAFE_PATH'> {
  return new LodestoneError('METAINFO_UNSAFE_PATH', { path: display(path), reason })
}

/** `components` applied to `base` lexically; null when it climbs above the root. */
function resolveFrom (base: readonly string[], components: readonly string[]): string[] | null {
  const out = [...base]
  for (const c of components) {
    if (c === '' || c === '.') continue
    if (c === '..') {
      if (out.length === 0) return null
      out.pop()
      continue
    }
    out.push(c)
  }
  return out
}

/** A file entry as far as symlink resolution cares. */
export interface SymlinkEntry {
  path: string[]
  /** On input the raw `symlink path`; replaced by the resolved target. */
  symlinkPath?: string[]
}

/**
 * Resolves every entry's raw `symlinkPath` in place to safe components under the torrent root.
 * @param entries every file of the torrent (data, pad and link entries), paths already safe.
 * @throws LodestoneError `METAINFO_UNSAFE_PATH` when a target leaves the torrent under every
 *   reading, is the torrent root itself, or has an unsafe component.
 */
export function resolveSymlinkTargets (entries: readonly SymlinkEntry[]): void {
  const links = entries.filter((e) => e.symlinkPath !== undefined)
  if (links.length === 0) return
  const names = new Set<string>()
  for (const e of entries) {
    for (let i = 1; i <= e.path.length; i++) names.add(e.path.slice(0, i).join('\u0000'))
  }
  for (const link of links) {
    const raw = link.symlinkPath ?? []
    for (const c of raw) {
      if (c === '' || c === '.' || c === '..') continue
      const reason = unsafeComponentReason(c)
      if (reason !== null) throw unsafe(link.path, `symlink target: ${reason}`)
    }
    const readings = [resolveFrom([], raw), resolveFrom(link.path.slice(0, -1), raw)].filter((r): r is string[] => r !== null)
    const target = readings.find((r) => names.has(r.join('\u0000'))) ?? readings[0]
    if (target === undefined) throw unsafe(link.path, 'symlink points outside the torrent')
    if (target.length === 0) throw unsafe(link.path, 'symlink points at the torrent directory itself')
    link.symlinkPath = target
  }
}

/**
 * The relative target to store in a link at `linkPath` (components under the torrent root) so
 * it reaches `target` (components under the same root): `../` once per directory above the link
 * that the two do not share, then the rest of the target. Both paths must already be safe.
 */
export function relativeSymlinkTarget (linkPath: readonly string[], target: readonly string[]): string {
  const linkDir = linkPath.slice(0, -1)
  let common = 0
  while (common < linkDir.length && common < target.length - 1 && linkDir[common] === target[common]) common++
  const up = linkDir.length - common
  return [...Array.from({ length: up }, () => '..'), ...target.slice(common)].join('/')
}
