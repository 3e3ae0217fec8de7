/**
 * The files a new torrent holds: a walk of the source through `IFileSystem`, in canonical order.
 *
 * Order: path components compared one by one as UTF-8 bytes (so `a/inner` sorts before `a.txt`,
 * and `B` before `a`). That is the order of BEP 52's `file tree` (bencode dict keys are sorted by
 * their bytes at every level), so a hybrid torrent's v1 `files` list and its `file tree` agree,
 * and it is the order libtorrent 2.0 gives v2 and hybrid torrents. Using it for v1 too makes
 * creation deterministic whatever order the platform lists a directory in.
 */
import type { IFileSystem, IFileStat } from '../interfaces/filesystem.js'
import { LodestoneError, hasCode } from '../errors.js'
import { unsafeComponentReason } from './path-safety.js'

/** One regular file found under the source. */
export interface SourceFile {
  /** Components below the torrent root; for a single-file torrent, `[name]`. */
  path: string[]
  /** Path to open through the filesystem port. */
  fsPath: string
  lengthBytes: number
}

export interface SourceListing {
  /** True when the source is one file (a single-file torrent), false for a directory. */
  single: boolean
  /** Last component of the source path: the default torrent name. */
  baseName: string
  files: SourceFile[]
}

/** Directories nested deeper than this are refused: it also stops symlink loops. */
const MAX_DEPTH = 64

/** Bytes of a JS string as a binary string (one char per UTF-8 byte), for byte-order compares. */
function utf8BinaryKey (text: string): string {
  const bytes = new TextEncoder().encode(text)
  let out = ''
  for (const b of bytes) out += String.fromCharCode(b)
  return out
}

/** Canonical order: component-wise, each component by its UTF-8 bytes. */
export function compareSourcePaths (a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = utf8BinaryKey(a[i]!)
    const y = utf8BinaryKey(b[i]!)
    if (x !== y) return x < y ? -1 : 1
  }
  return a.length - b.length
}

function createFailed (path: string, reason: string, cause?: unknown): LodestoneError<'CREATE_FAILED'> {
  return new LodestoneError('CREATE_FAILED', { path, reason }, { message: `cannot create a torrent from ${path === '' ? '.' : path}: ${reason}`, ...(cause === undefined ? {} : { cause }) })
}

async function statOrFail (fs: IFileSystem, path: string): Promise<IFileStat> {
  try {
    return await fs.stat(path)
  } catch (err) {
    if (hasCode(err, 'STORAGE_NOT_FOUND')) throw createFailed(path, 'no such file or directory', err)
    throw createFailed(path, `cannot stat: ${err instanceof Error ? err.message : String(err)}`, err)
  }
}

function joinPath (dir: string, name: string): string {
  return dir === '' || dir === '.' ? name : `${dir}/${name}`
}

/**
 * Lists the regular files of `sourcePath` (a file or a directory) in canonical order.
 * @throws LodestoneError `CREATE_FAILED` when the path is missing, is neither a file nor a
 *   directory, holds no files, has a name a torrent cannot hold (see path-safety.ts), or nests
 *   deeper than 64 levels.
 */
export async function listSourceFiles (fs: IFileSystem, sourcePath: string, options: { signal?: AbortSignal } = {}): Promise<SourceListing> {
  const parts = sourcePath.split('/').filter((p) => p !== '' && p !== '.')
  const baseName = parts[parts.length - 1] ?? ''
  const stat = await statOrFail(fs, sourcePath)
  if (stat.isFile) {
    return { single: true, baseName, files: [{ path: [baseName], fsPath: sourcePath, lengthBytes: stat.size }] }
  }
  if (!stat.isDirectory) throw createFailed(sourcePath, 'neither a regular file nor a directory')

  const files: SourceFile[] = []
  const walk = async (dir: string, below: string[]): Promise<void> => {
    if (below.length > MAX_DEPTH) throw createFailed(dir, `directories nest deeper than ${MAX_DEPTH} levels (a symlink loop?)`)
    if (options.signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'create-torrent' }, { cause: options.signal.reason })
    let names: string[]
    try {
      names = await fs.readdir(dir)
    } catch (err) {
      throw createFailed(dir, `cannot list directory: ${err instanceof Error ? err.message : String(err)}`, err)
    }
    for (const name of names) {
      const path = joinPath(dir, name)
      // A name every parser (ours included) would refuse (a '\\', a control character, a drive
      // prefix) cannot go into a torrent; say so instead of making one nobody can load.
      const unsafe = unsafeComponentReason(name)
      if (unsafe !== null) throw createFailed(path, `file name not allowed in a torrent: ${unsafe}`)
      const entry = await statOrFail(fs, path)
      if (entry.isDirectory) await walk(path, [...below, name])
      else if (entry.isFile) files.push({ path: [...below, name], fsPath: path, lengthBytes: entry.size })
      // Anything else (sockets, fifos, devices) has no content to share.
    }
  }
  await walk(sourcePath, [])
  if (files.length === 0) throw createFailed(sourcePath, 'the directory holds no files')
  files.sort((a, b) => compareSourcePaths(a.path, b.path))
  return { single: false, baseName, files }
}
