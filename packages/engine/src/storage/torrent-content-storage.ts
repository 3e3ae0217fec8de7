/**
 * A torrent's content on disk (seed 001/004's TorrentContentStorage): piece-space reads and writes
 * mapped onto the torrent's files in one storage root ({@link IFileSystem}).
 *
 * Why whole pieces (or runs of blocks) are written at once, never one 16 KiB block per call: a
 * positional write costs a syscall plus, on the Node adapter, a thread-pool round trip; coalescing
 * a piece's blocks into one write per file touched cuts that 16–64× (DESIGN data path). A piece
 * spanning three files costs three writes, issued concurrently.
 *
 * Files:
 * - paths are `[name, ...path]` for multi-file torrents, `[name]` for single-file ones
 *   ({@link PieceLayout.filePath});
 * - sparse: nothing is preallocated unless `preallocate` is set; unwritten ranges read as zeros;
 * - padding files (BEP 47, and v2 alignment gaps) are never created: writes to them are dropped,
 *   reads return zeros;
 * - BEP 47 symlinks are created with the 0-byte files, and `x` / `h` are applied to a file once
 *   storage has written to it in this run (file-attributes.ts);
 * - a file with priority 0 (skip) is never created. Bytes of a skipped file that share a piece
 *   with a wanted file still have to be stored (the piece must hash), so they go to a part file,
 *   `.lodestone.parts/<torrent id>.parts` in the same root. Its layout needs no index: the pieces
 *   that hold bytes of two or more files are known from the layout alone (each is the first or last
 *   piece of its files), and the k-th such piece owns slot k, at `k × pieceLength`. When a skipped
 *   file becomes wanted, its bytes are copied from the part file into the new file. A skipped file
 *   that already exists on disk (it was wanted before) is simply used as is.
 *   Bytes of a skipped file in a piece no wanted file shares are dropped: the torrent gives such
 *   pieces priority 0, so they are only written if they were in flight when the priority changed.
 *
 * Reads: {@link readPiece} returns a fresh buffer (hash checks); {@link readBlock} serves uploads
 * from a small LRU of whole pieces bounded in bytes, so the 16 blocks a peer requests from one
 * piece cost one disk read (each block a read-only view of the cached piece); {@link readPieces} iterates pieces in order with a bounded read-ahead
 * for rechecks, skipping pieces whose files are missing or too short without reading them.
 *
 * Errors: every filesystem failure surfaces as STORAGE_FULL / STORAGE_NOT_FOUND / STORAGE_IO with
 * the path (adapters throw those; anything else is wrapped as STORAGE_IO).
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import { rejected } from '../util/rejected.js'
import type { IFileHandle, IFileSystem, ReceivedPart, VerifiedWriteResult } from '../interfaces/filesystem.js'
import type { ReceivedRange } from '../interfaces/socket.js'
import { Bitfield } from '../util/bitfield.js'
import { FileHandleCache } from './file-handle-cache.js'
import type { FileHandlePool } from './file-handle-pool.js'
import { applyFileAttributes, createSymlink } from './file-attributes.js'
import { PieceLayout, type ContentLayout, type FileSpan } from './piece-layout.js'
import { byteLength, gather } from './piece-bytes.js'
import { PieceReadCache } from './piece-read-cache.js'
import { receivedPartsOf } from './received-ranges.js'
import { statFiles } from './stat-files.js'
import { defaultTorrentContentStorageSettings, validateStorageSettings, type TorrentContentStorageSettings } from './storage-settings.js'
import { SparseMap, SparseSet } from '../util/sparse-collections.js'

/** Directory (in the storage root) holding part files of skipped files' shared pieces. */
export const PART_FILE_DIRECTORY = '.lodestone.parts'

export interface TorrentContentStorageDeps {
  /** The storage root this torrent's files live in. */
  fs: IFileSystem
  /**
   * The engine's open-file budget, shared with its other torrents (`storage.maxOpenFiles` is then
   * the engine's total). Without one this storage keeps up to `maxOpenFiles` handles of its own.
   */
  handlePool?: FileHandlePool
}

/** Counters for stats and tests. */
export interface StorageStats {
  /** Positional writes issued (after coalescing). */
  writeCalls: number
  writtenBytes: number
  /** Positional reads issued. */
  readCalls: number
  readCacheHits: number
  readCacheMisses: number
}

/** Where one span's bytes live. */
interface Target { path: string, position: number, fileIndex: number | null }

