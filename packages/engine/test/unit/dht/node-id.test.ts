import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/interfaces/random.js'
import { fromHex } from '../../../src/util/bytes.js'
import { crc32c } from '../../../src/dht/crc32c.js'
import {
  bep42NodeId, commonPrefixBits, compareDistance, isBep42Valid, randomIdWithPrefix, randomNodeId
} from '../../../src/dht/node-id.js'

describe('node ids', () => {
  it('crc32c matches the standard check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283)
  })

  it('orders by XOR distance and counts shared prefix bits', () => {
    const target = new Uint8Array(20)
    const near = new Uint8Array(20); near[19] = 1
    const far = new Uint8Array(20); far[0] = 0x80
    expect(compareDistance(target, near, far)).toBe(-1)
    expect(compareDistance(target, far, near)).toBe(1)
    expect(compareDistance(target, near, near)).toBe(0)
    expect(commonPrefixBits(target, far)).toBe(0)
    expect(commonPrefixBits(target, near)).toBe(159)
    expect(commonPrefixBits(target, target)).toBe(160)
  })

  it('random ids with a prefix fall in the bucket at that depth', () => {
    const random = seededRandom(3)
    const own = randomNodeId(random)
    for (let depth = 0; depth < 160; depth++) expect(commonPrefixBits(randomIdWithPrefix(own, depth, random), own)).toBe(depth)
  })

  // BEP 42's table of example ids (the first 21 bits and the last byte are what the BEP fixes).
  const vectors: Array<[string, string]> = [
    ['124.31.75.21', '5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401'],
    ['21.75.31.124', '5a3ce9c14e7a08645677bbd1cfe7d8f956d53256'],
    ['65.23.51.170', 'a5d43220bc8f112a3d426c84764f8c2a1150e616'],
    ['84.124.73.14', '1b0321dd1bb1fe518101ceef99462b947a01ff41'],
    ['43.213.53.83', 'e56f6cbf5b7c4be0237986d5243b87aa6d51305a']
  ]

  it('checks BEP 42 ids against the BEP examples', () => {
    for (const [ip, hex] of vectors) {
      const id = fromHex(hex)!
      expect(isBep42Valid(id, ip)).toBe(true)
      const other = Uint8Array.from(id); other[1] = (other[1] ?? 0) ^ 0x01
      expect(isBep42Valid(other, ip)).toBe(false)
    }
    // Private and loopback addresses are exempt.
    expect(isBep42Valid(new Uint8Array(20), '127.0.0.1')).toBe(true)
    expect(isBep42Valid(new Uint8Array(20), '192.168.1.1')).toBe(true)
    expect(isBep42Valid(new Uint8Array(20), '8.8.8.8')).toBe(false)
  })

  it('derives ids that check out for IPv4 and IPv6', () => {
    const random = seededRandom(9)
    for (const ip of ['8.8.8.8', '124.31.75.21', '2001:db8::1', '2a00:1450::200e']) {
      for (let i = 0; i < 20; i++) expect(isBep42Valid(bep42NodeId(ip, random), ip)).toBe(true)
    }
  })
})
