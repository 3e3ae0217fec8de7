/**
 * Bookkeeping of a uTP sender's outstanding packets (sent, not yet cumulatively acknowledged),
 * in typed arrays indexed by `seq & mask`, so sending, acknowledging and retransmitting touch
 * no objects. The tables double (re-indexed) when the window outgrows them, up to
 * {@link MAX_OUT_PACKETS}, well below half the 16-bit sequence space.
 */
import { SEQ_MASK } from './utp-packet.js'

/** Selectively acknowledged (not counted in flight). */
export const F_SACKED = 1
/** Marked lost by a time-out, waiting to be sent again (not counted in flight). */
export const F_RESEND = 2
export const F_FIN = 4
export const F_SYN = 8
/** Already fast-retransmitted once; further loss is left to the time-out. */
export const F_FAST = 16

const INITIAL_OUT_PACKETS = 64
export const MAX_OUT_PACKETS = 16_384

export class OutgoingPackets {
  cap = INITIAL_OUT_PACKETS
  mask = INITIAL_OUT_PACKETS - 1
  /** Stream offset of each packet's payload. */
  pos = new Float64Array(INITIAL_OUT_PACKETS)
  /** When it was last sent (ms). */
  sentMs = new Float64Array(INITIAL_OUT_PACKETS)
  /** Payload bytes (0 for SYN and FIN). */
  len = new Uint16Array(INITIAL_OUT_PACKETS)
  /** Transmissions so far (saturating at 255). */
  tx = new Uint8Array(INITIAL_OUT_PACKETS)
  flags = new Uint8Array(INITIAL_OUT_PACKETS)

  /** Doubles the tables, keeping the packets `from .. to-1`; false at the maximum size. */
  grow (from: number, to: number): boolean {
    if (this.cap >= MAX_OUT_PACKETS) return false
    const oldMask = this.mask
    const cap = this.cap * 2
    const mask = cap - 1
    const pos = new Float64Array(cap)
    const sent = new Float64Array(cap)
    const len = new Uint16Array(cap)
    const tx = new Uint8Array(cap)
    const flags = new Uint8Array(cap)
    for (let seq = from; seq !== to; seq = (seq + 1) & SEQ_MASK) {
      const a = seq & oldMask
      const b = seq & mask
      pos[b] = this.pos[a]!
      sent[b] = this.sentMs[a]!
      len[b] = this.len[a]!
      tx[b] = this.tx[a]!
      flags[b] = this.flags[a]!
    }
    this.cap = cap
    this.mask = mask
    this.pos = pos
    this.sentMs = sent
    this.len = len
    this.tx = tx
    this.flags = flags
    return true
  }
}
