/**
 * LEDBAT congestion control (RFC 6817, BEP 29) over a byte congestion window.
 *
 * - Delay: below the target the window grows by `max(gain, window/8) · (target − delay)/target`
 *   bytes per round trip (RFC 6817's form, with a gain that scales with the window: see
 *   WINDOW_GAIN); above it, it shrinks multiplicatively, by `(delay/target − 1)` of
 *   itself per round trip, at most half (the LEDBAT++ draft's decrease). Why not RFC 6817's
 *   linear decrease: with a window of hundreds of kilobytes, shedding 3 KB per round trip takes
 *   tens of seconds to drain a queue that slow start overshot, or to get out of a TCP flow's
 *   way; the multiplicative form does it in a few round trips. Both are applied per ack, scaled
 *   by the acked share of the bytes in flight, so a round trip's acks add up to the formula.
 * - Slow start: like TCP, the window grows by the acked bytes (doubling per RTT) until the delay
 *   reaches 3/4 of the target (LEDBAT++: leave before the queue is at the target, since the
 *   last doubling lands one round trip later), a loss, or the slow-start threshold.
 * - Loss: the window is multiplied by `lossFactor` at most once per window of packets
 *   (the caller decides which loss counts); a time-out drops it to one packet and restarts slow
 *   start below half the old window.
 * - The window never goes below one packet (RFC 6817 §2.4.1; BEP 29 allows 0, which stalls
 *   until the next time-out) and never above `maxWindowBytes`.
 * - An application that is not filling the window does not grow it (no credit for idle time).
 */

export interface LedbatSettings {
  /** Queueing delay the controller aims for. @default 100 */
  targetDelayMs: number
  /** Window growth per RTT at zero queueing delay, in bytes, while that is more than 1/8 of the window. @default 3_000 */
  gainBytes: number
  /** Window multiplier on a loss. @default 0.5 */
  lossFactor: number
  /** Window cap. @default 4_194_304 */
  maxWindowBytes: number
}

/**
 * Growth per round trip below the target, as a share of the window (scaled by how far below the
 * target the delay is), when that is more than `gainBytes`. Why: BEP 29's 3 000 bytes per round
 * trip takes minutes to open a window of megabytes, and on a busy host, where the round trip is
 * mostly the two processes' scheduling (50-150 ms at load 20, none of it queueing), the window a
 * 10 MB/s path needs is 0.5-1.5 MB; slow start often ends below it on one early delay spike. With
 * no queue the window grows by up to 1/8 a round trip; at the target the growth is 0, and above it
 * the decrease is unchanged, so the flow still yields to a queue it did not build.
 */
const WINDOW_GAIN = 1 / 8

export class Ledbat {
  /** Congestion window in bytes (fractional; the sender compares against it). */
  cwnd: number
  slowStart = true
  /** 0 = no threshold yet. */
  ssthresh = 0

  constructor (private readonly settings: LedbatSettings, private packetBytes: number) {
    this.cwnd = 2 * packetBytes
  }

  /** The packet size changed (the handshake agreed on large packets): the window holds at least two. */
  setPacketBytes (bytes: number): void {
    this.packetBytes = bytes
    if (this.cwnd < 2 * bytes) this.cwnd = Math.min(this.settings.maxWindowBytes, 2 * bytes)
  }

  /**
   * An ack acknowledged `ackedBytes` of the `inFlightBefore` bytes that were outstanding;
   * `delayUs` is the queueing delay measured on that path; `saturated` says whether the sender
   * had filled the window (otherwise the window is left alone).
   */
  onAck (ackedBytes: number, inFlightBefore: number, delayUs: number, saturated: boolean): void {
    if (ackedBytes <= 0 || inFlightBefore <= 0) return
    const s = this.settings
    const targetUs = Math.max(1, s.targetDelayMs * 1000)
    if (delayUs * 4 >= targetUs * 3 && this.slowStart) {
      this.ssthresh = this.cwnd / 2
      this.slowStart = false
    }
    const windowFactor = Math.min(1, ackedBytes / inFlightBefore)
    if (delayUs > targetUs) {
      const shrink = Math.min(delayUs / targetUs - 1, 0.5) * this.cwnd * windowFactor
      this.cwnd = Math.max(this.packetBytes, this.cwnd - shrink)
      return
    }
    if (!saturated) return
    const delayFactor = (targetUs - delayUs) / targetUs
    const linear = windowFactor * delayFactor * Math.max(s.gainBytes, this.cwnd * WINDOW_GAIN)
    let gain = linear
    if (this.slowStart) {
      if (this.ssthresh !== 0 && this.cwnd + ackedBytes > this.ssthresh) this.slowStart = false
      else gain = Math.max(ackedBytes, linear)
    }
    this.cwnd = Math.min(s.maxWindowBytes, Math.max(this.packetBytes, this.cwnd + gain))
  }

  /** A packet was lost (fast retransmit or selective-ack evidence). */
  onLoss (): void {
    this.cwnd = Math.max(this.packetBytes, this.cwnd * this.settings.lossFactor)
    this.ssthresh = this.cwnd
    this.slowStart = false
  }

  /**
   * The retransmission timer fired. `idle`: nothing was in flight (this direction was just
   * quiet), so the window only decays instead of collapsing.
   */
  onTimeout (idle: boolean): void {
    if (idle) {
      this.cwnd = Math.max(this.packetBytes, (this.cwnd * 2) / 3)
      return
    }
    this.ssthresh = Math.max(this.packetBytes * 2, this.cwnd / 2)
    this.cwnd = this.packetBytes
    this.slowStart = true
  }
}
