/**
 * Storage roots the daemon serves files under. The browser knows a root only by an opaque key
 * (never its real path) and every request names a path relative to that root; this module turns
 * (key, relative path) into an absolute path that is provably inside the root, or refuses.
 *
 * Confinement, in order:
 * 1. Syntax: the relative path is '/'-separated, with no empty, '.' or '..' segment, no NUL, no
 *    backslash, not absolute, at most {@link MAX_PATH_BYTES} — refused before touching the disk.
 * 2. Symlinks: the deepest existing ancestor of the target (the target itself when it exists) is
 *    resolved with realpath and must be the root or below it; a target that is itself a symlink
 *    must resolve (a dangling link could make a create land outside) to inside the root.
 *
 * A check-then-use race remains (someone with write access to the root swaps a directory for a
 * symlink between the check and the open); that someone already controls the user's files.
 */
import { createHash } from 'node:crypto'
import { lstat, mkdir, realpath } from 'node:fs/promises'
import { join, sep } from 'node:path'

export const MAX_PATH_BYTES = 4096

export interface StorageRootInfo {
  /** Opaque, stable for the same directory: what the browser stores. */
  key: string
  /** Human-readable name given on the command line. */
  label: string
}

export interface ResolvedRoot extends StorageRootInfo {
  /** The root's real path (symlinks resolved). */
  dir: string
}

/** A request that names a path outside its root, or a malformed one (HTTP 403 / 400). */
export class PathRefusedError extends Error {
  override name = 'PathRefusedError'
  constructor (readonly reason: string) { super(reason) }
}

/**
 * Key of a root: a hash of its real path, so the same directory keeps its key across runs (a
 * browser's saved torrents name it) while the browser never learns the path.
 */
export function rootKeyOf (realDir: string): string {
  return createHash('sha256').update('lodestone-io-daemon-root\0').update(realDir).digest('hex').slice(0, 32)
}

/** Resolves `LABEL=DIR` specs; each directory is created when missing. */
export async function resolveRoots (specs: ReadonlyArray<{ label: string, dir: string }>): Promise<ResolvedRoot[]> {
  const out: ResolvedRoot[] = []
  for (const { label, dir } of specs) {
    await mkdir(dir, { recursive: true })
    const real = await realpath(dir)
    const key = rootKeyOf(real)
    if (out.some((r) => r.key === key)) continue
    out.push({ key, label, dir: real })
  }
  return out
}

/** Checks the syntax of a relative path; returns its segments ([] for the root itself). */
export function pathSegments (relPath: string): string[] {
  if (relPath === '' || relPath === '/') return []
  if (Buffer.byteLength(relPath) > MAX_PATH_BYTES) throw new PathRefusedError('path too long')
  if (relPath.includes('\0')) throw new PathRefusedError('NUL in path')
  if (relPath.includes('\\')) throw new PathRefusedError('backslash in path')
  if (relPath.startsWith('/')) throw new PathRefusedError('absolute path')
  const segments = relPath.split('/')
  for (const s of segments) {
    if (s === '') throw new PathRefusedError('empty path segment')
    if (s === '.' || s === '..') throw new PathRefusedError(`'${s}' segment`)
  }
  return segments
}

function isInside (root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep)
}

function errnoOf (err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : undefined
}

/**
 * The absolute path of `relPath` under `root`, after the checks above.
 * @throws PathRefusedError when the path is malformed or leads outside the root.
 */
export async function confine (root: ResolvedRoot, relPath: string): Promise<string> {
  const segments = pathSegments(relPath)
  const target = join(root.dir, ...segments)
  if (!isInside(root.dir, target)) throw new PathRefusedError('path leaves its root')
  // The target itself: a symlink must resolve inside (dangling links are refused).
  let existing = target
  let depth = segments.length
  try {
    const st = await lstat(target)
    if (st.isSymbolicLink()) {
      let real: string
      try { real = await realpath(target) } catch { throw new PathRefusedError('dangling symlink') }
      if (!isInside(root.dir, real)) throw new PathRefusedError('symlink leads outside its root')
      return target
    }
  } catch (err) {
    if (err instanceof PathRefusedError) throw err
    if (errnoOf(err) !== 'ENOENT' && errnoOf(err) !== 'ENOTDIR') throw err
    // Walk up to the deepest ancestor that exists.
    for (;;) {
      depth--
      if (depth < 0) break
      existing = join(root.dir, ...segments.slice(0, depth))
      try { await lstat(existing); break } catch (e) {
        if (errnoOf(e) !== 'ENOENT' && errnoOf(e) !== 'ENOTDIR') throw e
      }
    }
  }
  let real: string
  try { real = await realpath(existing) } catch { throw new PathRefusedError('unresolvable path') }
  if (!isInside(root.dir, real)) throw new PathRefusedError('symlink leads outside its root')
  return target
}
