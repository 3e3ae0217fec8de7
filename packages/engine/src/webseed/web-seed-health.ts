/**
 * Whether a web seed may be asked for data now: back-off after failures, `Retry-After`, and
 * dropping a seed that keeps failing.
 *
 * Why not a ban: a web seed is a URL, not a peer; a 503, a restarting server or a mirror that is
 * still syncing all fail for a while and then work. So failures back off exponentially
 * (`backoffBaseMs` × 2^(n−1), at most `backoffMaxMs`; a `Retry-After` replaces the computed delay,
 * at most `maxRetryAfterMs`), and a seed is dropped — not used for `dropCooldownMs`, then given a
 * fresh start — after `maxConsecutiveFailures` failures in a row without a good response, or
 * after `maxHashFailures` pieces it served failed their hash check (bad data is worse than no
 * data: each costs a whole piece). A good response resets the consecutive count; hash failures
 * only reset when the seed comes back from a drop.
 */

export interface WebSeedSettings {
  /** Use the torrent's web seeds (`url-list`, magnet `ws=`) at all. @default true */
  enabled: boolean
  /** Requests in flight per web seed (keep-alive connections). @default 4 */
  maxRequestsInFlight: number
  /** Bytes asked for in one request (whole pieces, at least one). @default 2 MiB */
  requestBytes: number
  /** Time-out of one request, redirects included. @default 30_000 */
  requestTimeoutMs: number
  /** First back-off after a failure. @default 2_000 */
  backoffBaseMs: number
  /** Longest computed back-off. @default 120_000 */
  backoffMaxMs: number
  /** Longest `Retry-After` honoured. @default 3_600_000 */
  maxRetryAfterMs: number
  /** Failures in a row before the seed is dropped. @default 8 */
  maxConsecutiveFailures: number
  /** Pieces failing their hash check before the seed is dropped. @default 2 */
  maxHashFailures: number
  /** How long a dropped seed rests before it is tried again. @default 1_800_000 */
  dropCooldownMs: number
}

export const defaultWebSeedSettings: Readonly<WebSeedSettings> = {
  enabled: true,
  maxRequestsInFlight: 4,
  requestBytes: 2 * 1024 * 1024,
  requestTimeoutMs: 30_000,
  backoffBaseMs: 2_000,
  backoffMaxMs: 120_000,
  maxRetryAfterMs: 3_600_000,
  maxConsecutiveFailures: 8,
  maxHashFailures: 2,
  dropCooldownMs: 1_800_000
}

export type WebSeedHealthState = 'ok' | 'backing-off' | 'dropped'

export class WebSeedHealth {
  private consecutiveFailures = 0
  private hashFailures = 0
  private readyAtMs = 0
  private droppedUntilMs = -1
  /** Times the seed was dropped (for stats). */
  drops = 0

  constructor (private readonly settings: Pick<WebSeedSettings, 'backoffBaseMs' | 'backoffMaxMs' | 'maxRetryAfterMs' | 'maxConsecutiveFailures' | 'maxHashFailures' | 'dropCooldownMs'>) {}

  /** May the seed be asked for more at `nowMs`? A drop that has rested long enough ends here. */
  isReady (nowMs: number): boolean {
    if (this.droppedUntilMs >= 0) {
      if (nowMs < this.droppedUntilMs) return false
      this.droppedUntilMs = -1
      this.consecutiveFailures = 0
      this.hashFailures = 0
    }
    return nowMs >= this.readyAtMs
  }

  state (nowMs: number): WebSeedHealthState {
    if (this.droppedUntilMs >= 0 && nowMs < this.droppedUntilMs) return 'dropped'
    return nowMs < this.readyAtMs ? 'backing-off' : 'ok'
  }

  /** When the seed may be asked again (the end of a back-off or of a drop). */
  nextReadyAtMs (): number {
    return Math.max(this.readyAtMs, this.droppedUntilMs)
  }

  onSuccess (): void {
    this.consecutiveFailures = 0
  }

  /**
   * A failed request. Returns true when this failure dropped the seed.
   * @param retryAfterMs the server's `Retry-After`, already clamped.
   */
  onFailure (nowMs: number, retryAfterMs?: number): boolean {
    this.consecutiveFailures++
    if (this.consecutiveFailures >= this.settings.maxConsecutiveFailures) return this.drop(nowMs)
    const computed = Math.min(this.settings.backoffMaxMs, this.settings.backoffBaseMs * 2 ** (this.consecutiveFailures - 1))
    const delay = retryAfterMs === undefined ? computed : Math.min(retryAfterMs, this.settings.maxRetryAfterMs)
    this.readyAtMs = Math.max(this.readyAtMs, nowMs + delay)
    return false
  }

  /** A piece with bytes from this seed failed its hash check. Returns true when that dropped it. */
  onHashFailure (nowMs: number): boolean {
    this.hashFailures++
    if (this.hashFailures >= this.settings.maxHashFailures) return this.drop(nowMs)
    return false
  }

  /** Drops the seed now (the server refused the file, or certainly sent bad data). Returns true. */
  drop (nowMs: number): boolean {
    this.drops++
    this.droppedUntilMs = nowMs + this.settings.dropCooldownMs
    this.readyAtMs = this.droppedUntilMs
    return true
  }
}
