/**
 * BEP 52 merkle trees: what a v2 torrent hashes and how a v2 piece is verified.
 *
 * The tree of a file:
 * - Leaves are the SHA-256 of each 16 KiB block of the file; the last block may be short and is
 *   hashed as is (not zero-filled).
 * - The leaf row is padded with all-zero 32-byte hashes up to the next power of two; each inner node
 *   is SHA-256(left ‖ right). The root is the file's `pieces root`. Empty files have no tree.
 * - The "piece layer" is the row whose nodes each cover one piece (`pieceLength / 16 KiB` leaves).
 *   Its last node covers a possibly short piece, whose subtree is zero-leaf padded like the rest.
 *   Above the piece layer, the padding nodes are therefore not zero hashes but the root of an
 *   all-zero-leaf subtree of piece size: computing the root from the piece layer must pad with that.
 * - A file no larger than one piece has no piece-layer entry: its single piece is checked against the
 *   file's root directly, and that tree has only `nextPow2(blockCount)` leaves (not a piece's worth).
 *
 * Every SHA-256 goes through the {@link IHasher} port, so the Node adapter's worker pool serves it.
 * Subtrees made only of padding are never hashed more than once per level (see {@link padHashes}).
 */
import type { IHasher } from '../interfaces/hasher.js'
import { LodestoneError } from '../errors.js'
import { bytesEqual, toHex } from '../util/bytes.js'
import type { TorrentFileEntry, TorrentMetainfo } from './types.js'

/** BEP 52 leaf block size: every v2 file is hashed in 16 KiB blocks. */
export const MERKLE_BLOCK_LENGTH_BYTES = 16_384
/** Length of every v2 hash (SHA-256). */
export const MERKLE_HASH_LENGTH_BYTES = 32

const ZERO_HASH = new Uint8Array(MERKLE_HASH_LENGTH_BYTES)

/** True when `n` is a positive power of two (safe for values beyond 2^31). */
export function isPowerOfTwo (n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n
}

