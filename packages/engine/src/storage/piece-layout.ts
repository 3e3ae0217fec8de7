/**
 * Piece ↔ file mapping. Every file has an offset in one linear piece space (metainfo/types.ts);
 * a byte range of that space maps to a run of file spans, found by a binary search over the file
 * offsets (torrents with 100 000 files are common enough that a linear scan per block would show).
 *
 * File paths: a multi-file torrent's files live under a directory called `name`, so the path on
 * disk is `[name, ...path]`; a single-file torrent's one file already has the path `[name]` (or its
 * v2 file-tree key) and lives directly in the storage root. `multiFile` from the parser decides.
 */
import { LodestoneError } from '../errors.js'
import type { TorrentFileEntry, TorrentMetainfo } from '../metainfo/types.js'
import { SparseMap } from '../util/sparse-collections.js'

/** What storage needs from the metainfo; a `TorrentMetainfo` satisfies it. */
export type ContentLayout = Pick<TorrentMetainfo, 'id' | 'name' | 'multiFile' | 'files' | 'pieceLengthBytes' | 'pieceCount' | 'totalLengthBytes'>

/** One file's share of a byte range of the piece space. */
export interface FileSpan {
  fileIndex: number
  /** Where the span starts in the file. */
  fileOffsetBytes: number
  lengthBytes: number
  /** Where the span starts in the range that was mapped (e.g. in the piece buffer). */
  rangeOffsetBytes: number
}

/** Relative '/'-separated path of a file of `layout` inside its storage root. */
export function filePathOf (layout: Pick<ContentLayout, 'name' | 'multiFile'>, file: Pick<TorrentFileEntry, 'path'>): string {
  return (layout.multiFile ? [layout.name, ...file.path] : file.path).join('/')
}

export class PieceLayout {
  readonly files: readonly TorrentFileEntry[]
  readonly pieceCount: number
  readonly pieceLengthBytes: number
  readonly totalLengthBytes: number
  /** files[i].offsetBytes, for the binary search. */
  private readonly offsets: Float64Array
  /** Paths of renamed files (Torrent.renamePath), replacing the metainfo's. */
  private readonly renamed = new SparseMap<number, string>()

  /** @throws LodestoneError ARGUMENT_INVALID when the files do not tile the piece space. */
  constructor (private readonly layout: ContentLayout) {
    this.files = layout.files
    this.pieceCount = layout.pieceCount
    this.pieceLengthBytes = layout.pieceLengthBytes
    this.totalLengthBytes = layout.totalLengthBytes
    this.offsets = new Float64Array(layout.files.length)
    let offset = 0
    layout.files.forEach((f, i) => {
      if (f.offsetBytes !== offset || !Number.isSafeInteger(f.lengthBytes) || f.lengthBytes < 0) {
        throw invalid(`file ${i} at offset ${f.offsetBytes} (expected ${offset}), length ${f.lengthBytes}`)
      }
      this.offsets[i] = offset
      offset += f.lengthBytes
    })
    if (offset !== layout.totalLengthBytes) throw invalid(`files add up to ${offset} bytes, not ${layout.totalLengthBytes}`)
    if (layout.pieceLengthBytes <= 0 || Math.ceil(offset / layout.pieceLengthBytes) !== layout.pieceCount) {
      throw invalid(`${layout.pieceCount} pieces of ${layout.pieceLengthBytes} bytes do not cover ${offset} bytes`)
    }
  }

  /** Path of file `fileIndex` inside the storage root (see the module comment). */
  filePath (fileIndex: number): string {
    return this.renamed.get(fileIndex) ?? filePathOf(this.layout, this.file(fileIndex))
  }

  /** Gives file `fileIndex` another path in the storage root (a rename); the metainfo's path when `path` is it. */
  setFilePath (fileIndex: number, path: string): void {
    if (path === filePathOf(this.layout, this.file(fileIndex))) this.renamed.delete(fileIndex)
    else this.renamed.set(fileIndex, path)
  }

  /** The renamed files' paths by file index (empty when none was renamed). */
  renamedPaths (): Record<number, string> {
    return Object.fromEntries(this.renamed)
  }

