/**
 * File and piece priorities (libtorrent's file_priority / piece_priority, seed 003). Users choose
 * per file; the picker works per piece. A piece takes the highest priority of the real files it
 * touches (a piece shared by a skipped and a wanted file must still be downloaded whole, or the
 * wanted file's bytes in it could never be verified); an explicit piece priority, when set,
 * overrides that.
 *
 * Scale: 0 = skip (never downloaded; storage never creates the file), 1 = low, 4 = normal,
 * 6 = high, 7 = top — the picker's classes, so the mapping is the identity.
 *
 * Pure bookkeeping: no I/O, no torrent state. The torrent applies the result to the picker and
 * to storage in an order that never loses data (see `Torrent.setFilePriorities`).
 */
import { LodestoneError } from '../errors.js'
import type { TorrentFileEntry } from '../metainfo/types.js'
import { MAX_PIECE_PRIORITY } from './piece-priority.js'
import type { ReadStreamOptions } from './read-stream.js'

/** Named file priorities (any integer 0..7 is accepted). */
export const FilePriority = { skip: 0, low: 1, normal: 4, high: 6, top: 7 } as const

/** Priority given to a piece that holds no real file byte (only padding): low, unless nothing is wanted. */
const PAD_ONLY_PIECE_PRIORITY = 1

/** What the priorities need to know about the piece space; `TorrentMetainfo` satisfies it. */
export interface PrioritySpace {
  files: readonly TorrentFileEntry[]
  pieceLengthBytes: number
  pieceCount: number
}

/**
 * Expands file index ranges (BEP 53 `so`, `{ first, last }` inclusive) into indices.
 * @throws LodestoneError ARGUMENT_INVALID when a range is reversed or reaches past `fileCount`.
 */
export function expandFileIndexRanges (ranges: ReadonlyArray<{ first: number, last: number }>, fileCount: number): number[] {
  const out = new Set<number>()
  for (const { first, last } of ranges) {
    if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0 || last < first || last >= fileCount) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'selectOnly', reason: `range ${first}-${last} outside 0..${fileCount - 1}` })
    }
    for (let i = first; i <= last; i++) out.add(i)
  }
  return [...out].sort((a, b) => a - b)
}

/**
 * File priorities for "only these files" (`selectOnly`, BEP 53 `so`): normal for the listed
 * indices, skip for the rest.
 * @throws LodestoneError ARGUMENT_INVALID for an index outside the file list.
 */
export function selectOnlyPriorities (fileCount: number, indices: readonly number[]): number[] {
  const out = new Array<number>(fileCount).fill(FilePriority.skip)
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= fileCount) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'selectOnly', reason: `file index ${String(i)} outside 0..${fileCount - 1}` })
    }
    out[i] = FilePriority.normal
  }
  return out
}

/** @throws LodestoneError ARGUMENT_INVALID unless an integer 0..7. */
export function checkPriorityValue (priority: number, name = 'priority'): void {
  if (!Number.isInteger(priority) || priority < 0 || priority > MAX_PIECE_PRIORITY) {
    throw new LodestoneError('ARGUMENT_INVALID', { name, reason: `${String(priority)} is not an integer in 0..${MAX_PIECE_PRIORITY}` })
  }
}

export class FilePriorities {
  private readonly files: readonly TorrentFileEntry[]
  private readonly pieceLengthBytes: number
  private readonly pieceCount: number
  private readonly fileValues: Uint8Array
  /** Explicit piece priorities; -1: derived from the files. Made at the first one (issue 13: most torrents have none). */
  private pieceOverrides: Int8Array | null = null
  private overrideCount = 0

  /** @throws LodestoneError ARGUMENT_INVALID for a wrong length or a value outside 0..7. */
  constructor (space: PrioritySpace, initial?: ArrayLike<number>) {
    this.files = space.files
    this.pieceLengthBytes = space.pieceLengthBytes
    this.pieceCount = space.pieceCount
    this.fileValues = new Uint8Array(space.files.length).fill(FilePriority.normal)
    if (initial !== undefined) this.setFiles(initial)
  }

  /** True while every file is normal and no piece is overridden (the picker's defaults apply as they are). */
  get isDefault (): boolean {
    return this.overrideCount === 0 && this.fileValues.every((p) => p === FilePriority.normal)
  }

  fileCount (): number { return this.fileValues.length }

  file (index: number): number {
    this.checkFile(index)
    return this.fileValues[index]!
  }

