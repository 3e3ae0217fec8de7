import { describe, it, expect } from 'vitest'
import { InvalidArgumentError } from 'commander'
import { parseRate } from '../../../src/util/rate.js'

describe('parseRate', () => {
  it('parses plain numbers, binary single-letter and IEC units, SI units with B, and /s', () => {
    const cases: Array<[string, number]> = [
      ['0', 0], ['65536', 65_536], ['100B', 100], ['100 B/s', 100],
      ['500k', 512_000], ['500K', 512_000], ['1M', 1_048_576], ['1m/s', 1_048_576], ['1.5M', 1_572_864], ['2g', 2 * 1024 ** 3],
      ['2MiB/s', 2_097_152], ['64KiB', 65_536], ['1GiB', 1024 ** 3],
      ['1kB', 1000], ['1KB', 1000], ['2MB/s', 2_000_000], ['1GB', 1e9],
      [' 10k ', 10_240]
    ]
    for (const [text, bytes] of cases) expect(parseRate(text), text).toBe(bytes)
  })

  it('refuses what is not a rate', () => {
    for (const text of ['', 'fast', '-1', '1T', '1 Mbit', 'k', '1..5M', '1e6', '1M/min', '2 MiBs', '9999999999G']) {
      expect(() => parseRate(text), text).toThrow(InvalidArgumentError)
    }
  })
})
