import { describe, expect, it } from 'vitest'
import { WebCryptoHasher } from '../../../src/hashing/web-crypto-hasher.js'
import { pieceLayerHash, rootFromPieceLayer } from '../../../src/metainfo/merkle.js'
import type { HashRequest } from '../../../src/protocol/hash-messages.js'
import { fileTreeShape, hashRequestProblem, pieceLayerRequests, PieceLayerTree, uncleCount, verifyHashes } from '../../../src/v2/merkle-proof.js'

const hasher = new WebCryptoHasher()
const PIECE = 64 * 1024 // piece layer = layer 2

/** A piece layer of `pieces` pseudo-random hashes (the tree logic does not care what they hash). */
function randomLayer (pieces: number, seed: number): Uint8Array {
  const out = new Uint8Array(pieces * 32)
  let x = seed
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

async function fixture (pieces: number, seed = pieces) {
  const layer = randomLayer(pieces, seed)
  const root = await rootFromPieceLayer(hasher, layer, PIECE)
  const shape = fileTreeShape(pieces * PIECE - 1000, PIECE)
  const tree = await PieceLayerTree.build(hasher, layer, shape, PIECE)
  return { layer, root, shape, tree }
}

describe('BEP 52 merkle proofs', () => {
  it('fetches whole piece layers chunk by chunk, each chunk proven against the pieces root', async () => {
    for (const pieces of [2, 3, 4, 5, 513, 600, 1100]) {
      const { layer, root, shape, tree } = await fixture(pieces)
      expect(tree.root).toEqual(root)
      const requests = pieceLayerRequests(root, shape)
      expect(requests.length).toBe(Math.ceil(pieces / 512))
      const got = new Uint8Array(pieces * 32)
      for (const request of requests) {
        expect(hashRequestProblem(shape, request)).toBeNull()
        const hashes = tree.answer(request)
        if (hashes === null) throw new Error(`no answer for ${JSON.stringify({ ...request, piecesRoot: null })}`)
        expect(hashes.length).toBe((request.length + uncleCount(request)) * 32)
        const base = await verifyHashes(hasher, shape, request, hashes, root)
        if (base === null) throw new Error(`${pieces} pieces: chunk at ${request.index} did not verify`)
        got.set(base.subarray(0, Math.min(base.length, got.length - request.index * 32)), request.index * 32)
      }
      expect(got).toEqual(layer)
    }
  })

  it('uncles: none when the chunk is the whole layer, one per layer above the chunk otherwise', async () => {
    const small = await fixture(5)
    expect(pieceLayerRequests(small.root, small.shape).map(uncleCount)).toEqual([0])
    const large = await fixture(1100)
    // 2048-wide piece layer: chunks of 512 sit 2 layers below the root; the 76-piece tail (128 wide) 4.
    expect(pieceLayerRequests(large.root, large.shape).map(uncleCount)).toEqual([2, 2, 4])
  })

  it('refuses a reply that was tampered with, is short, or proves against another root', async () => {
    const { root, shape, tree } = await fixture(1100)
    const request = pieceLayerRequests(root, shape)[1]!
    const hashes = tree.answer(request)!
    for (const at of [0, 511 * 32 + 5, 512 * 32 + 1, hashes.length - 1]) {
      const bad = hashes.slice()
      bad[at] = (bad[at] ?? 0) ^ 1
      expect(await verifyHashes(hasher, shape, request, bad, root)).toBeNull()
    }
    expect(await verifyHashes(hasher, shape, request, hashes.subarray(32), root)).toBeNull()
    expect(await verifyHashes(hasher, shape, request, hashes, new Uint8Array(32))).toBeNull()
    // A proof that stops below the root cannot be checked against the root alone.
    const shortProof: HashRequest = { ...request, proofLayers: request.proofLayers - 1 }
    expect(await verifyHashes(hasher, shape, shortProof, tree.answer(shortProof)!, root)).toBeNull()
  })

  it('serves the piece layer and above, never below, and refuses malformed requests', async () => {
    const { root, shape, tree } = await fixture(600) // 1024-wide piece layer, layers 2..12
    const ok: HashRequest = { piecesRoot: root, baseLayer: 2, index: 0, length: 512, proofLayers: 9 }
    expect(tree.answer(ok)).not.toBeNull()
    expect(tree.answer({ ...ok, baseLayer: 4, length: 256, proofLayers: 7 })).not.toBeNull()
    expect(tree.answer({ ...ok, baseLayer: 0, length: 4, proofLayers: 1 })).toBeNull() // block hashes: not kept
    for (const bad of [
      { ...ok, length: 384 }, // not a power of two
      { ...ok, index: 256 }, // not a multiple of length
      { ...ok, index: 1024 }, // past the layer
      { ...ok, proofLayers: 10 }, // above the root
      { ...ok, baseLayer: 12, length: 1, proofLayers: 0 } // the root itself
    ]) {
      expect(hashRequestProblem(shape, bad)).not.toBeNull()
      expect(tree.answer(bad)).toBeNull()
    }
  })

  it('agrees with piece hashes of real data', async () => {
    const data = Uint8Array.from({ length: 3 * PIECE + 4000 }, (_, i) => (i * 31) & 0xff)
    const hashes: Uint8Array[] = []
    for (let at = 0; at < data.length; at += PIECE) hashes.push(await pieceLayerHash(hasher, data.subarray(at, at + PIECE), PIECE))
    const layer = new Uint8Array(hashes.length * 32)
    hashes.forEach((h, i) => { layer.set(h, i * 32) })
    const root = await rootFromPieceLayer(hasher, layer, PIECE)
    const shape = fileTreeShape(data.length, PIECE)
    const tree = await PieceLayerTree.build(hasher, layer, shape, PIECE)
    const [request] = pieceLayerRequests(root, shape)
    const base = await verifyHashes(hasher, shape, request!, tree.answer(request!)!, root)
    expect(base?.subarray(0, layer.length)).toEqual(layer)
  })
})
