import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { CoarseScheduler } from '../../../src/util/coarse-scheduler.js'

describe('CoarseScheduler', () => {
  it('runs many tasks on one clock timer, never early, at most one tick late', () => {
    const clock = new ManualClock()
    const scheduler = new CoarseScheduler({ clock }, { resolutionMs: 1_000 })
    const ranAt: number[] = []
    for (let i = 0; i < 100; i++) scheduler.after(2_500, () => ranAt.push(clock.now()))
    expect(clock.pendingTimers).toBe(1)
    clock.advance(2_999)
    expect(ranAt).toEqual([])
    clock.advance(1)
    expect(ranAt).toHaveLength(100)
    expect(ranAt.every((t) => t === 3_000)).toBe(true)
    expect(scheduler.size).toBe(0)
    expect(clock.pendingTimers).toBe(0)
  })

  it('repeats periodic tasks and stops the timer when the last task is cancelled', () => {
    const clock = new ManualClock()
    const scheduler = new CoarseScheduler({ clock }, { resolutionMs: 100 })
    let count = 0
    const task = scheduler.every(300, () => { count++ })
    clock.advance(1_000)
    expect(count).toBe(3)
    task.cancel()
    task.cancel()
    expect(clock.pendingTimers).toBe(0)
    clock.advance(1_000)
    expect(count).toBe(3)
  })

  it('keeps running other tasks when one throws, and reports the error', () => {
    const clock = new ManualClock()
    const errors: unknown[] = []
    const scheduler = new CoarseScheduler({ clock, onError: (e) => errors.push(e) }, { resolutionMs: 10 })
    let ran = false
    scheduler.after(10, () => { throw new Error('boom') })
    scheduler.after(10, () => { ran = true })
    clock.advance(10)
    expect(ran).toBe(true)
    expect(errors).toHaveLength(1)
  })

  it('close() cancels everything', () => {
    const clock = new ManualClock()
    const scheduler = new CoarseScheduler({ clock })
    let ran = false
    scheduler.every(1_000, () => { ran = true })
    scheduler.close()
    clock.advance(5_000)
    expect(ran).toBe(false)
    expect(clock.pendingTimers).toBe(0)
  })
})
