/**
 * An in-memory {@link IFileSystem} for unit and swarm tests, with the same observable semantics as
 * `NodeFileSystem` on POSIX (the filesystem contract tests run against both): explicit directories,
 * STORAGE_NOT_FOUND for a missing file or parent, STORAGE_IO with an errno-like reason
 * ('EISDIR', 'ENOTDIR', 'ENOTEMPTY', 'EEXIST', 'EBADF', 'EINVAL') for the rest.
 *
 * Why files are sparse chunk maps: swarm tests use torrents of many gigabytes that are never
 * fully written, and peers write pieces out of order. Unwritten ranges cost nothing and read as
 * zeros, exactly like a sparse file. Invariant: bytes of a chunk at or beyond the file size are 0,
 * so growing a file (write past the end, truncate up) never resurrects old data.
 *
 * BEP 47: links are recorded as link nodes (their target text, never followed: opening one is
 * STORAGE_IO 'ELOOP'), `setAttributes` records `executable` / `hidden` on the file; tests read both
 * back with {@link MemoryFileSystem.entryInfo}. A link counts as a non-directory entry everywhere
 * else (unlink, rename, moveTo, listFiles).
 *
 * Every operation completes synchronously inside its promise, so operations are atomic with
 * respect to each other; an unlinked file stays readable and writable through handles that were
 * open before (as on POSIX).
 */
/* eslint-disable @typescript-eslint/require-await -- the port is async; this in-memory implementation completes synchronously inside each promise (which is what makes its operations atomic) */
import { LodestoneError } from '../../src/errors.js'
import type { FileAttributes, FileOpenMode, IFileHandle, IFileStat, IFileSystem } from '../../src/interfaces/filesystem.js'

/** Chunk size of the sparse file representation. */
const CHUNK_BYTES = 64 * 1024

/** The clock a memory filesystem stamps modification times with. */
export interface WallClock { wallNow (): number }

export interface MemoryFileSystemDeps {
  /** Source of mtimes. @default Date.now */
  clock?: WallClock
}

class FileNode {
  readonly kind = 'file'
  size = 0
  executable = false
  hidden = false
  /** Chunk index → bytes; a chunk may be shorter than CHUNK_BYTES (the rest reads as zeros). */
  readonly chunks = new Map<number, Uint8Array>()
  constructor (public mtimeMs: number) {}

  read (buffer: Uint8Array, position: number): number {
    const count = Math.max(0, Math.min(buffer.length, this.size - position))
    let done = 0
    while (done < count) {
      const pos = position + done
      const index = Math.floor(pos / CHUNK_BYTES)
      const offset = pos - index * CHUNK_BYTES
      const n = Math.min(count - done, CHUNK_BYTES - offset)
      const chunk = this.chunks.get(index)
      const available = chunk === undefined ? 0 : Math.max(0, Math.min(n, chunk.length - offset))
      if (chunk !== undefined && available > 0) buffer.set(chunk.subarray(offset, offset + available), done)
      if (available < n) buffer.fill(0, done + available, done + n)
      done += n
    }
    return count
  }

  write (data: Uint8Array, position: number): void {
    let done = 0
    while (done < data.length) {
      const pos = position + done
      const index = Math.floor(pos / CHUNK_BYTES)
      const offset = pos - index * CHUNK_BYTES
      const n = Math.min(data.length - done, CHUNK_BYTES - offset)
      const chunk = this.chunkWithCapacity(index, offset + n)
      chunk.set(data.subarray(done, done + n), offset)
      done += n
    }
    if (data.length > 0) this.size = Math.max(this.size, position + data.length)
  }

  truncate (lengthBytes: number): void {
    if (lengthBytes < this.size) {
      const lastIndex = Math.floor(lengthBytes / CHUNK_BYTES)
      for (const index of [...this.chunks.keys()]) {
        if (index > lastIndex || (index === lastIndex && lengthBytes % CHUNK_BYTES === 0)) this.chunks.delete(index)
      }
      const tail = this.chunks.get(lastIndex)
      if (tail !== undefined) tail.fill(0, lengthBytes - lastIndex * CHUNK_BYTES)
    }
    this.size = lengthBytes
  }

