/**
 * Torrent creation: v1, v2 (BEP 52) and hybrid, from one file or a directory tree, reading through
 * `IFileSystem` and hashing through `IHasher`.
 *
 * Why it looks like this:
 * - Layout follows libtorrent 2.0 so the same data and options give the same info hashes: files in
 *   canonical order (see create-file-list.ts); multi-file hybrid torrents put a BEP 47 pad file
 *   (`.pad/<n>`, attr `p`) after every file that does not end on a piece boundary (the last one
 *   too) so every file starts on a piece boundary and each piece belongs to one file; v1 torrents have no pad files (pieces span files); v2 torrents list
 *   only the `file tree`. Automatic piece length matches libtorrent's choice (see
 *   {@link autoPieceLength}).
 * - One pipeline for every kind: the source is cut into piece jobs (a hybrid/v2 piece is one file
 *   range; a v1 piece may gather several files), each read into one of a few reusable buffers and
 *   hashed with one `hashPiece` call, so a worker pool hashes `concurrency` pieces at once while
 *   the next ones are read. Memory is bounded by the buffers (see
 *   {@link CreateTorrentOptions.maxBufferedBytes}), not by the data size.
 * - When the hasher can read files itself (`hashFilePiece`) and the filesystem can name them
 *   (`nativePath`), pieces are read and hashed in the hasher's workers and never enter this
 *   thread (measured ≈ 20% faster on 1 GiB: see create-piece-hasher.ts). Otherwise buffers come
 *   from `hasher.allocate()` when it exists (shared memory a Node worker reads in place), so piece
 *   data is never copied between threads.
 */
import type { IFileSystem, IFileHandle } from '../interfaces/filesystem.js'
import type { IHasher } from '../interfaces/hasher.js'
import type { MetaVersion } from './types.js'
import { LodestoneError, hasCode } from '../errors.js'
import { bencodeEncode, type BencodeEncodable } from '../protocol/bencode.js'
import { MERKLE_BLOCK_LENGTH_BYTES, blockCount, nextPowerOfTwo, rootFromPieceLayer } from './merkle.js'
import { hashPiece, type FilePieceSegment, type INativePathFileSystem, type IPieceHasher, type PieceHashRequest, type PieceHashResult } from './create-piece-hasher.js'
import { listSourceFiles, type SourceFile } from './create-file-list.js'
import { unsafeComponentReason } from './path-safety.js'

/** Smallest piece length accepted (BEP 52 requires at least one 16 KiB block). */
export const MIN_PIECE_LENGTH_BYTES = 16_384
/** Largest piece length accepted: a piece is held in memory while it is hashed. */
export const MAX_PIECE_LENGTH_BYTES = 64 * 1024 * 1024
/** Largest piece length {@link autoPieceLength} picks (libtorrent's cap too). */
export const AUTO_MAX_PIECE_LENGTH_BYTES = 16 * 1024 * 1024

/**
 * The default piece length for `totalBytes` of content: the smallest power of two ≥ 16 KiB whose
 * square is at least 100 × totalBytes (i.e. ≥ 10·√total), capped at 16 MiB. Pieces then grow
 * with the square root of the size, so the piece count does too (1 GiB → 512 KiB × 2048 pieces,
 * 16 GiB → 2 MiB × 8192). This reproduces libtorrent 2.0.8's automatic choice: checked against
 * it for 3 000 random sizes up to 4 TiB; at each boundary libtorrent switches within ±1.5 bytes
 * of the same point.
 */
export function autoPieceLength (totalBytes: number): number {
  let p = MIN_PIECE_LENGTH_BYTES
  while (p < AUTO_MAX_PIECE_LENGTH_BYTES && p * p < 100 * totalBytes) p *= 2
  return p
}

