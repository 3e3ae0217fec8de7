/**
 * Upload reads (TorrentContentStorage.readBlock) on the path a seeder takes for every run of
 * blocks: a piece inside one file is read without the general span machinery, so these check that
 * this path and the general one return exactly the requested bytes, continue short reads, honour
 * suspended I/O, and that a failed read fails only the reads of its own piece.
 */
import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import type { IFileHandle, IFileSystem } from '../../../src/interfaces/filesystem.js'
import { TorrentContentStorage } from '../../../src/storage/torrent-content-storage.js'
import { TestFileSystem, makeLayout, spaceBytes } from './test-fs.js'

const KiB = 1024

/** `fs` whose handles return at most `maxBytes` per read (pread may return short counts). */
function shortReads (fs: TestFileSystem, maxBytes: number): IFileSystem {
  return Object.assign(Object.create(fs) as TestFileSystem, {
    async open (path: string, mode: 'r' | 'r+' | 'w'): Promise<IFileHandle> {
      const handle = await fs.open(path, mode)
      return { ...handle, read: async (buffer: Uint8Array, position: number) => handle.read(buffer.subarray(0, maxBytes), position) }
    }
  })
}

describe('upload reads', () => {
  it('return exactly the requested bytes, inside one file and across file boundaries', async () => {
    const fs = new TestFileSystem()
    // Piece 0 lies in f0; piece 1 spans f0, f1 and f2; piece 2 lies in f2.
    const layout = makeLayout('u', [40 * KiB, 10 * KiB, 46 * KiB], 32 * KiB)
    const space = spaceBytes(layout.totalLengthBytes)
    const storage = new TorrentContentStorage({ fs }, layout)
    for (let piece = 0; piece < 3; piece++) await storage.writePiece(piece, space.slice(piece * 32 * KiB, (piece + 1) * 32 * KiB))
    for (const [piece, begin, length] of [[0, 0, 16 * KiB], [0, 16 * KiB, 16 * KiB], [1, 0, 32 * KiB], [1, 7 * KiB, 20 * KiB], [2, 5, 16 * KiB]] as const) {
      const at = piece * 32 * KiB + begin
      expect(await storage.readBlock(piece, begin, length)).toEqual(space.subarray(at, at + length))
    }
  })

  it('continue short reads until the block is complete', async () => {
    const base = new TestFileSystem()
    const layout = makeLayout('s', [96 * KiB], 32 * KiB)
    const space = spaceBytes(layout.totalLengthBytes)
    base.put('s/f0.bin', space)
    const storage = new TorrentContentStorage({ fs: shortReads(base, 5_000) }, layout)
    expect(await storage.readBlock(1, 0, 32 * KiB)).toEqual(space.subarray(32 * KiB, 64 * KiB))
    expect(base.reads).toBe(Math.ceil(32 * KiB / 5_000))
  })

  it('reject for a piece whose file was cut short, and only the reads of that piece', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('t', [96 * KiB], 32 * KiB)
    const space = spaceBytes(layout.totalLengthBytes)
    fs.put('t/f0.bin', space.subarray(0, 40 * KiB)) // piece 1 is short, piece 2 missing
    const storage = new TorrentContentStorage({ fs }, layout)
    const reads = [storage.readBlock(0, 0, 16 * KiB), storage.readBlock(1, 0, 16 * KiB), storage.readBlock(2, 16 * KiB, 16 * KiB), storage.readBlock(0, 16 * KiB, 16 * KiB)]
    const settled = await Promise.allSettled(reads)
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled'])
    for (const s of settled) if (s.status === 'rejected') expect(hasCode(s.reason, 'STORAGE_NOT_FOUND')).toBe(true)
    expect((settled[3] as PromiseFulfilledResult<Uint8Array>).value).toEqual(space.subarray(16 * KiB, 32 * KiB))
    // A synchronous argument error is a rejection too, as for every other read.
    await expect(storage.readBlock(0, 30 * KiB, 4 * KiB)).rejects.toSatisfy((e: unknown) => hasCode(e, 'ARGUMENT_INVALID'))
  })

  it('wait while I/O is suspended and go on once it is resumed', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('g', [64 * KiB], 32 * KiB)
    const space = spaceBytes(layout.totalLengthBytes)
    fs.put('g/f0.bin', space)
    const storage = new TorrentContentStorage({ fs }, layout)
    const resume = await storage.suspendIo()
    let done = false
    const read = storage.readBlock(1, 0, 16 * KiB).then((block) => { done = true; return block })
    for (let i = 0; i < 10; i++) await Promise.resolve()
    expect(done).toBe(false)
    expect(fs.reads).toBe(0)
    resume()
    expect(await read).toEqual(space.subarray(32 * KiB, 48 * KiB))
  })
})
