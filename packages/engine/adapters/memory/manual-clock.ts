/**
 * A clock that only moves when a test moves it (STYLE.md §10): swarm tests run many engines in
 * virtual time, deterministically, without real sleeps.
 *
 * Why both synchronous and asynchronous drivers: `advance()` is exact and cheap for unit tests
 * of timer logic, but an engine reacts to a timer with promise chains (disk writes, hashing) that
 * only settle when the microtask queue drains. The async drivers (`advanceAsync`, `runUntil`,
 * `advanceUntilIdle`) yield to the real event loop after every timer, as Node's own event loop
 * drains microtasks between timer callbacks, so the next timer sees the effects of the previous one.
 *
 * Ordering: timers run by due time, ties by creation order (an interval's next run counts as
 * created when it is rescheduled). A timer scheduled while advancing runs within the same advance
 * when it falls due inside the window. This order is what makes a run reproducible.
 */
import type { IClock, ITimer } from '../../src/interfaces/clock.js'

export interface ManualClockSettings {
  /** Value of `now()` at creation. @default 0 */
  startMs: number
  /** Value of `wallNow()` at creation; fixed so that runs are reproducible. @default 1_700_000_000_000 */
  wallStartMs: number
  /** A synchronous advance that runs more timers than this throws (a zero-delay timer loop). @default 1_000_000 */
  maxTimersPerAdvance: number
}

export const defaultManualClockSettings: Readonly<ManualClockSettings> = {
  startMs: 0,
  wallStartMs: 1_700_000_000_000,
  maxTimersPerAdvance: 1_000_000
}

/** How the async drivers let promise continuations run between timers. */
export type SettleFn = () => Promise<void>

export interface AsyncRunOptions {
  /** Called after every timer (and before checking a predicate). @default one macrotask turn */
  settle?: SettleFn
  /**
   * When no timer is pending but the predicate is still false, settle this many more times before
   * giving up (lets work that completes outside virtual time, e.g. a worker, report back). @default 20
   */
  idleSettleTurns?: number
}

interface TimerEntry {
  dueMs: number
  seq: number
  /** Undefined for a one-shot timeout. */
  intervalMs: number | undefined
  cb: () => void
  /** Position in the heap, -1 when not scheduled. */
  heapIndex: number
}

const setImmediateFn = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate

/** Yields one macrotask turn, so every queued microtask (promise continuation) has run. */
export const macrotaskSettle: SettleFn = async () => {
  await new Promise<void>((resolve) => {
    if (setImmediateFn !== undefined) setImmediateFn(resolve)
    else globalThis.setTimeout(resolve, 0)
  })
}

export class ManualClock implements IClock {
  private nowMs: number
  private readonly wallOffsetMs: number
  private readonly maxTimersPerAdvance: number
  private readonly heap: TimerEntry[] = []
  private seq = 0
  private driving = false

  constructor (settings: Partial<ManualClockSettings> = {}) {
    const s = { ...defaultManualClockSettings, ...settings }
    this.nowMs = s.startMs
    this.wallOffsetMs = s.wallStartMs - s.startMs
    this.maxTimersPerAdvance = s.maxTimersPerAdvance
  }

  now (): number { return this.nowMs }

  wallNow (): number { return this.nowMs + this.wallOffsetMs }

  /** A negative or NaN delay counts as 0; an infinite one never falls due. */
  setTimeout (cb: () => void, delayMs: number): ITimer {
    return this.schedule(cb, sanitizeDelay(delayMs), undefined)
  }

  /** Intervals below 1 ms run every 1 ms (as in Node), so a zero interval cannot stall time. */
  setInterval (cb: () => void, intervalMs: number): ITimer {
    const interval = Number.isNaN(intervalMs) || intervalMs < 1 ? 1 : intervalMs
    return this.schedule(cb, interval, interval)
  }

  /** Timers scheduled and not yet run or cancelled (an interval counts once). Tests assert 0 at the end. */
  get pendingTimers (): number { return this.heap.length }

  /** Due time of the next timer, or undefined when none is pending. */
  nextDueMs (): number | undefined {
    return this.heap[0]?.dueMs
  }

  /**
   * Moves time forward by `ms`, running every timer that falls due, in order, with `now()` equal
   * to each timer's due time while it runs. Returns how many timers ran. Promise continuations
   * started by the timers only run after this returns; use {@link advanceAsync} when they matter.
   * @throws Error when called from inside a timer, or on a zero-delay timer loop.
   */
  advance (ms: number): number {
    return this.advanceTo(this.nowMs + Math.max(0, ms))
  }

  /** Like {@link advance}, to an absolute time (no-op when it lies in the past). */
  advanceTo (targetMs: number): number {
    this.enter()
    let ran = 0
    try {
      for (let top = this.heap[0]; top !== undefined && top.dueMs <= targetMs; top = this.heap[0]) {
        if (++ran > this.maxTimersPerAdvance) {
          throw new Error(`ManualClock: more than ${this.maxTimersPerAdvance} timers in one advance (a zero-delay timer loop?)`)
        }
        this.runTop(top)
      }
      if (targetMs > this.nowMs) this.nowMs = targetMs
    } finally {
      this.driving = false
    }
    return ran
  }

  /** Jumps to the next timer and runs it (only that one). Returns false when none is pending. */
  runNext (): boolean {
    const top = this.heap[0]
    if (top === undefined || !Number.isFinite(top.dueMs)) return false
    this.enter()
    try {
      this.runTop(top)
    } finally {
      this.driving = false
    }
    return true
  }

