// SuperSeeder (BEP 16) over fake sessions: first offers go to the rarest pieces, one per peer and
// not the same piece twice while others are left; the next offer follows a HAVE of the offered
// piece (from the peer or from another); stop() announces what each peer lacks.
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/interfaces/random.js'
import type { PeerSession, PickerPeer } from '../../../src/torrent/peer-session.js'
import { PiecePicker } from '../../../src/torrent/piece-picker.js'
import { SuperSeeder } from '../../../src/torrent/super-seeder.js'
import { Bitfield } from '../../../src/util/bitfield.js'

function fakeSession (pieceCount: number): PeerSession & { sent: number[] } {
  const bitfield = new Bitfield(pieceCount)
  const sent: number[] = []
  return { sent, conn: { state: 'active', bitfield, have: (piece: number) => { sent.push(piece) } } } as unknown as PeerSession & { sent: number[] }
}

function setup (pieceCount: number, peerCount: number) {
  const picker = new PiecePicker<PickerPeer>({ pieceCount, pieceLengthBytes: 16_384, totalLengthBytes: pieceCount * 16_384 }, { random: seededRandom(1) })
  for (let p = 0; p < pieceCount; p++) picker.markHave(p)
  const sessions = Array.from({ length: peerCount }, () => fakeSession(pieceCount))
  for (const s of sessions) picker.peerBitfield(s, new Bitfield(pieceCount))
  const seeder = new SuperSeeder({ random: seededRandom(2), picker: () => picker, sessions: () => sessions })
  /** The peer got `piece`: its bitfield, the picker's availability, and the seeder hear of it. */
  const got = (s: PeerSession & { sent: number[] }, piece: number): void => {
    s.conn.bitfield!.set(piece)
    picker.peerHave(s, piece)
    seeder.peerHave(piece)
  }
  return { picker, sessions, seeder, got }
}

describe('SuperSeeder', () => {
  it('offers each peer one distinct piece, then the next once the offered one is announced', () => {
    const { sessions, seeder, got } = setup(8, 3)
    for (const s of sessions) seeder.peerReady(s)
    expect(sessions.every((s) => s.sent.length === 1)).toBe(true)
    const first = sessions.map((s) => s.sent[0])
    expect(new Set(first).size).toBe(3)
    seeder.peerReady(sessions[0]!) // already offered: nothing new
    expect(sessions[0]!.sent).toHaveLength(1)
    // Peer 1 downloads its piece and says so: it gets a piece nobody has.
    const [a, b] = sessions as [PeerSession & { sent: number[] }, PeerSession & { sent: number[] }]
    got(a, a.sent[0]!)
    expect(a.sent).toHaveLength(2)
    expect(first).not.toContain(a.sent[1])
    // Peer 2 announces the piece peer 1 is on offer for (it spread): peer 1 moves on.
    got(b, a.sent[1]!)
    expect(a.sent).toHaveLength(3)
  })

  it('a peer that has every piece gets no offer; stop() announces the rest', () => {
    const { sessions, seeder } = setup(4, 2)
    const [full, partial] = sessions as [PeerSession & { sent: number[] }, PeerSession & { sent: number[] }]
    for (let p = 0; p < 4; p++) full.conn.bitfield!.set(p)
    seeder.peerReady(full)
    expect(full.sent).toEqual([])
    seeder.peerReady(partial)
    expect(partial.sent).toHaveLength(1)
    seeder.stop()
    expect([...partial.sent].sort()).toEqual([0, 1, 2, 3])
    expect(full.sent).toEqual([])
  })
})
