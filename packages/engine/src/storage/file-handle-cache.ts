/**
 * A bounded LRU of open file handles. Opening a file per block would cost a syscall pair per
 * 16 KiB, and keeping every file of a 100 000-file torrent open would exhaust descriptors; a small
 * LRU (64 by default, libtorrent's default too) gives both.
 *
 * Modes: files are opened 'r' for reads and 'r+' for writes ('r+' never truncates and creates a
 * missing file). An 'r+' handle serves reads too; a write to a file open 'r' reopens it 'r+'.
 *
 * A handle in use (an operation in flight through {@link FileHandleCache.use}) is never closed
 * under its user: eviction and retirement close it once its last user releases it, so the cache
 * may briefly hold more than `maxOpenFiles` when more files than that are busy at once.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IFileHandle, IFileSystem } from '../interfaces/filesystem.js'

export interface FileHandleCacheSettings {
  /** Open handles kept at most (busy handles may exceed it briefly). @default 64 */
  maxOpenFiles: number
}

export const defaultFileHandleCacheSettings: Readonly<FileHandleCacheSettings> = { maxOpenFiles: 64 }

export type FileAccess = 'read' | 'write'

interface Entry {
  readonly path: string
  readonly writable: boolean
  readonly handle: Promise<IFileHandle>
  users: number
  /** Written since the last sync. */
  dirty: boolean
  /** Out of the map: close once the last user is done. */
  retired: boolean
}

export class FileHandleCache {
  private readonly settings: FileHandleCacheSettings
  /** Insertion order is recency order: a use moves the entry to the end. */
  private readonly entries = new Map<string, Entry>()
  private readonly closing = new Set<Promise<void>>()
  /** First failure of a background close (data may not have reached the OS); reported by sync/closeAll. */
  private closeFailure: LodestoneError | null = null

  constructor (private readonly fs: IFileSystem, settings: Partial<FileHandleCacheSettings> = {}) {
    this.settings = { ...defaultFileHandleCacheSettings, ...settings }
    if (!Number.isInteger(this.settings.maxOpenFiles) || this.settings.maxOpenFiles < 1) {
      throw new LodestoneError('SETTINGS_INVALID', { key: 'storage.maxOpenFiles', reason: 'must be an integer >= 1' })
    }
  }

  /** Handles currently open or opening. */
  get openCount (): number {
    return this.entries.size
  }

  /**
   * Runs `fn` with a handle of `path` opened for `access`. 'write' opens 'r+' (creating the file;
   * its directory must exist) and marks the file for the next {@link sync}.
   * @throws whatever opening or `fn` throws (opening failures leave nothing cached).
   */
  async use<T> (path: string, access: FileAccess, fn: (handle: IFileHandle) => Promise<T>): Promise<T> {
    const entry = this.acquire(path, access === 'write')
    try {
      const handle = await entry.handle
      if (access === 'write') entry.dirty = true
      return await fn(handle)
    } finally {
      // Marked again once the write is done: a sync that started while it was in flight cleared
      // the flag but need not cover it, and resume data trusts a piece once a later sync returned.
      if (access === 'write') entry.dirty = true
      this.release(entry)
    }
  }

  /** Flushes every file written since the last sync (or only `path`) to stable storage. */
  async sync (path?: string): Promise<void> {
    const targets = [...this.entries.values()].filter((e) => e.dirty && (path === undefined || e.path === path))
    await Promise.all(targets.map(async (e) => {
      e.dirty = false
      await (await e.handle).sync()
    }))
    this.throwCloseFailure()
  }

  /** Closes `path`'s handle (after its users are done), syncing it first when written. */
  async closeFile (path: string, options: { sync?: boolean } = {}): Promise<void> {
    const entry = this.entries.get(path)
    if (entry === undefined) return
    if (options.sync === true && entry.dirty) await this.sync(path)
    if (this.entries.get(path) === entry) this.retire(entry)
    await Promise.all([...this.closing])
    this.throwCloseFailure()
  }

  /** Closes every handle once its users are done. */
  async closeAll (): Promise<void> {
    for (const entry of [...this.entries.values()]) this.retire(entry)
    await Promise.all([...this.closing])
    this.throwCloseFailure()
  }

  private acquire (path: string, writable: boolean): Entry {
    const cached = this.entries.get(path)
    if (cached !== undefined && (cached.writable || !writable)) {
      this.entries.delete(path)
      this.entries.set(path, cached)
      cached.users++
      return cached
    }
    if (cached !== undefined) this.retire(cached) // open 'r', now needed 'r+'
    const entry: Entry = { path, writable, handle: this.fs.open(path, writable ? 'r+' : 'r'), users: 1, dirty: false, retired: false }
    this.entries.set(path, entry)
    entry.handle.catch(() => {
      if (this.entries.get(path) === entry) this.entries.delete(path)
      entry.retired = true
    })
    this.evict()
    return entry
  }

  private release (entry: Entry): void {
    entry.users--
    if (entry.users === 0 && entry.retired) this.closeNow(entry)
    else if (entry.users === 0) this.evict()
  }

  /** Closes least recently used idle handles until the cache fits. */
  private evict (): void {
    if (this.entries.size <= this.settings.maxOpenFiles) return
    for (const entry of this.entries.values()) {
      if (this.entries.size <= this.settings.maxOpenFiles) return
      if (entry.users === 0) this.retire(entry)
    }
  }

  private retire (entry: Entry): void {
    if (this.entries.get(entry.path) === entry) this.entries.delete(entry.path)
    if (entry.retired) return
    entry.retired = true
    if (entry.users === 0) this.closeNow(entry)
  }

  private closeNow (entry: Entry): void {
    // A written file is flushed before its handle goes: `sync()` only reaches open handles, and
    // resume data records a piece as saved once `sync()` returned (session-persistence.ts).
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
