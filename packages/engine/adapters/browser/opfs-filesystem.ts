/**
 * {@link IFileSystem} on the Origin Private File System, rooted at one directory of it.
 *
 * Two ways to reach file contents, picked once per filesystem:
 * - **Sync access handles in a dedicated worker** (opfs-worker.ts), where the browser has them
 *   (Chromium ≥ 102, Firefox ≥ 111, Safari ≥ 15.2): positional reads and writes in place, the
 *   fast path. A sync access handle locks its file while open.
 * - **The async API** otherwise: reads through `getFile().slice()`, writes through a writable
 *   stream kept open across consecutive writes and committed before the next read, size query,
 *   sync or close (a commit copies the file in Chromium, so committing per write would be
 *   quadratic).
 * Directory operations always use the async API from the calling thread.
 *
 * Paths are normalized ('.', empty segments, a leading '/'); one that climbs above the root is
 * refused with STORAGE_IO. DOMException names map to codes: NotFoundError → STORAGE_NOT_FOUND,
 * QuotaExceededError → STORAGE_FULL, anything else → STORAGE_IO with the name as the reason.
 */
import { LodestoneError } from '../../src/errors.js'
import type { FileOpenMode, IFileHandle, IFileStat, IFileSystem } from '../../src/interfaces/filesystem.js'
import { opfsWorkerMain, type OpfsWorkerAnswer, type OpfsWorkerRequest } from './opfs-worker.js'

export interface OpfsFileSystemOptions {
  /** Directory path inside the origin's OPFS ('/'-separated), created when missing. @default 'lodestone' */
  root?: string
  /** 'auto' uses the worker when sync access handles are available. @default 'auto' */
  backend?: 'auto' | 'worker' | 'async'
}

type Distributive<T> = T extends unknown ? Omit<T, 'id'> : never
type OpfsWorkerCall = Distributive<OpfsWorkerRequest>

function nameOf (err: unknown): string {
  const n = (err as { name?: unknown })?.name
  return typeof n === 'string' ? n : 'Error'
}

function toStorageError (err: unknown, path: string, operation: string): LodestoneError {
  if (err instanceof LodestoneError) return err as LodestoneError
  const name = nameOf(err)
  const message = (err as { message?: unknown })?.message
  if (name === 'NotFoundError') return new LodestoneError('STORAGE_NOT_FOUND', { path }, { cause: err })
  if (name === 'QuotaExceededError') return new LodestoneError('STORAGE_FULL', { path }, { cause: err })
  return new LodestoneError('STORAGE_IO', { path, operation, reason: `${name}: ${typeof message === 'string' ? message : ''}` }, { cause: err })
}

/** Segments of a relative path; null when it climbs above the root. */
function segmentsOf (path: string): string[] | null {
  const out: string[] = []
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') {
      if (out.length === 0) return null
      out.pop()
      continue
    }
    out.push(seg)
  }
  return out
}

/** A client of one OPFS worker. */
class OpfsWorkerClient {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: unknown) => void }>()
  private readonly worker: Worker
  private readonly url: string

  constructor () {
    this.url = URL.createObjectURL(new Blob([`(${opfsWorkerMain.toString()})()`], { type: 'text/javascript' }))
    this.worker = new Worker(this.url)
    this.worker.onmessage = (ev: MessageEvent<OpfsWorkerAnswer>) => {
      const a = ev.data
      const p = this.pending.get(a.id)
      if (p === undefined) return
      this.pending.delete(a.id)
      if (a.ok) p.resolve(a.value)
      else p.reject(new DOMException(a.message, a.name))
    }
    this.worker.onerror = (ev) => {
      for (const p of this.pending.values()) p.reject(new DOMException(ev.message ?? 'worker failed', 'OperationError'))
      this.pending.clear()
    }
  }

  async call<T> (request: OpfsWorkerCall, transfer: Transferable[] = []): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.worker.postMessage({ ...request, id }, transfer)
    })
  }

  terminate (): void {
    this.worker.terminate()
    URL.revokeObjectURL(this.url)
  }
}

class WorkerFileHandle implements IFileHandle {
  private closed = false
  constructor (private readonly fs: OpfsFileSystem, private readonly client: OpfsWorkerClient, private readonly file: number, private readonly path: string, private readonly writable: boolean) {}

  private check (operation: string, write = false): void {
    if (this.closed) throw new LodestoneError('STORAGE_IO', { path: this.path, operation, reason: 'handle closed' })
    if (write && !this.writable) throw new LodestoneError('STORAGE_IO', { path: this.path, operation, reason: 'EBADF: opened read-only' })
  }

