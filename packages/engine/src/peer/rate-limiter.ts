/**
 * Rate limiting with token buckets in a hierarchy: global → torrent → peer (seed 000's global
 * limits, seed 001's "bandwidth management"). One `RateLimiter` per direction per level; a peer's
 * limiter is a child of its torrent's, which is a child of the engine's.
 *
 * API shaped for the data path (STYLE.md §5, §6): `request(bytes)` returns how many bytes may be
 * sent or read *now* (possibly fewer, possibly 0), synchronously, taking them from every limited
 * level at once. When it returns less than asked, the caller registers `onAvailable(cb)` and stops
 * (pauses the socket, stops writing); `cb` runs once when its turn comes, and it asks again.
 * No promise per block or per byte.
 *
 * Fairness: when a level runs dry, consumers queue at that level (the bottleneck of their last
 * request). Once enough tokens have accumulated for the queue, they are split equally among the
 * queued consumers as *credit*, and the consumers are called back in FIFO order. Credit belongs to
 * its consumer until used (or the consumer closes), so a fast consumer cannot take what was set
 * aside for a slower one, and a consumer waiting at two levels keeps what it got at the first while
 * it waits at the second (no livelock between levels). While anyone is queued at a level, newcomers
 * get nothing there and queue behind them.
 *
 * Accuracy: tokens accrue continuously from {@link IClock.now}; a bucket holds at most `burstMs` of
 * its rate, so after an idle spell a consumer may send that much at once. Over an interval of T
 * the bytes granted never exceed rate × T + burst.
 *
 * A rate of 0 means unlimited: that level grants everything and is skipped.
 */
import { LodestoneError } from '../errors.js'
import type { IClock, ITimer } from '../interfaces/clock.js'
import { SparseMap, SparseSet } from '../util/sparse-collections.js'

export interface RateLimiterSettings {
  /** Bytes per second through this level; 0 means unlimited. @default 0 */
  rateBytesPerSec: number
  /** Bucket capacity, as milliseconds of the rate (never below {@link MIN_BURST_BYTES}). @default 200 */
  burstMs: number
}

export const defaultRateLimiterSettings: Readonly<RateLimiterSettings> = { rateBytesPerSec: 0, burstMs: 200 }

/** Smallest bucket: below it a slow limit would wake consumers for a few bytes at a time. */
export const MIN_BURST_BYTES = 4096
/** A queue is woken when each queued consumer can get at least this much (or the bucket is full). */
const WAKE_QUANTUM_BYTES = 4096
/** …or after this long's worth of tokens, whichever is more: bounds timer churn at high rates. */
const MIN_WAKE_INTERVAL_MS = 10

export interface RateLimiterDeps {
  clock: IClock
}

export class RateLimiter {
  private rate: number
  private readonly burstMs: number
  private tokens: number
  private lastRefillMs: number
  private readonly children = new SparseSet<RateLimiter>()
  /** Consumers queued at this level, FIFO. */
  private waiters: RateLimiter[] = []
  private timer: ITimer | null = null
  private closed = false

  // As a consumer:
  /** Tokens set aside for this consumer at each level (by that level's wake-up). */
  private readonly credits = new SparseMap<RateLimiter, number>()
  /** The level that limited the last request; where `onAvailable` queues. */
  private bottleneck: RateLimiter | null = null
  private waitingAt: RateLimiter | null = null
  private callback: (() => void) | null = null
  private immediate: ITimer | null = null
  private granted = 0
  /** This limiter and its ancestors, nearest first (fixed at construction). */
  private readonly path: RateLimiter[]

  /**
   * @param parent the next level up (torrent for a peer, global for a torrent), or null for a root.
   * @throws LodestoneError SETTINGS_INVALID for a negative or non-finite rate.
   */
  constructor (private readonly deps: RateLimiterDeps, settings: Partial<RateLimiterSettings> = {}, readonly parent: RateLimiter | null = null) {
    const s = { ...defaultRateLimiterSettings, ...settings }
    checkRate(s.rateBytesPerSec)
    if (!Number.isFinite(s.burstMs) || s.burstMs <= 0) {
      throw new LodestoneError('SETTINGS_INVALID', { key: 'rateLimit.burstMs', reason: 'must be a positive number' })
    }
    this.rate = s.rateBytesPerSec
    this.burstMs = s.burstMs
    this.tokens = this.burstBytes
    this.lastRefillMs = deps.clock.now()
    this.path = parent === null ? [this] : [this, ...parent.path]
    parent?.children.add(this)
  }

  /** A limiter one level down (a torrent under the global one, a peer under its torrent). */
  createChild (settings: Partial<RateLimiterSettings> = {}): RateLimiter {
    return new RateLimiter(this.deps, settings, this)
  }

  get rateBytesPerSec (): number {
    return this.rate
  }

  /** Bytes granted through this limiter (as a consumer or as a level), for stats. */
  get totalGrantedBytes (): number {
    return this.granted
  }

  /**
   * Changes the rate at run time (0 = unlimited). Queued consumers are re-timed to the new rate;
   * when the level becomes unlimited they are called back at once (on a zero-delay timer).
   * @throws LodestoneError SETTINGS_INVALID for a negative or non-finite rate.
   */
  setRate (rateBytesPerSec: number): void {
    checkRate(rateBytesPerSec)
    this.refill()
    const wasUnlimited = this.rate === 0
    this.rate = rateBytesPerSec
    this.lastRefillMs = this.deps.clock.now()
    if (rateBytesPerSec === 0) {
      for (const c of this.waiters) c.credits.delete(this)
    } else if (wasUnlimited) {
      this.tokens = this.burstBytes
    } else {
      this.tokens = Math.min(this.tokens, this.burstBytes)
    }
    this.timer?.cancel()
    this.timer = null
    this.scheduleWake()
  }

