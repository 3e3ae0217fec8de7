import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../../adapters/memory/manual-clock.js'

describe('ManualClock', () => {
  it('starts at the configured times and moves only when advanced', () => {
    const clock = new ManualClock({ startMs: 100, wallStartMs: 5_000 })
    expect(clock.now()).toBe(100)
    expect(clock.wallNow()).toBe(5_000)
    clock.advance(250)
    expect(clock.now()).toBe(350)
    expect(clock.wallNow()).toBe(5_250)
    clock.advance(-10)
    expect(clock.now()).toBe(350)
  })

  it('runs due timers in time order, ties in creation order, with now() at each due time', () => {
    const clock = new ManualClock()
    const log: string[] = []
    clock.setTimeout(() => log.push(`c@${clock.now()}`), 30)
    clock.setTimeout(() => log.push(`a@${clock.now()}`), 10)
    clock.setTimeout(() => log.push(`b1@${clock.now()}`), 20)
    clock.setTimeout(() => log.push(`b2@${clock.now()}`), 20)
    clock.setTimeout(() => log.push('late'), 31)
    expect(clock.advance(30)).toBe(4)
    expect(log).toEqual(['a@10', 'b1@20', 'b2@20', 'c@30'])
    expect(clock.now()).toBe(30)
    expect(clock.pendingTimers).toBe(1)
  })

  it('runs timers scheduled during an advance when they fall inside the window', () => {
    const clock = new ManualClock()
    const log: number[] = []
    clock.setTimeout(() => {
      log.push(clock.now())
      clock.setTimeout(() => {
        log.push(clock.now())
        clock.setTimeout(() => log.push(clock.now()), 0)
        clock.setTimeout(() => log.push(clock.now()), 100)
      }, 5)
    }, 10)
    clock.advance(50)
    expect(log).toEqual([10, 15, 15])
    expect(clock.pendingTimers).toBe(1)
    clock.advance(100)
    expect(log).toEqual([10, 15, 15, 115])
  })

  it('repeats intervals, counts each once, and stops them on cancel (also from inside)', () => {
    const clock = new ManualClock()
    const ticks: number[] = []
    const timer = clock.setInterval(() => {
      ticks.push(clock.now())
      if (ticks.length === 3) timer.cancel()
    }, 100)
    expect(clock.pendingTimers).toBe(1)
    clock.advance(250)
    expect(ticks).toEqual([100, 200])
    expect(clock.pendingTimers).toBe(1)
    clock.advance(1000)
    expect(ticks).toEqual([100, 200, 300])
    expect(clock.pendingTimers).toBe(0)
  })

  it('cancel is idempotent and harmless after the timer ran', () => {
    const clock = new ManualClock()
    let runs = 0
    const t = clock.setTimeout(() => { runs++ }, 5)
    const other = clock.setTimeout(() => { runs += 10 }, 5)
    t.cancel()
    t.cancel()
    clock.advance(10)
    other.cancel()
    expect(runs).toBe(10)
    expect(clock.pendingTimers).toBe(0)
  })

  it('sanitizes delays: negative and NaN run at once, zero intervals every 1 ms, infinite never', () => {
    const clock = new ManualClock()
    const log: string[] = []
    clock.setTimeout(() => log.push('neg'), -5)
    clock.setTimeout(() => log.push('nan'), Number.NaN)
    clock.setTimeout(() => log.push('inf'), Infinity)
    const iv = clock.setInterval(() => log.push(`iv@${clock.now()}`), 0)
    clock.advance(2)
    iv.cancel()
    expect(log).toEqual(['neg', 'nan', 'iv@1', 'iv@2'])
    expect(clock.pendingTimers).toBe(1)
    expect(clock.runNext()).toBe(false)
  })

  it('refuses re-entrant advances and zero-delay loops', () => {
    const clock = new ManualClock({ maxTimersPerAdvance: 1000 })
    clock.setTimeout(() => { clock.advance(1) }, 1)
    expect(() => clock.advance(5)).toThrow(/already advancing/)
    const loop = (): void => { clock.setTimeout(loop, 0) }
    clock.setTimeout(loop, 0)
    expect(() => clock.advance(1)).toThrow(/zero-delay timer loop/)
  })

  it('runNext jumps to the next timer and runs only it', () => {
    const clock = new ManualClock()
    const log: number[] = []
    clock.setTimeout(() => log.push(1), 40)
    clock.setTimeout(() => log.push(2), 40)
    expect(clock.nextDueMs()).toBe(40)
    expect(clock.runNext()).toBe(true)
    expect(log).toEqual([1])
    expect(clock.now()).toBe(40)
    expect(clock.runNext()).toBe(true)
    expect(clock.runNext()).toBe(false)
    expect(clock.nextDueMs()).toBeUndefined()
  })

  it('advanceAsync lets promise chains started by a timer schedule timers inside the window', async () => {
    const chain = (clock: ManualClock, log: number[]): void => {
      clock.setTimeout(() => {
        void Promise.resolve().then(async () => { await Promise.resolve() }).then(() => {
          clock.setTimeout(() => log.push(clock.now()), 5)
        })
      }, 10)
    }
    const syncClock = new ManualClock()
    const syncLog: number[] = []
    chain(syncClock, syncLog)
    syncClock.advance(100)
    await Promise.resolve()
    await new Promise((resolve) => setImmediate(resolve))
    expect(syncLog).toEqual([]) // scheduled after advance() returned, at 100 + 5
    syncClock.advance(10)
    expect(syncLog).toEqual([105])

    const asyncClock = new ManualClock()
    const asyncLog: number[] = []
    chain(asyncClock, asyncLog)
    expect(await asyncClock.advanceAsync(100)).toBe(2)
    expect(asyncLog).toEqual([15])
    expect(asyncClock.now()).toBe(100)
  })

  it('runUntil stops as soon as the predicate holds, at a deadline, or when nothing is left to run', async () => {
    const clock = new ManualClock()
    let count = 0
    const iv = clock.setInterval(() => { count++ }, 10)
    expect(await clock.runUntil(() => count === 5, 1_000)).toBe(true)
    expect(clock.now()).toBe(50)
    expect(await clock.runUntil(() => count === 1_000, 100)).toBe(false)
    expect(clock.now()).toBe(150)
    iv.cancel()
    const before = clock.now()
    expect(await clock.runUntil(() => false, 1_000_000)).toBe(false)
    expect(clock.now()).toBe(before) // idle: nothing can change, so no time passes

    let resolved = false
    void new Promise((resolve) => setTimeout(resolve, 5)).then(() => { resolved = true })
    expect(await clock.runUntil(() => resolved, 10, { idleSettleTurns: 1000, settle: async () => { await new Promise((resolve) => setTimeout(resolve, 1)) } })).toBe(true)
  })

  it('advanceUntilIdle drains timers, and reports an interval that never ends', async () => {
    const clock = new ManualClock()
    let fired = 0
    clock.setTimeout(() => { fired++; clock.setTimeout(() => { fired++ }, 1_000) }, 500)
    expect(await clock.advanceUntilIdle()).toBe(true)
    expect(fired).toBe(2)
    expect(clock.now()).toBe(1_500)
    const iv = clock.setInterval(() => {}, 100)
    expect(await clock.advanceUntilIdle(10_000)).toBe(false)
    expect(clock.now()).toBe(11_500)
    iv.cancel()
    expect(clock.pendingTimers).toBe(0)
  })

  it('an exception in a timer propagates and leaves the clock usable', () => {
    const clock = new ManualClock()
    clock.setTimeout(() => { throw new Error('boom') }, 10)
    let later = false
    clock.setTimeout(() => { later = true }, 20)
    expect(() => clock.advance(30)).toThrow('boom')
    expect(clock.now()).toBe(10)
    clock.advance(30)
    expect(later).toBe(true)
  })

  it('fires every timer exactly once, in (due, creation) order, whatever the advance steps and cancels', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ delay: fc.integer({ min: 0, max: 500 }), cancel: fc.boolean() }), { maxLength: 60 }),
      fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 20 }),
      (timers, steps) => {
        const clock = new ManualClock()
        const fired: Array<{ id: number, at: number }> = []
        const handles = timers.map((t, id) => clock.setTimeout(() => fired.push({ id, at: clock.now() }), t.delay))
        timers.forEach((t, id) => { if (t.cancel) handles[id]!.cancel() })
        for (const step of steps) clock.advance(step)
        clock.advance(1_000)
        const expected = timers
          .map((t, id) => ({ id, at: t.delay, cancel: t.cancel }))
          .filter((t) => !t.cancel)
          .sort((a, b) => a.at - b.at || a.id - b.id)
          .map(({ id, at }) => ({ id, at }))
        expect(fired).toEqual(expected)
        expect(clock.pendingTimers).toBe(0)
      }
    ), { numRuns: 200, seed: 3 })
  })
})
