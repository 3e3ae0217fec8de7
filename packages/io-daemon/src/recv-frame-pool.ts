/**
 * Buffers that dialled TCP sockets read into directly (net.Socket's `onread`): each buffer is a
 * whole TCP_RECV frame, and the kernel writes the peer's bytes straight into its payload, so a
 * received byte is neither copied by the daemon's JavaScript nor carried in a fresh allocation.
 *
 * Why: with Node's default reads every 64 KiB chunk was a new ArrayBuffer, copied once more into
 * a new frame; per GiB received that was two GiB of short-lived external memory, and V8 answers
 * external memory growth with full garbage collections (0.6 s per 256 MiB in a profile).
 *
 * A buffer is taken for a read and given back once the WebSocket has handed the frame to the
 * kernel (ws's send callback). At most {@link RecvFramePool.maxFree} wait for reuse.
 */
import { HEADER_BYTES } from '@lodestone/engine/adapters/daemon'

/** Where a TCP_RECV frame's peer bytes start: the header, then the socket id (u32). */
export const RECV_PAYLOAD_OFFSET = HEADER_BYTES + 4

export class RecvFramePool {
  private readonly free: Buffer[] = []

  /** `payloadBytes`: the most peer bytes one read (one frame) carries. */
  constructor (readonly payloadBytes: number, readonly maxFree = 16) {}

  /** A frame buffer (stale contents); its payload starts at {@link RECV_PAYLOAD_OFFSET}. */
  take (): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(RECV_PAYLOAD_OFFSET + this.payloadBytes)
  }

  /** Returns a buffer nothing reads or writes any more. */
  give (buffer: Buffer): void {
    if (this.free.length < this.maxFree && buffer.length === RECV_PAYLOAD_OFFSET + this.payloadBytes) this.free.push(buffer)
  }

  /** Buffers waiting for reuse. */
  get freeCount (): number { return this.free.length }
}