export class TorrentContentStorage {
  readonly layout: PieceLayout
  readonly stats: StorageStats = { writeCalls: 0, writtenBytes: 0, readCalls: 0, readCacheHits: 0, readCacheMisses: 0 }
  private readonly settings: TorrentContentStorageSettings
  private handles: FileHandleCache
  private readonly skipped: Uint8Array
  /** Skipped files: whether they exist on disk (checked once, lazily). */
  private readonly skippedExists = new SparseMap<number, Promise<boolean>>()
  /** Skipped files found on disk (the settled `true`s of skippedExists), for the synchronous {@link isPieceStored}. */
  private readonly skippedKnownToExist = new SparseSet<number>()
  /** Shared piece → its part-file slot. */
  private readonly partSlots = new SparseMap<number, number>()
  readonly partFilePath: string
  /**
   * Directories made (or being made) in this run. The promise is shared: the pieces of a tree
   * arrive for many files of one folder at once, and each of them issuing its own recursive mkdir
   * cost ~400 mkdir calls (and the stat of each EEXIST) per 300 MiB, 200-file download.
   */
  private readonly ensuredDirs = new SparseMap<string, Promise<void>>()
  private readonly preallocated = new SparseSet<number>()
  /** Files whose BEP 47 attributes were applied in this run. */
  private readonly attributesApplied = new SparseSet<number>()
  /** Upload reads: whole pieces, LRU, `readCacheBytes`. */
  private readonly readCache: PieceReadCache
  private closed = false
  /** Filesystem operations in flight (entered through {@link io}); {@link suspendIo} waits for them. */
  private ioActive = 0
  /** Set while I/O is suspended (moving storage): new operations wait for it. */
  private ioGate: Promise<void> | null = null
  private readonly ioIdle: Array<() => void> = []

  /**
   * @param options.filePriorities one per file (0 = skip, anything else = wanted); all wanted by default.
   * @param options.renamedPaths paths of renamed files by index (resume data of a rename).
   * @throws LodestoneError ARGUMENT_INVALID for an inconsistent layout; SETTINGS_INVALID for bad settings.
   */
  constructor (
    private deps: TorrentContentStorageDeps,
    layout: ContentLayout,
    settings: Partial<TorrentContentStorageSettings> = {},
    options: { filePriorities?: ArrayLike<number>, renamedPaths?: Readonly<Record<number, string>> } = {}
  ) {
    this.settings = validateStorageSettings({ ...defaultTorrentContentStorageSettings, ...settings })
    this.layout = new PieceLayout(layout)
    this.handles = new FileHandleCache(deps.fs, { maxOpenFiles: this.settings.maxOpenFiles }, deps.handlePool)
    this.readCache = new PieceReadCache(this.settings.readCacheBytes, this.stats, (piece, into) => this.readRange(piece, 0, into.length, true, into))
    this.skipped = new Uint8Array(layout.files.length)
    this.layout.sharedPieces().forEach((piece, slot) => this.partSlots.set(piece, slot))
    this.partFilePath = `${PART_FILE_DIRECTORY}/${layout.id}.parts`
    for (const [index, path] of Object.entries(options.renamedPaths ?? {})) this.layout.setFilePath(Number(index), path)
    if (options.filePriorities !== undefined) {
      this.checkPriorities(options.filePriorities)
      for (let i = 0; i < this.skipped.length; i++) this.skipped[i] = options.filePriorities[i] === 0 ? 1 : 0
    }
  }

  /** Path of a file inside the storage root. */
  filePath (fileIndex: number): string {
    return this.layout.filePath(fileIndex)
  }

  isFileSkipped (fileIndex: number): boolean {
    this.layout.file(fileIndex)
    return this.skipped[fileIndex] === 1
  }

  /**
   * Changes which files are skipped (priority 0) or wanted (anything else). A skipped file that
   * becomes wanted gets the bytes stored for it in the part file.
   * @throws LodestoneError ARGUMENT_INVALID for a wrong length; STORAGE_* when copying fails.
   */
  async setFilePriorities (priorities: ArrayLike<number>): Promise<void> {
    this.checkOpen()
    this.checkPriorities(priorities)
    await this.io(async () => {
      for (let i = 0; i < this.skipped.length; i++) {
        const skip = priorities[i] === 0
        if (this.skipped[i] === 1 && !skip) await this.unskip(i)
        this.skipped[i] = skip ? 1 : 0
      }
    })
  }

