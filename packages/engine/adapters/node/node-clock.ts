/**
 * The real clock: `performance.now()` for monotonic time, `Date.now()` for wall time, and the
 * platform's timers. Only globals are used, so it also works in a browser; it lives here because
 * it unrefs timers (a Node notion): an idle engine's housekeeping timers (announce intervals,
 * keep-alives, choker rounds) must not keep a finished CLI command alive. Work that should keep
 * the process running holds a socket or a pending promise of its own.
 *
 * Delays beyond the platform maximum (2^31 - 1 ms, about 24.8 days) would fire at once in Node;
 * they are split into several timers instead. An infinite delay never fires.
 */
import type { IClock, ITimer } from '../../src/interfaces/clock.js'

/** Largest delay a platform timer accepts. */
const MAX_TIMER_DELAY_MS = 2_147_483_647

export interface SystemClockSettings {
  /** Unref timers so they do not keep the process alive. @default true */
  unref: boolean
}

type Handle = ReturnType<typeof globalThis.setTimeout>

function unrefHandle (handle: Handle): void {
  const maybe = handle as unknown as { unref?: () => void }
  if (typeof maybe.unref === 'function') maybe.unref()
}

export class SystemClock implements IClock {
  private readonly unref: boolean

  constructor (settings: Partial<SystemClockSettings> = {}) {
    this.unref = settings.unref ?? true
  }

  now (): number { return performance.now() }

  wallNow (): number { return Date.now() }

  /** A negative or NaN delay counts as 0; an infinite one never fires. */
  setTimeout (cb: () => void, delayMs: number): ITimer {
    const delay = Number.isNaN(delayMs) || delayMs < 0 ? 0 : delayMs
    let handle: Handle | undefined
    let cancelled = false
    const dueMs = this.now() + delay
    const arm = (remainingMs: number): void => {
      if (!Number.isFinite(remainingMs)) return
      if (remainingMs > MAX_TIMER_DELAY_MS) {
        handle = this.platformTimeout(() => { arm(dueMs - this.now()) }, MAX_TIMER_DELAY_MS)
      } else {
        handle = this.platformTimeout(() => {
          handle = undefined
          if (!cancelled) cb()
        }, Math.max(0, remainingMs))
      }
    }
    arm(delay)
    return {
      cancel: () => {
        cancelled = true
        if (handle !== undefined) globalThis.clearTimeout(handle)
        handle = undefined
      }
    }
  }

  /** Intervals below 1 ms run every 1 ms; an infinite interval never fires. */
  setInterval (cb: () => void, intervalMs: number): ITimer {
    const interval = Number.isNaN(intervalMs) || intervalMs < 1 ? 1 : intervalMs
    if (interval <= MAX_TIMER_DELAY_MS) {
      const handle = globalThis.setInterval(cb, interval)
      if (this.unref) unrefHandle(handle)
      return { cancel: () => { globalThis.clearInterval(handle) } }
    }
    // Longer than the platform allows: chain long timeouts.
    let current: ITimer | undefined
    let cancelled = false
    const next = (): void => {
      current = this.setTimeout(() => {
        if (cancelled) return
        next()
        cb()
      }, interval)
    }
    next()
    return {
      cancel: () => {
        cancelled = true
        current?.cancel()
      }
    }
  }

  private platformTimeout (cb: () => void, delayMs: number): Handle {
    const handle = globalThis.setTimeout(cb, delayMs)
    if (this.unref) unrefHandle(handle)
    return handle
  }
}