  /** Bytes allocated for chunks (not the logical size). */
  allocatedBytes (): number {
    let total = 0
    for (const chunk of this.chunks.values()) total += chunk.length
    return total
  }

  private chunkWithCapacity (index: number, needed: number): Uint8Array {
    const chunk = this.chunks.get(index)
    if (chunk !== undefined && chunk.length >= needed) return chunk
    // Grow geometrically so appending in small writes stays linear; the copy keeps the old bytes.
    let capacity = Math.max(needed, chunk === undefined ? 0 : chunk.length * 2, 256)
    capacity = Math.min(CHUNK_BYTES, capacity)
    const grown = new Uint8Array(capacity)
    if (chunk !== undefined) grown.set(chunk)
    this.chunks.set(index, grown)
    return grown
  }
}

class DirNode {
  readonly kind = 'dir'
  readonly children = new Map<string, FsNode>()
  constructor (public mtimeMs: number) {}
}

class LinkNode {
  readonly kind = 'link'
  constructor (readonly target: string, public mtimeMs: number) {}
}

type FsNode = FileNode | DirNode | LinkNode

/** What {@link MemoryFileSystem.entryInfo} reports. */
export type MemoryEntryInfo =
  | { kind: 'file', size: number, executable: boolean, hidden: boolean }
  | { kind: 'dir' }
  | { kind: 'link', target: string }

function notFound (path: string): LodestoneError<'STORAGE_NOT_FOUND'> {
  return new LodestoneError('STORAGE_NOT_FOUND', { path })
}

function ioError (path: string, operation: string, reason: string): LodestoneError<'STORAGE_IO'> {
  return new LodestoneError('STORAGE_IO', { path, operation, reason })
}

/**
 * Splits a relative '/'-separated path into segments, resolving '.' and '..' lexically.
 * A leading '/' is ignored (paths are relative to the root). '' is the root itself.
 * @throws STORAGE_IO when the path escapes the root or contains a NUL byte.
 */
function splitPath (path: string, operation: string): string[] {
  if (path.includes('\0')) throw ioError(path, operation, 'path contains a NUL byte')
  const out: string[] = []
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (out.length === 0) throw ioError(path, operation, 'path escapes the storage root')
      out.pop()
      continue
    }
    out.push(part)
  }
  return out
}

function checkPosition (path: string, operation: string, position: number): void {
  if (!Number.isSafeInteger(position) || position < 0) throw ioError(path, operation, `EINVAL: invalid position ${position}`)
}

class MemoryFileHandle implements IFileHandle {
  private closed = false

  constructor (
    private readonly fs: MemoryFileSystem,
    private readonly node: FileNode,
    private readonly path: string,
    private readonly writable: boolean
  ) {}

  async read (buffer: Uint8Array, position: number): Promise<number> {
    this.checkOpen('read')
    checkPosition(this.path, 'read', position)
    return this.node.read(buffer, position)
  }

  async write (buffer: Uint8Array, position: number): Promise<number> {
    this.checkOpen('write')
    checkPosition(this.path, 'write', position)
    if (!this.writable) throw ioError(this.path, 'write', 'EBADF: opened read-only')
    this.node.write(buffer, position)
    if (buffer.length > 0) this.node.mtimeMs = this.fs.wallNow()
    return buffer.length
  }

  async truncate (lengthBytes: number): Promise<void> {
    this.checkOpen('truncate')
    checkPosition(this.path, 'truncate', lengthBytes)
    if (!this.writable) throw ioError(this.path, 'truncate', 'EBADF: opened read-only')
    this.node.truncate(lengthBytes)
    this.node.mtimeMs = this.fs.wallNow()
  }

  async sync (): Promise<void> {
    this.checkOpen('sync')
  }

  /** Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.fs.handleClosed()
  }

  private checkOpen (operation: string): void {
    if (this.closed) throw ioError(this.path, operation, 'EBADF: handle is closed')
  }
}

/**
 * In-memory {@link IFileSystem}. `new MemoryFileSystem()`; pass `{ clock }` to get mtimes in
 * virtual time. Test helpers: {@link readFileBytes}, {@link writeFileBytes}, {@link listFiles},
 * {@link openHandleCount}.
 */
export class MemoryFileSystem implements IFileSystem {
  private readonly root: DirNode
  private readonly clock: WallClock | undefined
  private handles = 0

