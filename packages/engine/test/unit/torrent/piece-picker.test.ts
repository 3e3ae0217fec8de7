import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PiecePicker, type BlockRequest } from '../../../src/torrent/piece-picker.js'
import type { PiecePickerSettings } from '../../../src/torrent/piece-picker-settings.js'
import { BLOCK_LENGTH_BYTES } from '../../../src/torrent/piece-state.js'
import { hasCode } from '../../../src/errors.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { Bitfield } from '../../../src/util/bitfield.js'

const B = BLOCK_LENGTH_BYTES

function makePicker (pieceCount: number, opts: { pieceLength?: number, total?: number, seed?: number, settings?: Partial<PiecePickerSettings> } = {}): PiecePicker<string> {
  const pieceLengthBytes = opts.pieceLength ?? 4 * B
  return new PiecePicker<string>(
    { pieceCount, pieceLengthBytes, totalLengthBytes: opts.total ?? pieceCount * pieceLengthBytes },
    { random: seededRandom(opts.seed ?? 1) },
    { randomFirstPieces: 0, ...opts.settings }
  )
}

function bits (pieceCount: number, pieces: number[]): Bitfield {
  const b = new Bitfield(pieceCount)
  for (const p of pieces) b.set(p)
  return b
}

/** Receives and verifies every block of `piece` from `peer`. */
function complete (picker: PiecePicker<string>, peer: string, piece: number): void {
  const len = picker.pieceLength(piece)
  for (let begin = 0; begin < len; begin += B) picker.blockReceived(peer, piece, begin)
  picker.pieceVerified(piece)
}

function piecesOf (blocks: BlockRequest[]): number[] {
  return [...new Set(blocks.map((b) => b.piece))]
}

