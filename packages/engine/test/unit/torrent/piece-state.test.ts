import { describe, expect, it } from 'vitest'
import { BLOCK_LENGTH_BYTES, BlockState, PieceProgress, blockCountOf } from '../../../src/torrent/piece-state.js'

function counts (p: PieceProgress<string>): number {
  return p.freeCount + p.requestedCount + p.receivedCount
}

describe('PieceProgress', () => {
  it('splits a piece into 16 KiB blocks with a short last block', () => {
    const p = new PieceProgress<string>(3, 40_000)
    expect(p.blockCount).toBe(3)
    expect([0, 1, 2].map((b) => p.blockLength(b))).toEqual([BLOCK_LENGTH_BYTES, BLOCK_LENGTH_BYTES, 40_000 - 2 * BLOCK_LENGTH_BYTES])
    expect(blockCountOf(16_384)).toBe(1)
    expect(blockCountOf(16_385)).toBe(2)
  })

  it('moves blocks through free → requested → received and keeps the counts consistent', () => {
    const p = new PieceProgress<string>(0, 3 * BLOCK_LENGTH_BYTES)
    p.request(0, 'a')
    p.request(1, 'a')
    expect(p.stateOf(0)).toBe(BlockState.requested)
    expect(p.freeCount).toBe(1)
    expect(p.receive(0, 'a')).toEqual([])
    expect(p.stateOf(0)).toBe(BlockState.received)
    expect(counts(p)).toBe(3)
    expect(p.release(1, 'a')).toBe(true)
    expect(p.stateOf(1)).toBe(BlockState.free)
    expect(p.freeCount).toBe(2)
    expect(p.isComplete).toBe(false)
    p.receive(1, 'b')
    p.receive(2, 'c')
    expect(p.isComplete).toBe(true)
    expect(p.contributors()).toEqual(['a', 'b', 'c'])
    expect(counts(p)).toBe(3)
  })

  it('tracks duplicate requesters (end-game) and returns the others on receipt', () => {
    const p = new PieceProgress<string>(0, BLOCK_LENGTH_BYTES)
    p.request(0, 'a')
    p.request(0, 'b')
    p.request(0, 'b')
    p.request(0, 'c')
    expect(p.requesterCount(0)).toBe(3)
    expect(p.isRequestedBy(0, 'b')).toBe(true)
    // Releasing the first requester promotes the next one; the block stays requested.
    expect(p.release(0, 'a')).toBe(false)
    expect(p.requesters(0)).toEqual(['b', 'c'])
    expect(p.receive(0, 'c')).toEqual(['b'])
    expect(p.requesterCount(0)).toBe(0)
    expect(p.receive(0, 'b')).toEqual([])
    expect(p.contributors()).toEqual(['c'])
  })

  it('lists outstanding requests including duplicates', () => {
    const p = new PieceProgress<string>(0, 2 * BLOCK_LENGTH_BYTES)
    p.request(0, 'a')
    p.request(0, 'b')
    p.request(1, 'c')
    expect([...p.outstanding()]).toEqual([[0, 'a'], [0, 'b'], [1, 'c']])
  })
})
