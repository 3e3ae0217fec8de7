/**
 * One clock timer for many coarse deadlines (STYLE.md §6): request time-outs, keep-alives and
 * idle checks of thousands of peers need second-level precision, not one `setTimeout` each.
 *
 * Tasks are checked on a fixed tick (`resolutionMs`); a task runs on the first tick at or after
 * its due time, so it may run up to one tick late and never early. The clock interval exists only
 * while tasks are scheduled, so a quiet engine (or a finished swarm test) holds no timer.
 */
import type { IClock, ITimer } from '../interfaces/clock.js'

export interface CoarseSchedulerSettings {
  /** Tick period. @default 1_000 */
  resolutionMs: number
}

export const defaultCoarseSchedulerSettings: Readonly<CoarseSchedulerSettings> = { resolutionMs: 1_000 }

/** A scheduled task; `cancel` is idempotent. */
export interface ScheduledTask {
  cancel (): void
}

interface Entry {
  dueAtMs: number
  /** 0 for one-shot tasks. */
  intervalMs: number
  run: () => void
  cancelled: boolean
}

export class CoarseScheduler {
  private readonly entries = new Set<Entry>()
  private timer: ITimer | null = null
  private readonly resolutionMs: number

  /**
   * @param deps - `clock`; `onError` receives anything a task throws (the other tasks still run; default: ignore).
   */
  constructor (
    private readonly deps: { clock: IClock, onError?: (error: unknown) => void },
    settings: CoarseSchedulerSettings = defaultCoarseSchedulerSettings
  ) {
    this.resolutionMs = Math.max(1, settings.resolutionMs)
  }

  /** Number of scheduled tasks. */
  get size (): number { return this.entries.size }

  /** Runs `run` once, `delayMs` from now (rounded up to the next tick). */
  after (delayMs: number, run: () => void): ScheduledTask {
    return this.add({ dueAtMs: this.deps.clock.now() + delayMs, intervalMs: 0, run, cancelled: false })
  }

  /** Runs `run` every `intervalMs` (at tick resolution), first `intervalMs` from now. */
  every (intervalMs: number, run: () => void): ScheduledTask {
    const interval = Math.max(1, intervalMs)
    return this.add({ dueAtMs: this.deps.clock.now() + interval, intervalMs: interval, run, cancelled: false })
  }

  /** Cancels every task and the clock timer. */
  close (): void {
    for (const entry of this.entries) entry.cancelled = true
    this.entries.clear()
    this.stopTimer()
  }

  private add (entry: Entry): ScheduledTask {
    this.entries.add(entry)
    if (this.timer === null) this.timer = this.deps.clock.setInterval(() => { this.tick() }, this.resolutionMs)
    return {
      cancel: () => {
        if (entry.cancelled) return
        entry.cancelled = true
        this.entries.delete(entry)
        if (this.entries.size === 0) this.stopTimer()
      }
    }
  }

  private tick (): void {
    const now = this.deps.clock.now()
    for (const entry of [...this.entries]) {
      if (entry.cancelled || entry.dueAtMs > now) continue
      if (entry.intervalMs > 0) {
        // Skip missed periods rather than running a burst after a stall.
        entry.dueAtMs += Math.max(1, Math.ceil((now - entry.dueAtMs + 1) / entry.intervalMs)) * entry.intervalMs
      } else {
        entry.cancelled = true
        this.entries.delete(entry)
      }
      try {
        entry.run()
      } catch (error) {
        this.deps.onError?.(error)
      }
    }
    if (this.entries.size === 0) this.stopTimer()
  }

  private stopTimer (): void {
    this.timer?.cancel()
    this.timer = null
  }
}