  /** A copy of every file's priority. */
  fileList (): number[] {
    return [...this.fileValues]
  }

  /**
   * Validates a full list of file priorities without applying it.
   * @throws LodestoneError ARGUMENT_INVALID for a wrong length or a value outside 0..7.
   */
  validate (priorities: ArrayLike<number>): number[] {
    if (priorities.length !== this.fileValues.length) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'filePriorities', reason: `${priorities.length} priorities for ${this.fileValues.length} files` })
    }
    const out: number[] = []
    for (let i = 0; i < priorities.length; i++) {
      checkPriorityValue(priorities[i]!, `filePriorities[${i}]`)
      out.push(priorities[i]!)
    }
    return out
  }

  setFiles (priorities: ArrayLike<number>): void {
    this.fileValues.set(this.validate(priorities))
  }

  /** Sets (or with null clears) an explicit piece priority. */
  setPiece (piece: number, priority: number | null): void {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'piece', reason: `piece ${piece} outside 0..${this.pieceCount - 1}` })
    }
    if (priority !== null) checkPriorityValue(priority)
    const next = priority ?? -1
    if (this.pieceOverrides === null && next === -1) return
    const overrides = this.pieceOverrides ??= new Int8Array(this.pieceCount).fill(-1)
    const old = overrides[piece]!
    if (old === -1 && next !== -1) this.overrideCount++
    if (old !== -1 && next === -1) this.overrideCount--
    overrides[piece] = next
  }

  /** Every piece's effective priority: the highest of its real files', unless overridden. O(pieces + files). */
  piecePriorities (): Uint8Array {
    const out = new Uint8Array(this.pieceCount)
    const real = new Uint8Array(this.pieceCount)
    let anyWanted = false
    this.files.forEach((f, i) => {
      if (f.padding || f.lengthBytes === 0) return
      const first = Math.floor(f.offsetBytes / this.pieceLengthBytes)
      const last = Math.floor((f.offsetBytes + f.lengthBytes - 1) / this.pieceLengthBytes)
      const p = this.fileValues[i]!
      if (p > 0) anyWanted = true
      for (let piece = first; piece <= last; piece++) {
        real[piece] = 1
        if (p > out[piece]!) out[piece] = p
      }
    })
    const overrides = this.pieceOverrides
    for (let piece = 0; piece < this.pieceCount; piece++) {
      const o = overrides === null ? -1 : overrides[piece]!
      if (o !== -1) out[piece] = o
      else if (real[piece] === 0 && anyWanted) out[piece] = PAD_ONLY_PIECE_PRIORITY
    }
    return out
  }

  /** Bytes of file `index` that lie in pieces for which `has(piece)` is true. */
  verifiedBytes (index: number, has: (piece: number) => boolean): number {
    const f = this.files[index]!
    if (f.lengthBytes === 0) return 0
    const start = f.offsetBytes
    const end = f.offsetBytes + f.lengthBytes
    const first = Math.floor(start / this.pieceLengthBytes)
    const last = Math.floor((end - 1) / this.pieceLengthBytes)
    let total = 0
    for (let piece = first; piece <= last; piece++) {
      if (!has(piece)) continue
      const a = Math.max(start, piece * this.pieceLengthBytes)
      const b = Math.min(end, (piece + 1) * this.pieceLengthBytes)
      total += b - a
    }
    return total
  }

  private checkFile (index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.fileValues.length) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${index} outside 0..${this.fileValues.length - 1}` })
    }
  }
}

/** One file of a torrent, as `torrent.files` lists it (a snapshot, except `createReadStream`). */
export interface TorrentFile {
  readonly index: number
  /** '/'-separated path inside the storage root (the torrent's name first for multi-file torrents). */
  readonly path: string
  readonly lengthBytes: number
  /** 0 = skip (never created), 1 = low, 4 = normal, 6 = high, 7 = top. */
  readonly priority: number
  /** Bytes of the file in verified pieces. */
  readonly verifiedBytes: number
  /** verifiedBytes / lengthBytes (1 for an empty file). */
  readonly progress: number
  /** BEP 47 padding: never created, never streamed. */
  readonly padding: boolean
  /**
   * Streams bytes `start..end` (inclusive) of the file as they are verified; the pieces it needs
   * next become time-critical. See `createPieceReadStream`.
   * @throws LodestoneError ARGUMENT_INVALID (range; a skipped or padding file).
   */
  createReadStream: (options?: ReadStreamOptions) => ReadableStream<Uint8Array>
}
