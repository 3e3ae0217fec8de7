/** Time port: the core never reads the wall clock or calls setTimeout itself (DESIGN rule 1). */

export interface ITimer {
  /** Idempotent. */
  cancel (): void
}

export interface IClock {
  /** Milliseconds, monotonic within a run; comparable only with other values of the same clock. */
  now (): number
  /** Milliseconds since the Unix epoch, for timestamps that are persisted or shown. */
  wallNow (): number
  setTimeout (cb: () => void, delayMs: number): ITimer
  setInterval (cb: () => void, intervalMs: number): ITimer
}
