import { describe, expect, it } from 'vitest'
import { forEachLimited } from '../../../src/util/for-each-limited.js'

describe('forEachLimited', () => {
  it('runs every item once, starting them in order, never more than the limit at once', async () => {
    const started: number[] = []
    let inFlight = 0
    let most = 0
    await forEachLimited(Array.from({ length: 50 }, (_, i) => i), 4, async (i) => {
      started.push(i)
      inFlight++
      most = Math.max(most, inFlight)
      // Uneven durations: a slot freed early takes the next item.
      for (let k = 0; k < (i * 7) % 5; k++) await Promise.resolve()
      inFlight--
    })
    expect(started).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(most).toBe(4)
    expect(inFlight).toBe(0)
  })

  it('handles no items, and a limit above the item count or below one', async () => {
    const seen: string[] = []
    await forEachLimited([], 8, async () => { seen.push('never') })
    await forEachLimited(['a', 'b'], 100, async (x) => { seen.push(x) })
    await forEachLimited(['c'], 0, async (x) => { seen.push(x) })
    expect(seen).toEqual(['a', 'b', 'c'])
  })
})