/** Per-call options of {@link createTorrent}. Text fields are stored as UTF-8. */
export interface CreateTorrentOptions {
  /** @default 'hybrid' */
  kind?: MetaVersion
  /** A power of two from 16 KiB to 64 MiB. @default autoPieceLength(total content bytes) */
  pieceLengthBytes?: number
  /** The torrent's name. @default the last component of the source path */
  name?: string
  /** BEP 12 tracker tiers. The first URL also becomes `announce`; `announce-list` is written when there are several URLs. */
  announce?: ReadonlyArray<readonly string[]>
  /** BEP 19 web seeds (`url-list`). */
  urlList?: readonly string[]
  /** BEP 27: `private = 1` in the info dict (changes the info hash). */
  private?: boolean
  comment?: string
  /** `created by`. */
  createdBy?: string
  /** `creation date`, seconds since the epoch. Omitted when absent (reproducible output). */
  creationDate?: number
  /** `source` in the info dict (changes the info hash; trackers use it to tell cross-seeds apart). */
  source?: string
  /** Called after each hashed piece with content bytes hashed so far (padding excluded) and the total. */
  onProgress?: (hashedBytes: number, totalBytes: number) => void
  signal?: AbortSignal
  /**
   * Bound on piece buffers held at once (reading + hashing). At least two pieces are always held.
   * @default 64 MiB, and at most 4 pieces per unit of hasher concurrency
   */
  maxBufferedBytes?: number
}

export interface CreateTorrentDeps {
  /**
   * Reads the source; `sourcePath` is relative to its root. When it also has `nativePath` (see
   * {@link INativePathFileSystem}) and the hasher has `hashFilePiece`, the hasher reads the
   * files itself.
   */
  fs: IFileSystem | (IFileSystem & INativePathFileSystem)
  /** Hashes pieces; its optional `hashFilePiece` / `hashPiece` / `allocate` fast paths are used when present. */
  hasher: IHasher
  /** Platform path of a source file, overriding `fs.nativePath`. */
  nativePath?: (fsPath: string) => string | null
}

export interface CreatedTorrent {
  /** The .torrent file's bytes. The caller owns them. */
  torrent: Uint8Array
  /** The bencoded info dictionary, byte for byte as it appears in `torrent`. */
  infoBytes: Uint8Array
  /** SHA-1 of the info dict, or null for v2. */
  infoHashV1: Uint8Array | null
  /** SHA-256 of the info dict, or null for v1. */
  infoHashV2: Uint8Array | null
  kind: MetaVersion
  name: string
  pieceLengthBytes: number
  pieceCount: number
  /** Content bytes (padding excluded). */
  totalLengthBytes: number
  /** Content files in torrent order: paths below the root, no padding. */
  files: Array<{ path: string[], lengthBytes: number }>
}

/** A file as laid out in the torrent, with the BEP 47 padding that follows it (hybrid only). */
interface LaidOutFile extends SourceFile {
  padAfterBytes: number
  /** v2/hybrid: index of the file's first piece. */
  firstPiece: number
  pieceCount: number
}

/** A byte range of one source file. */
interface Range { file: number, offsetBytes: number, lengthBytes: number }

/** One piece to read and hash. */
interface PieceJob {
  /** Index in the torrent's piece space. */
  piece: number
  ranges: Range[]
  lengthBytes: number
  request: PieceHashRequest
  /** v2/hybrid: the file and the piece's index within it. */
  v2?: { file: number, pieceInFile: number }
}

const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024
/** Pieces handed to `hashFilePieces` per call: bounds the job list (≈ 100 bytes a piece). */
const BULK_CHUNK_PIECES = 4096

function aborted (signal: AbortSignal): LodestoneError<'ABORTED'> {
  return new LodestoneError('ABORTED', { operation: 'create-torrent' }, { message: 'torrent creation aborted', cause: signal.reason })
}

/** A function, not an inline check, because TypeScript narrows `signal.aborted` across awaits. */
function isAborted (signal: AbortSignal | undefined): signal is AbortSignal {
  return signal?.aborted === true
}

/** File errors from a hasher that reads the files itself become CREATE_FAILED, like our own reads. */
function wrapHashError (err: unknown): unknown {
  if (hasCode(err, 'STORAGE_NOT_FOUND')) return new LodestoneError('CREATE_FAILED', { path: err.details.path, reason: 'file disappeared while hashing' }, { cause: err })
  if (hasCode(err, 'STORAGE_IO')) return new LodestoneError('CREATE_FAILED', { path: err.details.path, reason: err.details.reason }, { cause: err })
  return err
}

function invalid (key: string, reason: string): LodestoneError<'SETTINGS_INVALID'> {
  return new LodestoneError('SETTINGS_INVALID', { key, reason }, { message: `invalid ${key}: ${reason}` })
}

