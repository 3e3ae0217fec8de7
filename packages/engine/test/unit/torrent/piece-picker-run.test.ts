// PiecePicker.pickRun: what a web seed is given — contiguous runs of whole new pieces, then free
// blocks of started pieces, then end-game duplicates; never a piece a peer is working on while
// new pieces are left.
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/interfaces/random.js'
import { PiecePicker, type BlockRequest } from '../../../src/torrent/piece-picker.js'
import { BLOCK_LENGTH_BYTES as B } from '../../../src/torrent/piece-state.js'
import { Bitfield } from '../../../src/util/bitfield.js'

function makePicker (pieceCount: number, total = pieceCount * 4 * B): PiecePicker<string> {
  return new PiecePicker<string>({ pieceCount, pieceLengthBytes: 4 * B, totalLengthBytes: total }, { random: seededRandom(3) }, { randomFirstPieces: 0, sequential: true })
}

/** [first byte, end byte) of a run in piece space; throws when it is not contiguous. */
function span (run: BlockRequest[]): [number, number] {
  let end = -1
  let first = -1
  for (const b of run) {
    const at = b.piece * 4 * B + b.begin
    if (first < 0) first = at
    else if (at !== end) throw new Error(`gap before piece ${b.piece} begin ${b.begin}`)
    end = at + b.length
  }
  return [first, end]
}

describe('PiecePicker.pickRun (web seeds)', () => {
  it('takes whole new pieces, extended forward up to maxBytes, one contiguous run', () => {
    const p = makePicker(10)
    p.peerHaveAll('ws')
    const run = p.pickRun('ws', 3 * 4 * B)
    expect(span(run)).toEqual([0, 3 * 4 * B])
    expect(p.pieceStatus(0)).toBe('requested')
    expect(p.pieceStatus(3)).toBe('missing')
    // At least one piece even when maxBytes is smaller.
    expect(span(p.pickRun('ws', 1))).toEqual([3 * 4 * B, 4 * 4 * B])
  })

  it('stops the run at a piece a peer started, and at the short last piece', () => {
    const p = makePicker(4, 3 * 4 * B + 100)
    p.peerHaveAll('peer')
    p.peerHaveAll('ws')
    expect(p.pickBlocks('peer', 1).map((b) => b.piece)).toEqual([0])
    expect(p.pickBlocks('peer', 1)[0]!.piece).toBe(0) // partial pieces first
    const picked = p.pickRun('ws', 100 * 4 * B)
    expect(span(picked)).toEqual([4 * B, 3 * 4 * B + 100])
  })

  it('with no new piece left: the free blocks of a started piece; in end-game: duplicates of outstanding ones', () => {
    const p = makePicker(1)
    p.peerHaveAll('peer')
    p.peerHaveAll('ws')
    const asked = p.pickBlocks('peer', 2)
    expect(asked.map((b) => b.begin)).toEqual([0, B])
    expect(span(p.pickRun('ws', 4 * B))).toEqual([2 * B, 4 * B])
    // Every block requested now: end-game; the web seed duplicates the peer's outstanding blocks.
    expect(p.isEndGame).toBe(true)
    expect(span(p.pickRun('ws', 4 * B))).toEqual([0, 2 * B])
    // ...once per block (endGameMaxRequestsPerBlock 2), never twice from itself.
    expect(p.pickRun('ws', 4 * B)).toEqual([])
    const r = p.blockReceived('ws', 0, 0, B)
    expect(r.accepted).toBe(true)
    expect(r.cancel).toEqual(['peer'])
  })

  it('nothing when finished or when the seed has no pieces', () => {
    const p = makePicker(2)
    expect(p.pickRun('nobody', 4 * B)).toEqual([])
    p.peerBitfield('half', new Bitfield(2))
    expect(p.pickRun('half', 4 * B)).toEqual([])
    p.markHave(0)
    p.markHave(1)
    p.peerHaveAll('ws')
    expect(p.pickRun('ws', 4 * B)).toEqual([])
  })
})
