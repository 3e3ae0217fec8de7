/**
 * TorrentContentStorage pieces used by file priorities and moving storage: which pieces a write
 * stores whole (isPieceStored), suspending I/O (in-flight operations finish, new ones wait), and
 * relocating to another filesystem.
 */
import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../../adapters/memory/memory-filesystem.js'
import { TorrentContentStorage } from '../../../src/storage/torrent-content-storage.js'
import { makeLayout, spaceBytes } from './test-fs.js'

const KiB = 1024

describe('TorrentContentStorage: skipped files, suspend and relocate', () => {
  it('isPieceStored: false only for pieces with bytes of a skipped file and no part-file slot', async () => {
    // f0 [0,40K) pieces 0-2, f1 [40K,100K) pieces 2-6 (3-5 are its own), f2 [100K,120K) pieces 6-7; 16 KiB pieces.
    const layout = makeLayout('t', [40 * KiB, 60 * KiB, 20 * KiB], 16 * KiB)
    const fs = new MemoryFileSystem()
    const storage = new TorrentContentStorage({ fs }, layout, {}, { filePriorities: [4, 0, 4] })
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((p) => storage.isPieceStored(p))).toEqual([true, true, true, false, false, false, true, true])
    const space = spaceBytes(layout.totalLengthBytes, 5)
    await storage.writePiece(4, space.slice(4 * 16 * KiB, 5 * 16 * KiB)) // dropped: f1 is skipped
    expect(await fs.exists('t/f1.bin')).toBe(false)
    await storage.setFilePriorities([4, 1, 4])
    expect([3, 4, 5].map((p) => storage.isPieceStored(p))).toEqual([true, true, true])
    await storage.close()
  })

  it('suspendIo waits for writes in flight, holds new ones until released; relocate moves later I/O to the new filesystem', async () => {
    const layout = makeLayout('t', [64 * KiB], 16 * KiB, false)
    const a = new MemoryFileSystem()
    const b = new MemoryFileSystem()
    const storage = new TorrentContentStorage({ fs: a }, layout)
    const space = spaceBytes(layout.totalLengthBytes, 6)
    const piece = (p: number): Uint8Array => space.slice(p * 16 * KiB, (p + 1) * 16 * KiB)
    const first = storage.writePiece(0, piece(0))
    const release = await storage.suspendIo()
    await first // finished before the suspension completed
    expect(a.openHandleCount).toBe(0) // handles flushed and closed
    let written = false
    const second = storage.writePiece(1, piece(1)).then(() => { written = true })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(written).toBe(false)
    // The move: copy the file over, then point the storage at the new place.
    b.writeFileBytes('f0.bin', a.readFileBytes('f0.bin'))
    await a.unlink('f0.bin')
    storage.relocate(b)
    expect(storage.fileSystem).toBe(b)
    release()
    await second
    expect(written).toBe(true)
    expect(await a.exists('f0.bin')).toBe(false)
    expect(await storage.readPiece(0)).toEqual(piece(0))
    expect(await storage.readPiece(1)).toEqual(piece(1))
    expect(storage.storedPaths()).toEqual(['f0.bin', storage.partFilePath])
    await storage.close()
    expect(b.openHandleCount).toBe(0)
  })
})