function validate (options: CreateTorrentOptions): void {
  const pl = options.pieceLengthBytes
  if (pl !== undefined && (!Number.isSafeInteger(pl) || pl < MIN_PIECE_LENGTH_BYTES || pl > MAX_PIECE_LENGTH_BYTES || (pl & (pl - 1)) !== 0)) {
    throw invalid('pieceLengthBytes', `${pl} is not a power of two from 16 KiB to 64 MiB`)
  }
  if (options.kind !== undefined && options.kind !== 'v1' && options.kind !== 'v2' && options.kind !== 'hybrid') {
    throw invalid('kind', `${String(options.kind)} is not v1, v2 or hybrid`)
  }
  if (options.creationDate !== undefined && !Number.isSafeInteger(options.creationDate)) {
    throw invalid('creationDate', 'must be an integer (seconds since the epoch)')
  }
  const badName = options.name === undefined ? null : unsafeComponentReason(options.name)
  if (badName !== null) throw invalid('name', badName)
  for (const tier of options.announce ?? []) {
    for (const url of tier) if (url === '') throw invalid('announce', 'empty tracker URL')
  }
}

/** Lays files out: pad files (hybrid) and each file's pieces (v2/hybrid). */
function layOut (files: SourceFile[], kind: MetaVersion, pieceLength: number, single: boolean): { laid: LaidOutFile[], pieceCount: number } {
  const laid: LaidOutFile[] = []
  let piece = 0
  let v1Bytes = 0
  files.forEach((f) => {
    const tail = f.lengthBytes % pieceLength
    // As libtorrent 2.0: in a multi-file hybrid every unaligned file is padded, the last one too
    // (its v1 piece then hashes the zeros); empty and aligned files need none. A single-file
    // torrent has no file list to hold a pad, so its last piece is short.
    const padAfterBytes = kind === 'hybrid' && !single && tail !== 0 ? pieceLength - tail : 0
    const pieceCount = Math.ceil(f.lengthBytes / pieceLength)
    laid.push({ ...f, padAfterBytes, firstPiece: piece, pieceCount })
    piece += pieceCount
    v1Bytes += f.lengthBytes
  })
  return { laid, pieceCount: kind === 'v1' ? Math.ceil(v1Bytes / pieceLength) : piece }
}

/** Piece jobs in read order. */
function * pieceJobs (laid: LaidOutFile[], kind: MetaVersion, pieceLength: number): Generator<PieceJob> {
  if (kind === 'v1') {
    // Pieces run across file boundaries; gather each piece's ranges.
    let piece = 0
    let ranges: Range[] = []
    let filled = 0
    for (let file = 0; file < laid.length; file++) {
      const length = laid[file]!.lengthBytes
      let offset = 0
      while (offset < length) {
        const take = Math.min(length - offset, pieceLength - filled)
        ranges.push({ file, offsetBytes: offset, lengthBytes: take })
        offset += take
        filled += take
        if (filled === pieceLength) {
          yield { piece: piece++, ranges, lengthBytes: filled, request: { sha1PadBytes: 0 } }
          ranges = []
          filled = 0
        }
      }
    }
    if (filled > 0) yield { piece, ranges, lengthBytes: filled, request: { sha1PadBytes: 0 } }
    return
  }
  const blocksPerPiece = pieceLength / MERKLE_BLOCK_LENGTH_BYTES
  for (let file = 0; file < laid.length; file++) {
    const f = laid[file]!
    // A file of one piece is hashed straight to its pieces root (next power of two ≥ its blocks);
    // pieces of a larger file are piece-layer subtrees of blocksPerPiece leaves.
    const v2Leaves = f.pieceCount === 1 ? nextPowerOfTwo(blockCount(f.lengthBytes)) : blocksPerPiece
    for (let i = 0; i < f.pieceCount; i++) {
      const offsetBytes = i * pieceLength
      const lengthBytes = Math.min(pieceLength, f.lengthBytes - offsetBytes)
      const last = i === f.pieceCount - 1
      yield {
        piece: f.firstPiece + i,
        ranges: [{ file, offsetBytes, lengthBytes }],
        lengthBytes,
        request: { v2Leaves, ...(kind === 'hybrid' ? { sha1PadBytes: last ? f.padAfterBytes : 0 } : {}) },
        v2: { file, pieceInFile: i }
      }
    }
  }
}

/** Opens source files one at a time, in read order. */
class SourceReader {
  private openIndex = -1
  private handle: IFileHandle | null = null

  constructor (private readonly fs: IFileSystem, private readonly files: readonly SourceFile[]) {}

