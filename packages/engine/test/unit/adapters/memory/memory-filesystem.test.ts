import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../../adapters/memory/manual-clock.js'
import { MemoryFileSystem } from '../../../../adapters/memory/memory-filesystem.js'
import { codeOf, runFileSystemContract } from '../../../contracts/filesystem.contract.js'
import { runFileAttributesContract } from '../../../contracts/file-attributes.contract.js'

runFileSystemContract('MemoryFileSystem', async () => {
  const fs = new MemoryFileSystem()
  return { fs, openHandleCount: () => fs.openHandleCount }
})

describe('MemoryFileSystem specifics', () => {
  it('tracks mtimes with the injected clock', async () => {
    const clock = new ManualClock({ wallStartMs: 1_000_000 })
    const fs = new MemoryFileSystem({ clock })
    const handle = await fs.open('f', 'w')
    expect((await fs.stat('f')).mtimeMs).toBe(1_000_000)
    clock.advance(500)
    await handle.write(new Uint8Array([1]), 0)
    expect((await fs.stat('f')).mtimeMs).toBe(1_000_500)
    clock.advance(500)
    await handle.read(new Uint8Array(1), 0)
    expect((await fs.stat('f')).mtimeMs).toBe(1_000_500)
    await handle.truncate(10)
    expect((await fs.stat('f')).mtimeMs).toBe(1_001_000)
    await handle.close()
    clock.advance(1)
    await fs.mkdir('d')
    expect((await fs.stat('')).mtimeMs).toBe(1_001_001)
  })

  it('stores sparse files sparsely', async () => {
    const fs = new MemoryFileSystem()
    const handle = await fs.open('huge.bin', 'w')
    await handle.truncate(8 * 1024 ** 3)
    await handle.write(new Uint8Array([1, 2, 3]), 5 * 1024 ** 3)
    expect((await fs.stat('huge.bin')).size).toBe(8 * 1024 ** 3)
    expect(fs.allocatedBytes).toBeLessThan(1024)
    const out = new Uint8Array(5)
    expect(await handle.read(out, 5 * 1024 ** 3 - 1)).toBe(5)
    expect([...out]).toEqual([0, 1, 2, 3, 0])
    await handle.close()
  })

  it('test helpers read and write whole files, creating parents', async () => {
    const fs = new MemoryFileSystem()
    fs.writeFileBytes('a/b/c.txt', new Uint8Array([9, 8, 7]))
    expect(fs.readFileBytes('a/b/c.txt')).toEqual(new Uint8Array([9, 8, 7]))
    expect(await fs.readdir('a')).toEqual(['b'])
    fs.writeFileBytes('a/b/c.txt', new Uint8Array([1]))
    expect(fs.readFileBytes('a/b/c.txt')).toEqual(new Uint8Array([1]))
    fs.writeFileBytes('z.txt', new Uint8Array(0))
    expect(fs.listFiles()).toEqual(['a/b/c.txt', 'z.txt'])
    expect(fs.listFiles('a')).toEqual(['a/b/c.txt'])
    expect(() => fs.readFileBytes('nope')).toThrow(expect.objectContaining({ code: 'STORAGE_NOT_FOUND' }))
    expect(() => fs.readFileBytes('a')).toThrow(expect.objectContaining({ code: 'STORAGE_IO' }))
    expect(() => fs.writeFileBytes('a/b/c.txt/x', new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'STORAGE_IO' }))
  })

  it('counts open handles', async () => {
    const fs = new MemoryFileSystem()
    const a = await fs.open('a', 'w')
    const b = await fs.open('a', 'r')
    expect(fs.openHandleCount).toBe(2)
    await a.close()
    await a.close()
    expect(fs.openHandleCount).toBe(1)
    await b.close()
    expect(fs.openHandleCount).toBe(0)
    expect(await codeOf(fs.open('missing', 'r'))).toBe('STORAGE_NOT_FOUND')
    expect(fs.openHandleCount).toBe(0)
  })

  it('cannot remove or rename the root', async () => {
    const fs = new MemoryFileSystem()
    expect(await codeOf(fs.rmdir('', { recursive: true }))).toBe('STORAGE_IO')
    expect(await codeOf(fs.rename('', 'x'))).toBe('STORAGE_IO')
    expect(await codeOf(fs.open('', 'r+'))).toBe('STORAGE_IO')
  })
})

runFileAttributesContract('MemoryFileSystem', async () => {
  const fs = new MemoryFileSystem()
  return {
    fs,
    inspect: async (path) => {
      try {
        const info = fs.entryInfo(path)
        return info.kind === 'file' ? { kind: 'file', executable: info.executable } : info
      } catch {
        return { kind: 'missing' }
      }
    }
  }
})
