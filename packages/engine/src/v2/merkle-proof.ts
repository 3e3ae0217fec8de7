/**
 * BEP 52 hash requests against one file's merkle tree: which requests are valid, the hashes (with
 * their uncle-hash proof) that answer one, and checking received hashes against the file's
 * `pieces root`.
 *
 * Layers are numbered from the 16 KiB block layer (0) up to the root (`layerCount`); the tree has
 * `leafCount = nextPowerOfTwo(blocks)` leaves. A request names `length` hashes of `baseLayer` from
 * `index`, plus `proofLayers`: the answer carries the base hashes, then the sibling of each node on
 * the path from the root of those hashes' subtree up to `proofLayers` layers above the base (the
 * same reading libtorrent 2.0 has: no uncles when the subtree itself reaches that high).
 *
 * We hold a file's tree from its piece layer up (what `piece layers` gives), so we answer requests
 * whose base layer is the piece layer or above, and we ask for piece layers with a proof that
 * reaches the root, so a reply is checked against the pieces root alone.
 */
import type { IHasher } from '../interfaces/hasher.js'
import type { HashRequest } from '../protocol/hash-messages.js'
import { MAX_HASH_REQUEST_LENGTH } from '../protocol/hash-messages.js'
import { bytesEqual } from '../util/bytes.js'
import { blockCount, isPowerOfTwo, merkleRoot, nextPowerOfTwo, piecePadHash, MERKLE_BLOCK_LENGTH_BYTES, MERKLE_HASH_LENGTH_BYTES } from '../metainfo/merkle.js'

/** The size of one file's tree. */
export interface FileTreeShape {
  /** Leaves: 16 KiB blocks rounded up to a power of two. */
  leafCount: number
  /** Layers above the leaves: the root is layer `layerCount`. */
  layerCount: number
  /** The layer whose nodes each cover one piece. */
  pieceLayer: number
  /** Pieces of the file (nodes of the piece layer that are not padding). */
  pieceCount: number
}

/** The tree shape of a file of `lengthBytes` (> 0) in a torrent with `pieceLengthBytes` pieces. */
export function fileTreeShape (lengthBytes: number, pieceLengthBytes: number): FileTreeShape {
  const leafCount = nextPowerOfTwo(blockCount(lengthBytes))
  return {
    leafCount,
    layerCount: Math.round(Math.log2(leafCount)),
    pieceLayer: Math.round(Math.log2(pieceLengthBytes / MERKLE_BLOCK_LENGTH_BYTES)),
    pieceCount: Math.ceil(lengthBytes / pieceLengthBytes)
  }
}

/** Why `request` cannot be answered from a tree of `shape`, or null when it is well-formed for it. */
export function hashRequestProblem (shape: FileTreeShape, request: HashRequest): string | null {
  const { baseLayer, index, length, proofLayers } = request
  if (!isPowerOfTwo(length) || length > MAX_HASH_REQUEST_LENGTH) return `length ${length} is not a power of two up to ${MAX_HASH_REQUEST_LENGTH}`
  if (index % length !== 0) return `index ${index} is not a multiple of length ${length}`
  if (baseLayer >= shape.layerCount) return `base layer ${baseLayer} is not below the root (layer ${shape.layerCount})`
  const layerSize = shape.leafCount / 2 ** baseLayer
  if (index + length > layerSize) return `hashes ${index}..${index + length} exceed the ${layerSize} of layer ${baseLayer}`
  if (proofLayers >= shape.layerCount - baseLayer) return `proof layers ${proofLayers} reach above the root`
  return null
}

/** Number of uncle hashes a reply to `request` carries. */
export function uncleCount (request: HashRequest): number {
  return Math.max(0, request.proofLayers - Math.round(Math.log2(request.length)) + 1)
}

/**
 * One file's tree from its piece layer to the root, built from its `piece layers` entry: row 0 is
 * the piece layer padded to a power of two with the all-zero piece subtree's root, the last row is
 * the root. Serves hash requests for the piece layer and above.
 */
export class PieceLayerTree {
  private constructor (readonly shape: FileTreeShape, private readonly rows: Uint8Array[][]) {}