  /** Fills `into` with the range's bytes. */
  async read (range: Range, into: Uint8Array): Promise<void> {
    const file = this.files[range.file]!
    if (this.openIndex !== range.file) {
      await this.close()
      try {
        this.handle = await this.fs.open(file.fsPath, 'r')
      } catch (err) {
        throw new LodestoneError('CREATE_FAILED', { path: file.fsPath, reason: hasCode(err, 'STORAGE_NOT_FOUND') ? 'file disappeared while hashing' : 'cannot open' }, { cause: err })
      }
      this.openIndex = range.file
    }
    const handle = this.handle!
    let done = 0
    while (done < range.lengthBytes) {
      let n: number
      try {
        n = await handle.read(into.subarray(done, range.lengthBytes), range.offsetBytes + done)
      } catch (err) {
        throw new LodestoneError('CREATE_FAILED', { path: file.fsPath, reason: 'cannot read' }, { cause: err })
      }
      if (n <= 0) throw new LodestoneError('CREATE_FAILED', { path: file.fsPath, reason: 'file shrank while hashing' })
      done += n
    }
  }

  async close (): Promise<void> {
    const h = this.handle
    this.handle = null
    this.openIndex = -1
    if (h !== null) await h.close()
  }
}

/** Binary-string dict key (one char per byte) for raw bytes, as the bencode Map form expects. */
function binaryKey (bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += String.fromCharCode(b)
  return out
}

/** UTF-8 text as a binary-string dict key. */
function textKey (text: string): string {
  return binaryKey(new TextEncoder().encode(text))
}

type TreeNode = Map<string, BencodeEncodable>

function buildFileTree (laid: LaidOutFile[], roots: Array<Uint8Array | null>, single: boolean, name: string): TreeNode {
  const tree: TreeNode = new Map()
  laid.forEach((f, i) => {
    const path = single ? [name] : f.path
    let node = tree
    for (const component of path.slice(0, -1)) {
      const key = textKey(component)
      let child = node.get(key) as TreeNode | undefined
      if (child === undefined) {
        child = new Map()
        node.set(key, child)
      }
      node = child
    }
    const root = roots[i] ?? null
    const leaf: TreeNode = new Map<string, BencodeEncodable>([['length', f.lengthBytes]])
    if (root !== null) leaf.set('pieces root', root)
    node.set(textKey(path[path.length - 1]!), new Map([['', leaf]]))
  })
  return tree
}

/** Platform paths of the files when both the filesystem (or deps) and the hasher can use them. */
function resolveNativePaths (deps: CreateTorrentDeps, laid: readonly SourceFile[]): string[] | null {
  const hasher = deps.hasher as IPieceHasher
  if (hasher.hashFilePiece === undefined && hasher.hashFilePieces === undefined) return null
  const fs = deps.fs as Partial<INativePathFileSystem>
  const nativePath = deps.nativePath ?? (typeof fs.nativePath === 'function' ? fs.nativePath.bind(fs) : undefined)
  if (nativePath === undefined) return null
  const paths: string[] = []
  for (const f of laid) {
    const p = nativePath(f.fsPath)
    if (p === null) return null
    paths.push(p)
  }
  return paths
}

function segmentsOf (job: PieceJob, nativePaths: readonly string[]): FilePieceSegment[] {
  return job.ranges.map((r) => ({ nativePath: nativePaths[r.file]!, offsetBytes: r.offsetBytes, lengthBytes: r.lengthBytes }))
}

/** The hasher pulls the pieces itself; it gets them in chunks so the job list stays small. */
async function hashInBulk (hashFilePieces: NonNullable<IPieceHasher['hashFilePieces']>, jobs: Iterable<PieceJob>, nativePaths: readonly string[],
  record: (job: PieceJob, result: PieceHashResult) => void, signal: AbortSignal | undefined): Promise<void> {
  const chunk: PieceJob[] = []
  const flush = async (): Promise<void> => {
    const batch = chunk.splice(0)
    try {
      await hashFilePieces(batch.map((job) => ({ segments: segmentsOf(job, nativePaths), request: job.request })),
        (index, result) => { record(batch[index]!, result) }, signal === undefined ? {} : { signal })
    } catch (err) {
      if (isAborted(signal)) throw aborted(signal)
      throw wrapHashError(err) as Error
    }
  }
  for (const job of jobs) {
    if (isAborted(signal)) throw aborted(signal)
    chunk.push(job)
    if (chunk.length >= BULK_CHUNK_PIECES) await flush()
  }
  if (chunk.length > 0) await flush()
  if (isAborted(signal)) throw aborted(signal)
}

