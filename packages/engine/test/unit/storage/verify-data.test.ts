import { describe, it, expect } from 'vitest'
import { MemoryFileSystem } from '../../../adapters/memory/index.js'
import { createDefaultHasher } from '../../../src/hashing/web-crypto-hasher.js'
import { createTorrent } from '../../../src/metainfo/create-torrent.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import type { MetaVersion } from '../../../src/metainfo/types.js'
import { verifyTorrentData } from '../../../src/storage/verify-data.js'

const PIECE = 16_384

function bytes (length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff
  return out
}

async function put (fs: MemoryFileSystem, path: string, data: Uint8Array): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf('/'))
  if (dir !== '') await fs.mkdir(dir, { recursive: true })
  const h = await fs.open(path, 'w')
  await h.write(data, 0)
  await h.close()
}

async function setup (kind: MetaVersion): Promise<{ fs: MemoryFileSystem, meta: Awaited<ReturnType<typeof parseTorrent>> }> {
  const fs = new MemoryFileSystem()
  await put(fs, 'share/a.bin', bytes(3 * PIECE + 5, 1))
  await put(fs, 'share/b.bin', bytes(PIECE - 1, 2))
  await put(fs, 'share/empty', new Uint8Array(0))
  const made = await createTorrent('share', { pieceLengthBytes: PIECE, kind }, { fs, hasher: createDefaultHasher() })
  return { fs, meta: await parseTorrent(made.torrent) }
}

describe('verifyTorrentData', () => {
  for (const kind of ['v1', 'v2', 'hybrid'] as const) {
    it(`${kind}: all good, then a flipped byte fails its piece and marks its file incomplete`, async () => {
      const { fs, meta } = await setup(kind)
      const hasher = createDefaultHasher()
      const progress: number[] = []
      const good = await verifyTorrentData(meta, { fs, hasher }, { onProgress: (n) => { progress.push(n) } })
      expect(good.complete).toBe(true)
      expect(good.goodPieces).toBe(meta.pieceCount)
      expect(progress.at(-1)).toBe(meta.pieceCount)
      const real = good.files.filter((f) => !f.padding)
      expect(real.map((f) => [f.path, f.complete, f.verifiedBytes])).toEqual([
        ['share/a.bin', true, 3 * PIECE + 5], ['share/b.bin', true, PIECE - 1], ['share/empty', true, 0]
      ])

      const h = await fs.open('share/a.bin', 'r+')
      await h.write(new Uint8Array([0xff ^ bytes(PIECE + 1, 1)[PIECE]!]), PIECE)
      await h.close()
      const bad = await verifyTorrentData(meta, { fs, hasher })
      expect(bad.complete).toBe(false)
      expect(bad.pieces[1]).toBe('failed')
      expect(bad.failedPieces).toBe(1)
      const a = bad.files.find((f) => f.path === 'share/a.bin')!
      expect(a).toMatchObject({ complete: false, verifiedBytes: 2 * PIECE + 5, failedPieces: [1] })
      expect(bad.files.find((f) => f.path === 'share/b.bin')!.complete).toBe(true)
    })
  }

  it('a missing file makes its pieces missing (not read), and an aborted signal throws ABORTED', async () => {
    const { fs, meta } = await setup('v1')
    await fs.unlink('share/b.bin')
    const r = await verifyTorrentData(meta, { fs, hasher: createDefaultHasher() })
    // v1 without padding: b.bin shares the last piece of a.bin.
    expect(r.pieces).toEqual(['ok', 'ok', 'ok', 'missing', 'missing'].slice(0, meta.pieceCount))
    expect(r.missingPieces).toBe(meta.pieceCount - 3)
    expect(r.files.map((f) => f.complete)).toEqual([false, false, true])
    const controller = new AbortController()
    controller.abort()
    await expect(verifyTorrentData(meta, { fs, hasher: createDefaultHasher() }, { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' })
  })
})
