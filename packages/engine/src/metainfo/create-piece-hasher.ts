/**
 * Piece hashing as torrent creation (and rechecks) need it: one hasher job per piece.
 *
 * Why this exists beside `IHasher.digest`: a hybrid piece needs one SHA-1 (over the piece plus its
 * BEP 47 zero padding) and, for v2, one SHA-256 per 16 KiB block reduced to the piece's merkle
 * subtree root. Through `digest` alone that is 1 + 2·(blocks per piece) promises per piece
 * (≈ 130 000 per GiB with 512 KiB pieces), and a worker pool pays a message round trip for each.
 * A hasher may implement these optional fast paths, which the core feature-detects:
 * - {@link IPieceHasher.hashPiece}: the whole piece in one job. {@link hashPiece} falls back to
 *   `digest` + the merkle helpers, so any `IHasher` (e.g. WebCrypto) still works, only slower.
 * - {@link IPieceHasher.allocate}: buffers the hasher reads without copying (the Node pool returns
 *   SharedArrayBuffer memory its workers read in place).
 * - {@link IPieceHasher.hashFilePiece} / {@link IPieceHasher.hashFilePieces}: the hasher reads
 *   the pieces from the files itself, given their platform paths (from
 *   {@link INativePathFileSystem.nativePath} or creation's deps), so the bytes never enter the
 *   calling thread. Measured on the 2-core bench machine for a 1 GiB hybrid torrent (other
 *   sessions loading it, load average ≈ 2): main thread reads + workers hash ≈ 1.25–1.4 s, and
 *   1.7–2.2 s when busier; one `hashFilePiece` round trip per piece ≈ 1.22–1.35 s; workers
 *   pulling pieces themselves (`hashFilePieces`) ≈ 1.05 s, like a hand-written worker loop.
 *   No thread-pool reads, no main-thread wake-up per piece.
 */
import type { IHasher } from '../interfaces/hasher.js'
import { blockHashes, merkleRoot } from './merkle.js'

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
   * A piece of a multi-piece file uses pieceLength / 16 KiB (its piece-layer hash); a file that
   * fits in one piece uses the next power of two ≥ its block count (its `pieces root`).
   */
  v2Leaves?: number | undefined
}

export interface PieceHashResult {
  /** 20 bytes, or null when not requested. */
  sha1: Uint8Array | null
  /** 32 bytes, or null when not requested. */
  v2Root: Uint8Array | null
}

/** A byte range of a file named by its platform path, for {@link IPieceHasher.hashFilePiece}. */
export interface FilePieceSegment {
  nativePath: string
  offsetBytes: number
  lengthBytes: number
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
  /**
   * Reads the concatenation of `segments` from the files and hashes it as {@link hashPiece} would.
   * @throws LodestoneError `STORAGE_NOT_FOUND` (a file is missing) or `STORAGE_IO` (unreadable,
   *   or shorter than a segment says: the file changed).
   */
  hashFilePiece?: (segments: readonly FilePieceSegment[], request: PieceHashRequest) => Promise<PieceHashResult>
  /**
   * Reads and hashes many pieces, as {@link hashFilePiece} each, calling `onPiece` with each
   * piece's index in `pieces` as it completes (any order). The hasher spreads them over its lanes
   * itself, so a caller makes one call instead of a round trip per piece. Holds no caller memory.
   * @throws as {@link hashFilePiece}, plus `ABORTED` when `signal` fires.
   */
  hashFilePieces?: (pieces: ReadonlyArray<{ segments: readonly FilePieceSegment[], request: PieceHashRequest }>,
    onPiece: (index: number, result: PieceHashResult) => void, options?: { signal?: AbortSignal }) => Promise<void>
}

/**
 * Optional filesystem capability: the platform path of a file, so a co-operating hasher can read
 * it itself. Returns null when the file has no such path (e.g. in-memory or OPFS storage).
 */
export interface INativePathFileSystem {
  nativePath: (path: string) => string | null
}

/**
 * Hashes one piece through the hasher's `hashPiece` when it has one, else through `digest`.
 * Same contract as {@link IPieceHasher.hashPiece}.
 */
export async function hashPiece (hasher: IPieceHasher, data: Uint8Array | readonly Uint8Array[], request: PieceHashRequest): Promise<PieceHashResult> {
  if (hasher.hashPiece !== undefined) return hasher.hashPiece(data, request)
  let sha1: Promise<Uint8Array> | null = null
  if (request.sha1PadBytes !== undefined) {
    const parts: Uint8Array[] = data instanceof Uint8Array ? [data] : [...data]
    if (request.sha1PadBytes > 0) parts.push(new Uint8Array(request.sha1PadBytes))
    sha1 = hasher.digest('sha1', parts)
  }
  let v2Root: Uint8Array | null = null
  if (request.v2Leaves !== undefined) {
    const flat = flatten(data)
    v2Root = await merkleRoot(await blockHashes(hasher, flat), request.v2Leaves, hasher)
  }
  return { sha1: sha1 === null ? null : await sha1, v2Root }
}

function flatten (data: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (data instanceof Uint8Array) return data
  if (data.length === 1) return data[0]!
  let length = 0
  for (const d of data) length += d.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const d of data) {
    out.set(d, offset)
    offset += d.length
  }
  return out
}