  /**
   * Writes a whole piece: one buffer, or its blocks in order (no copy when a file's share lies in
   * one block; one coalescing copy otherwise). The caller keeps ownership of `data` but must not
   * modify it until the promise settles.
   * @throws LodestoneError ARGUMENT_INVALID when the length is not the piece's; STORAGE_* on I/O failure.
   */
  /**
   * `origins`: where each 16 KiB block's bytes are still kept by the transport that received them
   * (ITcpSocket.receivedRange), for handles that can write such bytes from there
   * (IFileHandle.writeWithReceived).
   */
  async writePiece (piece: number, data: Uint8Array | readonly Uint8Array[], origins?: ReadonlyArray<ReceivedRange | undefined>): Promise<void> {
    const length = byteLength(data)
    const expected = this.layout.pieceLength(piece)
    if (length !== expected) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'data', reason: `${length} bytes for piece ${piece} of ${expected}` })
    }
    await this.write(piece, 0, data, origins)
  }

  /**
   * Writes a run of bytes at `begin` in `piece` (e.g. a run of received blocks of a piece too big
   * to buffer whole): one positional write per file touched. `origins`: as for {@link writePiece},
   * indexed by the piece's blocks.
   */
  async write (piece: number, begin: number, data: Uint8Array | readonly Uint8Array[], origins?: ReadonlyArray<ReceivedRange | undefined>): Promise<void> {
    this.checkOpen()
    const spans = this.layout.pieceSpans(piece, begin, byteLength(data))
    this.readCache.invalidate(piece)
    await this.io(async () => {
      const writes: Array<Promise<void>> = []
      for (const span of spans) {
        const target = await this.target(span, piece, begin)
        if (target === null) continue
        const received = origins !== undefined ? receivedPartsOf(origins, begin + span.rangeOffsetBytes, span.lengthBytes) : undefined
        writes.push(this.writeAt(target, gather(data, span.rangeOffsetBytes, span.lengthBytes), received))
      }
      await Promise.all(writes)
    })
  }

  /**
   * Writes a whole piece from its blocks' received copies (`origins`, as for {@link writePiece})
   * only if those bytes have the SHA-1 `sha1`, checked where they are held
   * (IFileHandle.writeVerifiedReceived). 'unavailable', nothing written, unless the piece lies in
   * one wanted file, every block has an origin and the file's handle can: the caller then checks
   * and writes the piece itself. 'mismatch': the bytes are not the piece, nothing written.
   */
  async writeVerifiedPiece (piece: number, origins: ReadonlyArray<ReceivedRange | undefined>, sha1: Uint8Array): Promise<VerifiedWriteResult> {
    this.checkOpen()
    const length = this.layout.pieceLength(piece)
    const spans = this.layout.pieceSpans(piece, 0, length)
    const span = spans[0]
    const received = receivedPartsOf(origins, 0, length)
    if (spans.length !== 1 || span === undefined || received.length === 0) return 'unavailable'
    this.readCache.invalidate(piece)
    return this.io(async () => {
      const target = await this.target(span, piece, 0)
      if (target === null || target.fileIndex === null) return 'unavailable'
      return this.writeWith(target, length, async (handle, position) => await handle.writeVerifiedReceived?.(position, received, length, sha1) ?? 'unavailable')
    })
  }

  /**
   * Reads a whole piece into a fresh buffer the caller owns (for hash checks). Padding, missing
   * files and unwritten ranges read as zeros.
   */
  async readPiece (piece: number): Promise<Uint8Array> {
    return this.read(piece, 0, this.layout.pieceLength(piece))
  }

  /** Reads `lengthBytes` at `begin` in `piece` into a fresh buffer, bypassing the read cache. */
  async read (piece: number, begin: number, lengthBytes: number): Promise<Uint8Array> {
    return this.readRange(piece, begin, lengthBytes, false)
  }

  /**
   * `strict`: the range is data we verified and serve, so a missing file, a missing part-file
   * slot or a short read means the data is gone: STORAGE_NOT_FOUND rather than zeros.
   */
  private readRange (piece: number, begin: number, lengthBytes: number, strict: boolean, into?: Uint8Array): Promise<Uint8Array> {
    try {
      this.checkOpen()
      const spans = this.layout.pieceSpans(piece, begin, lengthBytes)
      // `into` may be a reused buffer: whatever is not read into it (padding) is zeroed below.
      const out = into ?? new Uint8Array(lengthBytes)
      // The common case (every upload read of a piece inside one file) without an async layer of
      // its own: the target is known at once and the span read is the whole I/O.
      const only = spans.length === 1 ? spans[0]! : null
      const target = only !== null ? this.knownTarget(only) : undefined
      const done = only !== null && target !== undefined
        ? this.io(() => this.readSpan(only, target, out, strict, into !== undefined))
        : this.io(async () => {
          await Promise.all(spans.map(async (span) => { await this.readSpan(span, await this.target(span, piece, begin), out, strict, into !== undefined) }))
        })
      return done.then(() => out)
    } catch (error) {
      return rejected(error)
    }
  }

  /** Reads one span of a range into its place in `out`; `zeroFill`: a span with no data is zeroed there. */
  private readSpan (span: FileSpan, target: Target | null, out: Uint8Array, strict: boolean, zeroFill: boolean): Promise<void> {
    if (target === null && strict && !this.layout.files[span.fileIndex]!.padding) {
      return Promise.reject(new LodestoneError('STORAGE_NOT_FOUND', { path: this.filePath(span.fileIndex) }))
    }
    if (target !== null) return this.readAt(target, out.subarray(span.rangeOffsetBytes, span.rangeOffsetBytes + span.lengthBytes), strict)
    if (zeroFill) out.fill(0, span.rangeOffsetBytes, span.rangeOffsetBytes + span.lengthBytes)
    return Promise.resolve()
  }

  /**
   * Reads a block for an upload through the read cache (whole pieces, LRU, `readCacheBytes`).
   * The result is a view of the cached piece (pieces up to 1 MiB; a copy of larger ones), shared and read-only: nobody writes into it (sockets
   * never modify what they send; an encrypting transport encrypts a copy), and a write to the piece
   * replaces the cached buffer rather than changing it, so a view already handed out stays valid.
   * No copy per 16 KiB block: at upload rates of hundreds of MB/s the copies and their garbage cost
   * the seeder more CPU than the reads. Hand the view to {@link releaseBlock} once nothing refers
   * to it any more, and the piece's buffer can be reused (see PieceBufferPool); never released,
   * it is simply left to the garbage collector.
   * @throws LodestoneError ARGUMENT_INVALID when the range is outside the piece.
   */
  readBlock (piece: number, begin: number, lengthBytes: number): Promise<Uint8Array> {
    // Not async (nor is anything below it on a cache miss of a one-file piece): this runs once per
    // upload read, and every async layer is a promise, a microtask and a function to optimise.
    try {
      this.checkOpen()
      const pieceLength = this.layout.pieceLength(piece)
      if (!Number.isInteger(begin) || !Number.isInteger(lengthBytes) || begin < 0 || lengthBytes <= 0 || begin + lengthBytes > pieceLength) {
        throw new LodestoneError('ARGUMENT_INVALID', { name: 'range', reason: `${begin}+${lengthBytes} outside piece ${piece} of ${pieceLength} bytes` })
      }
      // A piece that would take more than half the cache would evict everything else: read around it.
      if (pieceLength > this.settings.readCacheBytes / 2) return this.readRange(piece, begin, lengthBytes, true)
      const block = this.readCache.block(piece, pieceLength, begin, lengthBytes)
      if (pieceLength <= ZERO_COPY_MAX_PIECE_BYTES) return block
      // A view pins its whole piece while a socket holds it: of large pieces, serve copies.
      return block.then((view) => {
        const copy = view.slice()
        this.releaseBlock(view)
        return copy
      })
    } catch (error) {
      return rejected(error)
    }
  }

  /** Pieces most recently read into the upload read cache (a few; -1 for none): {@link readBlock} likely serves them without a disk read. */
  recentlyCachedPieces (): readonly number[] {
    return this.readCache.recentPieces()
  }

  /** A view from {@link readBlock} is no longer referenced: its buffer may be reused. */
  releaseBlock (view: Uint8Array): void {
    this.readCache.release(view)
  }

  /**
   * Pieces in order with their data, for checking existing files: reads run `readAheadPieces`
   * ahead of the consumer, and each buffer belongs to the consumer. `data` is null (nothing read)
   * when a file the piece needs is missing or too short, so the piece cannot be complete.
   * @throws LodestoneError ABORTED when `signal` aborts; STORAGE_* on I/O failure.
   */
  async * readPieces (options: { fromPiece?: number, toPiece?: number, signal?: AbortSignal, readAheadPieces?: number } = {}): AsyncGenerator<{ piece: number, data: Uint8Array | null }> {
    this.checkOpen()
    const from = options.fromPiece ?? 0
    const to = options.toPiece ?? this.layout.pieceCount
    const readAhead = options.readAheadPieces ?? this.settings.readAheadPieces
    const sizes = await this.io(async () => this.onDiskSizes())
    const queue: Array<{ piece: number, data: Promise<Uint8Array | null> }> = []
    let next = from
    try {
      while (next < to || queue.length > 0) {
        while (next < to && queue.length <= readAhead) {
          const piece = next++
          const data = this.isOnDisk(piece, sizes) ? this.readPiece(piece) : Promise.resolve(null)
          data.catch(() => {}) // awaited below; this only stops an early exit from leaving it unhandled
          queue.push({ piece, data })
        }
        const head = queue.shift()!
        if (options.signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'readPieces' })
        yield { piece: head.piece, data: await head.data }
      }
    } finally {
      queue.length = 0
    }
  }

  /**
   * Checks the data already on disk (resume without trusted state, recheck): reads pieces in order
   * through {@link readPieces} and runs `verify` (the torrent's hash check) on up to `concurrency`
   * pieces at once. Returns the pieces that passed. Memory stays below
   * (`concurrency` + `readAheadPieces` + 1) pieces.
   * @throws LodestoneError ABORTED when `signal` aborts; STORAGE_* on I/O failure; whatever `verify` throws.
   */
  async checkExisting (
    verify: (piece: number, data: Uint8Array) => Promise<boolean>,
    options: { concurrency?: number, signal?: AbortSignal, onProgress?: (checkedPieces: number, totalPieces: number) => void } = {}
  ): Promise<Bitfield> {
    const concurrency = Math.max(1, options.concurrency ?? 2)
    const total = this.layout.pieceCount
    const have = new Bitfield(total)
    const inFlight = new Set<Promise<void>>()
    let checked = 0
    let failure: { error: unknown } | null = null
    const done = (): void => {
      checked++
      options.onProgress?.(checked, total)
    }
    const readOptions = options.signal === undefined ? {} : { signal: options.signal }
    for await (const { piece, data } of this.readPieces(readOptions)) {
      if (failure !== null) break
      if (data === null) {
        done()
        continue
      }
      const job: Promise<void> = verify(piece, data).then((ok) => {
        if (ok) have.set(piece)
        done()
      }, (error: unknown) => { failure ??= { error } }).finally(() => { inFlight.delete(job) })
      inFlight.add(job)
      if (inFlight.size >= concurrency) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
    if (failure !== null) throw (failure as { error: unknown }).error
    return have
  }

  /** A file is complete: flush it and close its handle (later reads reopen it read-only). */
  async fileCompleted (fileIndex: number): Promise<void> {
    await this.io(async () => { await this.handles.closeFile(this.filePath(fileIndex), { sync: true }) })
  }

  /**
   * Creates every wanted 0-byte file and BEP 47 symlink (and their directories): no piece covers
   * one, so no write ever would. libtorrent creates them too, and users expect the tree to be
   * complete (an empty `__init__.py` matters). Existing files are left as they are; padding and
   * skipped files are not created; links only where the filesystem port has symlinks.
   * @throws LodestoneError STORAGE_* when a file or link cannot be created.
   */
  async createEmptyFiles (): Promise<void> {
    this.checkOpen()
    await this.io(async () => {
      for (let i = 0; i < this.layout.files.length; i++) {
        const file = this.layout.files[i]!
        if (file.padding || file.lengthBytes !== 0 || this.skipped[i] === 1) continue
        const path = this.filePath(i)
        await this.ensureParentDir(path)
        try {
          if (file.symlinkPath !== undefined) {
            await createSymlink(this.deps.fs, path, file)
            continue
          }
          await this.handles.use(path, 'write', async () => {})
          await this.handles.closeFile(path)
          await this.applyAttributesOnce(i)
        } catch (err) {
          throw storageError(err, path, 'create')
        }
      }
    })
  }

  /** Flushes everything written so far to stable storage. */
  async sync (): Promise<void> {
    await this.io(async () => { await this.handles.sync() })
  }

  /** Flushes and closes every open file (a stopped torrent holds none of the engine's budget); later I/O reopens them. */
  async releaseFiles (): Promise<void> {
    await this.io(async () => { await this.handles.closeAll() })
  }

  /**
   * True when a write of `piece` stored every byte of it: false when part of it belongs to a
   * skipped file with no part-file slot (those bytes are dropped), so the piece must not count
   * as had. A skipped file that already exists on disk is counted as storing only once known.
   */
  isPieceStored (piece: number): boolean {
    for (const span of this.layout.pieceSpans(piece)) {
      if (this.layout.files[span.fileIndex]!.padding || this.skipped[span.fileIndex] === 0) continue
      if (this.partSlots.has(piece) || this.skippedKnownToExist.has(span.fileIndex)) continue
      return false
    }
    return true
  }

  /**
   * Suspends filesystem I/O (moving storage): waits for operations in flight, flushes and closes
   * every handle; later operations wait until the returned function is called. Reads served from
   * the read cache go on. Suspensions queue behind each other.
   * @throws LodestoneError STORAGE_* when flushing fails (I/O is resumed then).
   */
  async suspendIo (): Promise<() => void> {
    while (this.ioGate !== null) await this.ioGate
    let open: () => void = () => {}
    this.ioGate = new Promise<void>((resolve) => { open = resolve })
    const release = (): void => {
      this.ioGate = null
      open()
    }
    try {
      if (this.ioActive > 0) await new Promise<void>((resolve) => { this.ioIdle.push(resolve) })
      await this.handles.sync()
      await this.handles.closeAll()
    } catch (err) {
      release()
      throw err
    }
    return release
  }

  /**
   * Gives files new paths (Torrent.renamePath): with I/O suspended, each file that exists is
   * renamed on disk (its new directory made), then every path changes. A failure renames the
   * files already moved back and leaves every path as it was.
   * @throws LodestoneError STORAGE_* from the filesystem.
   */
  async renameFiles (changes: ReadonlyArray<{ fileIndex: number, to: string }>): Promise<void> {
    const release = await this.suspendIo()
    const done: Array<{ from: string, to: string }> = []
    try {
      for (const { fileIndex, to } of changes) {
        const from = this.filePath(fileIndex)
        if (!await this.deps.fs.exists(from)) continue
        this.ensuredDirs.clear()
        await this.ensureParentDir(to)
        await this.deps.fs.rename(from, to).catch((err: unknown) => { throw storageError(err, from, 'rename') })
        done.push({ from, to })
      }
      for (const { fileIndex, to } of changes) this.layout.setFilePath(fileIndex, to)
      this.ensuredDirs.clear()
    } catch (err) {
      for (const { from, to } of done.reverse()) await this.deps.fs.rename(to, from).catch(() => {})
      throw err
    } finally {
      release()
    }
  }

  /** Paths of renamed files by index (for resume data; empty when none was renamed). */
  renamedPaths (): Record<number, string> {
    return this.layout.renamedPaths()
  }

  /** The filesystem the files are in now. */
  get fileSystem (): IFileSystem {
    return this.deps.fs
  }

  /**
   * Points the storage at another filesystem (storage root) holding the same files (after they
   * were moved there). Call while I/O is suspended ({@link suspendIo}); the read cache stays valid.
   */
  relocate (fs: IFileSystem): void {
    this.deps = { ...this.deps, fs }
    this.handles = new FileHandleCache(fs, { maxOpenFiles: this.settings.maxOpenFiles }, this.deps.handlePool)
    this.ensuredDirs.clear()
    this.skippedExists.clear()
    this.skippedKnownToExist.clear()
  }

  /** Paths (in the storage root) of every file this torrent may have written: real files and the part file. */
  storedPaths (): string[] {
    return [...this.layout.files.flatMap((f, i) => (f.padding ? [] : [this.filePath(i)])), this.partFilePath]
  }

  /** Runs a filesystem operation unless I/O is suspended (then once it is resumed). */
  private io<T> (fn: () => Promise<T>): Promise<T> {
    if (this.ioGate !== null) return this.ioOnceResumed(fn)
    this.ioActive++
    let result: Promise<T>
    try {
      result = fn()
    } catch (error) {
      result = rejected(error)
    }
    return result.then((value) => {
      this.ioEnded()
      return value
    }, (error: unknown) => {
      this.ioEnded()
      throw error
    })
  }

  private async ioOnceResumed<T> (fn: () => Promise<T>): Promise<T> {
    while (this.ioGate !== null) await this.ioGate
    return this.io(fn)
  }

  private ioEnded (): void {
    if (--this.ioActive === 0) for (const resolve of this.ioIdle.splice(0)) resolve()
  }

  /** Closes every handle and drops the read cache; further calls throw CLOSED. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.readCache.clear()
    await this.handles.closeAll()
  }

  /**
   * Closes the storage and deletes the torrent's files, its part file, and the directories they
   * leave empty. Files that do not exist are fine.
   */
  async deleteFiles (): Promise<void> {
    await this.close()
    const fs = this.deps.fs
    const dirs = new Set<string>()
    const paths = this.layout.files.flatMap((f, i) => (f.padding ? [] : [this.filePath(i)]))
    for (const path of [...paths, this.partFilePath]) {
      try {
        await fs.unlink(path)
      } catch (err) {
        if (!isLodestoneError(err) || err.code !== 'STORAGE_NOT_FOUND') throw storageError(err, path, 'unlink')
      }
      for (let cut = path.lastIndexOf('/'); cut > 0; cut = path.lastIndexOf('/', cut - 1)) dirs.add(path.slice(0, cut))
    }
    // Deepest first; a directory that still holds something (user files) stays.
    for (const dir of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
      try {
        await fs.rmdir(dir)
      } catch {}
    }
  }

  // ---------------------------------------------------------------- internals

  private async target (span: FileSpan, piece: number, begin: number): Promise<Target | null> {
    const known = this.knownTarget(span)
    if (known !== undefined) return known
    return await this.skippedFileExists(span.fileIndex) ? this.fileTarget(span) : this.partTarget(span, piece, begin)
  }

  /** The span's target when it is known without a look at the disk (a skipped file not checked yet: undefined). */
  private knownTarget (span: FileSpan): Target | null | undefined {
    if (this.layout.files[span.fileIndex]!.padding) return null
    if (this.skipped[span.fileIndex] === 0 || this.skippedKnownToExist.has(span.fileIndex)) return this.fileTarget(span)
    return undefined
  }

  private fileTarget (span: FileSpan): Target {
    return { path: this.filePath(span.fileIndex), position: span.fileOffsetBytes, fileIndex: span.fileIndex }
  }

  private partTarget (span: FileSpan, piece: number, begin: number): Target | null {
    const slot = this.partSlots.get(piece)
    if (slot === undefined) return null
    return { path: this.partFilePath, position: slot * this.layout.pieceLengthBytes + begin + span.rangeOffsetBytes, fileIndex: null }
  }

  private async skippedFileExists (fileIndex: number): Promise<boolean> {
    let known = this.skippedExists.get(fileIndex)
    if (known === undefined) {
      const path = this.filePath(fileIndex)
      known = this.deps.fs.exists(path).then((exists) => {
        if (exists) this.skippedKnownToExist.add(fileIndex)
        return exists
      }, (err: unknown) => { throw storageError(err, path, 'exists') })
      this.skippedExists.set(fileIndex, known)
    }
    return known
  }

  private async writeAt (target: Target, bytes: Uint8Array, received?: readonly ReceivedPart[]): Promise<void> {
    await this.writeWith(target, bytes.length, async (handle, position) => {
      if (received !== undefined && received.length > 0 && handle.writeWithReceived !== undefined) await handle.writeWithReceived(bytes, position, received)
      else await handle.write(bytes, position)
      return 'written'
    })
  }

  /** Runs `write` (of `lengthBytes`) on `target`'s handle: parent folder, preallocation, counters, BEP 47 attributes. */
  private async writeWith (target: Target, lengthBytes: number, write: (handle: IFileHandle, position: number) => Promise<VerifiedWriteResult>): Promise<VerifiedWriteResult> {
    const { path, position, fileIndex } = target
    await this.ensureParentDir(path)
    try {
      const result = await this.handles.use(path, 'write', async (handle) => {
        if (fileIndex !== null && this.settings.preallocate && !this.preallocated.has(fileIndex)) {
          this.preallocated.add(fileIndex)
          await this.preallocate(handle, fileIndex)
        }
        const done = await write(handle, position)
        if (done === 'written') { this.stats.writeCalls++; this.stats.writtenBytes += lengthBytes }
        return done
      })
      if (fileIndex !== null && result === 'written') await this.applyAttributesOnce(fileIndex)
      return result
    } catch (err) {
      throw storageError(err, path, 'write')
    }
  }

  /** BEP 47 `x` / `h` for a file storage has just created or written, once per run. */
  private async applyAttributesOnce (fileIndex: number): Promise<void> {
    if (this.attributesApplied.has(fileIndex)) return
    this.attributesApplied.add(fileIndex)
    await applyFileAttributes(this.deps.fs, this.filePath(fileIndex), this.layout.files[fileIndex]!)
  }

  private async preallocate (handle: IFileHandle, fileIndex: number): Promise<void> {
    const length = this.layout.files[fileIndex]!.lengthBytes
    const path = this.filePath(fileIndex)
    const size = await this.deps.fs.stat(path).then((s) => s.size, () => 0)
    if (size < length) await handle.truncate(length)
  }

  /**
   * Fills `into` from the target; missing files and bytes past the end stay zero, unless `strict`
   * (then both are STORAGE_NOT_FOUND).
   */
  private readAt (target: Target, into: Uint8Array, strict = false): Promise<void> {
    return this.handles.use(target.path, 'read', (handle) => this.readFully(handle, target, into, 0, strict)).then(undefined, (err: unknown) => {
      if (isLodestoneError(err) && err.code === 'STORAGE_NOT_FOUND' && !strict) return
      throw storageError(err, target.path, 'read')
    })
  }

  /** Reads `into` from `done` on; pread may return short counts, and a count of 0 is the file's end. */
  private readFully (handle: IFileHandle, target: Target, into: Uint8Array, done: number, strict: boolean): Promise<void> {
    if (done >= into.length) return Promise.resolve()
    this.stats.readCalls++
    return handle.read(done === 0 ? into : into.subarray(done), target.position + done).then((n) => {
      if (n > 0) return done + n < into.length ? this.readFully(handle, target, into, done + n, strict) : undefined
      if (strict) throw new LodestoneError('STORAGE_NOT_FOUND', { path: target.path })
      return undefined
    })
  }

  private async ensureParentDir (path: string): Promise<void> {
    const cut = path.lastIndexOf('/')
    if (cut <= 0) return
    const dir = path.slice(0, cut)
    let made = this.ensuredDirs.get(dir)
    if (made === undefined) {
      made = this.deps.fs.mkdir(dir, { recursive: true }).catch((err: unknown) => {
        // Not made: the next write tries again.
        if (this.ensuredDirs.get(dir) === made) this.ensuredDirs.delete(dir)
        throw storageError(err, dir, 'mkdir')
      })
      this.ensuredDirs.set(dir, made)
    }
    await made
  }

  /** Copies a file's bytes from the part file into the (new) file, for its shared pieces. */
  private async unskip (fileIndex: number): Promise<void> {
    if (await this.skippedFileExists(fileIndex)) return
    this.skippedExists.delete(fileIndex)
    const { firstPiece, lastPiece } = this.layout.filePieceRange(fileIndex)
    for (const piece of new Set([firstPiece, lastPiece])) {
      const slot = this.partSlots.get(piece)
      if (slot === undefined || piece > lastPiece) continue
      for (const span of this.layout.pieceSpans(piece)) {
        if (span.fileIndex !== fileIndex) continue
        const bytes = new Uint8Array(span.lengthBytes)
        await this.readAt({ path: this.partFilePath, position: slot * this.layout.pieceLengthBytes + span.rangeOffsetBytes, fileIndex: null }, bytes)
        // Never-written slots read as zeros; copying them would only create the file early.
        if (bytes.some((b) => b !== 0)) {
          await this.writeAt({ path: this.filePath(fileIndex), position: span.fileOffsetBytes, fileIndex }, bytes)
          this.readCache.invalidate(piece)
        }
      }
    }
  }

  /** Size on disk of every file (−1: not needed, padding), and of the part file, for readPieces. */
  private async onDiskSizes (): Promise<{ files: number[], part: number }> {
    const indices: number[] = []
    this.layout.files.forEach((f, i) => { if (!f.padding && f.lengthBytes > 0) indices.push(i) })
    const paths = [...indices.map((i) => this.filePath(i)), this.partFilePath]
    let stats
    try {
      stats = await statFiles(this.deps.fs, paths)
    } catch (err) {
      throw storageError(err, paths[0] as string, 'stat')
    }
    const sizeOf = (k: number): number => { const s = stats[k] ?? null; return s !== null && s.isFile ? s.size : 0 }
    const files = this.layout.files.map(() => -1)
    indices.forEach((fileIndex, k) => { files[fileIndex] = sizeOf(k) })
    return { files, part: sizeOf(indices.length) }
  }

  private isOnDisk (piece: number, sizes: { files: number[], part: number }): boolean {
    for (const span of this.layout.pieceSpans(piece)) {
      const file = this.layout.files[span.fileIndex]!
      if (file.padding) continue
      const size = sizes.files[span.fileIndex]!
      if (size >= span.fileOffsetBytes + span.lengthBytes) continue
      if (this.skipped[span.fileIndex] === 0 || size > 0) return false
      const slot = this.partSlots.get(piece)
      if (slot === undefined || sizes.part < slot * this.layout.pieceLengthBytes + span.rangeOffsetBytes + span.lengthBytes) return false
    }
    return true
  }

  private checkPriorities (priorities: ArrayLike<number>): void {
    if (priorities.length !== this.layout.files.length) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'filePriorities', reason: `${priorities.length} priorities for ${this.layout.files.length} files` })
    }
  }

  private checkOpen (): void {
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'torrent content storage' })
  }
}

/**
 * Upload blocks of pieces up to this size are views of the cached piece; of larger ones, copies.
 * A view keeps its whole piece in memory while a socket holds it, and a peer asking for one block
 * of each of many pieces should not hold many large pieces at once.
 */
const ZERO_COPY_MAX_PIECE_BYTES = 1024 * 1024

function storageError (err: unknown, path: string, operation: string): LodestoneError {
  if (isLodestoneError(err) && err.code.startsWith('STORAGE_')) return err
  return new LodestoneError('STORAGE_IO', { path, operation, reason: err instanceof Error ? err.message : String(err) }, { cause: err })
}
