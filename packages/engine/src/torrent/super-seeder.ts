/**
 * Super-seeding (BEP 16): a seed that hides that it is one, so the first copy of each piece it
 * uploads is spread by the peers rather than uploaded again by the seed.
 *
 * Each connection is told we have nothing (no bitfield / HAVE NONE); then the peer is offered one
 * piece with a HAVE — the piece fewest connected peers have, preferring one not on offer to
 * anyone else. When the piece is announced — by the peer (it downloaded it) or by another peer (it
 * spread) — the peer is offered the next one, the rarest it still lacks. Pieces therefore leave
 * the seed about once each while the peers trade them among themselves. Accepting the peer's own
 * HAVE is libtorrent's non-strict mode: it keeps a peer that only talks to us moving.
 *
 * Memory: one offered piece per peer. Stopping (the setting turned off) announces every piece to
 * every peer with HAVE, as a bitfield can only be the first message.
 */
import type { IRandom } from '../interfaces/random.js'
import type { PeerSession, PickerPeer } from './peer-session.js'
import type { PiecePicker } from './piece-picker.js'
import { SparseMap } from '../util/sparse-collections.js'

export interface SuperSeederHost {
  readonly random: IRandom
  picker: () => PiecePicker<PickerPeer>
  sessions: () => Iterable<PeerSession>
}

export class SuperSeeder {
  /** The piece each peer was offered last (absent: none yet, or nothing left to offer it). */
  private readonly offered = new SparseMap<PeerSession, number>()
  /** Pieces offered (each counted once per peer it is on offer to). */
  offers = 0

  constructor (private readonly host: SuperSeederHost) {}

  /** The peer's availability is known: offer it its first piece. */
  peerReady (s: PeerSession): void {
    if (!this.offered.has(s)) this.offerNext(s)
  }

  /**
   * A peer announced `piece`. Whoever had it on offer gets the next piece: the peer itself when it
   * says it downloaded it (clients send that HAVE to a super-seed, which looks like a peer with a
   * few pieces), and the peer it was offered to when another peer announces it (it spread).
   */
  peerHave (piece: number): void {
    for (const [peer, offered] of [...this.offered]) {
      if (offered === piece) this.offerNext(peer)
    }
  }

  forget (s: PeerSession): void {
    this.offered.delete(s)
  }

  /** Super-seeding ends: every peer hears of every piece it lacks. */
  stop (): void {
    const picker = this.host.picker()
    for (const s of this.host.sessions()) {
      if (s.conn.state !== 'active') continue
      for (let piece = 0; piece < picker.pieceCount; piece++) {
        if (s.conn.bitfield?.get(piece) !== true && this.offered.get(s) !== piece) s.conn.have(piece)
      }
    }
    this.offered.clear()
  }

  private offerNext (s: PeerSession): void {
    const piece = this.pick(s)
    if (piece < 0) {
      this.offered.delete(s)
      return
    }
    this.offered.set(s, piece)
    this.offers++
    s.conn.have(piece)
  }

  /**
   * The piece the peer lacks that the fewest connected peers have, not on offer to another peer
   * if there is such a piece; random among equals (a random start, then a scan). -1: it has all.
   */
  private pick (s: PeerSession): number {
    const picker = this.host.picker()
    const n = picker.pieceCount
    const onOffer = new Set(this.offered.values())
    const has = s.conn.bitfield
    let best = -1
    let bestScore = Infinity
    const start = Math.floor(this.host.random.next() * n)
    for (let i = 0; i < n; i++) {
      const piece = start + i < n ? start + i : start + i - n
      if (has?.get(piece) === true) continue
      // Availability counts connected peers only (never us); an offered piece weighs as one more holder.
      const score = picker.availability(piece) * 2 + (onOffer.has(piece) ? 1 : 0)
      if (score < bestScore) {
        best = piece
        bestScore = score
        if (score === 0) break
      }
    }
    return best
  }
}
