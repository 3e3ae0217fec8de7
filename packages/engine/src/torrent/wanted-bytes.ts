/**
 * Bytes a torrent is to download when some pieces are skipped (file or piece priority 0), and how
 * many of them are verified: the denominator of `stats().progress`. Counted per piece, whole, as
 * the picker downloads them: a piece shared by a skipped and a wanted file is wanted.
 */

export interface WantedBytes {
  /** Bytes of the pieces with priority > 0. */
  wantedBytes: number
  /** Bytes of those pieces that are verified. */
  verifiedWantedBytes: number
}

/** One pass over the pieces (O(pieceCount)); callers skip it when nothing is skipped. */
export function countWantedBytes (
  pieceCount: number,
  pieceLength: (piece: number) => number,
  isWanted: (piece: number) => boolean,
  has: (piece: number) => boolean
): WantedBytes {
  let wantedBytes = 0
  let verifiedWantedBytes = 0
  for (let piece = 0; piece < pieceCount; piece++) {
    if (!isWanted(piece)) continue
    const length = pieceLength(piece)
    wantedBytes += length
    if (has(piece)) verifiedWantedBytes += length
  }
  return { wantedBytes, verifiedWantedBytes }
}
