import { describe, expect, it } from 'vitest'
import type { ReceivedRange } from '../../../src/interfaces/socket.js'
import { ORIGIN_BLOCK_BYTES as B, receivedPartsOf } from '../../../src/storage/received-ranges.js'

const s1 = { name: 's1' }
const s2 = { name: 's2' }
const r = (stream: object, offset: number, lengthBytes = B): ReceivedRange => ({ stream, offset, lengthBytes })

describe('receivedPartsOf', () => {
  it('joins blocks adjacent in the piece and in one stream; splits at gaps, other streams and stream jumps', () => {
    // Blocks 0-1 back to back in s1, block 2 unknown, block 3 in s1 after a 13-byte message header, block 4 in s2.
    const origins = [r(s1, 1000), r(s1, 1000 + B), undefined, r(s1, 1000 + 2 * B + 13), r(s2, 0)]
    expect(receivedPartsOf(origins, 0, 5 * B)).toEqual([
      { at: 0, range: r(s1, 1000, 2 * B) },
      { at: 3 * B, range: r(s1, 1000 + 2 * B + 13) },
      { at: 4 * B, range: r(s2, 0) }
    ])
  })

  it('cuts blocks at the range edges (a file boundary inside a block), counting `at` from the range', () => {
    const origins = [r(s1, 0), r(s1, B), r(s1, 2 * B)]
    expect(receivedPartsOf(origins, 100, B)).toEqual([{ at: 0, range: r(s1, 100, B) }])
    expect(receivedPartsOf(origins, 2 * B + 5, 10)).toEqual([{ at: 0, range: r(s1, 2 * B + 5, 10) }])
  })

  it('a short last block covers only its length; no origins, no parts', () => {
    expect(receivedPartsOf([r(s1, 0), r(s1, B, 100)], 0, B + 100)).toEqual([{ at: 0, range: r(s1, 0, B + 100) }])
    expect(receivedPartsOf([undefined, undefined], 0, 2 * B)).toEqual([])
  })
})
