/**
 * A small instrumented in-memory IFileSystem for the storage unit tests: it records opens, writes,
 * reads and syncs so tests can assert coalescing and handle caching, and can fail on demand.
 * (The full MemoryFileSystem adapter lives in adapters/memory; this one only needs to be honest.)
 */
import { LodestoneError } from '../../../src/errors.js'
import type { FileOpenMode, IFileHandle, IFileStat, IFileSystem } from '../../../src/interfaces/filesystem.js'
import type { TorrentFileEntry } from '../../../src/metainfo/types.js'
import type { ContentLayout } from '../../../src/storage/piece-layout.js'

interface FileData { data: Uint8Array, size: number }

function parentOf (path: string): string {
  const cut = path.lastIndexOf('/')
  return cut < 0 ? '' : path.slice(0, cut)
}

export class TestFileSystem implements IFileSystem {
  readonly files = new Map<string, FileData>()
  readonly dirs = new Set<string>([''])
  readonly opens: Array<{ path: string, mode: FileOpenMode }> = []
  readonly writes: Array<{ path: string, position: number, length: number }> = []
  readonly syncs: string[] = []
  reads = 0
  readsInFlight = 0
  maxReadsInFlight = 0
  openHandles = 0
  maxOpenHandles = 0
  /** Return an error to make that operation fail. */
  fault: ((op: string, path: string) => Error | undefined) | undefined

  contents (path: string): Uint8Array | undefined {
    const f = this.files.get(path)
    return f === undefined ? undefined : f.data.slice(0, f.size)
  }

  put (path: string, bytes: Uint8Array): void {
    for (let dir = parentOf(path); dir !== ''; dir = parentOf(dir)) this.dirs.add(dir)
    this.files.set(path, { data: bytes.slice(), size: bytes.length })
  }

  private check (op: string, path: string): void {
    const err = this.fault?.(op, path)
    if (err !== undefined) throw err
  }

  async open (path: string, mode: FileOpenMode): Promise<IFileHandle> {
    this.check('open', path)
    if (!this.dirs.has(parentOf(path))) throw new LodestoneError('STORAGE_NOT_FOUND', { path })
    let file = this.files.get(path)
    if (file === undefined) {
      if (mode === 'r') throw new LodestoneError('STORAGE_NOT_FOUND', { path })
      file = { data: new Uint8Array(0), size: 0 }
      this.files.set(path, file)
    }
    if (mode === 'w') file.size = 0
    this.opens.push({ path, mode })
    this.openHandles++
    this.maxOpenHandles = Math.max(this.maxOpenHandles, this.openHandles)
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the handle's methods count on the filesystem
    const fsys = this
    const f = file
    let closed = false
    return {
      async read (buffer, position) {
        fsys.reads++
        fsys.readsInFlight++
        fsys.maxReadsInFlight = Math.max(fsys.maxReadsInFlight, fsys.readsInFlight)
        await Promise.resolve()
        fsys.readsInFlight--
        if (closed) throw new LodestoneError('STORAGE_IO', { path, operation: 'read', reason: 'EBADF: closed' })
        const n = Math.max(0, Math.min(buffer.length, f.size - position))
        buffer.set(f.data.subarray(position, position + n))
        return n
      },
      async write (buffer, position) {
        fsys.check('write', path)
        if (closed || mode === 'r') throw new LodestoneError('STORAGE_IO', { path, operation: 'write', reason: 'EBADF' })
        const end = position + buffer.length
        if (end > f.data.length) {
          const grown = new Uint8Array(Math.max(end, f.data.length * 2))
          grown.set(f.data)
          f.data = grown
        }
        if (position > f.size) f.data.fill(0, f.size, position)
        f.data.set(buffer, position)
        f.size = Math.max(f.size, end)
        fsys.writes.push({ path, position, length: buffer.length })
        return buffer.length
      },
      async truncate (length) {
        if (length > f.data.length) {
          const grown = new Uint8Array(length)
          grown.set(f.data.subarray(0, f.size))
          f.data = grown
        } else f.data.fill(0, length)
        f.size = length
      },
      async sync () { fsys.syncs.push(path) },
      async close () {
        if (closed) throw new LodestoneError('STORAGE_IO', { path, operation: 'close', reason: 'EBADF: closed twice' })
        closed = true
        fsys.openHandles--
      }
    }
  }

  async stat (path: string): Promise<IFileStat> {
    this.check('stat', path)
    const f = this.files.get(path)
    if (f !== undefined) return { size: f.size, isFile: true, isDirectory: false, mtimeMs: 0 }
    if (this.dirs.has(path)) return { size: 0, isFile: false, isDirectory: true, mtimeMs: 0 }
    throw new LodestoneError('STORAGE_NOT_FOUND', { path })
  }

  async exists (path: string): Promise<boolean> {
    return this.files.has(path) || this.dirs.has(path)
  }

  async mkdir (path: string): Promise<void> {
    this.check('mkdir', path)
    for (let dir = path; dir !== ''; dir = parentOf(dir)) this.dirs.add(dir)
  }

  async readdir (path: string): Promise<string[]> {
    const names = new Set<string>()
    for (const p of [...this.files.keys(), ...this.dirs]) if (p !== path && parentOf(p) === path) names.add(p.slice(path === '' ? 0 : path.length + 1))
    return [...names]
  }

  async unlink (path: string): Promise<void> {
    if (!this.files.delete(path)) throw new LodestoneError('STORAGE_NOT_FOUND', { path })
  }

  async rmdir (path: string): Promise<void> {
    if (!this.dirs.has(path)) throw new LodestoneError('STORAGE_NOT_FOUND', { path })
    if ((await this.readdir(path)).length > 0) throw new LodestoneError('STORAGE_IO', { path, operation: 'rmdir', reason: 'ENOTEMPTY' })
    this.dirs.delete(path)
  }

  async rename (from: string, to: string): Promise<void> {
    const f = this.files.get(from)
    if (f === undefined) throw new LodestoneError('STORAGE_NOT_FOUND', { path: from })
    this.files.delete(from)
    this.files.set(to, f)
  }
}

/** A layout from file lengths (negative length = a padding file of that many bytes). */
export function makeLayout (name: string, lengths: Array<number | { path: string[], length: number, padding?: boolean }>, pieceLengthBytes: number,
  multiFile = true): ContentLayout {
  let offset = 0
  const files: TorrentFileEntry[] = lengths.map((spec, i) => {
    const s = typeof spec === 'number'
      ? { path: spec < 0 ? ['.pad', String(-spec)] : [`f${i}.bin`], length: Math.abs(spec), padding: spec < 0 }
      : { padding: false, ...spec }
    const entry: TorrentFileEntry = { path: s.path, lengthBytes: s.length, offsetBytes: offset, padding: s.padding, attr: s.padding ? 'p' : '' }
    offset += s.length
    return entry
  })
  return {
    id: 'ab'.repeat(20) as ContentLayout['id'],
    name,
    multiFile,
    files,
    pieceLengthBytes,
    pieceCount: Math.ceil(offset / pieceLengthBytes),
    totalLengthBytes: offset
  }
}

/** Deterministic content for the piece space. */
export function spaceBytes (length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = (x >>> 16) & 0xff
  }
  return out
}