/**
 * One hasher call per piece, at most `slotCount` in flight: the hasher reads the piece itself
 * (`hashFilePiece`, when paths are known) or we read it into one of `slotCount` reusable buffers.
 */
async function hashPiecewise (hasher: IPieceHasher, fs: IFileSystem, laid: readonly SourceFile[], jobs: Iterable<PieceJob>, nativePaths: readonly string[] | null,
  limits: { slotCount: number, pieceLength: number }, record: (job: PieceJob, result: PieceHashResult) => void, signal: AbortSignal | undefined): Promise<void> {
  const hashFilePiece = nativePaths !== null && hasher.hashFilePiece !== undefined ? hasher.hashFilePiece.bind(hasher) : null
  const free: Uint8Array[] = []
  let allocated = 0
  const reader = new SourceReader(fs, laid)
  const inFlight = new Set<Promise<void>>()
  let failure: unknown = null
  const settle = (job: PieceJob, hashing: Promise<PieceHashResult>, release: () => void): void => {
    const task: Promise<void> = hashing.then((result) => { record(job, result) }, (err: unknown) => {
      failure ??= wrapHashError(err)
    }).finally(() => {
      release()
      inFlight.delete(task)
    })
    inFlight.add(task)
  }
  try {
    for (const job of jobs) {
      if (isAborted(signal)) throw aborted(signal)
      if (hashFilePiece !== null) {
        while (inFlight.size >= limits.slotCount && failure === null) await Promise.race(inFlight)
        if (failure !== null) break
        settle(job, hashFilePiece(segmentsOf(job, nativePaths!), job.request), () => {})
        continue
      }
      while (free.length === 0 && allocated >= limits.slotCount && failure === null) await Promise.race(inFlight)
      if (failure !== null) break
      // Buffers from hasher.allocate() (shared memory for the Node pool) are hashed without a copy.
      const buffer = free.pop() ?? (allocated++, hasher.allocate?.(limits.pieceLength) ?? new Uint8Array(limits.pieceLength))
      let at = 0
      for (const range of job.ranges) {
        await reader.read(range, buffer.subarray(at, at + range.lengthBytes))
        at += range.lengthBytes
      }
      settle(job, hashPiece(hasher, buffer.subarray(0, job.lengthBytes), job.request), () => { free.push(buffer) })
    }
  } finally {
    // Never return while a hasher still reads one of our buffers.
    await Promise.all(inFlight)
    await reader.close()
  }
  if (failure !== null) throw failure as Error
  if (isAborted(signal)) throw aborted(signal)
}

/**
 * Creates a .torrent from the file or directory at `sourcePath` (relative to `deps.fs`).
 *
 * Buffer ownership: the returned buffers are new and owned by the caller.
 * @throws LodestoneError `CREATE_FAILED` (missing path, empty directory, all files empty, a file
 *   that changes or vanishes while hashing, read errors), `SETTINGS_INVALID` (bad option, naming
 *   it), `ABORTED` (through `signal`), or the hasher's errors.
 */