  /**
   * Takes up to `bytes` from this limiter and every limited level above it; returns how many were
   * granted (0..bytes). Never blocks. When the result is less than `bytes`, call
   * {@link onAvailable} and ask again from the callback.
   */
  request (bytes: number): number {
    if (!(bytes > 0) || this.closed) return 0
    let grant = Math.floor(bytes)
    let bottleneck: RateLimiter | null = null
    for (const level of this.path) {
      if (level.rate === 0) continue
      level.refill()
      const credit = this.credits.get(level) ?? 0
      // Queued consumers are ahead of us for the bucket's free tokens; our own credit is ours.
      const free = level.waiters.length > 0 ? 0 : Math.floor(level.tokens)
      const available = credit + Math.max(0, free)
      if (available < grant) {
        grant = available
        bottleneck = level
      }
    }
    this.bottleneck = bottleneck
    if (grant <= 0) return 0
    for (const level of this.path) {
      level.granted += grant
      if (level.rate === 0) continue
      const credit = this.credits.get(level) ?? 0
      if (credit > grant) this.credits.set(level, credit - grant)
      else {
        this.credits.delete(level)
        level.tokens -= grant - credit
      }
    }
    return grant
  }

  /**
   * Calls `cb` once, when a request that came up short is worth retrying: after the limiting
   * level has set aside this consumer's share, or at once (on a zero-delay timer) when nothing
   * limits it any more. A second call replaces the callback. Returns a function that cancels it.
   */
  onAvailable (cb: () => void): () => void {
    if (this.closed) return () => {}
    this.callback = cb
    const level = this.bottleneck !== null && this.bottleneck.rate > 0 ? this.bottleneck : null
    if (level === null) {
      this.immediate ??= this.deps.clock.setTimeout(() => {
        this.immediate = null
        this.fire()
      }, 0)
    } else if (this.waitingAt !== level) {
      this.leaveQueue()
      level.waiters.push(this)
      this.waitingAt = level
      level.scheduleWake()
    }
    return () => {
      if (this.callback === cb) {
        this.callback = null
        this.leaveQueue()
        this.immediate?.cancel()
        this.immediate = null
      }
    }
  }

  /**
   * Detaches this limiter: leaves every queue, returns its unused credit, and lets consumers queued
   * here go through (they are called back). Idempotent. Close peers' limiters when they disconnect.
   */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.leaveQueue()
    this.callback = null
    this.immediate?.cancel()
    this.immediate = null
    for (const [level, credit] of this.credits) level.tokens = Math.min(level.burstBytes, level.tokens + credit)
    this.credits.clear()
    this.parent?.children.delete(this)
    this.timer?.cancel()
    this.timer = null
    const queued = this.waiters
    this.waiters = []
    this.rate = 0
    for (const c of queued) {
      c.waitingAt = null
      c.credits.delete(this)
      if (c.callback !== null) c.onAvailable(c.callback)
    }
  }

  private get burstBytes (): number {
    return Math.max(MIN_BURST_BYTES, this.rate * this.burstMs / 1000)
  }

  private refill (): void {
    const now = this.deps.clock.now()
    if (this.rate === 0) {
      this.lastRefillMs = now
      return
    }
    const elapsed = now - this.lastRefillMs
    if (elapsed <= 0) return
    this.tokens = Math.min(this.burstBytes, this.tokens + this.rate * elapsed / 1000)
    this.lastRefillMs = now
  }

  /** Arms the timer for when the queue can be served: each waiter a quantum, or a full bucket. */
  private scheduleWake (): void {
    if (this.timer !== null || this.waiters.length === 0) return
    if (this.rate === 0) {
      this.timer = this.deps.clock.setTimeout(() => { this.wake() }, 0)
      return
    }
    this.refill()
    const target = Math.min(this.burstBytes, Math.max(this.waiters.length * WAKE_QUANTUM_BYTES, this.rate * MIN_WAKE_INTERVAL_MS / 1000))
    const delayMs = Math.max(0, Math.ceil((target - this.tokens) * 1000 / this.rate))
    this.timer = this.deps.clock.setTimeout(() => { this.wake() }, delayMs)
  }

  /** Splits the bucket among the queue as credit, then calls the queued consumers back in order. */
  private wake (): void {
    this.timer = null
    this.refill()
    const queued = this.waiters
    this.waiters = []
    if (queued.length === 0) return
    if (this.rate > 0) {
      const share = Math.floor(Math.max(0, this.tokens) / queued.length)
      for (const c of queued) c.credits.set(this, (c.credits.get(this) ?? 0) + share)
      this.tokens -= share * queued.length
    }
    for (const c of queued) c.waitingAt = null
    // One consumer's failing callback must not strand the others: call all, then rethrow the first.
    let failure: Error | null = null
    for (const c of queued) {
      try {
        c.fire()
      } catch (error) {
        failure ??= error instanceof Error ? error : new LodestoneError('INTERNAL', { reason: `rate limiter callback threw ${String(error)}` })
      }
    }
    if (failure !== null) throw failure
  }

  private fire (): void {
    const cb = this.callback
    this.callback = null
    cb?.()
  }

  private leaveQueue (): void {
    const at = this.waitingAt
    if (at === null) return
    const i = at.waiters.indexOf(this)
    if (i >= 0) at.waiters.splice(i, 1)
    this.waitingAt = null
  }
}

function checkRate (rate: number): void {
  if (!Number.isFinite(rate) || rate < 0) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'rateLimit.rateBytesPerSec', reason: 'must be a finite number >= 0' })
  }
}
