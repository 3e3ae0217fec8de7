import { describe, expect, it } from 'vitest'
import { WebCryptoHasher } from '../../../src/hashing/web-crypto-hasher.js'
import {
  blockCount, fileMerkleRoot, hashV2Piece, isPowerOfTwo, merkleRoot, nextPowerOfTwo, padHashes, pieceLayerHash,
  piecePadHash, rootFromPieceLayer, v2PieceExpectation, type V2VerifiableExpectation
} from '../../../src/metainfo/merkle.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { concatBytes } from '../../../src/util/bytes.js'
import { content, fixture, hex, referenceRoot, sha256 } from './helpers.js'
import expected from './fixtures/lt-fixtures.json' with { type: 'json' }

const hasher = new WebCryptoHasher()
const KiB16 = 16384

describe('merkle helpers', () => {
  it('powers of two', () => {
    expect([1, 2, 4, 16384, 2 ** 40].every(isPowerOfTwo)).toBe(true)
    expect([0, -2, 3, 12, 16385, 1.5, Number.NaN].some(isPowerOfTwo)).toBe(false)
    expect([0, 1, 2, 3, 5, 17].map(nextPowerOfTwo)).toEqual([1, 1, 2, 4, 8, 32])
    expect([0, 1, 16384, 16385].map(blockCount)).toEqual([0, 1, 1, 2])
  })

  it('padHashes builds all-zero subtree roots', async () => {
    const pads = await padHashes(hasher, 2)
    expect(hex(pads[0]!)).toBe('00'.repeat(32))
    expect(hex(pads[1]!)).toBe(hex(sha256(new Uint8Array(64))))
    expect(hex(pads[2]!)).toBe(hex(sha256(Buffer.concat([pads[1]!, pads[1]!]))))
  })

  it('merkleRoot of one leaf is the leaf; empty is the pad subtree', async () => {
    const leaf = sha256(new Uint8Array([1]))
    expect(hex(await merkleRoot([leaf], 1, hasher))).toBe(hex(leaf))
    expect(hex(await merkleRoot([], 4, hasher))).toBe(hex((await padHashes(hasher, 2))[2]!))
    await expect(merkleRoot([leaf, leaf, leaf], 2, hasher)).rejects.toMatchObject({ code: 'INTERNAL' })
    await expect(merkleRoot([leaf], 3, hasher)).rejects.toMatchObject({ code: 'INTERNAL' })
  })

  it.each([1, 100, KiB16, KiB16 + 1, 3 * KiB16, 5 * KiB16 + 7, 17 * KiB16])('fileMerkleRoot matches the reference for %i bytes', async (n) => {
    const data = content(n, 3)
    expect(hex((await fileMerkleRoot(hasher, data))!)).toBe(hex(referenceRoot(data)))
  })

  it('fileMerkleRoot of an empty file is null', async () => {
    expect(await fileMerkleRoot(hasher, new Uint8Array(0))).toBeNull()
  })

  // The subtle part of BEP 52: above the piece layer the padding is the root of an all-zero
  // piece-size subtree, so the root from the layer must equal the root over all blocks.
  it.each([
    [2 * KiB16, 2 * KiB16 + 1],
    [4 * KiB16, 9 * KiB16 + 5],
    [4 * KiB16, 12 * KiB16],
    [8 * KiB16, 8 * KiB16 * 5 + 3 * KiB16 + 1],
    [16 * KiB16, 16 * KiB16 * 2 + 1]
  ])('root from the piece layer equals the whole-file root (piece %i, file %i)', async (pieceLength, fileLength) => {
    const data = content(fileLength, 1)
    const layer: Uint8Array[] = []
    for (let o = 0; o < data.length; o += pieceLength) {
      const piece = data.subarray(o, o + pieceLength)
      const h = await pieceLayerHash(hasher, piece, pieceLength)
      expect(hex(h)).toBe(hex(referenceRoot(piece, pieceLength / KiB16)))
      layer.push(h)
    }
    const fromLayer = await rootFromPieceLayer(hasher, concatBytes(layer), pieceLength)
    expect(hex(fromLayer)).toBe(hex(referenceRoot(data)))
    // ...and padding the layer with zero hashes instead would give a different root.
    if ((layer.length & (layer.length - 1)) !== 0) {
      expect(hex(await merkleRoot(layer, nextPowerOfTwo(layer.length), hasher))).not.toBe(hex(fromLayer))
    }
  })

  it('piecePadHash is the root of pieceLength/16KiB zero leaves', async () => {
    expect(hex(await piecePadHash(hasher, 4 * KiB16))).toBe(hex((await padHashes(hasher, 2))[2]!))
    expect(hex(await piecePadHash(hasher, KiB16))).toBe('00'.repeat(32))
  })
})

