/**
 * Piece buffers of the upload read cache, reused once nobody can still be reading them.
 *
 * Why: a seeder reads every piece it serves into a fresh buffer, and V8 starts a full mark-compact
 * each time fresh ArrayBuffer memory grows by a few tens of MB, so serving 512 MiB cost ~30 full
 * GCs (bench/seed/RESULTS.md). Reusing buffers of evicted pieces removes most of them.
 *
 * Why it is safe: blocks are handed out as views of a cached piece (no copy each), and a view may
 * sit in a socket's send queue long after the piece left the cache. So each buffer counts its
 * pins: a reader pins it before it waits for the read and for each view it takes, and whoever
 * holds a view releases it once the bytes are no longer referenced (the upload queue does so when
 * its socket has nothing left queued: the OS has copied them). A buffer is reused only when it is
 * out of the cache and unpinned. A view that is never released keeps its buffer out of reuse;
 * the garbage collector frees it as before.
 */

/** One piece's buffer. */
export interface PieceBuffer {
  readonly data: Uint8Array
  /** Readers waiting for it plus views handed out and not released. */
  pins: number
  /** In the read cache (or being read for it): never reused meanwhile. */
  inCache: boolean
}

export class PieceBufferPool {
  private readonly byBuffer = new WeakMap<ArrayBufferLike, PieceBuffer>()
  /** Evicted buffers, oldest first; reusable once unpinned. */
  private spare: PieceBuffer[] = []
  private spareBytes = 0

  /** `maxSpareBytes`: evicted buffers kept for reuse, at most (0: no reuse). */
  constructor (private readonly maxSpareBytes: number) {}

  /**
   * A buffer of `lengthBytes` for a piece entering the cache: a spare one that nobody pins
   * (its old contents are to be overwritten entirely), else a new one.
   */
  take (lengthBytes: number): PieceBuffer {
    const i = this.spare.findIndex((b) => b.pins === 0 && b.data.length === lengthBytes)
    if (i >= 0) {
      const reused = this.spare.splice(i, 1)[0]!
      this.spareBytes -= reused.data.length
      reused.inCache = true
      return reused
    }
    const fresh: PieceBuffer = { data: new Uint8Array(lengthBytes), pins: 0, inCache: true }
    this.byBuffer.set(fresh.data.buffer, fresh)
    return fresh
  }

  /** The piece left the cache: its buffer may be reused once unpinned. */
  evicted (buffer: PieceBuffer): void {
    buffer.inCache = false
    if (buffer.data.length > this.maxSpareBytes) return
    this.spare.push(buffer)
    this.spareBytes += buffer.data.length
    while (this.spareBytes > this.maxSpareBytes) this.spareBytes -= this.spare.shift()!.data.length
  }

  /** A view of a pooled buffer is no longer referenced; other memory is ignored. */
  release (view: Uint8Array): void {
    const buffer = this.byBuffer.get(view.buffer)
    if (buffer !== undefined && buffer.pins > 0) buffer.pins--
  }

  /** Forgets every spare buffer (storage closed). */
  clear (): void {
    this.spare = []
    this.spareBytes = 0
  }
}
