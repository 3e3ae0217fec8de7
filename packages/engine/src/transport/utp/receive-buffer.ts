/**
 * The receiving half of a uTP connection: the cumulative ack number, bytes received in order
 * and not yet taken by the application, out-of-order packets waiting for the gap before them,
 * the FIN position, and the selective ack that describes the gaps.
 *
 * Memory is bounded by the advertised window: in-order bytes plus out-of-order payloads never
 * exceed `windowBytes` (plus a two-packet tolerance for window probes); a sender that ignores
 * the window has its packets dropped (and retransmits them later).
 *
 * Ownership: in-order payloads are copied into the ring (the datagram is the caller's, reused);
 * out-of-order payloads are copied into a slot each (only when packets arrive out of order).
 */
import { ByteRing, nextPowerOfTwo } from './byte-ring.js'
import { SEQ_MASK, seqLess } from './utp-packet.js'

export const RECEIVED_IN_ORDER = 0
export const RECEIVED_OUT_OF_ORDER = 1
export const RECEIVED_DUPLICATE = 2
export const RECEIVED_OUT_OF_WINDOW = 3
export const RECEIVED_OVERFLOW = 4

/** Largest selective-ack bitmask we send (libtorrent's limit too): 256 packets past the gap. */
const MAX_SACK_BYTES = 32

export class ReceiveBuffer {
  /** Last sequence number received in order (the ack we send). */
  ackNr = 0
  /** In-order bytes the application has not taken yet. */
  readonly ring: ByteRing
  /** Out-of-order payloads by `seq & slotMask` (allocated on the first gap). */
  private slots: Array<Uint8Array | undefined> = []
  private slotSeq: Int32Array = new Int32Array(0)
  private readonly slotCount: number
  reorderCount = 0
  reorderBytes = 0
  private highestSeq = 0
  /** Sequence number of the peer's FIN, or -1. */
  eofSeq = -1
  /** Everything up to and including the FIN has arrived. */
  finReached = false
  private readonly limitBytes: number

  constructor (private readonly windowBytes: number, maxPayloadBytes: number, minPayloadBytes: number) {
    this.ring = new ByteRing(Math.min(windowBytes, 65_536))
    // Enough slots to cover a window of the smallest packets we expect; more would only let a
    // sender hold memory with tiny packets.
    this.slotCount = Math.min(16_384, nextPowerOfTwo(Math.max(64, Math.ceil(windowBytes / Math.max(1, minPayloadBytes)))))
    this.limitBytes = windowBytes + 2 * maxPayloadBytes
  }

  /** Free receive space to advertise, bytes. */
  get window (): number {
    const free = this.windowBytes - this.ring.length - this.reorderBytes
    return free > 0 ? free : 0
  }

  /**
   * Takes a DATA (or FIN, `fin` true, payload ignored) packet with sequence number `seq` and
   * payload `data[offset, offset + n)`. Returns one of the RECEIVED_* codes.
   */
  receive (seq: number, data: Uint8Array, offset: number, n: number, fin: boolean): number {
    const distance = (seq - this.ackNr - 1) & SEQ_MASK
    if (distance >= 0x8000) return RECEIVED_DUPLICATE
    if (this.eofSeq >= 0 && seqLess(this.eofSeq, seq)) return RECEIVED_OUT_OF_WINDOW
    if (distance >= this.slotCount) return RECEIVED_OUT_OF_WINDOW
    if (fin) {
      if (this.eofSeq < 0) this.eofSeq = seq
      if (distance !== 0) return RECEIVED_OUT_OF_ORDER
      this.ackNr = seq
      this.finReached = true
      return RECEIVED_IN_ORDER
    }
    if (this.ring.length + this.reorderBytes + n > this.limitBytes) return RECEIVED_OVERFLOW
    if (distance === 0) {
      this.ring.write(data, offset, n)
      this.ackNr = seq
      if (this.reorderCount > 0 || this.eofSeq >= 0) this.drainSlots()
      return RECEIVED_IN_ORDER
    }
    if (this.slots.length === 0) {
      this.slots = new Array<Uint8Array | undefined>(this.slotCount).fill(undefined)
      this.slotSeq = new Int32Array(this.slotCount).fill(-1)
    }
    const index = seq & (this.slotCount - 1)
    if (this.slots[index] !== undefined && this.slotSeq[index] === seq) return RECEIVED_DUPLICATE
    this.slots[index] = data.slice(offset, offset + n)
    this.slotSeq[index] = seq
    if (this.reorderCount === 0 || seqLess(this.highestSeq, seq)) this.highestSeq = seq
    this.reorderCount++
    this.reorderBytes += n
    return RECEIVED_OUT_OF_ORDER
  }

  /**
   * Writes a selective-ack extension (next-extension byte 0, length, bitmask) at `buf[offset]`
   * when packets past a gap are held; returns the bytes written (0 when there is no gap). Bit
   * k of the mask (least significant bit of each byte first) stands for `ackNr + 2 + k`.
   */
  writeSack (buf: Uint8Array, offset: number): number {
    if (this.reorderCount === 0) return 0
    const first = (this.ackNr + 2) & SEQ_MASK
    const bits = ((this.highestSeq - first) & SEQ_MASK) + 1
    const maskBytes = Math.min(MAX_SACK_BYTES, (((bits + 31) >> 5) << 2))
    buf[offset] = 0
    buf[offset + 1] = maskBytes
    const mask = this.slotCount - 1
    for (let j = 0; j < maskBytes; j++) {
      let byte = 0
      for (let k = 0; k < 8; k++) {
        const seq = (first + j * 8 + k) & SEQ_MASK
        const index = seq & mask
        if (this.slotSeq[index] === seq && this.slots[index] !== undefined) byte |= 1 << k
      }
      buf[offset + 2 + j] = byte
    }
    return 2 + maskBytes
  }

  /** Frees every buffer (the connection is gone). */
  clear (): void {
    this.slots = []
    this.slotSeq = new Int32Array(0)
    this.reorderCount = 0
    this.reorderBytes = 0
    this.ring.discard(this.ring.length)
  }

  /** Moves packets that the last in-order arrival made contiguous into the ring. */
  private drainSlots (): void {
    const mask = this.slotCount - 1
    for (;;) {
      const next = (this.ackNr + 1) & SEQ_MASK
      if (this.reorderCount > 0) {
        const index = next & mask
        const slot = this.slots[index]
        if (slot !== undefined && this.slotSeq[index] === next) {
          this.ring.write(slot, 0, slot.length)
          this.slots[index] = undefined
          this.slotSeq[index] = -1
          this.reorderCount--
          this.reorderBytes -= slot.length
          this.ackNr = next
          continue
        }
      }
      if (this.eofSeq === next) {
        this.ackNr = next
        this.finReached = true
      }
      return
    }
  }
}
