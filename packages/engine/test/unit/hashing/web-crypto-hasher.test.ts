import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { WebCryptoHasher, createDefaultHasher } from '../../../src/hashing/web-crypto-hasher.js'
import { toHex } from '../../../src/util/bytes.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('WebCryptoHasher', () => {
  it('computes SHA-1 and SHA-256 of known inputs', async () => {
    const h = new WebCryptoHasher()
    expect(toHex(await h.digest('sha1', enc('abc')))).toBe('a9993e364706816aba3e25717850c26c9cd0d89d')
    expect(toHex(await h.digest('sha256', enc('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(toHex(await h.digest('sha1', new Uint8Array(0)))).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709')
  })

  it('hashes the concatenation of several buffers and views', async () => {
    const h = createDefaultHasher()
    const big = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff)
    const parts = [big.subarray(0, 1), big.subarray(1, 50_000), big.subarray(50_000)]
    const expected = createHash('sha256').update(big).digest('hex')
    expect(toHex(await h.digest('sha256', parts))).toBe(expected)
    expect(toHex(await h.digest('sha256', [big.subarray(10, 20)]))).toBe(createHash('sha256').update(big.subarray(10, 20)).digest('hex'))
    expect(toHex(await h.digest('sha1', []))).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709')
    expect(h.concurrency).toBe(1)
  })

  it('refuses to hash after close', async () => {
    const h = new WebCryptoHasher()
    await h.close()
    await h.close()
    await expect(h.digest('sha1', enc('x'))).rejects.toMatchObject({ code: 'CLOSED' })
  })
})
