/**
 * A decorator that makes any {@link IFileSystem} fail on purpose, for full-disk and I/O-error
 * tests (STYLE.md §9, like rqbit's storage middlewares): `new FaultyFileSystem(fs, { failWritesAfterBytes })`
 * lets that many bytes be written through its handles, then every further write throws STORAGE_FULL.
 *
 * Why a decorator and not a flag on MemoryFileSystem: the same faults then apply to the Node
 * adapter too, and the adapters stay thin.
 */
import { LodestoneError } from '../../src/errors.js'
import type { FileOpenMode, IFileHandle, IFileStat, IFileSystem } from '../../src/interfaces/filesystem.js'

/** Operations a fault can target. */
export type FileSystemOperation =
  'open' | 'stat' | 'exists' | 'mkdir' | 'readdir' | 'unlink' | 'rmdir' | 'rename' |
  'read' | 'write' | 'truncate' | 'sync' | 'close'

export interface FaultyFileSystemSettings {
  /**
   * Bytes that writes may store in total; a write that would go beyond throws STORAGE_FULL.
   * @default Infinity
   */
  failWritesAfterBytes: number
  /**
   * With true, the write that crosses the limit stores the bytes that still fit before throwing,
   * like a disk filling up mid-write; with false it stores nothing. @default false
   */
  partialWrites: boolean
  /** Any other fault: return an error to throw it instead of running the operation. @default none */
  fault?: (operation: FileSystemOperation, path: string) => LodestoneError | undefined
}

export class FaultyFileSystem implements IFileSystem {
  private readonly settings: FaultyFileSystemSettings
  private written = 0

  constructor (private readonly inner: IFileSystem, settings: Partial<FaultyFileSystemSettings> = {}) {
    this.settings = { failWritesAfterBytes: Infinity, partialWrites: false, ...settings }
  }

  /** Bytes written through this decorator so far (counted towards the limit). */
  get writtenBytes (): number { return this.written }

  /** Changes the limit at run time (e.g. "free space" after a test deleted something); counts from 0 again. */
  setFailWritesAfterBytes (limitBytes: number): void {
    this.settings.failWritesAfterBytes = limitBytes
    this.written = 0
  }

  async open (path: string, mode: FileOpenMode): Promise<IFileHandle> {
    this.check('open', path)
    return new FaultyFileHandle(this, await this.inner.open(path, mode), path)
  }

  async stat (path: string): Promise<IFileStat> { this.check('stat', path); return this.inner.stat(path) }
  async exists (path: string): Promise<boolean> { this.check('exists', path); return this.inner.exists(path) }
  async mkdir (path: string, options?: { recursive?: boolean }): Promise<void> { this.check('mkdir', path); await this.inner.mkdir(path, options) }
  async readdir (path: string): Promise<string[]> { this.check('readdir', path); return this.inner.readdir(path) }
  async unlink (path: string): Promise<void> { this.check('unlink', path); await this.inner.unlink(path) }
  async rmdir (path: string, options?: { recursive?: boolean }): Promise<void> { this.check('rmdir', path); await this.inner.rmdir(path, options) }
  async rename (from: string, to: string): Promise<void> { this.check('rename', from); await this.inner.rename(from, to) }

  /** @internal */
  check (operation: FileSystemOperation, path: string): void {
    const error = this.settings.fault?.(operation, path)
    if (error !== undefined) throw error
  }

  /** @internal How many of `lengthBytes` may be written now; reserves them. */
  reserve (lengthBytes: number): number {
    const allowed = Math.max(0, Math.min(lengthBytes, this.settings.failWritesAfterBytes - this.written))
    this.written += allowed
    return allowed
  }

  /** @internal Gives back bytes reserved by a write that stored nothing. */
  refund (lengthBytes: number): void {
    this.written -= lengthBytes
  }

  /** @internal */
  get partialWrites (): boolean { return this.settings.partialWrites }
}

class FaultyFileHandle implements IFileHandle {
  constructor (private readonly fs: FaultyFileSystem, private readonly inner: IFileHandle, private readonly path: string) {}

  async read (buffer: Uint8Array, position: number): Promise<number> {
    this.fs.check('read', this.path)
    return this.inner.read(buffer, position)
  }

  async write (buffer: Uint8Array, position: number): Promise<number> {
    this.fs.check('write', this.path)
    const allowed = this.fs.reserve(buffer.length)
    if (allowed < buffer.length) {
      if (this.fs.partialWrites && allowed > 0) await this.inner.write(buffer.subarray(0, allowed), position)
      else this.fs.refund(allowed)
      throw new LodestoneError('STORAGE_FULL', { path: this.path })
    }
    return this.inner.write(buffer, position)
  }

  async truncate (lengthBytes: number): Promise<void> { this.fs.check('truncate', this.path); await this.inner.truncate(lengthBytes) }
  async sync (): Promise<void> { this.fs.check('sync', this.path); await this.inner.sync() }
  async close (): Promise<void> { this.fs.check('close', this.path); await this.inner.close() }
}
