import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { RateMeter } from '../../../src/peer/rate-meter.js'

describe('RateMeter', () => {
  it('averages over the window and decays to 0 when nothing arrives', () => {
    const clock = new ManualClock()
    const meter = new RateMeter(clock, { windowMs: 4_000, bucketMs: 1_000 })
    for (let s = 0; s < 8; s++) {
      meter.add(10_000)
      clock.advance(1_000)
    }
    expect(meter.rateBytesPerSec()).toBeCloseTo(10_000, -2)
    expect(meter.totalBytes).toBe(80_000)
    clock.advance(10_000)
    expect(meter.rateBytesPerSec()).toBe(0)
    expect(meter.totalBytes).toBe(80_000)
  })

  it('divides by its age while younger than the window', () => {
    const clock = new ManualClock()
    const meter = new RateMeter(clock, { windowMs: 10_000, bucketMs: 500 })
    clock.advance(1_000)
    meter.add(50_000)
    expect(meter.rateBytesPerSec()).toBeCloseTo(50_000, -2)
  })

  it('follows a rate change within one window', () => {
    const clock = new ManualClock()
    const meter = new RateMeter(clock, { windowMs: 2_000, bucketMs: 250 })
    for (let i = 0; i < 40; i++) { meter.add(1_000); clock.advance(250) }
    expect(meter.rateBytesPerSec()).toBeCloseTo(4_000, -2)
    for (let i = 0; i < 40; i++) { meter.add(5_000); clock.advance(250) }
    expect(meter.rateBytesPerSec()).toBeCloseTo(20_000, -3)
  })
})
