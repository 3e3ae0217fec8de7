import { describe, expect, it } from 'vitest'
import { PieceBufferPool } from '../../../src/storage/piece-buffer-pool.js'

describe('PieceBufferPool', () => {
  it('reuses an evicted buffer only once every view of it is released', () => {
    const pool = new PieceBufferPool(1024)
    const a = pool.take(256)
    a.pins += 2 // two views handed out
    pool.evicted(a)
    const b = pool.take(256)
    expect(b.data.buffer).not.toBe(a.data.buffer) // still pinned: a fresh buffer
    pool.release(a.data.subarray(0, 16))
    expect(pool.take(256).data.buffer).not.toBe(a.data.buffer)
    pool.release(a.data.subarray(16, 32))
    const c = pool.take(256)
    expect(c.data.buffer).toBe(a.data.buffer)
    expect(c.inCache).toBe(true)
    // Taken again: it is no longer spare.
    expect(pool.take(256).data.buffer).not.toBe(a.data.buffer)
  })

  it('reuses only buffers of the requested length, keeps at most maxSpareBytes, ignores foreign views', () => {
    const pool = new PieceBufferPool(512)
    const buffers = [pool.take(256), pool.take(256), pool.take(256)]
    for (const b of buffers) pool.evicted(b)
    expect(pool.take(100).data.length).toBe(100) // no spare of that length
    // Three evicted, room for two: the oldest was dropped.
    const reused = [pool.take(256), pool.take(256), pool.take(256)].map((b) => b.data.buffer)
    expect(reused).toEqual([buffers[1]!.data.buffer, buffers[2]!.data.buffer, expect.anything()])
    expect(reused[2]).not.toBe(buffers[0]!.data.buffer)
    expect(() => { pool.release(new Uint8Array(16)) }).not.toThrow()
    const big = pool.take(1024)
    pool.evicted(big) // larger than all spare room: never kept
    expect(pool.take(1024).data.buffer).not.toBe(big.data.buffer)
  })
})
