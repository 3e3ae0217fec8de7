/**
 * FileHandleCache.sync() and resume data: a sync that starts while a write is in flight need not
 * cover that write, so the next sync must flush the file again; and a written handle is flushed
 * before it is closed (eviction), since sync() only reaches open handles.
 */
import { describe, expect, it } from 'vitest'
import type { IFileHandle, IFileStat, IFileSystem } from '../../../src/interfaces/filesystem.js'
import { FileHandleCache } from '../../../src/storage/file-handle-cache.js'

class GatedFs implements IFileSystem {
  readonly log: string[] = []
  gate: Promise<void> = Promise.resolve()
  async open (path: string): Promise<IFileHandle> {
    return {
      read: async () => 0,
      write: async (b) => { this.log.push(`write-start ${path}`); await this.gate; this.log.push(`write-done ${path}`); return b.length },
      truncate: async () => {},
      sync: async () => { this.log.push(`sync ${path}`) },
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
    expect(fs.log).toEqual(['write-start a', 'sync a', 'write-done a', 'sync a'])
    await cache.closeAll()
  })

  it('an evicted written handle is synced before it is closed', async () => {
    const fs = new GatedFs()
    const cache = new FileHandleCache(fs, { maxOpenFiles: 1 })
    await cache.use('a', 'write', async (h) => h.write(new Uint8Array(4), 0))
    await cache.use('b', 'read', async () => 0)
    await cache.closeAll()
    expect(fs.log.indexOf('sync a')).toBeGreaterThan(fs.log.indexOf('write-done a'))
    expect(fs.log.indexOf('sync a')).toBeLessThan(fs.log.indexOf('close a'))
  })
})