  constructor (deps: MemoryFileSystemDeps = {}) {
    this.clock = deps.clock
    this.root = new DirNode(this.wallNow())
  }

  /** Handles opened and not yet closed: tests assert 0 after shutdown. */
  get openHandleCount (): number { return this.handles }

  /** @internal */
  wallNow (): number { return this.clock !== undefined ? this.clock.wallNow() : Date.now() }

  /** @internal */
  handleClosed (): void { this.handles-- }

  async open (path: string, mode: FileOpenMode): Promise<IFileHandle> {
    const segments = splitPath(path, 'open')
    const name = segments.pop()
    if (name === undefined) throw ioError(path, 'open', 'EISDIR: is the root directory')
    const parent = this.dirAt(segments, path, 'open')
    let node = parent.children.get(name)
    if (node?.kind === 'dir') throw ioError(path, 'open', 'EISDIR: is a directory')
    if (node?.kind === 'link') throw ioError(path, 'open', 'ELOOP: the memory filesystem does not follow symbolic links')
    if (node === undefined) {
      if (mode === 'r') throw notFound(path)
      node = new FileNode(this.wallNow())
      parent.children.set(name, node)
      parent.mtimeMs = node.mtimeMs
    } else if (mode === 'w' && node.size > 0) {
      node.truncate(0)
      node.mtimeMs = this.wallNow()
    }
    this.handles++
    return new MemoryFileHandle(this, node, path, mode !== 'r')
  }

  async stat (path: string): Promise<IFileStat> {
    const node = this.nodeAt(splitPath(path, 'stat'), path, 'stat')
    if (node.kind === 'link') return { size: 0, isFile: false, isDirectory: false, mtimeMs: node.mtimeMs }
    return node.kind === 'file'
      ? { size: node.size, isFile: true, isDirectory: false, mtimeMs: node.mtimeMs }
      : { size: 0, isFile: false, isDirectory: true, mtimeMs: node.mtimeMs }
  }

  async exists (path: string): Promise<boolean> {
    const segments = splitPath(path, 'exists')
    try {
      this.nodeAt(segments, path, 'exists')
      return true
    } catch (err) {
      if (err instanceof LodestoneError && (err.code === 'STORAGE_NOT_FOUND' || err.code === 'STORAGE_IO')) return false
      throw err
    }
  }

  async mkdir (path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const segments = splitPath(path, 'mkdir')
    let dir = this.root
    for (let i = 0; i < segments.length; i++) {
      const name = segments[i] as string
      const last = i === segments.length - 1
      const child = dir.children.get(name)
      if (child === undefined) {
        if (!last && options.recursive !== true) throw notFound(path)
        const created = new DirNode(this.wallNow())
        dir.children.set(name, created)
        dir.mtimeMs = created.mtimeMs
        dir = created
      } else if (child.kind !== 'dir') {
        throw ioError(path, 'mkdir', last ? 'EEXIST: a file exists at this path' : 'ENOTDIR: a parent is a file')
      } else {
        dir = child
      }
    }
  }

  async readdir (path: string): Promise<string[]> {
    const node = this.nodeAt(splitPath(path, 'readdir'), path, 'readdir')
    if (node.kind !== 'dir') throw ioError(path, 'readdir', 'ENOTDIR: not a directory')
    return [...node.children.keys()].sort()
  }

  async unlink (path: string): Promise<void> {
    const segments = splitPath(path, 'unlink')
    const name = segments.pop()
    if (name === undefined) throw ioError(path, 'unlink', 'EISDIR: is the root directory')
    const parent = this.dirAt(segments, path, 'unlink')
    const node = parent.children.get(name)
    if (node === undefined) throw notFound(path)
    if (node.kind === 'dir') throw ioError(path, 'unlink', 'EISDIR: is a directory')
    parent.children.delete(name)
    parent.mtimeMs = this.wallNow()
  }

