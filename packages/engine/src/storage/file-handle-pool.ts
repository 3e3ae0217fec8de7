/**
 * One budget of open file handles shared by every torrent of an engine (`storage.maxOpenFiles`),
 * with one least-recently-used order across them.
 *
 * Why shared: a fixed cap per torrent has to be small, because an engine may hold 10 000 torrents,
 * yet a small cap costs a downloading torrent with more files than handles an open/close pair for
 * most writes (pieces arrive rarest-first, in random file order: ~1 250 opens per 300 MiB for 200
 * files under a cap of 64). One engine-wide budget bounds the descriptors however many torrents
 * there are, lets the torrent that is busy use most of it, and takes handles from torrents that
 * stopped using theirs first (they are the least recently used).
 *
 * The pool only counts and orders; each {@link FileHandleCache} owns its handles and closes one
 * when the pool asks it to ({@link PooledHandle.evict}). A handle in use is never evicted, so the
 * pool may briefly hold more than its limit while more files than that are busy at once.
 */
import { LodestoneError } from '../errors.js'

/** One open (or opening) handle as the pool sees it. */
export interface PooledHandle {
  /** Operations using the handle now; only idle handles (0) are evicted. */
  readonly users: number
  /** Closes the handle once idle; its cache calls {@link FileHandlePool.remove} as it leaves. */
  evict: () => void
}

export class FileHandlePool {
  /** Insertion order is recency order: a use moves the handle to the end. */
  private readonly handles = new Set<PooledHandle>()
  private limit: number

  /** @throws LodestoneError SETTINGS_INVALID unless `maxOpenFiles` is an integer >= 1. */
  constructor (maxOpenFiles: number) {
    this.limit = checkedLimit(maxOpenFiles)
  }

  /** Handles open or opening, across every cache sharing the pool. */
  get openCount (): number {
    return this.handles.size
  }

  get maxOpenFiles (): number {
    return this.limit
  }

  /** Changes the budget at run time; idle handles over a lower one are closed at once. */
  setMaxOpenFiles (maxOpenFiles: number): void {
    this.limit = checkedLimit(maxOpenFiles)
    this.evictIdle()
  }

  /** A handle was opened: it is the most recently used, and the least recently used idle ones go if over budget. */
  add (handle: PooledHandle): void {
    this.handles.add(handle)
    this.evictIdle()
  }

  /** A handle was used again. */
  touch (handle: PooledHandle): void {
    if (this.handles.delete(handle)) this.handles.add(handle)
  }

  /** A handle left its cache (closed, or closing once idle). */
  remove (handle: PooledHandle): void {
    this.handles.delete(handle)
  }

  /** Closes least recently used idle handles until the pool fits its budget. */
  evictIdle (): void {
    if (this.handles.size <= this.limit) return
    for (const handle of this.handles) {
      if (this.handles.size <= this.limit) return
      if (handle.users === 0) handle.evict()
    }
  }
}

function checkedLimit (maxOpenFiles: number): number {
  if (!Number.isInteger(maxOpenFiles) || maxOpenFiles < 1) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'storage.maxOpenFiles', reason: 'must be an integer >= 1' })
  }
  return maxOpenFiles
}
