import { describe, expect, it } from 'vitest'
import type { TorrentMetainfo } from '../../../src/metainfo/types.js'
import { readWithTailPadding } from '../../../src/v2/tail-padding.js'

// 3 pieces of 16 KiB; the last holds 5 bytes of data.
const meta = (version: 'v1' | 'v2' | 'hybrid'): TorrentMetainfo => ({ version, pieceCount: 3, pieceLengthBytes: 16_384, totalLengthBytes: 2 * 16_384 + 5 } as unknown as TorrentMetainfo)

describe('readWithTailPadding', () => {
  const reads: Array<[number, number, number]> = []
  const read = async (piece: number, begin: number, length: number): Promise<Uint8Array> => {
    reads.push([piece, begin, length])
    return new Uint8Array(length).fill(7)
  }

  it('answers a request for a whole last piece of a pure v2 torrent (as libtorrent sends) with the data then zeros', async () => {
    reads.length = 0
    const out = await readWithTailPadding(meta('v2'), { piece: 2, begin: 0, length: 16_384 }, read)
    expect(reads).toEqual([[2, 0, 5]])
    expect(out.length).toBe(16_384)
    expect([...out.subarray(0, 6)]).toEqual([7, 7, 7, 7, 7, 0])
    expect(out.subarray(5).every((b) => b === 0)).toBe(true)
    const pad = await readWithTailPadding(meta('v2'), { piece: 2, begin: 8_192, length: 8_192 }, read)
    expect(reads.length).toBe(1) // nothing to read: all padding
    expect(pad.every((b) => b === 0)).toBe(true)
  })

  it('leaves every other request to storage (which refuses what is out of range)', async () => {
    reads.length = 0
    await readWithTailPadding(meta('v2'), { piece: 2, begin: 0, length: 5 }, read)
    await readWithTailPadding(meta('v2'), { piece: 1, begin: 0, length: 16_384 }, read)
    await readWithTailPadding(meta('v2'), { piece: 2, begin: 16_000, length: 16_384 }, read) // beyond a piece
    await readWithTailPadding(meta('hybrid'), { piece: 2, begin: 0, length: 16_384 }, read)
    expect(reads).toEqual([[2, 0, 5], [1, 0, 16_384], [2, 16_000, 16_384], [2, 0, 16_384]])
  })

  it('hands the view it copied to release (a pooled read buffer is pinned until then); a view it returns is the caller\'s', async () => {
    const released: Uint8Array[] = []
    const views: Uint8Array[] = []
    const pooledRead = async (_piece: number, _begin: number, length: number): Promise<Uint8Array> => {
      const view = new Uint8Array(length).fill(9)
      views.push(view)
      return view
    }
    const padded = await readWithTailPadding(meta('v2'), { piece: 2, begin: 0, length: 16_384 }, pooledRead, (v) => { released.push(v) })
    expect(released).toEqual([views[0]])
    expect(released[0]).not.toBe(padded)
    const plain = await readWithTailPadding(meta('v2'), { piece: 1, begin: 0, length: 16_384 }, pooledRead, (v) => { released.push(v) })
    expect(plain).toBe(views[1])
    expect(released.length).toBe(1)
  })
})