  /** @param layer the file's piece layer (32 bytes a piece), already checked against its root. */
  static async build (hasher: IHasher, layer: Uint8Array, shape: FileTreeShape, pieceLengthBytes: number): Promise<PieceLayerTree> {
    const pad = await piecePadHash(hasher, pieceLengthBytes)
    const width = shape.leafCount / 2 ** shape.pieceLayer
    let row: Uint8Array[] = []
    for (let i = 0; i < width; i++) {
      const at = i * MERKLE_HASH_LENGTH_BYTES
      row.push(at < layer.length ? layer.subarray(at, at + MERKLE_HASH_LENGTH_BYTES) : pad)
    }
    const rows = [row]
    while (row.length > 1) {
      const pending: Array<Promise<Uint8Array>> = []
      for (let i = 0; i < row.length; i += 2) pending.push(hasher.digest('sha256', [row[i] ?? pad, row[i + 1] ?? pad]))
      row = await Promise.all(pending)
      rows.push(row)
    }
    return new PieceLayerTree(shape, rows)
  }

  /** The root this tree hashes to (compare with the file's `pieces root`). */
  get root (): Uint8Array { return this.rows[this.rows.length - 1]?.[0] ?? new Uint8Array(MERKLE_HASH_LENGTH_BYTES) }

  /**
   * The `hashes` payload answering `request`: base hashes then uncles, concatenated. Null when the
   * request is malformed for this file or asks below the piece layer (we keep no block hashes).
   */
  answer (request: HashRequest): Uint8Array | null {
    if (hashRequestProblem(this.shape, request) !== null || request.baseLayer < this.shape.pieceLayer) return null
    const base = request.baseLayer - this.shape.pieceLayer
    const baseRow = this.rows[base]
    if (baseRow === undefined) return null
    const uncles = uncleCount(request)
    const out = new Uint8Array((request.length + uncles) * MERKLE_HASH_LENGTH_BYTES)
    for (let i = 0; i < request.length; i++) {
      const h = baseRow[request.index + i]
      if (h === undefined) return null
      out.set(h, i * MERKLE_HASH_LENGTH_BYTES)
    }
    const subtreeHeight = Math.round(Math.log2(request.length))
    for (let u = 0; u < uncles; u++) {
      const level = subtreeHeight + u
      const sibling = this.rows[base + level]?.[(request.index >>> level) ^ 1]
      if (sibling === undefined) return null
      out.set(sibling, (request.length + u) * MERKLE_HASH_LENGTH_BYTES)
    }
    return out
  }
}

/**
 * Checks a `hashes` reply against the file's `pieces root`: the base hashes, folded with the
 * uncles, must reach the root exactly. Returns the base hashes (a copy, 32 bytes each) or null
 * when the reply is malformed for this file, its proof stops below the root, or it does not hash
 * to `piecesRoot`.
 */
export async function verifyHashes (
  hasher: IHasher, shape: FileTreeShape, request: HashRequest, hashes: Uint8Array, piecesRoot: Uint8Array
): Promise<Uint8Array | null> {
  if (hashRequestProblem(shape, request) !== null) return null
  const uncles = uncleCount(request)
  if (hashes.length !== (request.length + uncles) * MERKLE_HASH_LENGTH_BYTES) return null
  const subtreeHeight = Math.round(Math.log2(request.length))
  if (subtreeHeight + uncles !== shape.layerCount - request.baseLayer) return null
  const base: Uint8Array[] = []
  for (let i = 0; i < request.length; i++) base.push(hashes.subarray(i * MERKLE_HASH_LENGTH_BYTES, (i + 1) * MERKLE_HASH_LENGTH_BYTES))
  let node = await merkleRoot(base, request.length, hasher)
  let position = request.index >>> subtreeHeight
  for (let u = 0; u < uncles; u++) {
    const uncle = hashes.subarray((request.length + u) * MERKLE_HASH_LENGTH_BYTES, (request.length + u + 1) * MERKLE_HASH_LENGTH_BYTES)
    node = await hasher.digest('sha256', position % 2 === 0 ? [node, uncle] : [uncle, node])
    position = Math.floor(position / 2)
  }
  if (!bytesEqual(node, piecesRoot)) return null
  return hashes.slice(0, request.length * MERKLE_HASH_LENGTH_BYTES)
}

/**
 * The piece-layer requests that fetch a whole file's layer: chunks of up to 512 hashes (BEP 52's
 * bound), each with a proof up to the root.
 */
export function pieceLayerRequests (piecesRoot: Uint8Array, shape: FileTreeShape): HashRequest[] {
  const out: HashRequest[] = []
  for (let index = 0; index < shape.pieceCount; index += 512) {
    const length = Math.min(512, nextPowerOfTwo(shape.pieceCount - index))
    const proofLayers = shape.layerCount - shape.pieceLayer - 1
    out.push({ piecesRoot, baseLayer: shape.pieceLayer, index, length, proofLayers })
  }
  return out
}
