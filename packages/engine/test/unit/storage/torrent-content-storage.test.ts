import { describe, expect, it } from 'vitest'
import { LodestoneError, hasCode } from '../../../src/errors.js'
import { PART_FILE_DIRECTORY, TorrentContentStorage } from '../../../src/storage/torrent-content-storage.js'
import { TestFileSystem, makeLayout, spaceBytes } from './test-fs.js'

const KiB = 1024

/** Splits `bytes` into 16 KiB blocks (the last one shorter), as received from peers. */
function blocksOf (bytes: Uint8Array, blockLength = 16 * KiB): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < bytes.length; i += blockLength) out.push(bytes.slice(i, i + blockLength))
  return out
}

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try { await p } catch (err) { return err instanceof LodestoneError ? err.code : 'untyped' }
  return undefined
}

describe('TorrentContentStorage', () => {
  it('writes a piece spanning three files with one positional write per file', async () => {
    const fs = new TestFileSystem()
    const pieceLength = 64 * KiB
    // piece 1 = tail of f0 (8 KiB) + all of f1 (20 KiB) + head of f2 (36 KiB)
    const layout = makeLayout('multi', [72 * KiB, 20 * KiB, 100 * KiB], pieceLength)
    const storage = new TorrentContentStorage({ fs }, layout)
    const space = spaceBytes(layout.totalLengthBytes)
    await storage.writePiece(1, blocksOf(space.subarray(pieceLength, 2 * pieceLength)))
    expect(fs.writes).toEqual([
      { path: 'multi/f0.bin', position: 64 * KiB, length: 8 * KiB },
      { path: 'multi/f1.bin', position: 0, length: 20 * KiB },
      { path: 'multi/f2.bin', position: 0, length: 36 * KiB }
    ])
    expect(storage.stats.writeCalls).toBe(3)
    expect(await storage.readPiece(1)).toEqual(space.subarray(pieceLength, 2 * pieceLength))
    expect(fs.contents('multi/f1.bin')).toEqual(space.subarray(72 * KiB, 92 * KiB))
    await storage.close()
    expect(fs.openHandles).toBe(0)
  })

  it('round-trips every piece of a many-file torrent, written in any order', async () => {
    const fs = new TestFileSystem()
    const lengths = [1, 0, 5000, 16 * KiB, 3, 70 * KiB, 0, 12345, 32 * KiB, 7]
    const layout = makeLayout('m', lengths, 32 * KiB)
    const storage = new TorrentContentStorage({ fs }, layout)
    const space = spaceBytes(layout.totalLengthBytes, 3)
    const order = Array.from({ length: layout.pieceCount }, (_, i) => i).reverse()
    for (const piece of order) {
      const start = piece * layout.pieceLengthBytes
      await storage.writePiece(piece, space.slice(start, start + storage.layout.pieceLength(piece)))
    }
    for (let piece = 0; piece < layout.pieceCount; piece++) {
      const start = piece * layout.pieceLengthBytes
      expect(await storage.readPiece(piece)).toEqual(space.subarray(start, start + storage.layout.pieceLength(piece)))
    }
    // Empty files are not created by piece writes (nothing to write); real files hold their bytes.
    expect(fs.contents('m/f5.bin')).toEqual(space.subarray(5001 + 16 * KiB + 3, 5001 + 16 * KiB + 3 + 70 * KiB))
  })

  it('makes a folder once for concurrent writes into it, and again after a failed attempt', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('m', Array.from({ length: 8 }, () => 32 * KiB), 32 * KiB)
    const storage = new TorrentContentStorage({ fs }, layout)
    const space = spaceBytes(layout.totalLengthBytes, 5)
    const mkdirs: string[] = []
    let failNext = true
    fs.fault = (op, path) => {
      if (op !== 'mkdir') return undefined
      mkdirs.push(path)
      if (!failNext) return undefined
      failNext = false
      return new LodestoneError('STORAGE_IO', { path, operation: 'mkdir', reason: 'EIO' })
    }
    const piece = (i: number): Uint8Array => space.slice(i * 32 * KiB, (i + 1) * 32 * KiB)
    // All four wait on the one failed mkdir and fail with it.
    const failed = await Promise.allSettled([0, 1, 2, 3].map(async (i) => { await storage.writePiece(i, piece(i)) }))
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected'])
    expect(mkdirs).toEqual(['m'])
    await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (i) => { await storage.writePiece(i, piece(i)) }))
    expect(mkdirs).toEqual(['m', 'm'])
    for (let i = 0; i < 8; i++) expect(fs.contents(`m/f${i}.bin`)).toEqual(piece(i))
    await storage.close()
  })

  it('puts a single-file torrent directly in the root', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('movie.mkv', [{ path: ['movie.mkv'], length: 40 * KiB }], 16 * KiB, false)
    const storage = new TorrentContentStorage({ fs }, layout)
    await storage.writePiece(2, new Uint8Array(8 * KiB).fill(9))
    expect([...fs.files.keys()]).toEqual(['movie.mkv'])
    expect(storage.filePath(0)).toBe('movie.mkv')
  })

  it('never creates padding files and reads them as zeros', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('p', [10 * KiB, -6 * KiB, 16 * KiB], 16 * KiB)
    const storage = new TorrentContentStorage({ fs }, layout)
    const piece0 = new Uint8Array(16 * KiB).fill(5)
    await storage.writePiece(0, piece0)
    expect([...fs.files.keys()]).toEqual(['p/f0.bin'])
    const back = await storage.readPiece(0)
    expect(back.subarray(0, 10 * KiB).every((b) => b === 5)).toBe(true)
    expect(back.subarray(10 * KiB).every((b) => b === 0)).toBe(true)
  })

  it('reads missing files and unwritten ranges as zeros', async () => {
    const fs = new TestFileSystem()
    const storage = new TorrentContentStorage({ fs }, makeLayout('z', [20 * KiB, 20 * KiB], 16 * KiB))
    expect((await storage.readPiece(1)).every((b) => b === 0)).toBe(true)
    await storage.write(2, 4 * KiB, new Uint8Array(10).fill(1))
    const p2 = await storage.readPiece(2)
    expect(p2.subarray(0, 4 * KiB).every((b) => b === 0)).toBe(true)
    expect(p2[4 * KiB]).toBe(1)
  })

  it('reuses the buffer of an evicted piece only once every block of it is released', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('r', [512 * KiB], 64 * KiB)
    // 4 pieces cached, 2 evicted ones kept for reuse.
    const storage = new TorrentContentStorage({ fs }, layout, { readCacheBytes: 256 * KiB })
    const space = spaceBytes(layout.totalLengthBytes)
    const expected = (piece: number): Uint8Array => space.subarray(piece * 64 * KiB, piece * 64 * KiB + 16 * KiB)
    for (let piece = 0; piece < 8; piece++) await storage.writePiece(piece, space.subarray(piece * 64 * KiB, (piece + 1) * 64 * KiB))
    const held = await storage.readBlock(0, 0, 16 * KiB)
    const served: Uint8Array[] = []
    for (const piece of [1, 2, 3, 4, 5, 6]) {
      const block = await storage.readBlock(piece, 0, 16 * KiB)
      served.push(block)
      storage.releaseBlock(block)
    }
    // Piece 0 left the cache while held: no later piece was read into its buffer; piece 6 was read
    // into piece 1's (evicted and released).
    expect(held).toEqual(expected(0))
    expect(served.every((b) => b.buffer !== held.buffer)).toBe(true)
    expect(served[5]!.buffer).toBe(served[0]!.buffer)
    expect(served[5]).toEqual(expected(6))
    // Released: the next piece read may use it.
    storage.releaseBlock(held)
    const next = await storage.readBlock(7, 0, 16 * KiB)
    expect(next.buffer).toBe(held.buffer)
    expect(next).toEqual(expected(7))
  })

  it('serves upload blocks from a read cache: one disk read per piece, invalidated by writes', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('c', [256 * KiB], 64 * KiB)
    const storage = new TorrentContentStorage({ fs }, layout, { readCacheBytes: 128 * KiB })
    const space = spaceBytes(layout.totalLengthBytes)
    for (let piece = 0; piece < 4; piece++) await storage.writePiece(piece, space.subarray(piece * 64 * KiB, (piece + 1) * 64 * KiB))
    const blocks = await Promise.all([0, 1, 2, 3].map(async (i) => storage.readBlock(1, i * 16 * KiB, 16 * KiB)))
    expect(blocks.map((b) => b.length)).toEqual([16 * KiB, 16 * KiB, 16 * KiB, 16 * KiB])
    expect(blocks[2]).toEqual(space.subarray(96 * KiB, 112 * KiB))
    expect(fs.reads).toBe(1)
    expect(storage.stats.readCacheHits + storage.stats.readCacheMisses).toBe(4)
    await storage.readBlock(1, 0, 100)
    expect(fs.reads).toBe(1)
    // Blocks are views of the cached piece, not a copy each.
    expect((await storage.readBlock(1, 16 * KiB, 16 * KiB)).buffer).toBe(blocks[1]!.buffer)
    // Fill the cache past its bound: the least recently used piece goes.
    await storage.readBlock(2, 0, 100)
    await storage.readBlock(3, 0, 100)
    await storage.readBlock(1, 0, 100)
    expect(fs.reads).toBe(4)
    await storage.writePiece(3, new Uint8Array(64 * KiB).fill(1))
    const servedBefore = await storage.readBlock(3, 0, 16 * KiB)
    expect(servedBefore.every((b) => b === 1)).toBe(true)
    // A write replaces the cached piece: a block handed out before keeps the bytes it was read with.
    await storage.writePiece(3, new Uint8Array(64 * KiB).fill(2))
    expect(servedBefore.every((b) => b === 1)).toBe(true)
    expect((await storage.readBlock(3, 0, 16 * KiB)).every((b) => b === 2)).toBe(true)
    await expect(storage.readBlock(3, 60 * KiB, 8 * KiB)).rejects.toSatisfy((e: unknown) => hasCode(e, 'ARGUMENT_INVALID'))
  })

  it('keeps at most maxOpenFiles idle handles, reading with r and writing with r+', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('h', [16 * KiB, 16 * KiB, 16 * KiB, 16 * KiB, 16 * KiB], 16 * KiB)
    for (let i = 0; i < 5; i++) fs.put(`h/f${i}.bin`, new Uint8Array(16 * KiB).fill(i))
    const storage = new TorrentContentStorage({ fs }, layout, { maxOpenFiles: 2 })
    for (let round = 0; round < 2; round++) {
      for (let piece = 0; piece < 5; piece++) expect((await storage.readPiece(piece))[0]).toBe(piece)
    }
    expect(fs.openHandles).toBeLessThanOrEqual(2)
    expect(fs.opens.every((o) => o.mode === 'r')).toBe(true)
    await storage.readPiece(4)
    const opensBefore = fs.opens.length
    await storage.readPiece(4)
    expect(fs.opens.length).toBe(opensBefore) // cached
    await storage.writePiece(4, new Uint8Array(16 * KiB).fill(44))
    expect(fs.opens.at(-1)).toEqual({ path: 'h/f4.bin', mode: 'r+' })
    expect((await storage.readPiece(4))[0]).toBe(44)
    expect(fs.opens.length).toBe(opensBefore + 1) // the r+ handle serves reads
    await storage.close()
    expect(fs.openHandles).toBe(0)
  })

  it('never creates skipped files, keeps their shared bytes in a part file, and restores them when unskipped', async () => {
    const fs = new TestFileSystem()
    // 16 KiB pieces: piece 1 holds f0's tail (4 KiB) + f1's head (12 KiB); f1 spans pieces 1..3; f2 shares piece 3.
    const layout = makeLayout('s', [20 * KiB, 40 * KiB, 10 * KiB], 16 * KiB)
    const storage = new TorrentContentStorage({ fs }, layout, {}, { filePriorities: [4, 0, 4] })
    const space = spaceBytes(layout.totalLengthBytes)
    for (let piece = 0; piece < layout.pieceCount; piece++) {
      await storage.writePiece(piece, space.subarray(piece * 16 * KiB, piece * 16 * KiB + storage.layout.pieceLength(piece)))
    }
    expect(fs.files.has('s/f1.bin')).toBe(false)
    expect(fs.files.has(`${PART_FILE_DIRECTORY}/${layout.id}.parts`)).toBe(true)
    expect(storage.partFilePath).toBe(`${PART_FILE_DIRECTORY}/${layout.id}.parts`)
    // Shared pieces read back whole (f1's share from the part file) and so still hash.
    expect(await storage.readPiece(1)).toEqual(space.subarray(16 * KiB, 32 * KiB))
    expect(await storage.readPiece(3)).toEqual(space.subarray(48 * KiB, 64 * KiB))
    // Piece 2 lies inside f1 only: its bytes were dropped, it reads as zeros.
    expect((await storage.readPiece(2)).every((b) => b === 0)).toBe(true)

    await storage.setFilePriorities([4, 1, 4])
    expect(storage.isFileSkipped(1)).toBe(false)
    const f1 = fs.contents('s/f1.bin')!
    expect(f1.subarray(0, 12 * KiB)).toEqual(space.subarray(20 * KiB, 32 * KiB))
    expect(f1.subarray(28 * KiB, 40 * KiB)).toEqual(space.subarray(48 * KiB, 60 * KiB))
    await storage.writePiece(2, space.subarray(32 * KiB, 48 * KiB))
    for (let piece = 0; piece < layout.pieceCount; piece++) {
      expect(await storage.readPiece(piece)).toEqual(space.subarray(piece * 16 * KiB, piece * 16 * KiB + storage.layout.pieceLength(piece)))
    }
  })

  it('keeps using a skipped file that already exists', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('e', [8 * KiB, 8 * KiB], 16 * KiB)
    fs.put('e/f1.bin', new Uint8Array(8 * KiB).fill(3))
    const storage = new TorrentContentStorage({ fs }, layout, {}, { filePriorities: [1, 0] })
    const back = await storage.readPiece(0)
    expect(back[8 * KiB]).toBe(3)
    await storage.writePiece(0, new Uint8Array(16 * KiB).fill(6))
    expect(fs.contents('e/f1.bin')!.every((b) => b === 6)).toBe(true)
    expect(fs.files.has(storage.partFilePath)).toBe(false)
  })

  it('iterates pieces for a recheck in order, skipping pieces whose files are missing or short', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('r', [32 * KiB, 32 * KiB, 32 * KiB], 16 * KiB)
    const space = spaceBytes(layout.totalLengthBytes)
    fs.put('r/f0.bin', space.subarray(0, 32 * KiB))
    fs.put('r/f2.bin', space.subarray(64 * KiB, 80 * KiB)) // half of f2
    const storage = new TorrentContentStorage({ fs }, layout, { readAheadPieces: 1 })
    const seen: Array<[number, boolean]> = []
    for await (const { piece, data } of storage.readPieces()) {
      seen.push([piece, data !== null])
      if (data !== null) expect(data).toEqual(space.subarray(piece * 16 * KiB, (piece + 1) * 16 * KiB))
    }
    expect(seen).toEqual([[0, true], [1, true], [2, false], [3, false], [4, true], [5, false]])
    expect(fs.maxReadsInFlight).toBeLessThanOrEqual(2)
    const partial: number[] = []
    for await (const { piece } of storage.readPieces({ fromPiece: 3, toPiece: 5 })) partial.push(piece)
    expect(partial).toEqual([3, 4])
  })

  it('checks existing data with bounded concurrency and reports progress', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('k', [40 * KiB, 60 * KiB], 16 * KiB)
    const space = spaceBytes(layout.totalLengthBytes)
    const onDisk = space.slice()
    onDisk[20 * KiB] = onDisk[20 * KiB]! ^ 1 // corrupt piece 1
    fs.put('k/f0.bin', onDisk.subarray(0, 40 * KiB))
    fs.put('k/f1.bin', onDisk.subarray(40 * KiB, 90 * KiB)) // short: pieces 5 and 6 cannot be complete
    const storage = new TorrentContentStorage({ fs }, layout)
    let running = 0
    let maxRunning = 0
    const progress: number[] = []
    const have = await storage.checkExisting(async (piece, data) => {
      running++
      maxRunning = Math.max(maxRunning, running)
      await new Promise((resolve) => setTimeout(resolve, 1))
      running--
      const start = piece * 16 * KiB
      return Buffer.from(data).equals(Buffer.from(space.subarray(start, start + data.length)))
    }, { concurrency: 3, onProgress: (checked, total) => { progress.push(checked); expect(total).toBe(7) } })
    expect([...have.ones()]).toEqual([0, 2, 3, 4])
    expect(maxRunning).toBeGreaterThan(1)
    expect(maxRunning).toBeLessThanOrEqual(3)
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7])
    const failing = storage.checkExisting(async (piece) => {
      if (piece === 2) throw new LodestoneError('INTERNAL', { reason: 'hasher died' })
      return true
    })
    expect(await codeOf(failing)).toBe('INTERNAL')
  })

  it('stops a recheck when its signal aborts', async () => {
    const fs = new TestFileSystem()
    const storage = new TorrentContentStorage({ fs }, makeLayout('a', [64 * KiB], 16 * KiB))
    const controller = new AbortController()
    const read: number[] = []
    const run = async (): Promise<void> => {
      for await (const { piece } of storage.readPieces({ signal: controller.signal })) {
        read.push(piece)
        if (piece === 1) controller.abort()
      }
    }
    expect(await codeOf(run())).toBe('ABORTED')
    expect(read).toEqual([0, 1])
  })

  it('reports filesystem failures as STORAGE_* errors with the path', async () => {
    const fs = new TestFileSystem()
    const storage = new TorrentContentStorage({ fs }, makeLayout('f', [16 * KiB], 16 * KiB))
    fs.fault = (op, path) => (op === 'write' ? new LodestoneError('STORAGE_FULL', { path }) : undefined)
    expect(await codeOf(storage.writePiece(0, new Uint8Array(16 * KiB)))).toBe('STORAGE_FULL')
    fs.fault = (op) => (op === 'write' ? new Error('EIO: disk on fire') : undefined)
    try {
      await storage.writePiece(0, new Uint8Array(16 * KiB))
      expect.unreachable()
    } catch (err) {
      expect(hasCode(err, 'STORAGE_IO') && err.details).toEqual({ path: 'f/f0.bin', operation: 'write', reason: 'EIO: disk on fire' })
    }
    fs.fault = undefined
    expect(await codeOf(storage.writePiece(0, new Uint8Array(100)))).toBe('ARGUMENT_INVALID')
  })

  it('syncs written files, flushes and closes a completed file', async () => {
    const fs = new TestFileSystem()
    const storage = new TorrentContentStorage({ fs }, makeLayout('y', [16 * KiB, 16 * KiB], 16 * KiB))
    await storage.writePiece(0, new Uint8Array(16 * KiB))
    await storage.writePiece(1, new Uint8Array(16 * KiB))
    await storage.fileCompleted(0)
    expect(fs.syncs).toEqual(['y/f0.bin'])
    expect(fs.openHandles).toBe(1)
    await storage.sync()
    expect(fs.syncs).toEqual(['y/f0.bin', 'y/f1.bin'])
    await storage.sync()
    expect(fs.syncs).toHaveLength(2) // nothing new written
  })

  it('preallocates files to full length when asked', async () => {
    const fs = new TestFileSystem()
    const storage = new TorrentContentStorage({ fs }, makeLayout('pre', [100 * KiB], 16 * KiB), { preallocate: true })
    await storage.writePiece(0, new Uint8Array(16 * KiB))
    expect(fs.files.get('pre/f0.bin')!.size).toBe(100 * KiB)
  })

  it('deletes its files, part file and emptied directories, and refuses use after close', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('d', [{ path: ['sub', 'a'], length: 10 * KiB }, { path: ['b'], length: 10 * KiB }], 16 * KiB)
    const storage = new TorrentContentStorage({ fs }, layout, {}, { filePriorities: [1, 0] })
    fs.put('d/user-notes.txt', new Uint8Array(1))
    await storage.writePiece(0, new Uint8Array(16 * KiB))
    await storage.writePiece(1, new Uint8Array(4 * KiB))
    expect(fs.files.size).toBe(3)
    await storage.deleteFiles()
    expect([...fs.files.keys()]).toEqual(['d/user-notes.txt'])
    expect(fs.dirs.has('d/sub')).toBe(false)
    expect(fs.dirs.has('d')).toBe(true)
    expect(fs.dirs.has(PART_FILE_DIRECTORY)).toBe(false)
    expect(await codeOf(storage.readPiece(0))).toBe('CLOSED')
  })

  it('createEmptyFiles makes wanted 0-byte files (and their directories), not padding or skipped ones', async () => {
    const fs = new TestFileSystem()
    const layout = makeLayout('e', [
      { path: ['a', 'b', 'empty'], length: 0 },
      { path: ['data.bin'], length: 10 * KiB },
      { path: ['.pad', '6144'], length: 6 * KiB, padding: true },
      { path: ['skipped-empty'], length: 0 },
      { path: ['last'], length: 0 }
    ], 16 * KiB)
    const storage = new TorrentContentStorage({ fs }, layout, {}, { filePriorities: [1, 1, 1, 0, 1] })
    await storage.createEmptyFiles()
    expect([...fs.files.keys()].sort()).toEqual(['e/a/b/empty', 'e/last'])
    expect(fs.contents('e/a/b/empty')?.length).toBe(0)
    expect(fs.dirs.has('e/a/b')).toBe(true)
    expect(fs.openHandles).toBe(0)
    // An existing file keeps its bytes (a 0-byte file in the torrent, but the user's on disk).
    fs.put('e/last', new Uint8Array([1]))
    await storage.createEmptyFiles()
    expect(fs.contents('e/last')).toEqual(new Uint8Array([1]))
    await storage.close()
    expect(await codeOf(storage.createEmptyFiles())).toBe('CLOSED')
  })
})