  file (fileIndex: number): TorrentFileEntry {
    const f = this.files[fileIndex]
    if (f === undefined) throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${fileIndex} outside 0..${this.files.length - 1}` })
    return f
  }

  /** Length in bytes of `piece` (the last one may be short). */
  pieceLength (piece: number): number {
    this.checkPiece(piece)
    return piece < this.pieceCount - 1 ? this.pieceLengthBytes : this.totalLengthBytes - piece * this.pieceLengthBytes
  }

  /** Index of the file holding byte `offsetBytes` of the piece space (never an empty file). */
  fileAt (offsetBytes: number): number {
    // Largest i with offsets[i] <= offset: empty files share their successor's offset and come
    // before it, so this lands on the non-empty file that holds the byte.
    let lo = 0
    let hi = this.offsets.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.offsets[mid]! <= offsetBytes) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /**
   * The file spans of `lengthBytes` bytes at `offsetBytes` in the piece space, in order. Empty
   * files are skipped; padding files are included (check `files[span.fileIndex].padding`).
   * @throws LodestoneError ARGUMENT_INVALID when the range lies outside the piece space.
   */
  spans (offsetBytes: number, lengthBytes: number): FileSpan[] {
    if (!Number.isSafeInteger(offsetBytes) || !Number.isSafeInteger(lengthBytes) || offsetBytes < 0 || lengthBytes < 0 ||
      offsetBytes + lengthBytes > this.totalLengthBytes) {
      throw invalid(`range ${offsetBytes}+${lengthBytes} outside 0..${this.totalLengthBytes}`)
    }
    const out: FileSpan[] = []
    if (lengthBytes === 0) return out
    let i = this.fileAt(offsetBytes)
    let pos = offsetBytes
    const end = offsetBytes + lengthBytes
    while (pos < end) {
      const f = this.files[i]!
      const fileEnd = f.offsetBytes + f.lengthBytes
      if (f.lengthBytes > 0 && pos < fileEnd) {
        const n = Math.min(end, fileEnd) - pos
        out.push({ fileIndex: i, fileOffsetBytes: pos - f.offsetBytes, lengthBytes: n, rangeOffsetBytes: pos - offsetBytes })
        pos += n
      }
      i++
    }
    return out
  }

  /** The file spans of `lengthBytes` bytes at `begin` inside `piece` (the whole piece by default). */
  pieceSpans (piece: number, begin = 0, lengthBytes = this.pieceLength(piece) - begin): FileSpan[] {
    if (begin < 0 || lengthBytes < 0 || begin + lengthBytes > this.pieceLength(piece)) {
      throw invalid(`range ${begin}+${lengthBytes} outside piece ${piece}`)
    }
    return this.spans(piece * this.pieceLengthBytes + begin, lengthBytes)
  }

  /** First and last piece touched by a file; `lastPiece < firstPiece` for an empty file. */
  filePieceRange (fileIndex: number): { firstPiece: number, lastPiece: number } {
    const f = this.file(fileIndex)
    const firstPiece = Math.floor(f.offsetBytes / this.pieceLengthBytes)
    if (f.lengthBytes === 0) return { firstPiece, lastPiece: firstPiece - 1 }
    return { firstPiece, lastPiece: Math.floor((f.offsetBytes + f.lengthBytes - 1) / this.pieceLengthBytes) }
  }

  /**
   * Pieces that hold bytes of two or more real (non-padding, non-empty) files, ascending. Such a
   * piece can only be the first or last piece of each file it touches, so this costs O(files).
   */
  sharedPieces (): number[] {
    const touched = new Map<number, number>()
    this.files.forEach((f, i) => {
      if (f.padding || f.lengthBytes === 0) return
      const { firstPiece, lastPiece } = this.filePieceRange(i)
      touched.set(firstPiece, (touched.get(firstPiece) ?? 0) + 1)
      if (lastPiece !== firstPiece) touched.set(lastPiece, (touched.get(lastPiece) ?? 0) + 1)
    })
    return [...touched].filter(([, n]) => n > 1).map(([p]) => p).sort((a, b) => a - b)
  }

  private checkPiece (piece: number): void {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'piece', reason: `piece ${piece} outside 0..${this.pieceCount - 1}` })
    }
  }
}

function invalid (reason: string): LodestoneError<'ARGUMENT_INVALID'> {
  return new LodestoneError('ARGUMENT_INVALID', { name: 'layout', reason })
}