  async read (buffer: Uint8Array, position: number): Promise<number> {
    this.check('read')
    checkPosition(this.path, 'read', position)
    if (buffer.length === 0) return 0
    try {
      const { buffer: got, n } = await this.client.call<{ buffer: ArrayBuffer, n: number }>({ op: 'read', file: this.file, position, length: buffer.length })
      buffer.set(new Uint8Array(got, 0, n))
      return n
    } catch (err) { throw toStorageError(err, this.path, 'read') }
  }

  async write (buffer: Uint8Array, position: number): Promise<number> {
    this.check('write', true)
    checkPosition(this.path, 'write', position)
    if (buffer.length === 0) return 0
    // A copy is transferred: the caller keeps its buffer.
    const copy = buffer.slice().buffer
    try {
      await this.client.call({ op: 'write', file: this.file, position, data: copy }, [copy])
      return buffer.length
    } catch (err) { throw toStorageError(err, this.path, 'write') }
  }

  async truncate (lengthBytes: number): Promise<void> {
    this.check('truncate', true)
    checkPosition(this.path, 'truncate', lengthBytes)
    try { await this.client.call({ op: 'truncate', file: this.file, length: lengthBytes }) } catch (err) { throw toStorageError(err, this.path, 'truncate') }
  }

  async sync (): Promise<void> {
    this.check('sync')
    try { await this.client.call({ op: 'flush', file: this.file }) } catch (err) { throw toStorageError(err, this.path, 'sync') }
  }

  async size (): Promise<number> { return this.client.call<number>({ op: 'size', file: this.file }) }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.fs.forget(this.path, this)
    try { await this.client.call({ op: 'close', file: this.file }) } catch (err) { throw toStorageError(err, this.path, 'close') }
  }
}

class AsyncFileHandle implements IFileHandle {
  private closed = false
  private writer: FileSystemWritableFileStream | null = null
  constructor (private readonly fs: OpfsFileSystem, private readonly fh: FileSystemFileHandle, private readonly path: string, private readonly writable: boolean) {}

  private check (operation: string, write = false): void {
    if (this.closed) throw new LodestoneError('STORAGE_IO', { path: this.path, operation, reason: 'handle closed' })
    if (write && !this.writable) throw new LodestoneError('STORAGE_IO', { path: this.path, operation, reason: 'EBADF: opened read-only' })
  }

  /** Commits pending writes so reads see them. */
  private async commit (): Promise<void> {
    const w = this.writer
    if (w === null) return
    this.writer = null
    await w.close()
  }

  async read (buffer: Uint8Array, position: number): Promise<number> {
    this.check('read')
    checkPosition(this.path, 'read', position)
    try {
      await this.commit()
      const file = await this.fh.getFile()
      const bytes = new Uint8Array(await file.slice(position, position + buffer.length).arrayBuffer())
      buffer.set(bytes)
      return bytes.length
    } catch (err) { throw toStorageError(err, this.path, 'read') }
  }

  async write (buffer: Uint8Array, position: number): Promise<number> {
    this.check('write', true)
    checkPosition(this.path, 'write', position)
    if (buffer.length === 0) return 0
    try {
      this.writer ??= await this.fh.createWritable({ keepExistingData: true })
      await this.writer.write({ type: 'write', position, data: buffer.slice() })
      return buffer.length
    } catch (err) { throw toStorageError(err, this.path, 'write') }
  }

  async truncate (lengthBytes: number): Promise<void> {
    this.check('truncate', true)
    checkPosition(this.path, 'truncate', lengthBytes)
    try {
      this.writer ??= await this.fh.createWritable({ keepExistingData: true })
      await this.writer.truncate(lengthBytes)
    } catch (err) { throw toStorageError(err, this.path, 'truncate') }
  }

  async sync (): Promise<void> {
    this.check('sync')
    try { await this.commit() } catch (err) { throw toStorageError(err, this.path, 'sync') }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.fs.forget(this.path, this)
    try { await this.commit() } catch (err) { throw toStorageError(err, this.path, 'close') }
  }
}

function checkPosition (path: string, operation: string, position: number): void {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new LodestoneError('STORAGE_IO', { path, operation, reason: `EINVAL: invalid position ${position}` })
  }
}

export class OpfsFileSystem implements IFileSystem {
  /** Open handles by normalized path (a stat of an open file asks its handle: a locked file cannot be read). */
  private readonly openByPath = new Map<string, Set<WorkerFileHandle | AsyncFileHandle>>()

