/**
 * A bounded LRU of open file handles. Opening a file per block would cost a syscall pair per
 * 16 KiB, and keeping every file of a 100 000-file torrent open would exhaust descriptors; a small
 * LRU (64 by default, libtorrent's default too) gives both.
 *
 * Modes: files are opened 'r' for reads and 'r+' for writes ('r+' never truncates and creates a
 * missing file). An 'r+' handle serves reads too; a write to a file open 'r' reopens it 'r+'.
 *
 * The budget is a {@link FileHandlePool}: the engine passes one pool to every torrent's cache, so
 * `storage.maxOpenFiles` bounds the handles of the whole engine and eviction takes the least
 * recently used idle handle of any torrent. A cache made without a pool gets one of its own
 * (`maxOpenFiles` for this cache alone).
 *
 * A handle in use (an operation in flight through {@link FileHandleCache.use}) is never closed
 * under its user: eviction and retirement close it once its last user releases it, so the pool
 * may briefly hold more than `maxOpenFiles` when more files than that are busy at once.
 *
 * Flushing: {@link FileHandleCache.sync} covers every file written since the last sync, including
 * files whose handle was evicted meanwhile: an evicted handle is closed without an fsync and its
 * path kept, and the next sync opens the file again to flush it (an fsync flushes the file, not
 * one descriptor's writes). Syncing at eviction instead cost a downloading torrent with more files
 * than handles an fsync per eviction — 652 for a 300 MiB, 200-file torrent fetched in rarest-first
 * order, each forcing that file's writeback in our thread — while resume data only needs the
 * flush before it records pieces as saved (session-persistence.ts calls sync first). Explicit
 * closes ({@link FileHandleCache.closeFile} with `sync`, {@link FileHandleCache.closeAll}) still
 * flush everything they close.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IFileHandle, IFileSystem } from '../interfaces/filesystem.js'
import { rejected } from '../util/rejected.js'
import { FileHandlePool, type PooledHandle } from './file-handle-pool.js'
import { SparseMap, SparseSet } from '../util/sparse-collections.js'

export interface FileHandleCacheSettings {
  /** Open handles kept at most by a cache with a pool of its own (busy handles may exceed it briefly). @default 64 */
  maxOpenFiles: number
}

export const defaultFileHandleCacheSettings: Readonly<FileHandleCacheSettings> = { maxOpenFiles: 64 }

export type FileAccess = 'read' | 'write'

class Entry implements PooledHandle {
  users = 1
  /** Written since the last sync. */
  dirty = false
  /** Out of the map: close once the last user is done. */
  retired = false
  /** Closing flushes a written handle first (explicit closes); eviction leaves that to the next sync. */
  flushOnClose = false

  constructor (
    private readonly onEvict: (entry: Entry) => void,
    readonly path: string,
    readonly writable: boolean,
    readonly handle: Promise<IFileHandle>
  ) {}

  evict (): void {
    this.onEvict(this)
  }
}

export class FileHandleCache {
  private readonly pool: FileHandlePool
  /** Open (or opening) handles by path; their recency order is the pool's. */
  private readonly entries = new SparseMap<string, Entry>()
  private readonly closing = new SparseSet<Promise<void>>()
  /** Files written since the last sync whose handle was evicted (closed without an fsync). */
  private readonly unflushed = new SparseSet<string>()
  /** First failure of a background close (data may not have reached the OS); reported by sync/closeAll. */
  private closeFailure: LodestoneError | null = null

  /**
   * @param pool the budget shared with other caches (the engine's); without one the cache gets its
   *   own of `settings.maxOpenFiles` handles.
   * @throws LodestoneError SETTINGS_INVALID for a bad `maxOpenFiles`.
   */
  constructor (private readonly fs: IFileSystem, settings: Partial<FileHandleCacheSettings> = {}, pool?: FileHandlePool) {
    this.pool = pool ?? new FileHandlePool({ ...defaultFileHandleCacheSettings, ...settings }.maxOpenFiles)
  }

  /** Handles of this cache currently open or opening. */
  get openCount (): number {
    return this.entries.size
  }

  /**
   * Runs `fn` with a handle of `path` opened for `access`. 'write' opens 'r+' (creating the file;
   * its directory must exist) and marks the file for the next {@link sync}.
   * @throws whatever opening or `fn` throws (opening failures leave nothing cached).
   */
  use<T> (path: string, access: FileAccess, fn: (handle: IFileHandle) => Promise<T>): Promise<T> {
    // Not async: every read and write passes here, and an async function is a promise, two
    // microtasks and one more function for V8 to optimise on top of the two reactions below.
    const write = access === 'write'
    let entry: Entry
    try {
      entry = this.acquire(path, write)
    } catch (error) {
      return rejected(error)
    }
    const done = (): void => {
      // Marked again once the write is done: a sync that started while it was in flight cleared
      // the flag but need not cover it, and resume data trusts a piece once a later sync returned.
      if (write) entry.dirty = true
      this.release(entry)
    }
    return entry.handle.then((handle) => {
      if (write) entry.dirty = true
      return fn(handle)
    }).then((value) => {
      done()
      return value
    }, (error: unknown) => {
      done()
      throw error
    })
  }