/** Smallest power of two >= `n` (1 for n <= 1). */
export function nextPowerOfTwo (n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

/** Number of 16 KiB blocks (leaves) in `lengthBytes` bytes of file data. */
export function blockCount (lengthBytes: number): number {
  return Math.ceil(lengthBytes / MERKLE_BLOCK_LENGTH_BYTES)
}

async function hashPair (hasher: IHasher, left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return hasher.digest('sha256', [left, right])
}

/**
 * `levels + 1` hashes: `[padLeaf, H(padLeaf‖padLeaf), …]`, the roots of all-padding subtrees of
 * 1, 2, 4… leaves.
 */
export async function padHashes (hasher: IHasher, levels: number, padLeaf: Uint8Array = ZERO_HASH): Promise<Uint8Array[]> {
  const out = [padLeaf]
  let current = padLeaf
  for (let i = 0; i < levels; i++) {
    current = await hashPair(hasher, current, current)
    out.push(current)
  }
  return out
}

/**
 * Merkle root over `leafHashes` (32 bytes each) padded to `leafCount` leaves with `padLeaf`
 * (all zeros unless given: pass the piece-size padding subtree root when the leaves are piece-layer
 * hashes).
 * @param leafCount a power of two >= `leafHashes.length`.
 * @throws LodestoneError `INTERNAL` when `leafCount` is not a power of two or too small (a caller bug).
 */
export async function merkleRoot (leafHashes: readonly Uint8Array[], leafCount: number, hasher: IHasher, padLeaf: Uint8Array = ZERO_HASH): Promise<Uint8Array> {
  if (!isPowerOfTwo(leafCount) || leafHashes.length > leafCount) {
    throw new LodestoneError('INTERNAL', { reason: `merkleRoot: leafCount ${leafCount} is not a power of two >= ${leafHashes.length}` })
  }
  const levels = Math.round(Math.log2(leafCount))
  const pads = await padHashes(hasher, levels, padLeaf)
  if (leafHashes.length === 0) return pads[levels] ?? padLeaf
  let row: readonly Uint8Array[] = leafHashes
  for (let level = 0; level < levels; level++) {
    const pad = pads[level] ?? padLeaf
    const pending: Array<Promise<Uint8Array>> = []
    for (let i = 0; i < row.length; i += 2) pending.push(hashPair(hasher, row[i] ?? pad, row[i + 1] ?? pad))
    row = await Promise.all(pending)
  }
  return row[0] ?? padLeaf
}

/** SHA-256 of each 16 KiB block of `data` (the last may be short). Digests run concurrently. */
export async function blockHashes (hasher: IHasher, data: Uint8Array): Promise<Uint8Array[]> {
  const pending: Array<Promise<Uint8Array>> = []
  for (let offset = 0; offset < data.length; offset += MERKLE_BLOCK_LENGTH_BYTES) {
    pending.push(hasher.digest('sha256', data.subarray(offset, offset + MERKLE_BLOCK_LENGTH_BYTES)))
  }
  return Promise.all(pending)
}

/**
 * The piece-layer hash of one piece of a file larger than a piece: the root of its blocks, padded
 * with zero leaves to `pieceLengthBytes / 16 KiB` leaves (so a short last piece hashes the same way).
 * @param data the piece's file bytes only (no BEP 47 padding), at most `pieceLengthBytes`.
 */
export async function pieceLayerHash (hasher: IHasher, data: Uint8Array, pieceLengthBytes: number): Promise<Uint8Array> {
  return merkleRoot(await blockHashes(hasher, data), pieceLengthBytes / MERKLE_BLOCK_LENGTH_BYTES, hasher)
}

/** Root of an all-zero-leaf subtree covering one piece: the padding of the rows above the piece layer. */
export async function piecePadHash (hasher: IHasher, pieceLengthBytes: number): Promise<Uint8Array> {
  const levels = Math.round(Math.log2(pieceLengthBytes / MERKLE_BLOCK_LENGTH_BYTES))
  const pads = await padHashes(hasher, levels)
  return pads[levels] ?? ZERO_HASH
}

/**
 * A file's `pieces root` from its piece layer (files larger than one piece): the root over the
 * layer's hashes padded to a power of two with {@link piecePadHash}.
 * @param layer concatenated 32-byte piece hashes, as stored in `piece layers`.
 */
export async function rootFromPieceLayer (hasher: IHasher, layer: Uint8Array, pieceLengthBytes: number): Promise<Uint8Array> {
  const hashes: Uint8Array[] = []
  for (let i = 0; i < layer.length; i += MERKLE_HASH_LENGTH_BYTES) hashes.push(layer.subarray(i, i + MERKLE_HASH_LENGTH_BYTES))
  return merkleRoot(hashes, nextPowerOfTwo(hashes.length), hasher, await piecePadHash(hasher, pieceLengthBytes))
}

/**
 * A whole file's `pieces root` from its bytes (for the creator and tests; it holds the whole file, so
 * large files should go through the piece layer instead). Returns null for an empty file.
 */
export async function fileMerkleRoot (hasher: IHasher, data: Uint8Array): Promise<Uint8Array | null> {
  if (data.length === 0) return null
  const leaves = await blockHashes(hasher, data)
  return merkleRoot(leaves, nextPowerOfTwo(leaves.length), hasher)
}

/**
 * What a v2 piece must hash to.
 * - `layer`: the piece belongs to a file larger than one piece; its {@link pieceLayerHash} must equal `hash`.
 * - `file-root`: the piece is a whole file no larger than a piece; the root over its `blockCount`
 *   leaves (padded to the next power of two) must equal the file's `pieces root`.
 * - `layer-unknown`: the file needs a piece layer that is not known yet (metadata from peers carries
 *   no `piece layers`; BEP 52 hash requests fetch them). The piece cannot be verified with v2 hashes.
 *
 * `lengthBytes` is how many bytes of the piece are file data; the rest of the piece space (BEP 47 or
 * implied padding) is not hashed by v2.
 */
export type V2PieceExpectation =
  | { kind: 'layer', hash: Uint8Array, pieceLengthBytes: number, fileIndex: number, lengthBytes: number }
  | { kind: 'file-root', hash: Uint8Array, blockCount: number, fileIndex: number, lengthBytes: number }
  | { kind: 'layer-unknown', piecesRoot: Uint8Array, pieceInFile: number, fileIndex: number, lengthBytes: number }

/** The expectations {@link hashV2Piece} can check. */
export type V2VerifiableExpectation = Extract<V2PieceExpectation, { kind: 'layer' | 'file-root' }>

/**
 * Index into `files` of the data file containing piece-space `offset`, or -1 (padding, out of range).
 * Files are contiguous, so the last entry starting at or before `offset` is the only candidate:
 * zero-length entries sharing its offset come before it.
 */
function fileAtOffset (files: readonly TorrentFileEntry[], offset: number): number {
  let lo = 0
  let hi = files.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const f = files[mid]
    if (f === undefined) break
    if (f.offsetBytes <= offset) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  const f = files[found]
  return f !== undefined && !f.padding && offset < f.offsetBytes + f.lengthBytes ? found : -1
}

/**
 * What piece `pieceIndex` of a v2 or hybrid torrent must hash to (see {@link V2PieceExpectation}).
 * In v2 and hybrid torrents every file starts on a piece boundary, so a piece never spans two files.
 * @throws LodestoneError `INTERNAL` for a v1 torrent, an index out of range or a piece that starts in
 *   padding (all caller bugs for a torrent that passed the parser).
 */
export function v2PieceExpectation (meta: TorrentMetainfo, pieceIndex: number): V2PieceExpectation {
  if (meta.version === 'v1') throw new LodestoneError('INTERNAL', { reason: 'v2PieceExpectation on a v1 torrent' })
  if (!Number.isInteger(pieceIndex) || pieceIndex < 0 || pieceIndex >= meta.pieceCount) {
    throw new LodestoneError('INTERNAL', { reason: `piece ${pieceIndex} out of range 0..${meta.pieceCount - 1}` })
  }
  const pieceStart = pieceIndex * meta.pieceLengthBytes
  const fileIndex = fileAtOffset(meta.files, pieceStart)
  const file = meta.files[fileIndex]
  if (file === undefined || file.piecesRoot === undefined) {
    throw new LodestoneError('INTERNAL', { reason: `piece ${pieceIndex} does not start in a v2 file` })
  }
  const pieceInFile = (pieceStart - file.offsetBytes) / meta.pieceLengthBytes
  const lengthBytes = Math.min(meta.pieceLengthBytes, file.offsetBytes + file.lengthBytes - pieceStart)
  if (file.lengthBytes <= meta.pieceLengthBytes) {
    return { kind: 'file-root', hash: file.piecesRoot, blockCount: blockCount(file.lengthBytes), fileIndex, lengthBytes }
  }
  const layer = meta.pieceLayers.get(toHex(file.piecesRoot))
  const at = pieceInFile * MERKLE_HASH_LENGTH_BYTES
  if (layer === undefined || layer.length < at + MERKLE_HASH_LENGTH_BYTES) {
    return { kind: 'layer-unknown', piecesRoot: file.piecesRoot, pieceInFile, fileIndex, lengthBytes }
  }
  return { kind: 'layer', hash: layer.subarray(at, at + MERKLE_HASH_LENGTH_BYTES), pieceLengthBytes: meta.pieceLengthBytes, fileIndex, lengthBytes }
}

/**
 * Verifies a v2 piece. `data` is the piece as laid out in piece space; only its first
 * `expectation.lengthBytes` bytes (the file data) are hashed, so trailing padding may be included.
 * `data` is only read; the caller keeps ownership.
 * @returns true when the piece matches.
 */
export async function hashV2Piece (hasher: IHasher, data: Uint8Array, expectation: V2VerifiableExpectation): Promise<boolean> {
  if (data.length < expectation.lengthBytes) return false
  const fileData = data.subarray(0, expectation.lengthBytes)
  if (expectation.kind === 'layer') {
    return bytesEqual(await pieceLayerHash(hasher, fileData, expectation.pieceLengthBytes), expectation.hash)
  }
  const leaves = await blockHashes(hasher, fileData)
  if (leaves.length !== expectation.blockCount) return false
  return bytesEqual(await merkleRoot(leaves, nextPowerOfTwo(expectation.blockCount), hasher), expectation.hash)
}
