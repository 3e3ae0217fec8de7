import { describe, expect, it } from 'vitest'
import { FaultyFileSystem } from '../../../../adapters/memory/faulty-filesystem.js'
import { MemoryFileSystem } from '../../../../adapters/memory/memory-filesystem.js'
import { LodestoneError } from '../../../../src/errors.js'
import { codeOf, runFileSystemContract } from '../../../contracts/filesystem.contract.js'

// Without faults configured the decorator must be invisible.
runFileSystemContract('FaultyFileSystem(MemoryFileSystem) without faults', async () => {
  const inner = new MemoryFileSystem()
  return { fs: new FaultyFileSystem(inner), openHandleCount: () => inner.openHandleCount }
})

describe('FaultyFileSystem', () => {
  it('fails writes with STORAGE_FULL once the byte budget is spent, storing nothing of the failing write', async () => {
    const inner = new MemoryFileSystem()
    const fs = new FaultyFileSystem(inner, { failWritesAfterBytes: 100 })
    const handle = await fs.open('f', 'w')
    await handle.write(new Uint8Array(60).fill(1), 0)
    expect(await codeOf(handle.write(new Uint8Array(60).fill(2), 60))).toBe('STORAGE_FULL')
    expect(fs.writtenBytes).toBe(60)
    await handle.write(new Uint8Array(40).fill(3), 60)
    expect(fs.writtenBytes).toBe(100)
    expect(await codeOf(handle.write(new Uint8Array(1), 0))).toBe('STORAGE_FULL')
    await handle.close()
    const content = inner.readFileBytes('f')
    expect(content.length).toBe(100)
    expect(content.subarray(60).every((b) => b === 3)).toBe(true)
  })

  it('with partialWrites stores what fits before failing, like a disk filling up', async () => {
    const inner = new MemoryFileSystem()
    const fs = new FaultyFileSystem(inner, { failWritesAfterBytes: 10, partialWrites: true })
    const handle = await fs.open('f', 'w')
    expect(await codeOf(handle.write(new Uint8Array(25).fill(7), 0))).toBe('STORAGE_FULL')
    await handle.close()
    expect(inner.readFileBytes('f')).toEqual(new Uint8Array(10).fill(7))
  })

  it('freeing space at run time lets writes through again', async () => {
    const fs = new FaultyFileSystem(new MemoryFileSystem(), { failWritesAfterBytes: 0 })
    const handle = await fs.open('f', 'w')
    expect(await codeOf(handle.write(new Uint8Array(1), 0))).toBe('STORAGE_FULL')
    fs.setFailWritesAfterBytes(5)
    await handle.write(new Uint8Array(5), 0)
    expect(await codeOf(handle.write(new Uint8Array(1), 5))).toBe('STORAGE_FULL')
    await handle.close()
  })

  it('injects arbitrary faults per operation and path', async () => {
    const fs = new FaultyFileSystem(new MemoryFileSystem(), {
      fault: (op, path) => (op === 'read' && path.endsWith('.bad')) || op === 'rename'
        ? new LodestoneError('STORAGE_IO', { path, operation: op, reason: 'EIO: injected' })
        : undefined
    })
    const bad = await fs.open('x.bad', 'w')
    await bad.write(new Uint8Array([1]), 0)
    expect(await codeOf(bad.read(new Uint8Array(1), 0))).toBe('STORAGE_IO')
    await bad.close()
    const good = await fs.open('x.good', 'w')
    expect(await good.read(new Uint8Array(1), 0)).toBe(0)
    await good.close()
    expect(await codeOf(fs.rename('x.good', 'y'))).toBe('STORAGE_IO')
  })
})
