import { describe, expect, it } from 'vitest'
import { MIN_POOLED_BYTES, SendBufferPool } from '../../../../src/transport/mse/send-buffer-pool.js'

describe('SendBufferPool', () => {
  it('hands a sent buffer back only once the transport holds fewer bytes than were sent after it', () => {
    const pool = new SendBufferPool()
    const a = pool.take(16_384, 0)
    pool.sent(a, true)
    const b = pool.take(16_384, 16_384) // a is still held
    expect(b).not.toBe(a)
    pool.sent(b, true)
    expect(pool.take(16_384, 32_768)).not.toBe(a) // both held
    expect(pool.take(16_384, 16_384)).toBe(a) // a flushed, b still held
    expect(pool.take(16_384, 0)).toBe(b)
  })

  it('counts bytes it does not own for the position, and never hands them out', () => {
    const pool = new SendBufferPool()
    const theirs = new Uint8Array(16_384)
    pool.sent(new Uint8Array(600), false) // a handshake message
    pool.sent(theirs, false) // a consumer's buffer sent as is (plaintext)
    const ours = pool.take(16_384, 0)
    expect(ours).not.toBe(theirs)
    pool.sent(ours, true)
    expect(pool.take(16_384, 16_384)).not.toBe(ours) // the 600 + 16 384 before it do not free it
    expect(pool.take(16_384, 0)).toBe(ours)
  })

  it('does not pool short messages, matches lengths exactly and keeps at most 128 KiB free', () => {
    const pool = new SendBufferPool()
    const small = pool.take(MIN_POOLED_BYTES - 1, 0)
    pool.sent(small, true)
    expect(pool.take(MIN_POOLED_BYTES - 1, 0)).not.toBe(small)
    const blocks = Array.from({ length: 12 }, () => pool.take(16_384, 0))
    for (const b of blocks) pool.sent(b, true)
    expect(pool.take(8_192, 0)).not.toBe(blocks[0]) // another length: a new buffer; frees up to the cap
    expect(pool.freeCount).toBe(8)
  })
})