export async function createTorrent (sourcePath: string, options: CreateTorrentOptions, deps: CreateTorrentDeps): Promise<CreatedTorrent> {
  validate(options)
  const { signal } = options
  if (isAborted(signal)) throw aborted(signal)
  const kind = options.kind ?? 'hybrid'
  const listing = await listSourceFiles(deps.fs, sourcePath, signal === undefined ? {} : { signal })
  const name = options.name ?? listing.baseName
  const badBaseName = unsafeComponentReason(name)
  if (badBaseName !== null) throw invalid('name', `${JSON.stringify(name)}: ${badBaseName}; pass a name`)
  const totalBytes = listing.files.reduce((n, f) => n + f.lengthBytes, 0)
  if (totalBytes === 0) {
    throw new LodestoneError('CREATE_FAILED', { path: sourcePath, reason: 'nothing to hash: every file is empty' }, { message: `cannot create a torrent from ${sourcePath}: every file is empty` })
  }
  const pieceLength = options.pieceLengthBytes ?? autoPieceLength(totalBytes)
  const { laid, pieceCount } = layOut(listing.files, kind, pieceLength, listing.single)

  const hasher = deps.hasher as IPieceHasher
  const v1Hashes = kind === 'v2' ? null : new Uint8Array(pieceCount * 20)
  const v2PieceRoots: Uint8Array[][] = laid.map(() => [])

  let hashedBytes = 0
  const record = (job: PieceJob, result: PieceHashResult): void => {
    if (v1Hashes !== null && result.sha1 !== null) v1Hashes.set(result.sha1, job.piece * 20)
    if (job.v2 !== undefined && result.v2Root !== null) v2PieceRoots[job.v2.file]![job.v2.pieceInFile] = result.v2Root
    hashedBytes += job.lengthBytes
    options.onProgress?.(hashedBytes, totalBytes)
  }
  const jobs = pieceJobs(laid, kind, pieceLength)
  const nativePaths = resolveNativePaths(deps, laid)
  if (nativePaths !== null && hasher.hashFilePieces !== undefined) {
    await hashInBulk(hasher.hashFilePieces.bind(hasher), jobs, nativePaths, record, signal)
  } else {
    const slotCount = Math.max(2, Math.min(Math.max(1, hasher.concurrency) * 4, Math.floor((options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES) / pieceLength)))
    await hashPiecewise(hasher, deps.fs, laid, jobs, nativePaths, { slotCount, pieceLength }, record, signal)
  }

  // v2: each file's pieces root (one-piece files were hashed straight to it) and piece layer.
  const roots: Array<Uint8Array | null> = []
  const pieceLayers = new Map<string, BencodeEncodable>()
  if (kind !== 'v1') {
    for (let i = 0; i < laid.length; i++) {
      const pieces = v2PieceRoots[i]!
      if (pieces.length === 0) roots.push(null)
      else if (pieces.length === 1) roots.push(pieces[0]!)
      else {
        const layer = new Uint8Array(pieces.length * 32)
        pieces.forEach((h, j) => { layer.set(h, j * 32) })
        const root = await rootFromPieceLayer(deps.hasher, layer, pieceLength)
        roots.push(root)
        pieceLayers.set(binaryKey(root), layer)
      }
    }
  }

  const info = new Map<string, BencodeEncodable>()
  info.set('name', name)
  info.set('piece length', pieceLength)
  if (kind !== 'v2') {
    info.set('pieces', v1Hashes!)
    if (listing.single) info.set('length', totalBytes)
    else {
      const list: BencodeEncodable[] = []
      for (const f of laid) {
        list.push(new Map<string, BencodeEncodable>([['length', f.lengthBytes], ['path', f.path]]))
        if (f.padAfterBytes > 0) {
          list.push(new Map<string, BencodeEncodable>([['attr', 'p'], ['length', f.padAfterBytes], ['path', ['.pad', String(f.padAfterBytes)]]]))
        }
      }
      info.set('files', list)
    }
  }
  if (kind !== 'v1') {
    info.set('meta version', 2)
    info.set('file tree', buildFileTree(laid, roots, listing.single, name))
  }
  if (options.private === true) info.set('private', 1)
  if (options.source !== undefined) info.set('source', options.source)
  const infoBytes = bencodeEncode(info)

  const root = new Map<string, BencodeEncodable>()
  const tiers = (options.announce ?? []).map((t) => [...t]).filter((t) => t.length > 0)
  const firstTracker = tiers[0]?.[0]
  if (firstTracker !== undefined) root.set('announce', firstTracker)
  if (tiers.flat().length > 1) root.set('announce-list', tiers)
  if (options.comment !== undefined) root.set('comment', options.comment)
  if (options.createdBy !== undefined) root.set('created by', options.createdBy)
  if (options.creationDate !== undefined) root.set('creation date', options.creationDate)
  const urls = options.urlList ?? []
  if (urls.length === 1) root.set('url-list', urls[0]!)
  else if (urls.length > 1) root.set('url-list', [...urls])
  if (pieceLayers.size > 0) root.set('piece layers', pieceLayers)
  // Canonical encoding makes the info dict's bytes inside the torrent identical to `infoBytes`.
  root.set('info', info)
  const torrent = bencodeEncode(root)

  const [infoHashV1, infoHashV2] = await Promise.all([
    kind === 'v2' ? null : deps.hasher.digest('sha1', infoBytes),
    kind === 'v1' ? null : deps.hasher.digest('sha256', infoBytes)
  ])
  return {
    torrent,
    infoBytes,
    infoHashV1,
    infoHashV2,
    kind,
    name,
    pieceLengthBytes: pieceLength,
    pieceCount,
    totalLengthBytes: totalBytes,
    files: laid.map((f) => ({ path: listing.single ? [name] : [...f.path], lengthBytes: f.lengthBytes }))
  }
}
