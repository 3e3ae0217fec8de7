/**
 * {@link IFileSystem} over `node:fs/promises`, rooted at one directory (a storage root).
 *
 * - Positional I/O through FileHandle (pread/pwrite). Files are never opened in append mode:
 *   on Linux, O_APPEND makes pwrite ignore the position and write at the end.
 * - 'r+' is O_RDWR | O_CREAT (created when missing, never truncated); 'w' is O_RDWR | O_CREAT | O_TRUNC.
 * - A path is resolved under the root; one that would escape it ('..' beyond the root) is refused
 *   with STORAGE_IO before touching the disk. Paths are '/'-separated and relative; a leading '/'
 *   means the root.
 * - BEP 47: `symlink` creates a relative link after checking that its target resolves inside the
 *   root (and leaves whatever already exists at the path, as libtorrent does); `setAttributes`
 *   adds x bits where r bits are set for `executable`. POSIX has no hidden flag (a name hides a
 *   file there, and renaming would change what the publisher named), so `hidden` is ignored.
 * - Errors: ENOENT → STORAGE_NOT_FOUND; ENOSPC / EDQUOT → STORAGE_FULL; anything else → STORAGE_IO
 *   with the errno code as `reason` (the memory adapter uses the same reasons).
 */
import { chmod, constants, type FileHandle, lstat, mkdir, open, readdir, readlink, rename, rm, rmdir, stat, symlink, unlink } from 'node:fs/promises'
import { statSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path'
import { LodestoneError } from '../../src/errors.js'
import type { FileAttributes, FileOpenMode, IFileHandle, IFileStat, IFileSystem } from '../../src/interfaces/filesystem.js'

const OPEN_FLAGS: Readonly<Record<FileOpenMode, number>> = {
  r: constants.O_RDONLY,
  'r+': constants.O_RDWR | constants.O_CREAT,
  w: constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC
}

/**
 * Maps a Node filesystem error to the port's codes.
 * ENOENT → STORAGE_NOT_FOUND, ENOSPC / EDQUOT → STORAGE_FULL, else STORAGE_IO.
 */
export function toStorageError (err: unknown, path: string, operation: string): LodestoneError {
  if (err instanceof LodestoneError) return err as LodestoneError
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  if (code === 'ENOENT') return new LodestoneError('STORAGE_NOT_FOUND', { path }, { cause: err })
  if (code === 'ENOSPC' || code === 'EDQUOT') return new LodestoneError('STORAGE_FULL', { path }, { cause: err })
  const message = err instanceof Error ? err.message : String(err)
  const reason = typeof code === 'string' ? `${code}: ${message}` : message
  return new LodestoneError('STORAGE_IO', { path, operation, reason }, { cause: err })
}

/**
 * Most bytes one pwrite (or one writev of {@link NodeFileHandle.writeParts}) hands the kernel. A
 * larger write is split into calls of this size, one after another. Why: for a buffered write, ext4 (Linux 6.x, large folios) sizes the page-cache folios
 * it allocates by the length of the write, and on the bench VM a 1 MiB write's folios come from
 * memory the hypervisor has not backed yet, so copying into them costs 2-4x more kernel time per
 * byte than into the smaller folios of a 256 KiB write (a 1 MiB-piece download spent ~0.9 s of
 * system time per GiB in that copy; bench/download/RESULTS.md, session 5). Splitting costs one more
 * syscall per 256 KiB, which is nothing against the copy.
 */
const MAX_WRITE_CALL_BYTES = 256 * 1024

/** The leading parts of `parts`, cut to at most {@link MAX_WRITE_CALL_BYTES} in all: one writev's worth. */
function writeCall (parts: readonly Uint8Array[]): Uint8Array[] {
  const call: Uint8Array[] = []
  let bytes = 0
  for (const part of parts) {
    const take = Math.min(part.length, MAX_WRITE_CALL_BYTES - bytes)
    call.push(take === part.length ? part : part.subarray(0, take))
    bytes += take
    if (bytes === MAX_WRITE_CALL_BYTES) break
  }
  return call
}

/** {@link NodeFileSystem.statMany} serves the event loop after this many synchronous stats. */
const STAT_SLICE = 256

function ioError (path: string, operation: string, reason: string): LodestoneError<'STORAGE_IO'> {
  return new LodestoneError('STORAGE_IO', { path, operation, reason })
}

function checkPosition (path: string, operation: string, position: number): void {
  if (!Number.isSafeInteger(position) || position < 0) throw ioError(path, operation, `EINVAL: invalid position ${position}`)
}

class NodeFileHandle implements IFileHandle {
  private closed = false

  constructor (
    private readonly owner: NodeFileSystem,
    private readonly handle: FileHandle,
    private readonly path: string,
    private readonly writable: boolean
  ) {}

  async read (buffer: Uint8Array, position: number): Promise<number> {
    this.checkOpen('read')
    checkPosition(this.path, 'read', position)
    let done = 0
    try {
      // pread may return short counts before the end of the file (signals, some filesystems).
      while (done < buffer.length) {
        const { bytesRead } = await this.handle.read(buffer, done, buffer.length - done, position + done)
        if (bytesRead === 0) break
        done += bytesRead
      }
    } catch (err) {
      throw toStorageError(err, this.path, 'read')
    }
    return done
  }

  async write (buffer: Uint8Array, position: number): Promise<number> {
    this.checkOpen('write')
    checkPosition(this.path, 'write', position)
    if (!this.writable) throw ioError(this.path, 'write', 'EBADF: opened read-only')
    let done = 0
    try {
      while (done < buffer.length) {
        const { bytesWritten } = await this.handle.write(buffer, done, Math.min(buffer.length - done, MAX_WRITE_CALL_BYTES), position + done)
        if (bytesWritten === 0) throw ioError(this.path, 'write', 'EIO: wrote 0 bytes')
        done += bytesWritten
      }
    } catch (err) {
      throw toStorageError(err, this.path, 'write')
    }
    return buffer.length
  }

  /**
   * Writes `parts` back to back at `position` through positional writev, without joining them
   * (the io-daemon writes the frames of one WebSocket message this way); returns their total length.
   * Not part of IFileHandle: a Node-only addition the daemon checks for.
   */
  async writeParts (parts: readonly Uint8Array[], position: number): Promise<number> {
    this.checkOpen('write')
    checkPosition(this.path, 'write', position)
    if (!this.writable) throw ioError(this.path, 'write', 'EBADF: opened read-only')
    let rest = parts.filter((p) => p.length > 0)
    let total = 0
    for (const p of rest) total += p.length
    let done = 0
    try {
      while (rest.length > 0) {
        const { bytesWritten } = await this.handle.writev(writeCall(rest), position + done)
        if (bytesWritten === 0) throw ioError(this.path, 'write', 'EIO: wrote 0 bytes')
        done += bytesWritten
        // A short writev: go on after the bytes that made it.
        let skip = bytesWritten
        while (skip > 0 && rest.length > 0) {
          const head = rest[0]!
          if (head.length <= skip) { skip -= head.length; rest = rest.slice(1) } else { rest = [head.subarray(skip), ...rest.slice(1)]; skip = 0 }
        }
      }
    } catch (err) {
      throw toStorageError(err, this.path, 'write')
    }
    return total
  }

  async truncate (lengthBytes: number): Promise<void> {
    this.checkOpen('truncate')
    checkPosition(this.path, 'truncate', lengthBytes)
    if (!this.writable) throw ioError(this.path, 'truncate', 'EBADF: opened read-only')
    try {
      await this.handle.truncate(lengthBytes)
    } catch (err) {
      throw toStorageError(err, this.path, 'truncate')
    }
  }

  async sync (): Promise<void> {
    this.checkOpen('sync')
    try {
      await this.handle.sync()
    } catch (err) {
      throw toStorageError(err, this.path, 'sync')
    }
  }

  /** Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.owner.handleClosed()
    try {
      await this.handle.close()
    } catch (err) {
      throw toStorageError(err, this.path, 'close')
    }
  }

  private checkOpen (operation: string): void {
    if (this.closed) throw ioError(this.path, operation, 'EBADF: handle is closed')
  }
}

/** `new NodeFileSystem(rootDir)`: every path is relative to `rootDir` (which should exist). */
export class NodeFileSystem implements IFileSystem {
  /** The absolute root directory. */
  readonly rootDir: string
  private handles = 0

  constructor (rootDir: string) {
    this.rootDir = resolve(rootDir)
  }

  /** Handles opened and not yet closed, for leak checks. */
  get openHandleCount (): number { return this.handles }

  /** @internal */
  handleClosed (): void { this.handles-- }

  /**
   * The absolute path for `path`.
   * @throws STORAGE_IO when it escapes the root or contains a NUL byte.
   */
  resolvePath (path: string, operation = 'resolve'): string {
    if (path.includes('\0')) throw ioError(path, operation, 'path contains a NUL byte')
    const parts = path.split('/').filter((part) => part !== '' && part !== '.')
    const full = resolve(this.rootDir, ...parts)
    const rel = relative(this.rootDir, full)
    if (rel === '') return full
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw ioError(path, operation, 'path escapes the storage root')
    return full
  }

  /** The platform path of `path` (INativePathFileSystem), so the hasher's workers can read the file themselves; null when it escapes the root. */
  nativePath (path: string): string | null {
    try {
      return this.resolvePath(path, 'nativePath')
    } catch {
      return null
    }
  }

  async open (path: string, mode: FileOpenMode): Promise<IFileHandle> {
    const full = this.resolvePath(path, 'open')
    if (full === this.rootDir) throw ioError(path, 'open', 'EISDIR: is the root directory')
    let handle: FileHandle
    try {
      handle = await open(full, OPEN_FLAGS[mode], 0o666)
    } catch (err) {
      throw toStorageError(err, path, 'open')
    }
    if (mode === 'r') {
      // O_RDONLY succeeds on a directory on Linux; refuse it here as the writable modes are refused.
      let isDirectory: boolean
      try {
        isDirectory = (await handle.stat()).isDirectory()
      } catch (err) {
        await handle.close().catch(() => {})
        throw toStorageError(err, path, 'open')
      }
      if (isDirectory) {
        await handle.close().catch(() => {})
        throw ioError(path, 'open', 'EISDIR: is a directory')
      }
    }
    this.handles++
    return new NodeFileHandle(this, handle, path, mode !== 'r')
  }

  async stat (path: string): Promise<IFileStat> {
    const full = this.resolvePath(path, 'stat')
    try {
      const s = await stat(full)
      const isFile = s.isFile()
      return { size: isFile ? s.size : 0, isFile, isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs }
    } catch (err) {
      throw toStorageError(err, path, 'stat')
    }
  }

  /**
   * Stats of many paths (null: not there). A local stat takes a few µs, while `fs/promises` hands
   * each one to the thread pool: a promise, a queue hop and two context switches per file, which is
   * most of the cost of the 10 000 fast-resume stamps of a 10 000-torrent restore (~0.5 CPU-s, and
   * more wall time on a busy machine). So these run synchronously, {@link STAT_SLICE} at a time
   * with the event loop served in between; a slow (network) filesystem blocks the loop for at
   * most one slice's stats.
   */
  async statMany (paths: readonly string[]): Promise<Array<IFileStat | null>> {
    const out: Array<IFileStat | null> = []
    for (let i = 0; i < paths.length; i++) {
      if (i > 0 && i % STAT_SLICE === 0) await new Promise((resolve) => { setImmediate(resolve) })
      const path = paths[i] as string
      const full = this.resolvePath(path, 'stat')
      try {
        const s = statSync(full)
        const isFile = s.isFile()
        out.push({ size: isFile ? s.size : 0, isFile, isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs })
      } catch (err) {
        const error = toStorageError(err, path, 'stat')
        if (error.code !== 'STORAGE_NOT_FOUND') throw error
        out.push(null)
      }
    }
    return out
  }

  async exists (path: string): Promise<boolean> {
    const full = this.resolvePath(path, 'exists')
    try {
      await stat(full)
      return true
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (code === 'ENOENT' || code === 'ENOTDIR') return false
      throw toStorageError(err, path, 'exists')
    }
  }

  async mkdir (path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const full = this.resolvePath(path, 'mkdir')
    try {
      await mkdir(full, { recursive: options.recursive === true })
    } catch (err) {
      if ((err as { code?: unknown }).code === 'EEXIST') {
        const existing = await stat(full).catch(() => undefined)
        if (existing?.isDirectory() === true) return
      }
      throw toStorageError(err, path, 'mkdir')
    }
  }

  /** Entry names, sorted (the OS order is arbitrary; sorting keeps runs reproducible). */
  async readdir (path: string): Promise<string[]> {
    const full = this.resolvePath(path, 'readdir')
    try {
      return (await readdir(full)).sort()
    } catch (err) {
      throw toStorageError(err, path, 'readdir')
    }
  }

  async unlink (path: string): Promise<void> {
    const full = this.resolvePath(path, 'unlink')
    try {
      await unlink(full)
    } catch (err) {
      // macOS reports EPERM for a directory; say what the memory adapter says.
      if ((err as { code?: unknown }).code === 'EPERM' && (await stat(full).catch(() => undefined))?.isDirectory() === true) {
        throw ioError(path, 'unlink', 'EISDIR: is a directory')
      }
      throw toStorageError(err, path, 'unlink')
    }
  }

  async rmdir (path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const full = this.resolvePath(path, 'rmdir')
    if (full === this.rootDir) throw ioError(path, 'rmdir', 'EBUSY: cannot remove the storage root')
    try {
      if (options.recursive === true) {
        // fs.rm would also delete a file; the port removes directories only.
        const s = await lstat(full)
        if (!s.isDirectory()) throw ioError(path, 'rmdir', 'ENOTDIR: not a directory')
        await rm(full, { recursive: true })
      } else {
        await rmdir(full)
      }
    } catch (err) {
      throw toStorageError(err, path, 'rmdir')
    }
  }

  async rename (from: string, to: string): Promise<void> {
    const fullFrom = this.resolvePath(from, 'rename')
    const fullTo = this.resolvePath(to, 'rename')
    if (fullFrom === this.rootDir || fullTo === this.rootDir) throw ioError(from, 'rename', 'EBUSY: cannot rename the storage root')
    try {
      await rename(fullFrom, fullTo)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      // ENOENT names whichever path is missing: the source, or the target's parent.
      if (code === 'ENOENT') {
        const sourceExists = await lstat(fullFrom).then(() => true, () => false)
        throw new LodestoneError('STORAGE_NOT_FOUND', { path: sourceExists ? to : from }, { cause: err })
      }
      throw toStorageError(err, from, 'rename')
    }
  }

  /** A rename into another NodeFileSystem's root; false for other filesystems or across devices (EXDEV). */
  async moveTo (from: string, target: IFileSystem, to: string): Promise<boolean> {
    if (!(target instanceof NodeFileSystem)) return false
    const fullFrom = this.resolvePath(from, 'moveTo')
    const fullTo = target.resolvePath(to, 'moveTo')
    if (fullFrom === this.rootDir || fullTo === target.rootDir) throw ioError(from, 'moveTo', 'EBUSY: cannot move a storage root')
    const s = await lstat(fullFrom).catch((err: unknown) => { throw toStorageError(err, from, 'moveTo') })
    // A BEP 47 link moves as a link (its target is relative, so it stays right).
    if (!s.isFile() && !s.isSymbolicLink()) throw ioError(from, 'moveTo', 'EISDIR: not a file')
    try {
      await rename(fullFrom, fullTo)
      return true
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (code === 'EXDEV') return false
      if (code === 'ENOENT') throw new LodestoneError('STORAGE_NOT_FOUND', { path: to }, { cause: err })
      throw toStorageError(err, from, 'moveTo')
    }
  }

  async symlink (target: string, path: string): Promise<void> {
    const full = this.resolvePath(path, 'symlink')
    if (full === this.rootDir) throw ioError(path, 'symlink', 'EEXIST: is the root directory')
    if (target.includes('\0') || isAbsolute(target)) throw ioError(path, 'symlink', 'symlink target is not a relative path')
    const resolved = resolve(dirname(full), ...target.split('/'))
    const rel = relative(this.rootDir, resolved)
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw ioError(path, 'symlink', 'symlink target escapes the storage root')
    }
    try {
      await symlink(target.split('/').join(sep), full)
    } catch (err) {
      // Something is there already (our link from an earlier run, or a user's file): keep it.
      if ((err as { code?: unknown }).code === 'EEXIST') return
      throw toStorageError(err, path, 'symlink')
    }
  }

  /** The raw target of the link at `path` (tests and diagnostics). */
  async readlink (path: string): Promise<string> {
    const full = this.resolvePath(path, 'readlink')
    try {
      return (await readlink(full)).split(sep).join('/')
    } catch (err) {
      throw toStorageError(err, path, 'readlink')
    }
  }

  async setAttributes (path: string, attributes: FileAttributes): Promise<void> {
    if (attributes.executable !== true) return
    const full = this.resolvePath(path, 'setAttributes')
    try {
      const s = await lstat(full)
      // Never through a link (chmod follows them), never on a directory.
      if (!s.isFile()) throw ioError(path, 'setAttributes', 'not a regular file')
      const mode = s.mode & 0o7777
      const withExec = mode | ((mode & 0o444) >> 2)
      if (withExec !== mode) await chmod(full, withExec)
    } catch (err) {
      throw toStorageError(err, path, 'setAttributes')
    }
  }
}
