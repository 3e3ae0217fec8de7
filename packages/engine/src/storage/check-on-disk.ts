/**
 * Checks a torrent's pieces on disk with the hasher reading the files itself
 * ({@link IPieceHasher.hashFilePieces}): a recheck, a check on add, fast resume of changed files
 * and `lodestone verify`.
 *
 * Why: the other path reads every piece on the calling thread and hashes it there (v1 pieces up to
 * 1 MiB are hashed inline, see NodeHasher) — one core for 1 GiB ≈ 0.8 s, as libtorrent. Handed
 * the files' platform paths, every worker reads and hashes whole pieces from a shared counter, so
 * both cores hash and the bytes never cross threads (bench/recheck/RESULTS.md).
 *
 * Pieces the hasher cannot read as plain file ranges — touching a skipped file (its bytes may be
 * in the part file) or padding before their last data byte — are read through the storage and
 * verified as before. Pieces whose files are missing or too short are reported `missing` without
 * hashing. Batches of about {@link BATCH_BYTES} keep the job lists small, let a pause or stop take
 * effect between them, and two are in flight so no worker waits at a batch's end.
 */
import type { IFileSystem } from '../interfaces/filesystem.js'
import { isLodestoneError } from '../errors.js'
import type { FilePieceSegment, INativePathFileSystem, IPieceHasher, PieceHashRequest } from '../metainfo/create-piece-hasher.js'
import type { PieceCheck, PieceVerifier } from '../torrent/piece-verifier.js'
import type { TorrentContentStorage } from './torrent-content-storage.js'

/** Bytes of pieces per hasher call. */
export const BATCH_BYTES = 128 * 1024 * 1024

/** Checks of less data than this read and hash on the calling thread, as before. */
export const MIN_BYTES = 4 * 1024 * 1024

/** A piece's outcome: its check, or `missing` (a file it needs is absent or short: not read). */
export type OnDiskPieceStatus = PieceCheck | 'missing'

export interface CheckOnDiskDeps {
  hasher: IPieceHasher
  storage: TorrentContentStorage
  verifier: PieceVerifier
}

export interface CheckOnDiskOptions {
  signal?: AbortSignal
  /** Awaited before each batch; false stops the check (the torrent was stopped or rechecked again). */
  beforeBatch?: () => Promise<boolean>
}

interface FileJob { piece: number, segments: FilePieceSegment[], request: PieceHashRequest }

/**
 * Checks the pieces of `ranges` (`[from, to)` each), calling `onPiece` once per piece (any order).
 * Resolves false, having done nothing, when this path does not apply (a hasher without
 * `hashFilePieces`, a filesystem without native paths, less than {@link MIN_BYTES} to check): the
 * caller checks the usual way.
 * @throws LodestoneError ABORTED; STORAGE_* when a file cannot be read; the hasher's errors.
 */
export async function checkOnDisk (
  deps: CheckOnDiskDeps,
  ranges: ReadonlyArray<readonly [number, number]>,
  onPiece: (piece: number, status: OnDiskPieceStatus) => void,
  options: CheckOnDiskOptions = {}
): Promise<boolean> {
  const { hasher, storage, verifier } = deps
  const fs = storage.fileSystem as IFileSystem & Partial<INativePathFileSystem>
  if (hasher.hashFilePieces === undefined || typeof fs.nativePath !== 'function') return false
  const layout = storage.layout
  // A worker round trip costs more than reading and hashing a few small pieces here (10 000 torrents
  // of one 16 KiB piece each: +40 % CPU for adding them through the workers).
  let total = 0
  for (const [from, to] of ranges) total += Math.max(0, Math.min(to, layout.pieceCount) - from) * layout.pieceLengthBytes
  if (total < MIN_BYTES) return false
  const native: Array<string | null> = layout.files.map((f, i) => f.padding || f.lengthBytes === 0 || storage.isFileSkipped(i) ? null : fs.nativePath!(storage.filePath(i)))
  const sizes = await Promise.all(layout.files.map(async (_f, i) => native[i] === null ? -1 : sizeOnDisk(fs, storage.filePath(i))))

  const slow: number[] = []
  let batch: FileJob[] = []
  let batchBytes = 0
  const inFlight = new Set<Promise<void>>()
  const failure: { error: unknown } = { error: null }
  const send = async (): Promise<boolean> => {
    const jobs = batch
    batch = []
    batchBytes = 0
    if (jobs.length === 0) return true
    if (options.beforeBatch !== undefined && !await options.beforeBatch()) return false
    const run = hasher.hashFilePieces!(jobs, (i, result) => {
      const job = jobs[i]!
      onPiece(job.piece, verifier.judge(job.piece, result))
    }, options.signal !== undefined ? { signal: options.signal } : {}).catch((error: unknown) => { failure.error ??= error })
    inFlight.add(run)
    void run.finally(() => inFlight.delete(run))
    if (inFlight.size >= 2) await Promise.race(inFlight)
    return failure.error === null
  }

  for (const [from, to] of ranges) {
    for (let piece = from; piece < to; piece++) {
      const plan = verifier.plan(piece)
      if (plan === 'unverifiable') {
        onPiece(piece, plan)
        continue
      }
      const job = fileJob(piece, plan, layout.pieceSpans(piece, 0, plan.fileBytes), native, sizes)
      if (job === 'missing') onPiece(piece, 'missing')
      else if (job === null) slow.push(piece)
      else {
        batch.push(job)
        batchBytes += plan.fileBytes
        if (batchBytes >= BATCH_BYTES && !await send()) break
      }
    }
    if (failure.error !== null) break
  }
  if (failure.error === null) await send()
  await Promise.all(inFlight)
  if (failure.error !== null) throw failure.error as Error
  for (const piece of slow) {
    if (options.beforeBatch !== undefined && !await options.beforeBatch()) break
    for await (const { data } of storage.readPieces({ fromPiece: piece, toPiece: piece + 1, ...(options.signal !== undefined ? { signal: options.signal } : {}) })) {
      onPiece(piece, data === null ? 'missing' : await verifier.verify(piece, data))
    }
  }
  return true
}

/** The file ranges of one piece; null when the hasher cannot read it so (see the module header); `missing` when a file is short. */
function fileJob (piece: number, plan: { request: PieceHashRequest }, spans: ReadonlyArray<{ fileIndex: number, fileOffsetBytes: number, lengthBytes: number }>,
  native: ReadonlyArray<string | null>, sizes: readonly number[]): FileJob | 'missing' | null {
  const segments: FilePieceSegment[] = []
  for (const span of spans) {
    const path = native[span.fileIndex]
    if (path === null || path === undefined) return null
    if ((sizes[span.fileIndex] ?? -1) < span.fileOffsetBytes + span.lengthBytes) return 'missing'
    segments.push({ nativePath: path, offsetBytes: span.fileOffsetBytes, lengthBytes: span.lengthBytes })
  }
  return { piece, segments, request: plan.request }
}

/** The file's size, or -1 when it is not there (or not a file). */
async function sizeOnDisk (fs: IFileSystem, path: string): Promise<number> {
  try {
    const s = await fs.stat(path)
    return s.isFile ? s.size : -1
  } catch (error) {
    if (isLodestoneError(error) && error.code === 'STORAGE_NOT_FOUND') return -1
    throw error
  }
}
