/**
 * Base-delay history for LEDBAT (BEP 29, RFC 6817 §4.2): the lowest one-way delay sample seen
 * over the last few minutes, kept as one minimum per minute.
 *
 * Samples are 32-bit microsecond differences between two unsynchronised clocks, so their
 * absolute value means nothing and they wrap; only the distance from the base matters. Why a
 * per-minute history instead of the all-time minimum: clock drift between the two hosts moves
 * the samples by tens of milliseconds over ten minutes, and an all-time base would turn that
 * drift into phantom queueing delay (or hide real queueing).
 */
import { u32Less } from './utp-packet.js'

/** Minutes of history (BEP 29 suggests a few minutes; libutp keeps 13). */
export const DELAY_HISTORY_MINUTES = 10
const MINUTE_MS = 60_000

export class DelayHistory {
  private readonly minutes = new Uint32Array(DELAY_HISTORY_MINUTES)
  private index = 0
  private stepAtMs = 0
  private baseValue = 0
  private hasSamples = false

  get initialized (): boolean { return this.hasSamples }

  /** The current base (lowest sample of the history). */
  get base (): number { return this.baseValue }

  /**
   * Records `sample` (uint32) seen at `nowMs` and returns its distance above the base in
   * microseconds (0 when it is the new base).
   */
  addSample (sample: number, nowMs: number): number {
    sample >>>= 0
    if (!this.hasSamples) {
      this.hasSamples = true
      this.minutes.fill(sample)
      this.baseValue = sample
      this.stepAtMs = nowMs + MINUTE_MS
      return 0
    }
    if (nowMs >= this.stepAtMs) this.step(sample, nowMs)
    if (u32Less(sample, this.minutes[this.index]!)) this.minutes[this.index] = sample
    if (u32Less(sample, this.baseValue)) this.baseValue = sample
    return (sample - this.baseValue) >>> 0
  }

  /** Moves the base up by `deltaUs` (the other side's base dropped: clock drift, RFC 6817 §4.3). */
  adjustBase (deltaUs: number): void {
    if (!this.hasSamples) return
    for (let i = 0; i < this.minutes.length; i++) this.minutes[i] = (this.minutes[i]! + deltaUs) >>> 0
    this.baseValue = (this.baseValue + deltaUs) >>> 0
  }

  private step (sample: number, nowMs: number): void {
    // Skip whole minutes that passed without samples, at most the whole history.
    const minutesPassed = Math.min(DELAY_HISTORY_MINUTES, 1 + Math.floor((nowMs - this.stepAtMs) / MINUTE_MS))
    this.stepAtMs += minutesPassed * MINUTE_MS
    for (let i = 0; i < minutesPassed; i++) {
      this.index = (this.index + 1) % DELAY_HISTORY_MINUTES
      this.minutes[this.index] = sample
    }
    let base = this.minutes[0]!
    for (let i = 1; i < DELAY_HISTORY_MINUTES; i++) {
      const m = this.minutes[i]!
      if (u32Less(m, base)) base = m
    }
    this.baseValue = base
  }
}
