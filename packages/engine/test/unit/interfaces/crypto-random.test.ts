import { describe, expect, it } from 'vitest'
import { cryptoRandom } from '../../../src/interfaces/random.js'

describe('cryptoRandom', () => {
  it('next() keeps giving fresh values in [0, 1) across refills of its pool', () => {
    // 1 000 draws cross three refills of the 256-value pool; a pool that was not refilled (or
    // refilled with the same values) would repeat, which 32-bit random values essentially never do.
    const values = Array.from({ length: 1_000 }, () => cryptoRandom.next())
    for (const v of values) {
      expect(v).toBeGreaterThanOrEqual(0)
      expect(v).toBeLessThan(1)
    }
    expect(new Set(values).size).toBe(values.length)
    const mean = values.reduce((a, b) => a + b, 0) / values.length
    expect(mean).toBeGreaterThan(0.4)
    expect(mean).toBeLessThan(0.6)
  })

  it('fill() fills the whole array in place', () => {
    const bytes = new Uint8Array(64)
    expect(cryptoRandom.fill(bytes)).toBe(bytes)
    expect(bytes.some((b) => b !== 0)).toBe(true)
  })
})
