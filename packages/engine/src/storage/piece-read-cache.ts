/**
 * The upload read cache of one torrent's storage: whole pieces, least recently used first out,
 * bounded in bytes. A peer asks for a piece block by block, so the blocks of one piece cost one
 * disk read, and each block served is a read-only view of the cached piece (no copy per block).
 *
 * Nobody writes into a cached piece: a write to the piece replaces it ({@link invalidate}), so a
 * view already handed out keeps the bytes it was read with. Buffers come from a PieceBufferPool and
 * are reused once out of the cache and unpinned: a reader pins the buffer before it waits for the
 * read, and each view handed out stays pinned until {@link release} gives it back.
 */
import { PieceBufferPool, type PieceBuffer } from './piece-buffer-pool.js'
import { SparseMap } from '../util/sparse-collections.js'

/** The counters the cache keeps up to date (the storage's stats). */
export interface ReadCacheCounters {
  readCacheHits: number
  readCacheMisses: number
}

/** Pieces {@link PieceReadCache.recentPieces} lists: few, so a caller may check each against its own queue. */
const RECENT_PIECES = 16

export class PieceReadCache {
  private readonly pieces = new SparseMap<number, PieceBuffer>()
  private usedBytes = 0
  /** Pieces being read into the cache: one read however many blocks of it are asked for meanwhile. */
  private readonly pending = new SparseMap<number, { buffer: PieceBuffer, done: Promise<unknown> }>()
  private readonly buffers: PieceBufferPool
  private closed = false
  private readonly recent: number[] = new Array<number>(RECENT_PIECES).fill(-1)
  private recentAt = 0

  /** `readPiece(piece, into)` fills `into` with the whole piece (rejects when it cannot). */
  constructor (
    private readonly maxBytes: number,
    private readonly counters: ReadCacheCounters,
    private readonly readPiece: (piece: number, into: Uint8Array) => Promise<unknown>
  ) {
    this.buffers = new PieceBufferPool(maxBytes / 2)
  }

  /**
   * `lengthBytes` at `begin` of the piece: a pinned view of the cached piece, read first on a miss.
   * Not async: a seeder calls this once per run of blocks, and an async layer is one more promise,
   * microtask and function to optimise each time.
   */
  block (piece: number, pieceLength: number, begin: number, lengthBytes: number): Promise<Uint8Array> {
    const cached = this.pieces.get(piece)
    if (cached !== undefined) {
      this.counters.readCacheHits++
      this.pieces.delete(piece)
      this.pieces.set(piece, cached)
      cached.pins++
      return Promise.resolve(cached.data.subarray(begin, begin + lengthBytes))
    }
    this.counters.readCacheMisses++
    let pending = this.pending.get(piece)
    if (pending === undefined) {
      const buffer = this.buffers.take(pieceLength)
      const read = { buffer, done: this.readPiece(piece, buffer.data) }
      pending = read
      this.pending.set(piece, read)
      read.done.then(() => {
        if (this.pending.get(piece) !== read) return // invalidated meanwhile: not cached, not reused
        this.pending.delete(piece)
        if (!this.closed) this.add(piece, buffer)
      }, () => {
        if (this.pending.get(piece) === read) this.pending.delete(piece)
      })
    }
    // Pinned before waiting, so the buffer cannot be reused between the read and this view.
    const { buffer, done } = pending
    buffer.pins++
    return done.then(() => buffer.data.subarray(begin, begin + lengthBytes), (error: unknown) => {
      buffer.pins--
      throw error
    })
  }

  /**
   * Pieces most recently read into the cache (up to {@link RECENT_PIECES}, newest last; -1 for none),
   * the ones peers asking in random order are likeliest to want next while they are cached. A piece
   * listed may have been evicted or invalidated since: a read of it is then an ordinary miss.
   */
  recentPieces (): readonly number[] {
    return this.recent
  }

  /** A view from {@link block} is no longer referenced: its buffer may be reused. */
  release (view: Uint8Array): void {
    this.buffers.release(view)
  }

  /** The piece is being written: its cached copy (or the read under way) is no longer served. */
  invalidate (piece: number): void {
    const cached = this.pieces.get(piece)
    if (cached !== undefined) {
      this.pieces.delete(piece)
      this.usedBytes -= cached.data.length
      this.buffers.evicted(cached)
    }
    this.pending.delete(piece)
  }

  /** Drops everything (the storage closed); reads still under way are not cached. */
  clear (): void {
    this.closed = true
    this.pieces.clear()
    this.usedBytes = 0
    this.pending.clear()
    this.buffers.clear()
  }

  private add (piece: number, buffer: PieceBuffer): void {
    if (this.pieces.has(piece)) {
      this.buffers.evicted(buffer)
      return
    }
    this.pieces.set(piece, buffer)
    this.usedBytes += buffer.data.length
    this.recent[this.recentAt] = piece
    this.recentAt = (this.recentAt + 1) % RECENT_PIECES
    for (const [p, b] of this.pieces) {
      if (this.usedBytes <= this.maxBytes) break
      this.pieces.delete(p)
      this.usedBytes -= b.data.length
      this.buffers.evicted(b)
    }
  }
}