  private constructor (
    private readonly rootSegments: string[],
    private readonly root: FileSystemDirectoryHandle,
    private readonly worker: OpfsWorkerClient | null
  ) {}

  /**
   * Opens (creating) the root directory and starts the worker when sync access handles exist.
   * @throws STORAGE_IO when OPFS is unavailable (not a secure context, or an old browser).
   */
  static async create (options: OpfsFileSystemOptions = {}): Promise<OpfsFileSystem> {
    const rootSegments = segmentsOf(options.root ?? 'lodestone') ?? []
    let root: FileSystemDirectoryHandle
    try {
      root = await navigator.storage.getDirectory()
      for (const s of rootSegments) root = await root.getDirectoryHandle(s, { create: true })
    } catch (err) { throw toStorageError(err, options.root ?? 'lodestone', 'open OPFS') }
    const backend = options.backend ?? 'auto'
    let worker: OpfsWorkerClient | null = null
    if (backend !== 'async' && typeof Worker !== 'undefined') {
      const client = new OpfsWorkerClient()
      const ok = await client.call<boolean>({ op: 'probe' }).catch(() => false)
      if (ok) worker = client
      else client.terminate()
    }
    if (backend === 'worker' && worker === null) throw new LodestoneError('STORAGE_IO', { path: '', operation: 'open OPFS', reason: 'no sync access handles here' })
    return new OpfsFileSystem(rootSegments, root, worker)
  }

  /** 'worker' (sync access handles) or 'async'. */
  get backend (): 'worker' | 'async' { return this.worker !== null ? 'worker' : 'async' }

  /** Handles opened and not closed. */
  get openHandleCount (): number {
    let n = 0
    for (const s of this.openByPath.values()) n += s.size
    return n
  }

  /** Stops the worker (handles still open become unusable). */
  close (): void { this.worker?.terminate() }

  /** @internal A handle of ours closed: it no longer holds its path. */
  forget (path: string, handle: WorkerFileHandle | AsyncFileHandle): void {
    const set = this.openByPath.get(path)
    set?.delete(handle)
    if (set?.size === 0) this.openByPath.delete(path)
  }

  private segs (path: string, operation: string): string[] {
    const s = segmentsOf(path)
    if (s === null || path.includes('\0')) throw new LodestoneError('STORAGE_IO', { path, operation, reason: 'path escapes the storage root' })
    return s
  }

  private async dir (segments: readonly string[], create = false): Promise<FileSystemDirectoryHandle> {
    let d = this.root
    for (const s of segments) d = await d.getDirectoryHandle(s, { create })
    return d
  }

  /** The handle of an entry, file or directory; null when missing. */
  private async entry (segments: string[]): Promise<FileSystemHandle | null> {
    if (segments.length === 0) return this.root
    const parent = await this.dir(segments.slice(0, -1))
    const name = segments[segments.length - 1] ?? ''
    try { return await parent.getFileHandle(name) } catch (err) {
      if (nameOf(err) !== 'TypeMismatchError' && nameOf(err) !== 'NotFoundError') throw err
      if (nameOf(err) === 'NotFoundError') return null
    }
    return parent.getDirectoryHandle(name)
  }

  async open (path: string, mode: FileOpenMode): Promise<IFileHandle> {
    const segs = this.segs(path, 'open')
    const key = segs.join('/')
    if (segs.length === 0) throw new LodestoneError('STORAGE_IO', { path, operation: 'open', reason: 'EISDIR: the root is a directory' })
    try {
      let handle: WorkerFileHandle | AsyncFileHandle
      if (this.worker !== null) {
        const file = await this.worker.call<number>({ op: 'open', root: this.rootSegments, path: segs, create: mode !== 'r', truncate: mode === 'w' })
        handle = new WorkerFileHandle(this, this.worker, file, key, mode !== 'r')
      } else {
        const parent = await this.dir(segs.slice(0, -1))
        const fh = await parent.getFileHandle(segs[segs.length - 1] ?? '', { create: mode !== 'r' })
        if (mode === 'w') {
          const w = await fh.createWritable({ keepExistingData: false })
          await w.close()
        }
        handle = new AsyncFileHandle(this, fh, key, mode !== 'r')
      }
      const set = this.openByPath.get(key) ?? new Set()
      set.add(handle)
      this.openByPath.set(key, set)
      return handle
    } catch (err) { throw toStorageError(err, path, 'open') }
  }