  async rmdir (path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const segments = splitPath(path, 'rmdir')
    const name = segments.pop()
    if (name === undefined) throw ioError(path, 'rmdir', 'EBUSY: cannot remove the storage root')
    const parent = this.dirAt(segments, path, 'rmdir')
    const node = parent.children.get(name)
    if (node === undefined) throw notFound(path)
    if (node.kind !== 'dir') throw ioError(path, 'rmdir', 'ENOTDIR: not a directory')
    if (node.children.size > 0 && options.recursive !== true) throw ioError(path, 'rmdir', 'ENOTEMPTY: directory not empty')
    parent.children.delete(name)
    parent.mtimeMs = this.wallNow()
  }

  async rename (from: string, to: string): Promise<void> {
    const fromSegments = splitPath(from, 'rename')
    const toSegments = splitPath(to, 'rename')
    const fromName = fromSegments.at(-1)
    const toName = toSegments.at(-1)
    if (fromName === undefined || toName === undefined) throw ioError(from, 'rename', 'EBUSY: cannot rename the storage root')
    const fromParent = this.dirAt(fromSegments.slice(0, -1), from, 'rename')
    const node = fromParent.children.get(fromName)
    if (node === undefined) throw notFound(from)
    const toParent = this.dirAt(toSegments.slice(0, -1), to, 'rename')
    if (fromParent === toParent && fromName === toName) return
    const target = toParent.children.get(toName)
    if (node.kind === 'dir') {
      const inside = toSegments.length > fromSegments.length && fromSegments.every((s, i) => toSegments[i] === s)
      if (inside) throw ioError(to, 'rename', 'EINVAL: cannot move a directory into itself')
      if (target !== undefined && target.kind !== 'dir') throw ioError(to, 'rename', 'ENOTDIR: target is a file')
      if (target?.kind === 'dir' && target.children.size > 0) throw ioError(to, 'rename', 'ENOTEMPTY: target directory not empty')
    } else if (target?.kind === 'dir') {
      throw ioError(to, 'rename', 'EISDIR: target is a directory')
    }
    fromParent.children.delete(fromName)
    toParent.children.set(toName, node)
    const now = this.wallNow()
    fromParent.mtimeMs = now
    toParent.mtimeMs = now
  }

  /** Moves a file into another MemoryFileSystem (a node handover, like a same-device rename); false for other filesystems. */
  async moveTo (from: string, target: IFileSystem, to: string): Promise<boolean> {
    if (!(target instanceof MemoryFileSystem)) return false
    const fromSegments = splitPath(from, 'moveTo')
    const toSegments = splitPath(to, 'moveTo')
    const fromName = fromSegments.at(-1)
    const toName = toSegments.at(-1)
    if (fromName === undefined || toName === undefined) throw ioError(from, 'moveTo', 'EBUSY: cannot move a storage root')
    const fromParent = this.dirAt(fromSegments.slice(0, -1), from, 'moveTo')
    const node = fromParent.children.get(fromName)
    if (node === undefined) throw notFound(from)
    if (node.kind === 'dir') throw ioError(from, 'moveTo', 'EISDIR: not a file')
    const toParent = target.dirAt(toSegments.slice(0, -1), to, 'moveTo')
    if (toParent.children.get(toName)?.kind === 'dir') throw ioError(to, 'moveTo', 'EISDIR: target is a directory')
    if (fromParent === toParent && fromName === toName) return true
    fromParent.children.delete(fromName)
    toParent.children.set(toName, node)
    fromParent.mtimeMs = this.wallNow()
    toParent.mtimeMs = target.wallNow()
    return true
  }

  async symlink (target: string, path: string): Promise<void> {
    const segments = splitPath(path, 'symlink')
    const name = segments.pop()
    if (name === undefined) throw ioError(path, 'symlink', 'EEXIST: is the root directory')
    if (target.includes('\0') || target.startsWith('/')) throw ioError(path, 'symlink', 'symlink target is not a relative path')
    let resolved: string[] = []
    try {
      resolved = splitPath([...segments, target].join('/'), 'symlink')
    } catch {}
    if (resolved.length === 0) throw ioError(path, 'symlink', 'symlink target escapes the storage root')
    const parent = this.dirAt(segments, path, 'symlink')
    if (parent.children.has(name)) return
    parent.children.set(name, new LinkNode(target, this.wallNow()))
    parent.mtimeMs = this.wallNow()
  }

