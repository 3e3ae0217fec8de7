/**
 * Decides whether a piece's bytes are the right ones: v1 SHA-1 against `pieces`, v2 by the piece
 * layers / file roots (BEP 52), and for hybrid torrents both — a hybrid piece that matches one
 * hash and not the other is refused, because a peer could otherwise feed v1-only clients data that
 * v2 clients reject (or the reverse).
 *
 * Every digest goes through the hasher port, and through its one-job `hashPiece` fast path when it
 * has one (the Node worker pool): a hybrid piece's SHA-1 and merkle subtree root then cost one
 * round trip instead of 1 + 2·blocks digests, and checks spread over all cores.
 */
import { LodestoneError } from '../errors.js'
import { hashPiece, type IPieceHasher, type PieceHashRequest, type PieceHashResult } from '../metainfo/create-piece-hasher.js'
import { nextPowerOfTwo, v2PieceExpectation, MERKLE_BLOCK_LENGTH_BYTES, type V2PieceExpectation } from '../metainfo/merkle.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import { bytesEqual } from '../util/bytes.js'
import { SparseMap } from '../util/sparse-collections.js'

const SHA1_LENGTH_BYTES = 20

export interface PieceVerifierDeps {
  /** Any IHasher; `hashPiece` is used when present. */
  hasher: IPieceHasher
}

/** The result of one check. `unverifiable`: a v2 piece layer is not known yet (magnet v2 without hashes). */
export type PieceCheck = 'ok' | 'failed' | 'unverifiable'

export class PieceVerifier {
  /** Cached v2 expectations: computing one does a binary search over files. */
  private readonly v2 = new SparseMap<number, V2PieceExpectation>()
  /** Only torrents with BEP 47 pad files need the per-piece data-extent scan. */
  private readonly hasPadding: boolean

  constructor (private readonly deps: PieceVerifierDeps, private readonly meta: TorrentMetainfo) {
    if (meta.version !== 'v2' && (meta.pieceHashesV1 === null || meta.pieceHashesV1.length !== meta.pieceCount * SHA1_LENGTH_BYTES)) {
      throw new LodestoneError('INTERNAL', { reason: 'v1 piece hashes missing or of the wrong length' })
    }
    this.hasPadding = meta.files.some((f) => f.padding)
  }

  /** Length in bytes of piece `piece` in piece space (the last one may be short). */
  pieceLength (piece: number): number {
    return pieceLengthOf(this.meta, piece)
  }

  /** False when a v2 piece layer needed for `piece` is unknown (and there is no v1 hash to fall back on). */
  canVerify (piece: number): boolean {
    if (this.meta.version !== 'v2') return true
    return this.expectation(piece).kind !== 'layer-unknown'
  }

  /**
   * The SHA-1 `piece`'s bytes must have when that digest is the whole check (a v1 torrent without
   * BEP 47 padding), for checks made where the bytes are (IFileHandle.writeVerifiedReceived); null
   * otherwise (v2 and hybrid pieces need their merkle check as well).
   */
  sha1Only (piece: number): Uint8Array | null {
    const v1 = this.meta.pieceHashesV1
    if (this.meta.version !== 'v1' || v1 === null || this.hasPadding) return null
    return v1.subarray(piece * SHA1_LENGTH_BYTES, (piece + 1) * SHA1_LENGTH_BYTES)
  }

  /**
   * Checks one piece. `data` is the whole piece as laid out in piece space (padding bytes included,
   * as zeros); it is only read, and must not be modified until the promise settles.
   */
  async verify (piece: number, data: Uint8Array): Promise<PieceCheck> {
    if (data.length !== this.pieceLength(piece)) return 'failed'
    const plan = this.plan(piece)
    if (plan === 'unverifiable') return plan
    return this.judge(piece, await hashPiece(this.deps.hasher, data.subarray(0, plan.fileBytes), plan.request))
  }

