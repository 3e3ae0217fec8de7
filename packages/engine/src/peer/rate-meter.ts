/**
 * A sliding-window byte rate, driven by the injected clock (no timers of its own).
 *
 * Bytes are added to fixed-width buckets keyed by `floor(now / bucketMs)`; the rate is the sum of
 * the buckets inside the window divided by the time they cover (the full older buckets plus the
 * elapsed part of the current one, so the rate does not dip each time a new bucket starts). Reading the rate also
 * ages out old buckets, so a peer that stops sending decays to 0 without anyone calling `add`.
 * A young meter divides by its age (at least one bucket) rather than the full window, so a new
 * fast peer is not under-reported for the first seconds (pipeline depth depends on it).
 */
import type { IClock } from '../interfaces/clock.js'

export interface RateMeterSettings {
  /** Width of the window the rate averages over. @default 5_000 */
  windowMs: number
  /** Bucket width: the rate's time resolution. @default 250 */
  bucketMs: number
}

export const defaultRateMeterSettings: Readonly<RateMeterSettings> = { windowMs: 5_000, bucketMs: 250 }

export class RateMeter {
  /**
   * Made at the first `add`: a torrent has two meters, and most of 10 000 seeding torrents never
   * move a byte (issue 13). Until then the rate is 0.
   */
  private buckets: Float64Array | null = null
  private readonly bucketCount: number
  private readonly bucketMs: number
  private readonly windowMs: number
  /** Bucket number (time / bucketMs) of the newest bucket written or aged. */
  private current: number
  private readonly startedAtMs: number
  private total = 0

  constructor (private readonly clock: IClock, settings: RateMeterSettings = defaultRateMeterSettings) {
    this.bucketMs = Math.max(1, settings.bucketMs)
    this.windowMs = Math.max(this.bucketMs, settings.windowMs)
    this.bucketCount = Math.ceil(this.windowMs / this.bucketMs)
    this.startedAtMs = clock.now()
    this.current = Math.floor(this.startedAtMs / this.bucketMs)
  }

  /** Records `bytes` now. */
  add (bytes: number): void {
    const buckets = this.buckets ??= new Float64Array(this.bucketCount)
    this.advance()
    const slot = this.current % buckets.length
    buckets[slot] = (buckets[slot] ?? 0) + bytes
    this.total += bytes
  }

  /** Bytes per second over the window. */
  rateBytesPerSec (): number {
    if (this.buckets === null) return 0
    this.advance()
    let sum = 0
    for (const b of this.buckets) sum += b
    // The buckets cover the older full buckets plus the elapsed part of the current one.
    const now = this.clock.now()
    const coveredMs = (this.bucketCount - 1) * this.bucketMs + (now - this.current * this.bucketMs)
    const spanMs = Math.max(this.bucketMs, Math.min(coveredMs, now - this.startedAtMs))
    return sum * 1000 / spanMs
  }

  /** Every byte ever added. */
  get totalBytes (): number { return this.total }

  private advance (): void {
    const now = Math.floor(this.clock.now() / this.bucketMs)
    if (now <= this.current) return
    const buckets = this.buckets
    if (buckets !== null) {
      const steps = Math.min(now - this.current, buckets.length)
      for (let i = 1; i <= steps; i++) buckets[(this.current + i) % buckets.length] = 0
    }
    this.current = now
  }
}