  async setAttributes (path: string, attributes: FileAttributes): Promise<void> {
    const node = this.nodeAt(splitPath(path, 'setAttributes'), path, 'setAttributes')
    if (node.kind !== 'file') throw ioError(path, 'setAttributes', 'not a regular file')
    if (attributes.executable === true) node.executable = true
    if (attributes.hidden === true) node.hidden = true
  }

  // --- test helpers (synchronous) ---

  /** What is at `path`: a file with its recorded attributes, a directory, or a link and its target. */
  entryInfo (path: string): MemoryEntryInfo {
    const node = this.nodeAt(splitPath(path, 'entryInfo'), path, 'entryInfo')
    if (node.kind === 'link') return { kind: 'link', target: node.target }
    if (node.kind === 'dir') return { kind: 'dir' }
    return { kind: 'file', size: node.size, executable: node.executable, hidden: node.hidden }
  }

  /**
   * A copy of a file's whole content.
   * @throws STORAGE_NOT_FOUND when missing, STORAGE_IO when it is a directory.
   */
  readFileBytes (path: string): Uint8Array {
    const node = this.nodeAt(splitPath(path, 'readFileBytes'), path, 'readFileBytes')
    if (node.kind !== 'file') throw ioError(path, 'readFileBytes', 'EISDIR: is a directory')
    const out = new Uint8Array(node.size)
    node.read(out, 0)
    return out
  }

  /** Creates or replaces a file with a copy of `data`, creating missing parent directories. */
  writeFileBytes (path: string, data: Uint8Array): void {
    const segments = splitPath(path, 'writeFileBytes')
    const name = segments.pop()
    if (name === undefined) throw ioError(path, 'writeFileBytes', 'EISDIR: is the root directory')
    let dir = this.root
    for (const segment of segments) {
      let child = dir.children.get(segment)
      if (child === undefined) {
        child = new DirNode(this.wallNow())
        dir.children.set(segment, child)
      }
      if (child.kind !== 'dir') throw ioError(path, 'writeFileBytes', 'ENOTDIR: a parent is a file')
      dir = child
    }
    if (dir.children.get(name)?.kind === 'dir') throw ioError(path, 'writeFileBytes', 'EISDIR: is a directory')
    const node = new FileNode(this.wallNow())
    node.write(data, 0)
    dir.children.set(name, node)
  }

  /** Paths of every file below `dir` (default: the root), sorted. */
  listFiles (dir = ''): string[] {
    const start = this.nodeAt(splitPath(dir, 'listFiles'), dir, 'listFiles')
    const out: string[] = []
    const prefix = splitPath(dir, 'listFiles').join('/')
    const walk = (node: FsNode, path: string): void => {
      if (node.kind !== 'dir') { out.push(path); return }
      for (const [name, child] of node.children) walk(child, path === '' ? name : `${path}/${name}`)
    }
    walk(start, prefix)
    return out.sort()
  }

  /** Bytes actually allocated by all files (sparse ranges excluded). */
  get allocatedBytes (): number {
    let total = 0
    const walk = (node: FsNode): void => {
      if (node.kind === 'file') total += node.allocatedBytes()
      else if (node.kind === 'dir') for (const child of node.children.values()) walk(child)
    }
    walk(this.root)
    return total
  }

  private nodeAt (segments: readonly string[], path: string, operation: string): FsNode {
    let node: FsNode = this.root
    for (const segment of segments) {
      if (node.kind !== 'dir') throw ioError(path, operation, 'ENOTDIR: a parent is a file')
      const child: FsNode | undefined = node.children.get(segment)
      if (child === undefined) throw notFound(path)
      node = child
    }
    return node
  }

  private dirAt (segments: readonly string[], path: string, operation: string): DirNode {
    const node = this.nodeAt(segments, path, operation)
    if (node.kind !== 'dir') throw ioError(path, operation, 'ENOTDIR: a parent is a file')
    return node
  }
}
