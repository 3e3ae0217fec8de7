import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { PieceVerifier, pieceLengthOf } from '../../../src/torrent/piece-verifier.js'
import { WebCryptoHasher } from '../../../src/hashing/web-crypto-hasher.js'
import { fileMerkleRoot, pieceLayerHash } from '../../../src/metainfo/merkle.js'
import type { InfoHashHex, MetaVersion, TorrentMetainfo } from '../../../src/metainfo/types.js'
import { concatBytes, toHex } from '../../../src/util/bytes.js'

const hasher = new WebCryptoHasher()

async function metaFor (data: Uint8Array, pieceLengthBytes: number, version: MetaVersion): Promise<TorrentMetainfo> {
  const pieceCount = Math.ceil(data.length / pieceLengthBytes)
  const v1: Uint8Array[] = []
  const layer: Uint8Array[] = []
  for (let i = 0; i < pieceCount; i++) {
    const piece = data.subarray(i * pieceLengthBytes, (i + 1) * pieceLengthBytes)
    v1.push(new Uint8Array(createHash('sha1').update(piece).digest()))
    layer.push(await pieceLayerHash(hasher, piece, pieceLengthBytes))
  }
  const root = version === 'v1' ? undefined : (await fileMerkleRoot(hasher, data))!
  const pieceLayers = new Map<string, Uint8Array>()
  if (root !== undefined && data.length > pieceLengthBytes) pieceLayers.set(toHex(root), concatBytes(layer))
  return {
    name: 'f', version, infoHashV1: null, infoHashV2: null, infoHash: new Uint8Array(20), id: '00'.repeat(20) as InfoHashHex,
    pieceLengthBytes, pieceCount, totalLengthBytes: data.length,
    files: [{ path: ['f'], lengthBytes: data.length, offsetBytes: 0, padding: false, attr: '', ...(root !== undefined ? { piecesRoot: root } : {}) }],
    pieceHashesV1: version === 'v2' ? null : concatBytes(v1),
    multiFile: false, pieceLayers, announce: [], urlList: [], private: false, infoBytes: new Uint8Array()
  }
}

function payload (length: number): Uint8Array {
  const d = new Uint8Array(length)
  for (let i = 0; i < length; i++) d[i] = (i * 31 + 7) & 0xff
  return d
}

describe('PieceVerifier', () => {
  const data = payload(32_768 * 3 + 5000)
  for (const version of ['v1', 'v2', 'hybrid'] as const) {
    it(`accepts good pieces and refuses a flipped byte (${version})`, async () => {
      const meta = await metaFor(data, 32_768, version)
      const v = new PieceVerifier({ hasher }, meta)
      for (let i = 0; i < meta.pieceCount; i++) {
        const piece = data.slice(i * 32_768, (i + 1) * 32_768)
        expect(await v.verify(i, piece)).toBe('ok')
        piece[piece.length - 1]! ^= 1
        expect(await v.verify(i, piece)).toBe('failed')
      }
      expect(pieceLengthOf(meta, 3)).toBe(5000)
      expect(await v.verify(0, data.slice(0, 100))).toBe('failed')
    })
  }

  it('hybrid: refuses a piece whose v2 hash is wrong even if v1 matches', async () => {
    const meta = await metaFor(data, 32_768, 'hybrid')
    meta.pieceLayers.set(toHex(meta.files[0]!.piecesRoot!), new Uint8Array(32 * 4))
    const v = new PieceVerifier({ hasher }, meta)
    expect(await v.verify(0, data.slice(0, 32_768))).toBe('failed')
  })

  it('v2 without a piece layer is unverifiable', async () => {
    const meta = await metaFor(data, 32_768, 'v2')
    meta.pieceLayers.clear()
    const v = new PieceVerifier({ hasher }, meta)
    expect(v.canVerify(0)).toBe(false)
    expect(await v.verify(0, data.slice(0, 32_768))).toBe('unverifiable')
  })
})
