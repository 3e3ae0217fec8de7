/**
 * The buffers an encrypting socket sends, reused once the transport is done with them.
 *
 * Why: senders share what they send (an upload block is a view of the read cache), so RC4 cannot
 * run in place on it; each sent message is encrypted into a buffer of our own. Allocating one per
 * 16 KiB block turns every uploaded GiB into a GiB of garbage. A transport holds a reference to
 * sent bytes only while they count in its `bufferedBytes` (ITcpSocket's contract: Node's socket
 * until the kernel has them, the daemon bridge until acknowledged; uTP, the memory network and the
 * race socket copy at once), and sends in order, so of all the bytes ever handed to it the first
 * `sent - bufferedBytes` are no longer referenced: the buffers that held them can be filled again.
 *
 * Bounded: at most {@link MAX_FREE_BYTES} wait for reuse per socket; short messages (headers,
 * requests) are not pooled.
 */

/** Messages shorter than this get a buffer of their own each time. */
export const MIN_POOLED_BYTES = 1_024
/** Free buffers kept per socket, in bytes. */
const MAX_FREE_BYTES = 131_072

export class SendBufferPool {
  /** Pooled buffers handed to the transport, oldest first, with the byte position they end at. */
  private readonly inFlight: Array<{ buffer: Uint8Array, endPos: number }> = []
  private head = 0
  private readonly free: Uint8Array[] = []
  private freeBytes = 0
  /** Every byte handed to the transport so far. */
  private sentPos = 0

  /**
   * A buffer of exactly `length` bytes to fill and then pass to {@link sent}: a free one if the
   * transport, now holding `bufferedBytes`, has let go of one of that length, else a new one.
   */
  take (length: number, bufferedBytes: number): Uint8Array {
    if (length < MIN_POOLED_BYTES) return new Uint8Array(length)
    this.release(bufferedBytes)
    for (let k = this.free.length - 1; k >= 0; k--) {
      const buffer = this.free[k]!
      if (buffer.length !== length) continue
      this.free[k] = this.free[this.free.length - 1]!
      this.free.pop()
      this.freeBytes -= length
      return buffer
    }
    return new Uint8Array(length)
  }

  /**
   * `data` was handed to the transport: a buffer from {@link take} (`ours`), or any other bytes
   * (handshake messages, a consumer's buffer sent as is), which only count for the position.
   */
  sent (data: Uint8Array, ours: boolean): void {
    this.sentPos += data.length
    if (ours && data.length >= MIN_POOLED_BYTES) this.inFlight.push({ buffer: data, endPos: this.sentPos })
  }

  /** Buffers waiting for reuse (tests). */
  get freeCount (): number { return this.free.length }

  private release (bufferedBytes: number): void {
    const flushedPos = this.sentPos - bufferedBytes
    while (this.head < this.inFlight.length && this.inFlight[this.head]!.endPos <= flushedPos) {
      const { buffer } = this.inFlight[this.head++]!
      if (this.freeBytes + buffer.length > MAX_FREE_BYTES) continue
      this.free.push(buffer)
      this.freeBytes += buffer.length
    }
    if (this.head > 64 && this.head * 2 > this.inFlight.length) {
      this.inFlight.splice(0, this.head)
      this.head = 0
    }
  }
}