  async stat (path: string): Promise<IFileStat> {
    const segs = this.segs(path, 'stat')
    try {
      const e = await this.entry(segs)
      if (e === null) throw new LodestoneError('STORAGE_NOT_FOUND', { path })
      if (e.kind === 'directory') return { size: 0, isFile: false, isDirectory: true, mtimeMs: 0 }
      const open = this.openByPath.get(segs.join('/'))
      const first = open?.values().next().value
      if (first instanceof WorkerFileHandle) return { size: await first.size(), isFile: true, isDirectory: false, mtimeMs: Date.now() }
      if (first instanceof AsyncFileHandle) await first.sync()
      const file = await (e as FileSystemFileHandle).getFile()
      return { size: file.size, isFile: true, isDirectory: false, mtimeMs: file.lastModified }
    } catch (err) { throw toStorageError(err, path, 'stat') }
  }

  async exists (path: string): Promise<boolean> {
    const segs = this.segs(path, 'exists')
    try {
      return (await this.entry(segs)) !== null
    } catch (err) {
      const n = nameOf(err)
      if (n === 'NotFoundError' || n === 'TypeMismatchError') return false
      throw toStorageError(err, path, 'exists')
    }
  }

  async mkdir (path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const segs = this.segs(path, 'mkdir')
    try {
      if (options.recursive === true) { await this.dir(segs, true); return }
      const parent = await this.dir(segs.slice(0, -1))
      if (segs.length > 0) await parent.getDirectoryHandle(segs[segs.length - 1] ?? '', { create: true })
    } catch (err) { throw toStorageError(err, path, 'mkdir') }
  }

  async readdir (path: string): Promise<string[]> {
    const segs = this.segs(path, 'readdir')
    try {
      const d = await this.dir(segs)
      const names: string[] = []
      for await (const name of (d as unknown as { keys: () => AsyncIterable<string> }).keys()) names.push(name)
      return names.sort()
    } catch (err) { throw toStorageError(err, path, 'readdir') }
  }

  async unlink (path: string): Promise<void> {
    const segs = this.segs(path, 'unlink')
    try {
      const e = await this.entry(segs)
      if (e === null) throw new LodestoneError('STORAGE_NOT_FOUND', { path })
      if (e.kind !== 'file') throw new LodestoneError('STORAGE_IO', { path, operation: 'unlink', reason: 'EISDIR: a directory' })
      await (await this.dir(segs.slice(0, -1))).removeEntry(segs[segs.length - 1] ?? '')
    } catch (err) { throw toStorageError(err, path, 'unlink') }
  }

  async rmdir (path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const segs = this.segs(path, 'rmdir')
    try {
      const e = await this.entry(segs)
      if (e === null) throw new LodestoneError('STORAGE_NOT_FOUND', { path })
      if (e.kind !== 'directory') throw new LodestoneError('STORAGE_IO', { path, operation: 'rmdir', reason: 'ENOTDIR: not a directory' })
      if (segs.length === 0) throw new LodestoneError('STORAGE_IO', { path, operation: 'rmdir', reason: 'EBUSY: the root' })
      await (await this.dir(segs.slice(0, -1))).removeEntry(segs[segs.length - 1] ?? '', { recursive: options.recursive === true })
    } catch (err) { throw toStorageError(err, path, 'rmdir') }
  }

  /** Files move with `FileSystemHandle.move` where the browser has it, else by copy + delete. */
  async rename (from: string, to: string): Promise<void> {
    const f = this.segs(from, 'rename')
    const t = this.segs(to, 'rename')
    try {
      const e = await this.entry(f)
      if (e === null) throw new LodestoneError('STORAGE_NOT_FOUND', { path: from })
      const targetDir = await this.dir(t.slice(0, -1))
      const name = t[t.length - 1] ?? ''
      const move = (e as unknown as { move?: (dir: FileSystemDirectoryHandle, name: string) => Promise<void> }).move
      if (typeof move === 'function') {
        if (e.kind === 'file') await targetDir.removeEntry(name).catch(() => {})
        await move.call(e, targetDir, name)
        return
      }
      if (e.kind !== 'file') throw new LodestoneError('STORAGE_IO', { path: from, operation: 'rename', reason: 'ENOTSUP: directory move' })
      const data = await (await (e as FileSystemFileHandle).getFile()).arrayBuffer()
      const w = await (await targetDir.getFileHandle(name, { create: true })).createWritable()
      await w.write(data)
      await w.close()
      await (await this.dir(f.slice(0, -1))).removeEntry(f[f.length - 1] ?? '')
    } catch (err) { throw toStorageError(err, from, 'rename') }
  }
}
