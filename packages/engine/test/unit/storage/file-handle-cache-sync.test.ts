/**
 * FileHandleCache.sync() and resume data: a sync that starts while a write is in flight need not
 * cover that write, so the next sync must flush the file again; and a written file whose handle was
 * evicted is flushed by the next sync (through a handle of its own), not at eviction — an fsync per
 * eviction cost many-file downloads one per file and more (issue 13).
 */
import { describe, expect, it } from 'vitest'
import type { IFileHandle, IFileStat, IFileSystem } from '../../../src/interfaces/filesystem.js'
import { FileHandleCache } from '../../../src/storage/file-handle-cache.js'

class GatedFs implements IFileSystem {
  readonly log: string[] = []
  gate: Promise<void> = Promise.resolve()
  failSync = false
  async open (path: string, mode: string): Promise<IFileHandle> {
    this.log.push(`open ${path} ${mode}`)
    return {
      read: async () => 0,
      write: async (b) => { this.log.push(`write-start ${path}`); await this.gate; this.log.push(`write-done ${path}`); return b.length },
      truncate: async () => {},
      sync: async () => {
        if (this.failSync) throw new Error('EIO')
        this.log.push(`sync ${path}`)
      },
      close: async () => { this.log.push(`close ${path}`) }
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

describe('FileHandleCache sync', () => {
  it('a write still in flight during a sync is flushed by the next sync', async () => {
    const fs = new GatedFs()
    let open!: () => void
    fs.gate = new Promise<void>((resolve) => { open = resolve })
    const cache = new FileHandleCache(fs)
    const write = cache.use('a', 'write', async (h) => h.write(new Uint8Array(4), 0))
    await new Promise((resolve) => setTimeout(resolve, 0))
    await cache.sync() // starts while the write waits
    open()
    await write
    await cache.sync()
    expect(fs.log.filter((l) => !l.startsWith('open'))).toEqual(['write-start a', 'sync a', 'write-done a', 'sync a'])
    await cache.closeAll()
  })

  it('an evicted written handle is closed without a sync; the next sync flushes the file through a new handle', async () => {
    const fs = new GatedFs()
    const cache = new FileHandleCache(fs, { maxOpenFiles: 1 })
    await cache.use('a', 'write', async (h) => h.write(new Uint8Array(4), 0))
    await cache.use('b', 'read', async () => 0) // evicts a
    await cache.use('c', 'read', async () => 0) // evicts b
    expect(fs.log).toContain('close a')
    expect(fs.log).not.toContain('sync a')
    const beforeSync = fs.log.length
    await cache.sync()
    expect(fs.log.slice(beforeSync)).toEqual(['open a r+', 'sync a', 'close a'])
    expect(fs.log).not.toContain('sync b') // never written
    await cache.sync() // nothing written since
    expect(fs.log.filter((l) => l === 'sync a')).toHaveLength(1)
    await cache.closeAll()
  })

  it('an evicted file written again meanwhile is flushed once, through its open handle', async () => {
    const fs = new GatedFs()
    const cache = new FileHandleCache(fs, { maxOpenFiles: 1 })
    await cache.use('a', 'write', async (h) => h.write(new Uint8Array(4), 0))
    await cache.use('b', 'read', async () => 0) // evicts a
    await cache.use('a', 'write', async (h) => h.write(new Uint8Array(4), 4)) // reopens a, evicts b
    const opens = fs.log.filter((l) => l.startsWith('open a')).length
    await cache.sync()
    expect(fs.log.filter((l) => l === 'sync a')).toHaveLength(1)
    expect(fs.log.filter((l) => l.startsWith('open a'))).toHaveLength(opens)
    await cache.closeAll()
  })

  it('a failed flush of an evicted file is reported and retried by the next sync', async () => {
    const fs = new GatedFs()
    const cache = new FileHandleCache(fs, { maxOpenFiles: 1 })
    await cache.use('a', 'write', async (h) => h.write(new Uint8Array(4), 0))
    await cache.use('b', 'read', async () => 0) // evicts a
    fs.failSync = true
    await expect(cache.sync()).rejects.toThrow('EIO')
    fs.failSync = false
    await cache.sync()
    expect(fs.log).toContain('sync a')
  })

  it('closeAll flushes evicted files and open written ones before closing', async () => {
    const fs = new GatedFs()
    const cache = new FileHandleCache(fs, { maxOpenFiles: 1 })
    await cache.use('a', 'write', async (h) => h.write(new Uint8Array(4), 0))
    await cache.use('b', 'write', async (h) => h.write(new Uint8Array(4), 0)) // evicts a unsynced
    await cache.closeAll()
    expect(fs.log).toContain('sync a')
    expect(fs.log.indexOf('sync b')).toBeGreaterThan(fs.log.indexOf('write-done b'))
    expect(fs.log.indexOf('sync b')).toBeLessThan(fs.log.lastIndexOf('close b'))
  })
})
