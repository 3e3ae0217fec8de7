import { describe, expect, it } from 'vitest'
import { WebCryptoHasher } from '../../../src/hashing/web-crypto-hasher.js'
import { rootFromPieceLayer } from '../../../src/metainfo/merkle.js'
import type { TorrentMetainfo } from '../../../src/metainfo/types.js'
import { toHex } from '../../../src/util/bytes.js'
import { fileTreeShape, PieceLayerTree } from '../../../src/v2/merkle-proof.js'
import { missingLayerFiles, PieceLayerFetcher } from '../../../src/v2/piece-layer-fetcher.js'

const hasher = new WebCryptoHasher()
const PIECE = 16_384

/** A v2 metainfo with one 600-piece file and no piece layers (as BEP 9 metadata gives). */
async function fixture () {
  const pieces = 600
  const layer = Uint8Array.from({ length: pieces * 32 }, (_, i) => (i * 131 + 7) & 0xff)
  const root = await rootFromPieceLayer(hasher, layer, PIECE)
  const lengthBytes = pieces * PIECE - 100
  const meta = {
    version: 'v2',
    pieceLengthBytes: PIECE,
    pieceLayers: new Map<string, Uint8Array>(),
    files: [{ path: ['f'], lengthBytes, offsetBytes: 0, padding: false, attr: '', piecesRoot: root }]
  } as unknown as TorrentMetainfo
  const tree = await PieceLayerTree.build(hasher, layer, fileTreeShape(lengthBytes, PIECE), PIECE)
  return { meta, layer, root, tree }
}

describe('PieceLayerFetcher', () => {
  it('asks each chunk of one peer at a time, refuses unproven hashes, and completes the layer', async () => {
    const { meta, layer, root, tree } = await fixture()
    expect(missingLayerFiles(meta)).toBe(1)
    const fetcher = new PieceLayerFetcher(hasher, meta, 10_000)
    const a = {}
    const b = {}
    const first = fetcher.next(a, 0)!
    const second = fetcher.next(a, 0)!
    expect([first.index, first.length, second.index, second.length]).toEqual([0, 512, 512, 128])
    expect(fetcher.next(a, 0)).toBeNull()
    expect(fetcher.next(b, 5_000)).toBeNull() // both chunks are waited on
    // A lie: one flipped hash does not prove against the root; that peer is not asked that chunk again.
    const bad = tree.answer(first)!.slice()
    bad[40] = (bad[40] ?? 0) ^ 0xff
    expect(await fetcher.received(a, first, bad)).toBe('invalid')
    expect(fetcher.next(a, 5_000)).toBeNull()
    expect(fetcher.next(b, 5_000)).toEqual(first)
    // A reject hands the chunk on after the peer; a timed-out chunk may be asked of another.
    fetcher.rejected(b, first)
    expect(fetcher.next(b, 5_000)).toBeNull()
    expect(fetcher.next(b, 10_000)).toEqual(second) // a's wait on `second` timed out
    const c = {}
    expect(fetcher.next(c, 10_000)).toEqual(first)
    expect(await fetcher.received(c, first, tree.answer(first)!)).toBe('accepted')
    expect(fetcher.complete).toBe(false)
    expect(await fetcher.received(b, { ...second, index: 0 }, tree.answer(second)!)).toBe('unrequested')
    expect(await fetcher.received(b, second, tree.answer(second)!)).toBe('accepted')
    expect(fetcher.complete).toBe(true)
    expect(meta.pieceLayers.get(toHex(root))).toEqual(layer)
    expect(missingLayerFiles(meta)).toBe(0)
  })

  it('frees what a departed peer was asked', async () => {
    const { meta } = await fixture()
    const fetcher = new PieceLayerFetcher(hasher, meta)
    const a = {}
    const b = {}
    const asked = fetcher.next(a, 0)
    expect(fetcher.inFlight(a)).toBe(1)
    fetcher.peerGone(a)
    expect(fetcher.inFlight(a)).toBe(0)
    expect(fetcher.next(b, 1)).toEqual(asked)
  })
})