  /**
   * Like {@link advance}, but settles (by default: one macrotask turn) before the first timer and
   * after each one, so promise chains started by a timer complete before the next timer runs.
   */
  async advanceAsync (ms: number, options: AsyncRunOptions = {}): Promise<number> {
    const settle = options.settle ?? macrotaskSettle
    const targetMs = this.nowMs + Math.max(0, ms)
    let ran = 0
    await this.drive(async () => {
      await settle()
      for (let top = this.heap[0]; top !== undefined && top.dueMs <= targetMs; top = this.heap[0]) {
        this.runTop(top)
        ran++
        await settle()
      }
      if (targetMs > this.nowMs) this.nowMs = targetMs
    })
    return ran
  }

  /**
   * Runs timers one by one (settling after each) until `predicate()` holds or virtual time would pass
   * `now() + maxMs`. Returns true when the predicate held. When no timer is pending at all, it settles
   * a few more turns (see {@link AsyncRunOptions.idleSettleTurns}) and then returns false rather than
   * waiting forever: nothing in virtual time can make the predicate true any more.
   */
  async runUntil (predicate: () => boolean, maxMs = 60_000, options: AsyncRunOptions = {}): Promise<boolean> {
    const settle = options.settle ?? macrotaskSettle
    const idleTurns = options.idleSettleTurns ?? 20
    const deadlineMs = this.nowMs + Math.max(0, maxMs)
    let result = false
    await this.drive(async () => {
      for (;;) {
        await settle()
        if (predicate()) { result = true; return }
        const top = this.heap[0]
        if (top === undefined) {
          for (let i = 0; i < idleTurns && this.heap.length === 0; i++) {
            await settle()
            if (predicate()) { result = true; return }
          }
          if (this.heap.length === 0) return
          continue
        }
        if (top.dueMs > deadlineMs) {
          this.nowMs = Math.max(this.nowMs, deadlineMs)
          await settle()
          result = predicate()
          return
        }
        this.runTop(top)
      }
    })
    return result
  }

  /**
   * Runs timers (settling after each) until none is pending. Returns true when idle was reached, false
   * when the next timer lies beyond `now() + maxMs` (an interval keeps running, for instance); time is
   * then left at that deadline.
   */
  async advanceUntilIdle (maxMs = 60_000, options: AsyncRunOptions = {}): Promise<boolean> {
    return this.runUntil(() => this.heap.length === 0, maxMs, { idleSettleTurns: 0, ...options })
  }

  private enter (): void {
    if (this.driving) throw new Error('ManualClock: already advancing (advance called from a timer, or two drivers at once)')
    this.driving = true
  }

  private async drive (body: () => Promise<void>): Promise<void> {
    this.enter()
    try {
      await body()
    } finally {
      this.driving = false
    }
  }

  /** Removes `top` (the heap's first entry), reschedules it if it is an interval, then runs it. */
  private runTop (top: TimerEntry): void {
    this.removeAt(0)
    if (top.dueMs > this.nowMs) this.nowMs = top.dueMs
    if (top.intervalMs !== undefined) {
      top.dueMs = this.nowMs + top.intervalMs
      top.seq = this.seq++
      this.insert(top)
    }
    top.cb()
  }

  private schedule (cb: () => void, delayMs: number, intervalMs: number | undefined): ITimer {
    const entry: TimerEntry = { dueMs: this.nowMs + delayMs, seq: this.seq++, intervalMs, cb, heapIndex: -1 }
    this.insert(entry)
    return {
      cancel: () => {
        if (entry.heapIndex >= 0) this.removeAt(entry.heapIndex)
      }
    }
  }

  // --- indexed binary min-heap on (dueMs, seq); cancel removes in O(log n) ---

  private less (a: TimerEntry, b: TimerEntry): boolean {
    return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq)
  }

  private insert (entry: TimerEntry): void {
    entry.heapIndex = this.heap.length
    this.heap.push(entry)
    this.siftUp(entry.heapIndex)
  }

  private removeAt (index: number): void {
    const heap = this.heap
    const removed = heap[index]
    const last = heap.pop()
    if (removed === undefined || last === undefined) return
    removed.heapIndex = -1
    if (last === removed) return
    heap[index] = last
    last.heapIndex = index
    this.siftUp(index)
    this.siftDown(last.heapIndex)
  }

  private siftUp (index: number): void {
    const heap = this.heap
    let i = index
    const entry = heap[i]
    if (entry === undefined) return
    while (i > 0) {
      const parentIndex = (i - 1) >> 1
      const parent = heap[parentIndex]
      if (parent === undefined || !this.less(entry, parent)) break
      heap[i] = parent
      parent.heapIndex = i
      i = parentIndex
    }
    heap[i] = entry
    entry.heapIndex = i
  }

  private siftDown (index: number): void {
    const heap = this.heap
    let i = index
    const entry = heap[i]
    if (entry === undefined) return
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let smallest = i
      let smallestEntry = entry
      const left = heap[l]
      if (left !== undefined && this.less(left, smallestEntry)) { smallest = l; smallestEntry = left }
      const right = heap[r]
      if (right !== undefined && this.less(right, smallestEntry)) { smallest = r; smallestEntry = right }
      if (smallest === i) break
      heap[i] = smallestEntry
      smallestEntry.heapIndex = i
      i = smallest
    }
    heap[i] = entry
    entry.heapIndex = i
  }
}

function sanitizeDelay (delayMs: number): number {
  if (Number.isNaN(delayMs) || delayMs < 0) return 0
  return delayMs
}
