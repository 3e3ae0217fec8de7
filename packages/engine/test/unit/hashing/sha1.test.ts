import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha1 } from '../../../src/hashing/sha1.js'
import { toHex } from '../../../src/util/bytes.js'

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('sha1 (synchronous)', () => {
  it('matches the FIPS 180 examples', () => {
    expect(toHex(sha1(ascii('abc')))).toBe('a9993e364706816aba3e25717850c26c9cd0d89d')
    expect(toHex(sha1(ascii('')))).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709')
    expect(toHex(sha1(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe('84983e441c3bd26ebaae4aa1f95129e5e54670f1')
  })

  it('hashes the concatenation of its parts, at every length around the block boundaries', () => {
    const data = new Uint8Array(300)
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 255
    for (let n = 0; n <= data.length; n++) {
      const part = data.subarray(0, n)
      const expected = createHash('sha1').update(part).digest('hex')
      expect(toHex(sha1(part))).toBe(expected)
      const cut = n >> 1
      expect(toHex(sha1(part.subarray(0, cut), part.subarray(cut)))).toBe(expected)
    }
  })
})