describe('PiecePicker', () => {
  it('requests 16 KiB blocks with a short last block and a short last piece', () => {
    const picker = makePicker(3, { pieceLength: 40_000, total: 2 * 40_000 + 10_000, settings: { sequential: true } })
    picker.peerHaveAll('a')
    const blocks = picker.pickBlocks('a', 100)
    expect(blocks).toEqual([
      { piece: 0, begin: 0, length: B }, { piece: 0, begin: B, length: B }, { piece: 0, begin: 2 * B, length: 40_000 - 2 * B },
      { piece: 1, begin: 0, length: B }, { piece: 1, begin: B, length: B }, { piece: 1, begin: 2 * B, length: 40_000 - 2 * B },
      { piece: 2, begin: 0, length: 10_000 }
    ])
    expect(picker.pickBlocks('a', 10)).toEqual([])
  })

  it('starts at most maxNewPieces pieces per pick, and still fills started pieces beyond it', () => {
    const picker = makePicker(8, { settings: { sequential: true } })
    picker.peerHaveAll('a')
    // 4 blocks per piece: 6 blocks asked, but only one new piece allowed.
    expect(picker.pickBlocks('a', 6, { maxNewPieces: 1 }).map((b) => b.piece)).toEqual([0, 0, 0, 0])
    expect(picker.pickBlocks('a', 6, { maxNewPieces: 0 })).toEqual([])
    expect(picker.inFlightPieceCount).toBe(1)
    // A block request that failed frees its block: filling a started piece needs no allowance.
    picker.blockRequestFailed('a', 0, B)
    expect(picker.pickBlocks('a', 6, { maxNewPieces: 0 })).toEqual([{ piece: 0, begin: B, length: B }])
    // Allowed-fast pieces (while choked) and suggestions count as new pieces too.
    picker.peerAllowedFast('a', 5)
    picker.peerAllowedFast('a', 6)
    expect(piecesOf(picker.pickBlocks('a', 8, { choked: true, maxNewPieces: 1 }))).toEqual([5])
    picker.peerSuggest('a', 7)
    expect(picker.pickBlocks('a', 8, { maxNewPieces: 0 })).toEqual([])
    expect(piecesOf(picker.pickBlocks('a', 8, { maxNewPieces: 1 }))).toEqual([7])
    expect(picker.inFlightPieceCount).toBe(3)
    expect(piecesOf(picker.pickBlocks('a', 100))).toEqual([1, 2, 3, 4, 6])
  })

  it('counts a started piece as active while blocks are requested or all are in, not once its peer left', () => {
    const picker = makePicker(4, { settings: { sequential: true } })
    picker.peerBitfield('a', bits(4, [0, 1]))
    picker.peerBitfield('b', bits(4, [1]))
    picker.pickBlocks('a', 8) // pieces 0 and 1, every block
    expect(picker.activePieceCount).toBe(2)
    picker.blockReceived('a', 0, 0)
    picker.blockReceived('a', 1, 0)
    for (let begin = B; begin < 4 * B; begin += B) picker.blockReceived('a', 1, begin)
    picker.removePeer('a') // piece 0: one block in, three free again; piece 1: complete
    expect(picker.inFlightPieceCount).toBe(2)
    expect(picker.activePieceCount).toBe(1)
    // Piece 0 waits for a peer that has it: b does not, so b's pick leaves it alone.
    expect(piecesOf(picker.pickBlocks('b', 8))).toEqual([])
    expect(picker.activePieceCount).toBe(1)
  })

  it('refuses an inconsistent piece space and bad settings with typed errors', () => {
    const bad = (f: () => unknown, code: 'ARGUMENT_INVALID' | 'SETTINGS_INVALID'): boolean => {
      try { f() } catch (err) { return hasCode(err, code) }
      return false
    }
    expect(bad(() => new PiecePicker({ pieceCount: 2, pieceLengthBytes: 10, totalLengthBytes: 25 }, { random: seededRandom(1) }), 'ARGUMENT_INVALID')).toBe(true)
    expect(bad(() => new PiecePicker({ pieceCount: 2, pieceLengthBytes: 10, totalLengthBytes: 10 }, { random: seededRandom(1) }), 'ARGUMENT_INVALID')).toBe(true)
    expect(bad(() => makePicker(2, { settings: { endGameMaxRequestsPerBlock: 0 } }), 'SETTINGS_INVALID')).toBe(true)
    expect(bad(() => { makePicker(2).setPiecePriority(0, 8) }, 'ARGUMENT_INVALID')).toBe(true)
    expect(bad(() => { makePicker(2).pieceVerified(2) }, 'ARGUMENT_INVALID')).toBe(true)
  })

  it('picks the rarest piece the peer has', () => {
    const picker = makePicker(10)
    picker.peerBitfield('b', bits(10, [0, 1, 2, 3, 4]))
    picker.peerBitfield('c', bits(10, [0, 1, 2]))
    picker.peerBitfield('d', bits(10, [0, 1, 2, 3, 4, 5, 6, 7, 8]))
    // availability: 0-2: 3, 3-4: 2, 5-8: 1, 9: 0
    expect(picker.availability(0)).toBe(3)
    const forD = piecesOf(picker.pickBlocks('d', 4))
    expect(forD).toHaveLength(1)
    expect([5, 6, 7, 8]).toContain(forD[0])
    const forB = piecesOf(picker.pickBlocks('b', 4))
    expect([3, 4]).toContain(forB[0])
    const forC = piecesOf(picker.pickBlocks('c', 4))
    expect([0, 1, 2]).toContain(forC[0])
    expect(picker.checkInvariants()).toBeNull()
  })

  it('breaks ties at random, deterministically per seed', () => {
    const firstPick = (seed: number): number => {
      const picker = makePicker(64, { seed })
      picker.peerBitfield('a', bits(64, Array.from({ length: 63 }, (_, i) => i)))
      return picker.pickBlocks('a', 1)[0]!.piece
    }
    const picks = new Set(Array.from({ length: 20 }, (_, seed) => firstPick(seed)))
    expect(picks.size).toBeGreaterThan(5)
    expect(firstPick(7)).toBe(firstPick(7))
  })

  it('picks random pieces until randomFirstPieces are verified, then rarest-first', () => {
    const setup = (seed: number): PiecePicker<string> => {
      const picker = makePicker(20, { seed, settings: { randomFirstPieces: 2 } })
      picker.peerHaveAll('seed')
      // pieces 0..9 are common (4 more peers), 10..19 rare (none)
      for (const p of ['w', 'x', 'y', 'z']) picker.peerBitfield(p, bits(20, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
      return picker
    }
    const early = new Set<number>()
    for (let seed = 0; seed < 30; seed++) early.add(setup(seed).pickBlocks('seed', 1)[0]!.piece)
    expect([...early].some((p) => p < 10)).toBe(true) // random: common pieces too
    const picker = setup(3)
    for (const piece of piecesOf(picker.pickBlocks('seed', 8))) complete(picker, 'seed', piece)
    expect(picker.haveCount).toBe(2)
    for (let i = 0; i < 5; i++) {
      const next = picker.pickBlocks('seed', 4)
      expect(piecesOf(next)[0]).toBeGreaterThanOrEqual(10)
    }
  })

  it('prefers finishing a started piece over starting a new one', () => {
    const picker = makePicker(10)
    picker.peerHaveAll('a')
    picker.peerHaveAll('b')
    const first = picker.pickBlocks('a', 1)
    expect(first).toHaveLength(1)
    const rest = picker.pickBlocks('b', 3)
    expect(piecesOf(rest)).toEqual([first[0]!.piece])
    expect(picker.pieceStatus(first[0]!.piece)).toBe('requested')
  })

  it('orders by priority class before rarity and never picks priority 0', () => {
    const picker = makePicker(6)
    picker.peerHaveAll('a')
    picker.peerBitfield('b', bits(6, [0, 1, 2]))
    picker.setPiecePriority(5, 0)
    picker.setPiecePriority(1, 7) // common but urgent
    expect(piecesOf(picker.pickBlocks('a', 4))).toEqual([1])
    const next = new Set<number>()
    for (let i = 0; i < 5; i++) next.add(piecesOf(picker.pickBlocks('a', 4))[0]!)
    expect(next.has(5)).toBe(false)
    expect(picker.pickBlocks('a', 4)).toEqual([])
    expect(picker.remainingPieceCount).toBe(5)
    expect(picker.checkInvariants()).toBeNull()
  })

  it('applies bulk priorities and recomputes interest', () => {
    const picker = makePicker(8)
    picker.peerBitfield('a', bits(8, [0, 1]))
    expect(picker.isInteresting('a')).toBe(true)
    picker.setPiecePriorities([0, 0, 4, 4, 4, 4, 1, 7])
    expect(picker.isInteresting('a')).toBe(false)
    expect(picker.remainingPieceCount).toBe(6)
    picker.peerHaveAll('s')
    expect(piecesOf(picker.pickBlocks('s', 4))).toEqual([7])
    expect(picker.checkInvariants()).toBeNull()
  })

  it('picks in index order in sequential mode, switchable at run time', () => {
    const picker = makePicker(6)
    picker.peerHaveAll('a')
    picker.updateSettings({ sequential: true })
    expect(piecesOf(picker.pickBlocks('a', 8))).toEqual([0, 1])
    complete(picker, 'a', 0)
    picker.setPiecePriority(2, 0)
    expect(piecesOf(picker.pickBlocks('a', 8))).toEqual([3, 4])
  })

  it('picks time-critical pieces first, earliest deadline first, until verified', () => {
    const picker = makePicker(10)
    picker.peerHaveAll('a')
    picker.setPieceDeadline(8, 2000)
    picker.setPieceDeadline(3, 1000)
    expect(piecesOf(picker.pickBlocks('a', 8))).toEqual([3, 8])
    picker.setPieceDeadline(6, 500)
    expect(piecesOf(picker.pickBlocks('a', 4))).toEqual([6])
  })

  it('while choked, requests only allowed-fast pieces', () => {
    const picker = makePicker(10)
    picker.peerHaveAll('a')
    expect(picker.pickBlocks('a', 4, { choked: true })).toEqual([])
    picker.peerAllowedFast('a', 7)
    expect(piecesOf(picker.pickBlocks('a', 10, { choked: true }))).toEqual([7])
    expect(picker.pickBlocks('a', 10, { choked: true })).toEqual([])
  })

  it('prefers pieces the peer suggested when starting new ones', () => {
    const picker = makePicker(10)
    picker.peerHaveAll('a')
    picker.peerSuggest('a', 4)
    picker.peerSuggest('a', 9)
    expect(piecesOf(picker.pickBlocks('a', 8))).toEqual([4, 9])
  })

  it('re-offers a block after its request failed, and accepts a late answer', () => {
    const picker = makePicker(1, { pieceLength: 2 * B, settings: { endGameMaxRequestsPerBlock: 1 } })
    picker.peerHaveAll('a')
    picker.peerHaveAll('b')
    const [b0, b1] = picker.pickBlocks('a', 2)
    expect(picker.pickBlocks('b', 2)).toEqual([]) // all requested, and no duplicates allowed
    expect(picker.blockRequestFailed('a', b0!.piece, b0!.begin)).toBe(true)
    expect(picker.peerRequestCount('a')).toBe(1)
    const again = picker.pickBlocks('b', 2)
    expect(again).toEqual([b0])
    // 'a' answers anyway: good data, accepted, and 'b' should be cancelled.
    const r = picker.blockReceived('a', b0!.piece, b0!.begin)
    expect(r).toEqual({ accepted: true, cancel: ['b'], pieceComplete: false })
    expect(picker.peerRequestCount('b')).toBe(0)
    expect(picker.blockReceived('b', b0!.piece, b0!.begin).accepted).toBe(false)
    expect(picker.blockReceived('a', b1!.piece, b1!.begin).pieceComplete).toBe(true)
    expect(picker.pieceStatus(0)).toBe('downloaded')
  })

  it('enters end-game when all blocks are requested and duplicates within the bound', () => {
    const picker = makePicker(2, { pieceLength: 2 * B, settings: { endGameMaxRequestsPerBlock: 2 } })
    for (const p of ['a', 'b', 'c']) picker.peerHaveAll(p)
    const forA = picker.pickBlocks('a', 10)
    expect(forA).toHaveLength(4)
    expect(picker.isEndGame).toBe(true)
    const forB = picker.pickBlocks('b', 10)
    expect(forB).toHaveLength(4) // each block once more
    expect(picker.pickBlocks('c', 10)).toEqual([]) // bound reached: 2 requesters per block
    expect(picker.pickBlocks('a', 10)).toEqual([]) // never twice from one peer
    const r = picker.blockReceived('b', 0, 0)
    expect(r.cancel).toEqual(['a'])
    expect(picker.peerRequestCount('a')).toBe(3)
    // A failed duplicate frees nothing while another peer still has it requested.
    expect(picker.blockRequestFailed('b', 0, B)).toBe(false)
    // (0, B) is now requested from 'a' only; piece 1's blocks are at the bound.
    expect(picker.pickBlocks('c', 10)).toEqual([{ piece: 0, begin: B, length: B }])
  })

  it('does not duplicate requests while some wanted block is still free', () => {
    const picker = makePicker(2, { pieceLength: 4 * B, settings: { sequential: true } })
    picker.peerHaveAll('a')
    picker.peerBitfield('b', bits(2, [0]))
    expect(picker.pickBlocks('a', 6)).toHaveLength(6) // all of piece 0, half of piece 1
    expect(picker.isEndGame).toBe(false)
    expect(picker.pickBlocks('b', 4)).toEqual([]) // piece 1 still has free blocks: no end-game yet
  })

  it('resets a failed piece and reports who contributed to it', () => {
    const picker = makePicker(3, { pieceLength: 2 * B })
    picker.peerHaveAll('a')
    picker.peerHaveAll('b')
    const [x] = picker.pickBlocks('a', 1)
    const [y] = picker.pickBlocks('b', 1)
    expect(x!.piece).toBe(y!.piece)
    picker.blockReceived('a', x!.piece, x!.begin)
    expect(picker.blockReceived('b', y!.piece, y!.begin).pieceComplete).toBe(true)
    expect(picker.pieceFailed(x!.piece).sort()).toEqual(['a', 'b'])
    expect(picker.pieceStatus(x!.piece)).toBe('missing')
    expect(picker.hasPiece(x!.piece)).toBe(false)
    // A stale block of the reset piece is refused.
    expect(picker.blockReceived('a', x!.piece, x!.begin).accepted).toBe(false)
    expect(picker.pickBlocks('a', 10).filter((b) => b.piece === x!.piece)).toHaveLength(2)
  })

  it('verifies pieces, reports contributors and completes', () => {
    const picker = makePicker(2, { pieceLength: B })
    picker.peerHaveAll('a')
    for (const b of picker.pickBlocks('a', 2)) {
      expect(picker.blockReceived('a', b.piece, b.begin, b.length).pieceComplete).toBe(true)
      expect(picker.pieceVerified(b.piece)).toEqual(['a'])
    }
    expect(picker.isComplete).toBe(true)
    expect(picker.isFinished).toBe(true)
    expect(picker.isInteresting('a')).toBe(false)
    expect(picker.bitfield().count).toBe(2)
  })

  it('refuses blocks with a wrong offset or length', () => {
    const picker = makePicker(1, { pieceLength: 2 * B, settings: { endGameMaxRequestsPerBlock: 1 } })
    picker.peerHaveAll('a')
    picker.pickBlocks('a', 2)
    expect(picker.blockReceived('a', 0, 100).accepted).toBe(false)
    expect(picker.blockReceived('a', 0, 0, 100).accepted).toBe(false)
    expect(picker.blockReceived('a', 0, 4 * B).accepted).toBe(false)
    expect(picker.blockReceived('a', 5, 0).accepted).toBe(false)
    // The bad length released 'a's request of block 0: it is pickable again.
    expect(picker.pickBlocks('b', 2)).toEqual([]) // 'b' has announced nothing yet
    picker.peerHaveAll('b')
    expect(picker.pickBlocks('b', 2)).toEqual([{ piece: 0, begin: 0, length: B }])
  })

  it('forgets a departed peer: availability and outstanding requests', () => {
    const picker = makePicker(4)
    picker.peerBitfield('a', bits(4, [0, 1]))
    picker.peerHave('a', 2)
    picker.peerHaveAll('s')
    expect(picker.availability(0)).toBe(2)
    const reqs = picker.pickBlocks('a', 4)
    expect(reqs).toHaveLength(4)
    picker.removePeer('a')
    expect(picker.availability(0)).toBe(1)
    expect(picker.availability(2)).toBe(1)
    expect(picker.pieceStatus(reqs[0]!.piece)).toBe('partial')
    expect(picker.pickBlocks('s', 4)).toEqual(reqs)
    expect(picker.checkInvariants()).toBeNull()
  })

  it('releases all of a peer\'s requests on choke and returns them', () => {
    const picker = makePicker(4)
    picker.peerHaveAll('a')
    const reqs = picker.pickBlocks('a', 6)
    const released = picker.cancelPeerRequests('a')
    expect(released.sort((x, y) => x.piece - y.piece || x.begin - y.begin)).toEqual(reqs.sort((x, y) => x.piece - y.piece || x.begin - y.begin))
    expect(picker.peerRequestCount('a')).toBe(0)
  })

  it('tracks interest through haves, verification and departures', () => {
    const picker = makePicker(3)
    picker.peerHaveNone('a')
    expect(picker.isInteresting('a')).toBe(false)
    picker.peerHave('a', 1)
    expect(picker.isInteresting('a')).toBe(true)
    picker.peerHaveAll('s')
    complete(picker, 's', 1)
    expect(picker.isInteresting('a')).toBe(false)
    expect(picker.isInteresting('s')).toBe(true)
    picker.markMissing(1)
    expect(picker.isInteresting('a')).toBe(true)
    picker.setPiecePriority(1, 0)
    expect(picker.isInteresting('a')).toBe(false)
  })

  it('treats a full bitfield as a seed and a second bitfield as a replacement', () => {
    const picker = makePicker(3)
    picker.peerBitfield('a', bits(3, [0, 1, 2]))
    expect(picker.availability(1)).toBe(1)
    picker.peerBitfield('a', bits(3, [0]))
    expect(picker.availability(1)).toBe(0)
    expect(picker.availability(0)).toBe(1)
    picker.peerBitfield('a', new Uint8Array([0b1110_0000]))
    expect(picker.availability(1)).toBe(1)
  })

  it('starts from resume data', () => {
    const picker = new PiecePicker<string>({ pieceCount: 4, pieceLengthBytes: B, totalLengthBytes: 4 * B }, { random: seededRandom(1) }, {},
      { have: bits(4, [0, 2]) })
    picker.peerHaveAll('a')
    expect(picker.remainingPieceCount).toBe(2)
    expect(piecesOf(picker.pickBlocks('a', 4)).sort()).toEqual([1, 3])
  })

  it('keeps per-piece state only for pieces in flight, even for huge torrents', () => {
    const pieceCount = 1_000_000
    const picker = makePicker(pieceCount, { pieceLength: 16 * B })
    picker.peerHaveAll('a')
    const blocks = picker.pickBlocks('a', 64)
    expect(blocks).toHaveLength(64)
    expect(picker.inFlightPieceCount).toBe(4)
  })

  it('keeps the rarity order consistent under rebuilds (availability beyond the initial span)', () => {
    const picker = makePicker(8)
    for (let i = 0; i < 40; i++) picker.peerBitfield(`p${i}`, bits(8, [0, 1, 2, 3, 4, 5, 6]))
    expect(picker.availability(0)).toBe(40)
    picker.peerHaveAll('s')
    expect(piecesOf(picker.pickBlocks('s', 4))).toEqual([7])
    for (let i = 0; i < 40; i++) picker.peerHave(`p${i}`, 7)
    for (let i = 0; i < 30; i++) picker.removePeer(`p${i}`)
    expect(picker.checkInvariants()).toBeNull()
  })

  it('downloads everything under random events, keeping its invariants (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 30 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 0, max: 1_000_000 }),
      fc.array(fc.tuple(fc.nat(9), fc.nat(1000)), { minLength: 1, maxLength: 300 }),
      (pieceCount, peerCount, seed, ops) => {
        const rnd = seededRandom(seed)
        const pieceLength = 3 * B
        const total = pieceCount * pieceLength - (seed % B)
        const picker = new PiecePicker<number>({ pieceCount, pieceLengthBytes: pieceLength, totalLengthBytes: total }, { random: rnd },
          { randomFirstPieces: seed % 3, endGameMaxRequestsPerBlock: 1 + (seed % 3) })
        const outstanding = new Map<number, BlockRequest[]>()
        const corrupt = new Set<number>()
        const join = (peer: number, x: number): void => {
          outstanding.set(peer, [])
          if (x % 3 === 0) picker.peerHaveAll(peer)
          else {
            const b = new Bitfield(pieceCount)
            for (let i = 0; i < pieceCount; i++) if (rnd.next() < 0.6) b.set(i)
            picker.peerBitfield(peer, b)
          }
        }
        for (let p = 0; p < peerCount; p++) join(p, p)
        const deliver = (peer: number, req: BlockRequest): void => {
          const r = picker.blockReceived(peer, req.piece, req.begin, req.length)
          for (const other of r.cancel) {
            const list = outstanding.get(other)!
            outstanding.set(other, list.filter((q) => q.piece !== req.piece || q.begin !== req.begin))
          }
          if (r.pieceComplete) {
            if (corrupt.delete(req.piece)) picker.pieceFailed(req.piece)
            else picker.pieceVerified(req.piece)
          }
        }
        for (const [kind, x] of ops) {
          const peer = x % peerCount
          const list = outstanding.get(peer)
          if (kind <= 3 && list !== undefined) list.push(...picker.pickBlocks(peer, 1 + (x % 8), { choked: x % 17 === 0 }))
          else if (kind <= 6 && list !== undefined && list.length > 0) deliver(peer, list.splice(x % list.length, 1)[0]!)
          else if (kind === 7 && list !== undefined && list.length > 0) {
            const req = list.splice(x % list.length, 1)[0]!
            picker.blockRequestFailed(peer, req.piece, req.begin)
          } else if (kind === 8) {
            picker.removePeer(peer)
            outstanding.delete(peer)
            join(peer, x)
          } else if (kind === 9) {
            corrupt.add(x % pieceCount)
            picker.peerHave(peer, x % pieceCount)
          }
          expect(picker.checkInvariants()).toBeNull()
          for (const [p, l] of outstanding) expect(picker.peerRequestCount(p)).toBe(l.length)
        }
        // Drain: a seed joins and we serve every request until done.
        corrupt.clear()
        picker.peerHaveAll(99)
        outstanding.set(99, [])
        for (let round = 0; round < 10 * pieceCount + 10 && !picker.isComplete; round++) {
          for (const [peer, l] of outstanding) {
            l.push(...picker.pickBlocks(peer, 4))
            while (l.length > 0) deliver(peer, l.shift()!)
          }
        }
        expect(picker.isComplete).toBe(true)
        expect(picker.inFlightPieceCount).toBe(0)
        expect(picker.checkInvariants()).toBeNull()
      }
    ), { numRuns: 150, seed: 42 })
  })
})
