import { lstat, mkdtemp, open, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { NodeFileSystem, toStorageError } from '../../../../adapters/node/node-filesystem.js'
import { codeOf, runFileSystemContract } from '../../../contracts/filesystem.contract.js'
import { runFileAttributesContract } from '../../../contracts/file-attributes.contract.js'

/** Records the arguments of every call of `method` on node:fs/promises FileHandles (calls go through). */
async function spyOnFileHandle (anyFile: string, method: 'write' | 'writev', record: (args: unknown[]) => void): Promise<{ mockRestore: () => void }> {
  // node:fs/promises' FileHandle is not exported as a class: reach its prototype through one.
  const probe = await open(anyFile, 'r')
  const proto = Object.getPrototypeOf(probe) as Record<typeof method, (...args: unknown[]) => Promise<unknown>>
  await probe.close()
  const original = proto[method]
  return vi.spyOn(proto, method).mockImplementation(async function (this: unknown, ...args: unknown[]) {
    record(args)
    return original.apply(this, args)
  })
}

async function tempRoot (): Promise<string> {
  return mkdtemp(join(tmpdir(), 'lodestone-nodefs-'))
}

runFileSystemContract('NodeFileSystem', async () => {
  const root = await tempRoot()
  const fs = new NodeFileSystem(root)
  return { fs, openHandleCount: () => fs.openHandleCount, cleanup: async () => { await rm(root, { recursive: true, force: true }) } }
})

describe('NodeFileSystem specifics', () => {
  it('stays inside its root: escaping paths never touch the disk', async () => {
    const parent = await tempRoot()
    const root = join(parent, 'root')
    const fs = new NodeFileSystem(root)
    await writeFile(join(parent, 'secret'), 'top secret')
    expect(await codeOf(fs.open('../secret', 'r'))).toBe('STORAGE_IO')
    expect(await codeOf(fs.unlink('../secret'))).toBe('STORAGE_IO')
    expect(await codeOf(fs.rename('../secret', 'x'))).toBe('STORAGE_IO')
    expect(fs.resolvePath('a/b')).toBe(join(root, 'a', 'b'))
    expect(fs.resolvePath('/a')).toBe(join(root, 'a'))
    expect(fs.resolvePath('')).toBe(root)
    await rm(parent, { recursive: true, force: true })
  })

  it('maps ENOSPC and EDQUOT to STORAGE_FULL, ENOENT to STORAGE_NOT_FOUND, the rest to STORAGE_IO', () => {
    const err = (code: string): Error => Object.assign(new Error(code), { code })
    expect(toStorageError(err('ENOSPC'), 'p', 'write').code).toBe('STORAGE_FULL')
    expect(toStorageError(err('EDQUOT'), 'p', 'write').code).toBe('STORAGE_FULL')
    expect(toStorageError(err('ENOENT'), 'p', 'open').code).toBe('STORAGE_NOT_FOUND')
    const io = toStorageError(err('EACCES'), 'p', 'open')
    expect(io.code).toBe('STORAGE_IO')
    expect(io.details).toMatchObject({ path: 'p', operation: 'open' })
    expect((io.details as { reason: string }).reason).toMatch(/^EACCES/)
    expect(io.cause).toBeInstanceOf(Error)
  })

  it('reports STORAGE_FULL from a real full filesystem (/dev/full)', async () => {
    // /dev/full answers every write with ENOSPC: the mapping is exercised end to end.
    const fs = new NodeFileSystem('/dev')
    const handle = await fs.open('full', 'r+')
    try {
      expect(await codeOf(handle.write(new Uint8Array(16), 0))).toBe('STORAGE_FULL')
    } finally {
      await handle.close()
    }
  })

  it('writeParts writes several buffers back to back at a position (empty ones skipped), refuses a read-only handle, maps ENOSPC', async () => {
    const root = await tempRoot()
    const fs = new NodeFileSystem(root)
    await writeFile(join(root, 'f'), 'abcdefghij')
    type PartsHandle = { writeParts: (parts: readonly Uint8Array[], position: number) => Promise<number> }
    const handle = await fs.open('f', 'r+') as unknown as PartsHandle & { close: () => Promise<void> }
    const enc = (t: string): Uint8Array => new TextEncoder().encode(t)
    expect(await handle.writeParts([enc('12'), new Uint8Array(0), enc('345'), enc('6')], 2)).toBe(6)
    await handle.close()
    expect((await readFile(join(root, 'f'))).toString()).toBe('ab123456ij')
    const readOnly = await fs.open('f', 'r') as unknown as PartsHandle & { close: () => Promise<void> }
    expect(await codeOf(readOnly.writeParts([enc('x')], 0))).toBe('STORAGE_IO')
    await readOnly.close()
    const full = await new NodeFileSystem('/dev').open('full', 'r+') as unknown as PartsHandle & { close: () => Promise<void> }
    expect(await codeOf(full.writeParts([enc('x'), enc('y')], 0))).toBe('STORAGE_FULL')
    await full.close()
    await rm(root, { recursive: true, force: true })
  })

  it('hands a large write to the kernel in calls of at most 256 KiB, back to back, byte-identical', async () => {
    const root = await tempRoot()
    const fs = new NodeFileSystem(root)
    await writeFile(join(root, 'f'), 'abcdefgh')
    const data = new Uint8Array(1024 * 1024 + 3)
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff
    const lengths: number[] = []
    const spy = await spyOnFileHandle(join(root, 'f'), 'write', (args) => { lengths.push(args[2] as number) })
    try {
      const handle = await fs.open('f', 'r+')
      expect(await handle.write(data, 5)).toBe(data.length)
      await handle.close()
    } finally {
      spy.mockRestore()
    }
    expect(lengths).toEqual([262_144, 262_144, 262_144, 262_144, 3])
    const onDisk = new Uint8Array(await readFile(join(root, 'f')))
    expect(onDisk.length).toBe(5 + data.length)
    expect(new TextDecoder().decode(onDisk.subarray(0, 5))).toBe('abcde')
    expect(Buffer.compare(onDisk.subarray(5), data)).toBe(0)
    await rm(root, { recursive: true, force: true })
  })

  it('writeParts hands the kernel at most 256 KiB per writev too, cutting parts where needed, byte-identical', async () => {
    const root = await tempRoot()
    const fs = new NodeFileSystem(root)
    await writeFile(join(root, 'f'), 'abcdefgh')
    // The io-daemon writes a 1 MiB piece gathered from several received buffers this way.
    const sizes = [300 * 1024, 200 * 1024, 0, 500 * 1024 + 3, 24 * 1024]
    const parts = sizes.map((n, k) => {
      const part = new Uint8Array(n)
      for (let i = 0; i < n; i++) part[i] = (i * 13 + k * 31 + (i >> 9)) & 0xff
      return part
    })
    const calls: number[] = []
    const spy = await spyOnFileHandle(join(root, 'f'), 'writev', (args) => { calls.push((args[0] as Uint8Array[]).reduce((n, b) => n + b.length, 0)) })
    type PartsHandle = { writeParts: (parts: readonly Uint8Array[], position: number) => Promise<number>, close: () => Promise<void> }
    try {
      const handle = await fs.open('f', 'r+') as unknown as PartsHandle
      expect(await handle.writeParts(parts, 5)).toBe(sizes.reduce((a, b) => a + b, 0))
      await handle.close()
    } finally {
      spy.mockRestore()
    }
    expect(calls).toEqual([262_144, 262_144, 262_144, 262_144, 3])
    const onDisk = new Uint8Array(await readFile(join(root, 'f')))
    expect(new TextDecoder().decode(onDisk.subarray(0, 5))).toBe('abcde')
    expect(Buffer.compare(onDisk.subarray(5), Buffer.concat(parts))).toBe(0)
    await rm(root, { recursive: true, force: true })
  })

  it('statMany answers as stat does for each path, null for a missing one, across event-loop slices', async () => {
    const root = await tempRoot()
    const fs = new NodeFileSystem(root)
    await writeFile(join(root, 'a.bin'), new Uint8Array(123))
    await fs.mkdir('dir')
    const paths = ['a.bin', 'dir', 'missing.bin', ...Array.from({ length: 600 }, (_, i) => (i % 2 === 0 ? 'a.bin' : `gone${i}`))]
    const many = await fs.statMany(paths)
    expect(many).toHaveLength(paths.length)
    expect(many[0]).toEqual(await fs.stat('a.bin'))
    expect(many[0]).toMatchObject({ size: 123, isFile: true, isDirectory: false })
    expect(many[1]).toMatchObject({ isFile: false, isDirectory: true, size: 0 })
    expect(many[2]).toBeNull()
    expect(many.slice(3).filter((s) => s !== null)).toHaveLength(300)
    expect(many[603 - 1]).toBeNull()
    // A path escaping the root fails as stat does, touching nothing.
    expect(await codeOf(fs.statMany(['a.bin', '../x']))).toBe('STORAGE_IO')
    await rm(root, { recursive: true, force: true })
  })

  it('opens r+ without truncating and without append semantics', async () => {
    const root = await tempRoot()
    const fs = new NodeFileSystem(root)
    await writeFile(join(root, 'f'), 'abcdef')
    const handle = await fs.open('f', 'r+')
    await handle.write(new TextEncoder().encode('XY'), 2)
    await handle.close()
    const check = await fs.open('f', 'r')
    const out = new Uint8Array(6)
    await check.read(out, 0)
    await check.close()
    expect(new TextDecoder().decode(out)).toBe('abXYef')
    await rm(root, { recursive: true, force: true })
  })
})

describe('NodeFileSystem.moveTo across devices', () => {
  it('resolves false (EXDEV) when the target root is on another filesystem, leaving the source in place', async () => {
    const { statSync, existsSync } = await import('node:fs')
    const a = await tempRoot()
    // /dev/shm is a tmpfs, a different device from the temp directory's disk on this machine.
    const b = await mkdtemp(join('/dev/shm', 'lodestone-nodefs-'))
    try {
      expect(statSync(a).dev, 'the test needs two devices').not.toBe(statSync(b).dev)
      const src = new NodeFileSystem(a)
      const dst = new NodeFileSystem(b)
      await writeFile(join(a, 'f'), 'payload')
      expect(await src.moveTo('f', dst, 'f')).toBe(false)
      expect(existsSync(join(a, 'f'))).toBe(true)
      expect(existsSync(join(b, 'f'))).toBe(false)
    } finally {
      await rm(a, { recursive: true, force: true })
      await rm(b, { recursive: true, force: true })
    }
  })
})

runFileAttributesContract('NodeFileSystem', async () => {
  const root = await tempRoot()
  const fs = new NodeFileSystem(root)
  return {
    fs,
    inspect: async (path) => {
      const full = join(root, path)
      const s = await lstat(full).catch(() => null)
      if (s === null) return { kind: 'missing' }
      if (s.isSymbolicLink()) return { kind: 'link', target: await readlink(full) }
      if (s.isDirectory()) return { kind: 'dir' }
      // Executable for everyone who may read it (the x bits follow the r bits).
      return { kind: 'file', executable: (s.mode & 0o111) !== 0 && ((s.mode & 0o444) >> 2) === (s.mode & 0o111) }
    },
    cleanup: async () => { await rm(root, { recursive: true, force: true }) }
  }
})