  /** Flushes every file written since the last sync (or only `path`) to stable storage, open or evicted since. */
  async sync (path?: string): Promise<void> {
    for (const p of this.unflushed) {
      const open = this.entries.get(p)
      if (open !== undefined && open.writable) { // written again since: its handle flushes it
        open.dirty = true
        this.unflushed.delete(p)
      }
    }
    const targets = [...this.entries.values()].filter((e) => e.dirty && (path === undefined || e.path === path))
    const closed = [...this.unflushed].filter((p) => path === undefined || p === path)
    for (const p of closed) this.unflushed.delete(p)
    await Promise.all([
      ...targets.map(async (e) => {
        e.dirty = false
        await (await e.handle).sync()
      }),
      ...closed.map(async (p) => {
        try {
          await this.flushClosed(p)
        } catch (err) {
          this.unflushed.add(p)
          throw err
        }
      })
    ])
    this.throwCloseFailure()
  }

  /** Closes `path`'s handle (after its users are done), syncing the file first when written. */
  async closeFile (path: string, options: { sync?: boolean } = {}): Promise<void> {
    if (options.sync === true && (this.entries.get(path)?.dirty === true || this.unflushed.has(path))) await this.sync(path)
    const entry = this.entries.get(path)
    if (entry === undefined) return
    if (this.entries.get(path) === entry) this.retire(entry, true)
    await Promise.all([...this.closing])
    this.throwCloseFailure()
  }

  /** Closes every handle once its users are done, flushing every file written since the last sync. */
  async closeAll (): Promise<void> {
    for (const entry of [...this.entries.values()]) this.retire(entry, true)
    const closed = [...this.unflushed]
    this.unflushed.clear()
    const flushed = Promise.all(closed.map(async (p) => { await this.flushClosed(p) })).catch((err: unknown) => {
      this.closeFailure ??= isLodestoneError(err) ? err : new LodestoneError('STORAGE_IO', { path: '', operation: 'sync', reason: String(err) })
    })
    await Promise.all([...this.closing, flushed])
    this.throwCloseFailure()
  }

  /**
   * Flushes a written file whose handle was evicted, through a handle of its own ('r+': flushing
   * needs write access on some platforms). A file that is gone has nothing left to flush.
   */
  private async flushClosed (path: string): Promise<void> {
    if (!await this.fs.exists(path)) return
    const handle = await this.fs.open(path, 'r+')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }

  private acquire (path: string, writable: boolean): Entry {
    const cached = this.entries.get(path)
    if (cached !== undefined && (cached.writable || !writable)) {
      this.pool.touch(cached)
      cached.users++
      return cached
    }
    if (cached !== undefined) this.retire(cached, false) // open 'r', now needed 'r+'
    const entry = new Entry(this.evictEntry, path, writable, this.fs.open(path, writable ? 'r+' : 'r'))
    this.entries.set(path, entry)
    entry.handle.catch(() => {
      this.leave(entry)
      entry.retired = true
    })
    this.pool.add(entry)
    return entry
  }

  private release (entry: Entry): void {
    entry.users--
    if (entry.users === 0 && entry.retired) this.closeNow(entry)
    else if (entry.users === 0) this.pool.evictIdle()
  }

  /** The pool's eviction of an idle handle (closed without an fsync; the next sync flushes the file). */
  private readonly evictEntry = (entry: Entry): void => { this.retire(entry, false) }

  /** Takes the entry out of the map and the pool. */
  private leave (entry: Entry): void {
    if (this.entries.get(entry.path) === entry) {
      this.entries.delete(entry.path)
      this.pool.remove(entry)
    }
  }

  /** Takes the entry out of the map and closes it once idle; `flush`: fsync it first when written. */
  private retire (entry: Entry, flush: boolean): void {
    this.leave(entry)
    if (flush) entry.flushOnClose = true
    if (entry.retired) return
    entry.retired = true
    if (entry.users === 0) this.closeNow(entry)
  }

  private closeNow (entry: Entry): void {
    // Evicted: the next sync() flushes the file through a handle of its own (noted now, so a sync
    // that starts before this close finishes covers it too).
    if (entry.dirty && !entry.flushOnClose) {
      entry.dirty = false
      this.unflushed.add(entry.path)
    }
    const done = entry.handle.then(async (h) => {
      try {
        if (entry.dirty) {
          entry.dirty = false
          await h.sync()
        }
      } finally {
        await h.close()
      }
    }, () => {}).catch((err: unknown) => {
      this.closeFailure ??= isLodestoneError(err) ? err : new LodestoneError('STORAGE_IO', { path: entry.path, operation: 'close', reason: String(err) })
    }).finally(() => { this.closing.delete(done) })
    this.closing.add(done)
  }

  private throwCloseFailure (): void {
    const failure = this.closeFailure
    this.closeFailure = null
    if (failure !== null) throw failure
  }
}