  /**
   * What checking `piece` takes: the hash request, over the piece's first `fileBytes` bytes (the
   * rest is BEP 47 padding, hashed by v1 as zeros). For callers that hash elsewhere (the hasher
   * reading the files itself, see check-on-disk.ts), then {@link judge}.
   */
  plan (piece: number): { request: PieceHashRequest, fileBytes: number } | 'unverifiable' {
    const pieceLength = this.pieceLength(piece)
    const v1 = this.meta.pieceHashesV1
    const expectation = this.meta.version === 'v1' ? null : this.expectation(piece)
    if (expectation?.kind === 'layer-unknown' && v1 === null) return 'unverifiable'
    const v2 = expectation !== null && expectation.kind !== 'layer-unknown' ? expectation : null
    // v2 hashes only the file bytes; v1 hashes the whole piece, whose tail beyond the file (BEP 47
    // padding) must be zeros: it is hashed as zeros rather than as whatever a peer sent there,
    // since padding is never written anyway.
    const fileBytes = v2 !== null ? v2.lengthBytes : this.hasPadding ? lastDataByte(this.meta, piece, pieceLength) : pieceLength
    const request: PieceHashRequest = {}
    if (v1 !== null) request.sha1PadBytes = pieceLength - fileBytes
    if (v2 !== null) {
      request.v2Leaves = v2.kind === 'layer' ? v2.pieceLengthBytes / MERKLE_BLOCK_LENGTH_BYTES : nextPowerOfTwo(v2.blockCount)
    }
    return { request, fileBytes }
  }

  /** The verdict on `piece` given the hashes of its {@link plan}. */
  judge (piece: number, result: PieceHashResult): PieceCheck {
    const v1 = this.meta.pieceHashesV1
    const expectation = this.meta.version === 'v1' ? null : this.expectation(piece)
    const v2 = expectation !== null && expectation.kind !== 'layer-unknown' ? expectation : null
    if (v1 !== null) {
      const expected = v1.subarray(piece * SHA1_LENGTH_BYTES, (piece + 1) * SHA1_LENGTH_BYTES)
      if (result.sha1 === null || !bytesEqual(result.sha1, expected)) return 'failed'
    }
    if (v2 !== null) {
      if (v2.kind === 'file-root' && Math.ceil(v2.lengthBytes / MERKLE_BLOCK_LENGTH_BYTES) !== v2.blockCount) return 'failed'
      if (result.v2Root === null || !bytesEqual(result.v2Root, v2.hash)) return 'failed'
    }
    return 'ok'
  }

  private expectation (piece: number): V2PieceExpectation {
    let e = this.v2.get(piece)
    if (e === undefined) {
      e = v2PieceExpectation(this.meta, piece)
      // Unknown layers may arrive later (hash requests), so do not cache those.
      if (e.kind !== 'layer-unknown') this.v2.set(piece, e)
    }
    return e
  }
}

/** Length in bytes of piece `piece` of `meta` (the last one may be short). */
export function pieceLengthOf (meta: TorrentMetainfo, piece: number): number {
  if (piece < 0 || piece >= meta.pieceCount) throw new LodestoneError('INTERNAL', { reason: `piece ${piece} out of range` })
  if (piece < meta.pieceCount - 1) return meta.pieceLengthBytes
  return meta.totalLengthBytes - piece * meta.pieceLengthBytes
}

/**
 * Bytes of piece `piece` up to the end of its last non-padding file: everything after is BEP 47
 * padding, hashed by v1 as zeros. A piece made only of padding (never produced by a sane creator)
 * keeps its full length.
 */
function lastDataByte (meta: TorrentMetainfo, piece: number, pieceLength: number): number {
  const start = piece * meta.pieceLengthBytes
  const end = start + pieceLength
  let dataEnd = start
  for (const f of meta.files) {
    if (f.offsetBytes >= end) break
    const fEnd = f.offsetBytes + f.lengthBytes
    if (fEnd <= start || f.padding || f.lengthBytes === 0) continue
    dataEnd = Math.max(dataEnd, Math.min(fEnd, end))
  }
  return dataEnd === start ? pieceLength : dataEnd - start
}
