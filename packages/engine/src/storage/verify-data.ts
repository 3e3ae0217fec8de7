/**
 * `verifyTorrentData`: checks a torrent's files in one storage root against its piece hashes,
 * without an engine, and says which pieces are good and how much of each file is verified (the
 * CLI's `lodestone verify`). Nothing is written: files are only read.
 *
 * It reads pieces in order through {@link TorrentContentStorage.readPieces} (bounded read-ahead,
 * pieces whose files are missing or short are not read at all) and hashes up to `concurrency`
 * of them at once with {@link PieceVerifier}, so memory stays at a few pieces whatever the size.
 *
 * A file's verified bytes are the bytes it has in pieces that passed: a file is complete when all
 * of its bytes lie in good pieces. A bad piece shared by two files makes both incomplete, since
 * the hash cannot say which file holds the wrong bytes.
 */
import { LodestoneError } from '../errors.js'
import type { IFileSystem } from '../interfaces/filesystem.js'
import type { IPieceHasher } from '../metainfo/create-piece-hasher.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import { PieceVerifier } from '../torrent/piece-verifier.js'
import { TorrentContentStorage } from './torrent-content-storage.js'
import { checkOnDisk } from './check-on-disk.js'

/**
 * One piece's result: `ok` passed its hash check; `failed` was read and did not match; `missing`
 * was not read because a file it needs is absent or too short; `unverifiable` has no hash to
 * check against (a v2 torrent without its piece layers).
 */
export type PieceDataStatus = 'ok' | 'failed' | 'missing' | 'unverifiable'

/** One file of the torrent, as found on disk. */
export interface FileVerifyResult {
  /** Index in `meta.files`. */
  index: number
  /** '/'-separated path inside the storage root (`name/...` for multi-file torrents). */
  path: string
  lengthBytes: number
  /** Bytes of this file inside pieces that passed their check. */
  verifiedBytes: number
  /** Every byte verified (always true for empty files). */
  complete: boolean
  /** BEP 47 padding: never on disk; listed so indices match `meta.files`. */
  padding: boolean
  /** Pieces touching this file that failed their hash check (not missing ones). */
  failedPieces: number[]
}

export interface VerifyDataResult {
  /** One status per piece. */
  pieces: PieceDataStatus[]
  goodPieces: number
  failedPieces: number
  missingPieces: number
  unverifiablePieces: number
  /** Bytes of pieces that passed (piece space, padding included). */
  verifiedBytes: number
  totalBytes: number
  /** Every piece passed. */
  complete: boolean
  files: FileVerifyResult[]
}

export interface VerifyDataDeps {
  /** The storage root holding the torrent's files (as for the engine's storage). */
  fs: IFileSystem
  hasher: IPieceHasher
}

export interface VerifyDataOptions {
  /** Pieces hashed at once. @default the hasher's concurrency × 2 (at least 2) */
  concurrency?: number
  signal?: AbortSignal
  /** Called after each piece with the number of pieces checked so far. */
  onProgress?: (checkedPieces: number, totalPieces: number) => void
}

/**
 * Checks the data of `meta` under `deps.fs`.
 * @throws LodestoneError ABORTED when `signal` aborts; STORAGE_* on read failures other than a
 *   missing or short file; whatever the hasher throws.
 */
export async function verifyTorrentData (meta: TorrentMetainfo, deps: VerifyDataDeps, options: VerifyDataOptions = {}): Promise<VerifyDataResult> {
  if (options.signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'verifyTorrentData' })
  const storage = new TorrentContentStorage({ fs: deps.fs }, meta, { readCacheBytes: 0 })
  const verifier = new PieceVerifier({ hasher: deps.hasher }, meta)
  const concurrency = Math.max(2, options.concurrency ?? deps.hasher.concurrency * 2)
  const pieces: PieceDataStatus[] = new Array<PieceDataStatus>(meta.pieceCount).fill('missing')
  const inFlight = new Set<Promise<void>>()
  const failure: { error: unknown } = { error: undefined }
  let failed = false
  let checked = 0
  const done = (): void => {
    checked++
    options.onProgress?.(checked, meta.pieceCount)
  }
  try {
    const readOptions = options.signal === undefined ? {} : { signal: options.signal }
    // Both cores: the hasher reads and hashes the files itself where it can.
    const onDisk = await checkOnDisk({ hasher: deps.hasher, storage, verifier }, [[0, meta.pieceCount]], (piece, status) => {
      pieces[piece] = status
      done()
    }, readOptions)
    for await (const { piece, data } of onDisk ? [] : storage.readPieces(readOptions)) {
      if (failed) break
      if (data === null) {
        done()
        continue
      }
      const job: Promise<void> = verifier.verify(piece, data).then((result) => {
        pieces[piece] = result
        done()
      }, (error: unknown) => {
        if (!failed) failure.error = error
        failed = true
      }).finally(() => { inFlight.delete(job) })
      inFlight.add(job)
      if (inFlight.size >= concurrency) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
  } finally {
    await storage.close()
  }
  if (failed) throw failure.error
  return summarize(meta, storage, pieces)
}

function summarize (meta: TorrentMetainfo, storage: TorrentContentStorage, pieces: PieceDataStatus[]): VerifyDataResult {
  const layout = storage.layout
  const files: FileVerifyResult[] = meta.files.map((f, index) => ({
    index, path: layout.filePath(index), lengthBytes: f.lengthBytes, verifiedBytes: 0, complete: false, padding: f.padding, failedPieces: []
  }))
  const counts = { ok: 0, failed: 0, missing: 0, unverifiable: 0 }
  let verifiedBytes = 0
  pieces.forEach((status, piece) => {
    counts[status]++
    if (status !== 'ok' && status !== 'failed') return
    const length = layout.pieceLength(piece)
    if (status === 'ok') verifiedBytes += length
    for (const span of layout.pieceSpans(piece)) {
      const file = files[span.fileIndex]!
      if (status === 'ok') file.verifiedBytes += span.lengthBytes
      else if (file.failedPieces.at(-1) !== piece) file.failedPieces.push(piece)
    }
  })
  for (const file of files) file.complete = file.verifiedBytes === file.lengthBytes
  return {
    pieces,
    goodPieces: counts.ok,
    failedPieces: counts.failed,
    missingPieces: counts.missing,
    unverifiablePieces: counts.unverifiable,
    verifiedBytes,
    totalBytes: meta.totalLengthBytes,
    complete: counts.ok === meta.pieceCount,
    files
  }
}