describe('v2 piece verification against libtorrent-made torrents', () => {
  for (const version of ['v2', 'hybrid'] as const) {
    it(`${version}: every piece verifies, corrupted pieces do not`, async () => {
      const meta = await parseTorrent(fixture(`lt-${version}.torrent`))
      expect(meta.pieceCount).toBe(expected.torrents[version].pieces)
      // Lay the payload out in piece space (padding is zeros).
      const space = new Uint8Array(meta.pieceCount * meta.pieceLengthBytes)
      for (const f of meta.files) {
        if (f.padding) continue
        const spec = expected.files.find(([p]) => p === f.path.join('/'))!
        space.set(content(spec[1] as number, spec[2] as number), f.offsetBytes)
        if (f.lengthBytes > 0) expect(hex(f.piecesRoot!)).toBe(hex(referenceRoot(content(spec[1] as number, spec[2] as number))))
      }
      const kinds: string[] = []
      for (let p = 0; p < meta.pieceCount; p++) {
        const exp = v2PieceExpectation(meta, p)
        kinds.push(exp.kind)
        expect(exp.kind).not.toBe('layer-unknown')
        const piece = space.subarray(p * meta.pieceLengthBytes, (p + 1) * meta.pieceLengthBytes)
        expect(await hashV2Piece(hasher, piece, exp as V2VerifiableExpectation)).toBe(true)
        const bad = piece.slice()
        bad[exp.lengthBytes - 1] = bad[exp.lengthBytes - 1]! ^ 1
        expect(await hashV2Piece(hasher, bad, exp as V2VerifiableExpectation)).toBe(false)
        expect(await hashV2Piece(hasher, piece.subarray(0, exp.lengthBytes - 1), exp as V2VerifiableExpectation)).toBe(false)
      }
      // big.bin: 3 layer pieces; dir/ü.txt: 2; small.bin and one: whole-file roots.
      expect(kinds.filter((k) => k === 'layer').length).toBe(5)
      expect(kinds.filter((k) => k === 'file-root').length).toBe(2)
    })
  }

  it('reports layer-unknown when the piece layers are not known (BEP 9 metadata)', async () => {
    const meta = await parseTorrent(fixture('lt-v2.torrent'))
    meta.pieceLayers = new Map()
    const exp = v2PieceExpectation(meta, 0)
    expect(exp.kind).toBe('layer-unknown')
  })

  it('refuses misuse with INTERNAL', async () => {
    const v1 = await parseTorrent(fixture('lt-v1.torrent'))
    expect(() => v2PieceExpectation(v1, 0)).toThrow(expect.objectContaining({ code: 'INTERNAL' }))
    const v2 = await parseTorrent(fixture('lt-v2.torrent'))
    expect(() => v2PieceExpectation(v2, v2.pieceCount)).toThrow(expect.objectContaining({ code: 'INTERNAL' }))
    expect(() => v2PieceExpectation(v2, -1)).toThrow(expect.objectContaining({ code: 'INTERNAL' }))
  })
})
