import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { blockKey } from '../../../src/peer/block-key.js'

describe('blockKey', () => {
  it('gives aligned blocks of the first 65 536 pieces small-integer keys', () => {
    expect(blockKey(0, 0)).toBe(0)
    expect(blockKey(0, 16_384)).toBe(1)
    expect(blockKey(1, 0)).toBe(16_384)
    const last = blockKey(0xffff, 0x0fff_c000) // the largest aligned begin below 2^28
    expect(last).toBe(2 ** 30 - 1)
  })

  it('gives other blocks string keys', () => {
    expect(blockKey(0, 1)).toBe('0:1')
    expect(blockKey(0x1_0000, 0)).toBe('65536:0')
    expect(blockKey(3, 0x1000_0000)).toBe('3:268435456')
  })

  it('never gives two different blocks the same key', () => {
    const piece = fc.oneof(fc.integer({ min: 0, max: 0x1_0000 + 4 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
    const begin = fc.oneof(fc.integer({ min: 0, max: 4096 }).map((i) => i * 16_384), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 20 }))
    fc.assert(fc.property(piece, begin, piece, begin, (p1, b1, p2, b2) => {
      fc.pre(p1 !== p2 || b1 !== b2)
      expect(blockKey(p1, b1)).not.toBe(blockKey(p2, b2))
    }), { numRuns: 5000 })
  })
})
