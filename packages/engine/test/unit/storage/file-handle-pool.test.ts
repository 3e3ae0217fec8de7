/**
 * FileHandlePool: one budget of open files for every torrent of an engine (storage.maxOpenFiles),
 * with one least-recently-used order across their caches (issue 13: a per-torrent cap small enough
 * for 10 000 torrents cost a 200-file download ~1 250 opens per 300 MiB).
 */
import { describe, expect, it } from 'vitest'
import type { IFileHandle, IFileStat, IFileSystem } from '../../../src/interfaces/filesystem.js'
import { FileHandleCache } from '../../../src/storage/file-handle-cache.js'
import { FileHandlePool } from '../../../src/storage/file-handle-pool.js'
import { hasCode } from '../../../src/errors.js'

/** Counts descriptors the way the OS would: open until closed. */
class CountingFs implements IFileSystem {
  readonly opened: string[] = []
  readonly closed: string[] = []
  openNow = 0
  mostOpen = 0
  async open (path: string): Promise<IFileHandle> {
    this.opened.push(path)
    this.openNow++
    this.mostOpen = Math.max(this.mostOpen, this.openNow)
    return {
      read: async () => 0,
      write: async (b) => b.length,
      truncate: async () => {},
      sync: async () => {},
      close: async () => {
        this.closed.push(path)
        this.openNow--
      }
    }
  }

  async stat (): Promise<IFileStat> { return { size: 0, isFile: true, isDirectory: false, mtimeMs: 0 } }
  async exists (): Promise<boolean> { return true }
  async mkdir (): Promise<void> {}
  async readdir (): Promise<string[]> { return [] }
  async unlink (): Promise<void> {}
  async rmdir (): Promise<void> {}
  async rename (): Promise<void> {}
}

const settle = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 0)) }
const read = async (cache: FileHandleCache, path: string): Promise<void> => { await cache.use(path, 'read', async () => 0) }

describe('FileHandlePool', () => {
  it('bounds the handles of every cache sharing it, evicting the least recently used of any of them', async () => {
    const fs = new CountingFs()
    const pool = new FileHandlePool(3)
    const a = new FileHandleCache(fs, {}, pool)
    const b = new FileHandleCache(fs, {}, pool)
    await read(a, 'a1')
    await read(a, 'a2')
    await read(b, 'b1')
    await read(a, 'a1') // a2 is now the least recently used, engine-wide
    await read(b, 'b2')
    await settle()
    expect(fs.closed).toEqual(['a2'])
    expect(pool.openCount).toBe(3)
    expect([a.openCount, b.openCount]).toEqual([1, 2])
    await read(a, 'a1') // still open: no new descriptor
    expect(fs.opened.filter((p) => p === 'a1')).toHaveLength(1)
  })

  it('lets one busy torrent use the whole budget while the others hold none', async () => {
    const fs = new CountingFs()
    const pool = new FileHandlePool(8)
    const idle = new FileHandleCache(fs, {}, pool)
    for (let i = 0; i < 4; i++) await read(idle, `idle${i}`)
    const busy = new FileHandleCache(fs, {}, pool)
    for (let i = 0; i < 8; i++) await read(busy, `busy${i}`)
    await settle()
    expect([idle.openCount, busy.openCount]).toEqual([0, 8])
    for (let i = 0; i < 8; i++) await read(busy, `busy${i}`)
    expect(fs.opened).toHaveLength(12) // the second round reopened nothing
  })

  it('keeps the descriptors of many torrents within the engine budget', async () => {
    const fs = new CountingFs()
    const pool = new FileHandlePool(16)
    const caches = Array.from({ length: 50 }, () => new FileHandleCache(fs, {}, pool))
    for (let round = 0; round < 2; round++) {
      for (const [t, cache] of caches.entries()) {
        await Promise.all(Array.from({ length: 10 }, async (_, f) => { await read(cache, `t${t}/f${f}`) }))
      }
    }
    await settle()
    expect(pool.openCount).toBe(16)
    expect(fs.openNow).toBe(16)
    // Ten uses at once may each hold a handle past the budget, never more.
    expect(fs.mostOpen).toBeLessThanOrEqual(16 + 10)
  })

  it('never closes a handle in use; the budget is restored once it is released', async () => {
    const fs = new CountingFs()
    const pool = new FileHandlePool(1)
    const a = new FileHandleCache(fs, {}, pool)
    const b = new FileHandleCache(fs, {}, pool)
    let finish!: () => void
    const inUse = a.use('a', 'write', async () => { await new Promise<void>((resolve) => { finish = resolve }) })
    await settle()
    await read(b, 'b') // over budget while 'a' is busy: b's own idle handle is the one to go
    await settle()
    expect(fs.closed).toEqual(['b'])
    await read(b, 'b2')
    await settle()
    expect(fs.closed).toEqual(['b', 'b2'])
    finish()
    await inUse
    await settle()
    expect(pool.openCount).toBe(1)
    expect(fs.openNow).toBe(1)
  })

  it('applies a lower budget at once and refuses one below 1', async () => {
    const fs = new CountingFs()
    const pool = new FileHandlePool(4)
    const cache = new FileHandleCache(fs, {}, pool)
    for (const p of ['w', 'x', 'y', 'z']) await read(cache, p)
    pool.setMaxOpenFiles(2)
    await settle()
    expect(fs.closed).toEqual(['w', 'x'])
    expect(pool.openCount).toBe(2)
    let error: unknown
    try { pool.setMaxOpenFiles(0) } catch (err) { error = err }
    expect(hasCode(error, 'SETTINGS_INVALID')).toBe(true)
    expect(pool.maxOpenFiles).toBe(2)
  })

  it('releases a closed cache\'s share of the budget', async () => {
    const fs = new CountingFs()
    const pool = new FileHandlePool(4)
    const a = new FileHandleCache(fs, {}, pool)
    for (const p of ['a1', 'a2', 'a3']) await read(a, p)
    await a.closeAll()
    expect(pool.openCount).toBe(0)
    const b = new FileHandleCache(fs, {}, pool)
    for (const p of ['b1', 'b2', 'b3', 'b4']) await read(b, p)
    await settle()
    expect(fs.closed).toEqual(['a1', 'a2', 'a3'])
    expect(pool.openCount).toBe(4)
  })
})
