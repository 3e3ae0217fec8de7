/**
 * Token buckets for DHT traffic: one per source endpoint for incoming queries (a flood from one
 * address is dropped, not answered), and one global for everything we send.
 *
 * Keyed on IP and port, not IP alone: on a test DHT every node is 127.0.0.1 (and behind a NAT many
 * users share one IP), so a per-IP limit would cut a whole swarm off (INTEROP-NOTES).
 * The per-source map is bounded: past `maxTrackedSources` the source seen least recently is
 * forgotten (it starts again with a full bucket, which costs at most one burst).
 */

export interface TokenBucketSettings {
  /** Sustained rate. */
  perSecond: number
  /** Bucket size. */
  burst: number
}

/** One token bucket on a clock reading in milliseconds. */
export class TokenBucket {
  private tokens: number
  private updatedMs: number

  constructor (private readonly settings: TokenBucketSettings, nowMs: number) {
    this.tokens = settings.burst
    this.updatedMs = nowMs
  }

  /** Takes one token if there is one. */
  take (nowMs: number): boolean {
    this.refill(nowMs)
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /** Milliseconds until a token is available (0 when one is). */
  waitMs (nowMs: number): number {
    this.refill(nowMs)
    if (this.tokens >= 1) return 0
    return Math.ceil(((1 - this.tokens) / this.settings.perSecond) * 1000)
  }

  private refill (nowMs: number): void {
    const elapsed = nowMs - this.updatedMs
    if (elapsed <= 0) return
    this.tokens = Math.min(this.settings.burst, this.tokens + (elapsed * this.settings.perSecond) / 1000)
    this.updatedMs = nowMs
  }
}

/** Per-source token buckets with a bounded number of sources. */
export class SourceRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor (private readonly settings: TokenBucketSettings, private readonly maxTrackedSources = 4096) {}

  /** Whether a message from `source` may be handled now. */
  allow (source: string, nowMs: number): boolean {
    let bucket = this.buckets.get(source)
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxTrackedSources) {
        const oldest = this.buckets.keys().next()
        if (oldest.done !== true) this.buckets.delete(oldest.value)
      }
      bucket = new TokenBucket(this.settings, nowMs)
    } else {
      this.buckets.delete(source)
    }
    this.buckets.set(source, bucket) // most recent last
    return bucket.take(nowMs)
  }

  get trackedSources (): number { return this.buckets.size }
}
