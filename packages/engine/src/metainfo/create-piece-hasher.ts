/**
 * Piece hashing as torrent creation (and later rechecks) need it: one round trip per piece.
 *
 * Why this exists beside `IHasher.digest`: a hybrid piece needs one SHA-1 (over the piece plus its
 * BEP 47 zero padding) and, for v2, one SHA-256 per 16 KiB block reduced to the piece's merkle
 * subtree root. Through `digest` alone that is 1 + 2·(blocks per piece) promises per piece
 * (≈ 130 000 per GiB with 512 KiB pieces); a worker pool pays a message round trip for each. A
 * hasher that implements the optional {@link IPieceHasher.hashPiece} does the whole piece in one
 * job (the Node pool does it inside a worker); {@link hashPiece} falls back to `digest` otherwise,
 * so any `IHasher` (e.g. a WebCrypto one) still works, only slower.
 *
 * A hasher may also offer {@link IPieceHasher.allocate}: buffers it can hash without copying
 * (the Node pool returns SharedArrayBuffer-backed memory its workers read in place).
 */
import type { IHasher } from '../interfaces/hasher.js'

/** BEP 52: v2 merkle leaves cover 16 KiB blocks. */
export const MERKLE_BLOCK_LENGTH_BYTES = 16_384

/** What to compute for one piece. */
export interface PieceHashRequest {
  /**
   * Compute the v1 SHA-1 of the data followed by this many zero bytes (BEP 47 padding that is
   * hashed but never stored). `undefined`: no SHA-1.
   */
  sha1PadBytes?: number | undefined
  /**
   * Compute the v2 merkle root of the data's 16 KiB blocks (last block may be short), with zero
   * leaves up to this many leaves (a power of two ≥ the data's block count). `undefined`: no v2.
   * A full-size piece of a multi-piece file uses pieceLength / 16 KiB; a file that fits in one
   * piece uses the next power of two ≥ its block count, which makes the result its `pieces root`.
   */
  v2Leaves?: number | undefined
}

export interface PieceHashResult {
  /** 20 bytes, or null when not requested. */
  sha1: Uint8Array | null
  /** 32 bytes, or null when not requested. */
  v2Root: Uint8Array | null
}

/** Optional faster paths a hasher may implement; the core feature-detects them. */
export interface IPieceHasher extends IHasher {
  /**
   * Hashes one piece in one job. Reads `data` only, never detaches it; the caller must not
   * modify it until the promise settles.
   */
  hashPiece?: (data: Uint8Array | readonly Uint8Array[], request: PieceHashRequest) => Promise<PieceHashResult>
  /** A zero-filled buffer this hasher can hash without copying. The caller owns it. */
  allocate?: (lengthBytes: number) => Uint8Array
}

const zeroLeaf: Uint8Array = new Uint8Array(32)

/** True when `n` is a positive power of two. */
export function isPowerOfTwo (n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 2 ** 30
}

/** Smallest power of two ≥ `n` (1 for n ≤ 1). */
export function nextPowerOfTwo (n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

async function sha256Pair (hasher: IHasher, left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return await hasher.digest('sha256', [left, right])
}

/**
 * Root of `leafCount` leaves (a power of two) of which the first `leaves.length` are given and
 * the rest are `padLeaf` subtrees; `zeroAt(level)` gives the root of an all-padding subtree of
 * 2^level leaves. Uses only `hasher.digest`.
 */
async function reduceWithDigest (hasher: IHasher, leaves: Uint8Array[], leafCount: number): Promise<Uint8Array> {
  let layer = leaves
  let zero = zeroLeaf
  for (let width = leafCount; width > 1; width /= 2) {
    const next: Uint8Array[] = []
    for (let i = 0; i < layer.length; i += 2) {
      next.push(await sha256Pair(hasher, layer[i]!, layer[i + 1] ?? zero))
    }
    if (next.length === 0) next.push(await sha256Pair(hasher, zero, zero))
    layer = next
    zero = await sha256Pair(hasher, zero, zero)
  }
  return layer[0] ?? zero
}

function totalLength (data: Uint8Array | readonly Uint8Array[]): number {
  if (data instanceof Uint8Array) return data.length
  let n = 0
  for (const d of data) n += d.length
  return n
}

function flatten (data: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (data instanceof Uint8Array) return data
  if (data.length === 1) return data[0]!
  const out = new Uint8Array(totalLength(data))
  let offset = 0
  for (const d of data) {
    out.set(d, offset)
    offset += d.length
  }
  return out
}

/**
 * Hashes one piece through the hasher's `hashPiece` when it has one, else through `digest`.
 * Same contract as {@link IPieceHasher.hashPiece}.
 */
export async function hashPiece (hasher: IPieceHasher, data: Uint8Array | readonly Uint8Array[], request: PieceHashRequest): Promise<PieceHashResult> {
  if (hasher.hashPiece !== undefined) return await hasher.hashPiece(data, request)
  let sha1: Promise<Uint8Array> | null = null
  if (request.sha1PadBytes !== undefined) {
    const parts: Uint8Array[] = data instanceof Uint8Array ? [data] : [...data]
    if (request.sha1PadBytes > 0) parts.push(new Uint8Array(request.sha1PadBytes))
    sha1 = hasher.digest('sha1', parts)
  }
  let v2Root: Uint8Array | null = null
  if (request.v2Leaves !== undefined) {
    const flat = flatten(data)
    const blocks: Array<Promise<Uint8Array>> = []
    for (let offset = 0; offset < flat.length; offset += MERKLE_BLOCK_LENGTH_BYTES) {
      blocks.push(hasher.digest('sha256', flat.subarray(offset, offset + MERKLE_BLOCK_LENGTH_BYTES)))
    }
    v2Root = await reduceWithDigest(hasher, await Promise.all(blocks), request.v2Leaves)
  }
  return { sha1: sha1 === null ? null : await sha1, v2Root }
}

/**
 * Root of a merkle tree whose first `hashes.length` leaves are given and whose remaining leaves
 * up to `leafCount` are all-padding subtrees with root `padRoot` (BEP 52: a file's piece layer
 * is padded with the root of a piece-sized subtree of zero blocks). `leafCount` is a power of two.
 */
export async function merkleRootFromLayer (hasher: IHasher, hashes: readonly Uint8Array[], leafCount: number, padRoot: Uint8Array): Promise<Uint8Array> {
  let layer: Uint8Array[] = [...hashes]
  let pad = padRoot
  for (let width = leafCount; width > 1; width /= 2) {
    const next: Array<Promise<Uint8Array>> = []
    for (let i = 0; i < layer.length; i += 2) next.push(sha256Pair(hasher, layer[i]!, layer[i + 1] ?? pad))
    layer = await Promise.all(next)
    pad = await sha256Pair(hasher, pad, pad)
  }
  return layer[0] ?? pad
}

/** Root of a subtree of `leafCount` zero leaves (a power of two), computed with `hasher`. */
export async function zeroSubtreeRoot (hasher: IHasher, leafCount: number): Promise<Uint8Array> {
  let root = zeroLeaf
  for (let width = leafCount; width > 1; width /= 2) root = await sha256Pair(hasher, root, root)
  return root
}

