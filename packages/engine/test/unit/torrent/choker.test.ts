import { describe, expect, it } from 'vitest'
import { Choker, type ChokeDecision, type ChokerPeer } from '../../../src/torrent/choker.js'
import type { ChokerSettings } from '../../../src/torrent/choker-settings.js'
import { hasCode } from '../../../src/errors.js'
import { seededRandom } from '../../../src/interfaces/random.js'

type Peer = ChokerPeer<string>

function peer (id: string, over: Partial<Peer> = {}): Peer {
  return {
    peer: id, interested: true, amChoking: true, downloadRateBytesPerSec: 0, uploadRateBytesPerSec: 0,
    snubbed: false, connectedAtMs: -1_000_000, ...over
  }
}

/** Applies a decision to the snapshot, as the torrent would. */
function apply (peers: Peer[], d: ChokeDecision<string>): void {
  for (const p of peers) {
    if (d.unchoke.includes(p.peer)) p.amChoking = false
    if (d.choke.includes(p.peer)) p.amChoking = true
  }
}

function unchoked (peers: Peer[]): string[] {
  return peers.filter((p) => !p.amChoking).map((p) => p.peer).sort()
}

function makeChoker (seed = 1, settings: Partial<ChokerSettings> = {}): Choker<string> {
  return new Choker<string>({ random: seededRandom(seed) }, settings)
}

describe('Choker', () => {
  it('unchokes the 4 fastest uploaders to us plus one optimistic peer while downloading', () => {
    const peers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((id, i) => peer(id, { downloadRateBytesPerSec: (i + 1) * 1000 }))
    const choker = makeChoker()
    const d = choker.rechoke(peers, 0, { seeding: false })
    apply(peers, d)
    expect(d.optimistic).toHaveLength(1)
    expect(['a', 'b', 'c', 'd']).toContain(d.optimistic[0])
    expect(unchoked(peers)).toEqual(['e', 'f', 'g', 'h', d.optimistic[0]!].sort())
    expect(d.choke).toEqual([])
  })

  it('re-ranks on each round: a peer that got faster takes a slow peer\'s slot', () => {
    const peers = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => peer(id, { downloadRateBytesPerSec: (i + 1) * 1000 }))
    const choker = makeChoker(2, { optimisticSlots: 0 })
    apply(peers, choker.rechoke(peers, 0, { seeding: false }))
    expect(unchoked(peers)).toEqual(['c', 'd', 'e', 'f'])
    peers[0]!.downloadRateBytesPerSec = 50_000
    const d = choker.rechoke(peers, 10_000, { seeding: false })
    expect(d.unchoke).toEqual(['a'])
    expect(d.choke).toEqual(['c'])
  })

  it('keeps snubbed and uninterested peers out of regular slots, and chokes uninterested ones', () => {
    const peers = [
      peer('fast-snub', { downloadRateBytesPerSec: 1e6, snubbed: true }),
      peer('bored', { downloadRateBytesPerSec: 1e6, interested: false, amChoking: false }),
      peer('x', { downloadRateBytesPerSec: 10 })
    ]
    const choker = makeChoker(1, { optimisticSlots: 0 })
    const d = choker.rechoke(peers, 0, { seeding: false })
    expect(d.unchoke).toEqual(['x'])
    expect(d.choke).toEqual(['bored'])
  })

  it('rotates the optimistic unchoke every 30 s and keeps it in between', () => {
    // 4 fast peers fill the regular slots; 6 slow ones compete for the optimistic slot.
    const peers = [
      ...['r1', 'r2', 'r3', 'r4'].map((id) => peer(id, { downloadRateBytesPerSec: 1e6 })),
      ...['o1', 'o2', 'o3', 'o4', 'o5', 'o6'].map((id) => peer(id))
    ]
    const choker = makeChoker(7)
    const history: string[] = []
    for (let t = 0; t <= 300_000; t += 10_000) {
      const d = choker.rechoke(peers, t, { seeding: false })
      apply(peers, d)
      expect(d.optimistic).toHaveLength(1)
      expect(unchoked(peers)).toHaveLength(5)
      history.push(d.optimistic[0]!)
    }
    for (let i = 0; i < history.length; i++) {
      // Rounds at 0, 10, 20 s share one optimistic peer; at 30 s it changes to another one.
      if (i % 3 !== 0) expect(history[i]).toBe(history[i - 1])
      else if (i > 0) expect(history[i]).not.toBe(history[i - 1])
    }
    expect(new Set(history).size).toBeGreaterThan(3)
  })

  it('draws new peers three times as often for the optimistic slot', () => {
    let newWins = 0
    const trials = 2000
    for (let seed = 0; seed < trials; seed++) {
      const peers = [peer('new', { connectedAtMs: 50_000 }), peer('old1'), peer('old2'), peer('old3')]
      const d = makeChoker(seed, { uploadSlots: 0 }).rechoke(peers, 60_000, { seeding: false })
      if (d.optimistic[0] === 'new') newWins++
    }
    // weight 3 against 1 + 1 + 1: expected share 0.5 (uniform would be 0.25)
    expect(newWins / trials).toBeGreaterThan(0.45)
    expect(newWins / trials).toBeLessThan(0.55)
  })

  it('refills a vacated optimistic slot at once but keeps the rotation period', () => {
    const peers = [peer('r', { downloadRateBytesPerSec: 1e6 }), peer('a'), peer('b'), peer('c')]
    const choker = makeChoker(3, { uploadSlots: 1 })
    apply(peers, choker.rechoke(peers, 0, { seeding: false }))
    const first = choker.optimisticPeers[0]!
    const gone = peers.findIndex((p) => p.peer === first)
    peers.splice(gone, 1)
    const d = choker.rechoke(peers, 10_000, { seeding: false })
    expect(d.optimistic).toHaveLength(1)
    expect(d.optimistic[0]).not.toBe(first)
    expect(d.unchoke).toEqual(d.optimistic)
  })

  it('while seeding, round-robin gives every interested peer a turn', () => {
    const peers = Array.from({ length: 12 }, (_, i) => peer(`p${i}`, { uploadRateBytesPerSec: i === 0 ? 1e7 : 1000 }))
    const choker = makeChoker(5, { optimisticSlots: 0 })
    const served = new Set<string>()
    for (let t = 0; t < 120_000; t += 10_000) {
      const d = choker.rechoke(peers, t, { seeding: true })
      apply(peers, d)
      expect(unchoked(peers)).toHaveLength(4)
      for (const id of unchoked(peers)) served.add(id)
    }
    expect(served.size).toBe(12)
  })

  it('while seeding with fastest-upload, keeps the fastest receivers', () => {
    const peers = Array.from({ length: 8 }, (_, i) => peer(`p${i}`, { uploadRateBytesPerSec: i * 100 }))
    const choker = makeChoker(5, { optimisticSlots: 0, seedingAlgorithm: 'fastest-upload' })
    for (let t = 0; t < 60_000; t += 10_000) apply(peers, choker.rechoke(peers, t, { seeding: true }))
    expect(unchoked(peers)).toEqual(['p4', 'p5', 'p6', 'p7'])
  })

  it('fills free slots between rounds without choking anyone', () => {
    const peers = [peer('a', { downloadRateBytesPerSec: 10 }), peer('b', { interested: false })]
    const choker = makeChoker(1, { uploadSlots: 2, optimisticSlots: 1 })
    apply(peers, choker.rechoke(peers, 0, { seeding: false }))
    expect(unchoked(peers)).toEqual(['a'])
    peers[1]!.interested = true
    peers.push(peer('c'), peer('d'))
    const d = choker.fillFreeSlots(peers, 1_000, { seeding: false })
    expect(d.choke).toEqual([])
    expect(d.unchoke).toHaveLength(2) // the second regular slot and the optimistic slot
    expect(d.optimistic).toHaveLength(1)
    expect(d.unchoke).toContain(d.optimistic[0])
    apply(peers, d)
    expect(unchoked(peers)).toHaveLength(3)
    expect(unchoked(peers)).toContain('a')
    expect(choker.fillFreeSlots(peers, 2_000, { seeding: false }).unchoke).toEqual([])
  })

  it('validates settings by key', () => {
    const key = (s: Partial<ChokerSettings>): string | undefined => {
      try { makeChoker(1, s) } catch (err) { return hasCode(err, 'SETTINGS_INVALID') ? err.details.key : 'other' }
      return undefined
    }
    expect(key({ uploadSlots: -1 })).toBe('choking.uploadSlots')
    expect(key({ newPeerWeight: 0.5 })).toBe('choking.newPeerWeight')
    expect(key({ seedingAlgorithm: 'nope' as 'round-robin' })).toBe('choking.seedingAlgorithm')
    expect(key({ uploadSlots: 8 })).toBeUndefined()
  })
})

describe('Choker.hasFreeSlot (asked before fillFreeSlots)', () => {
  it('agrees with fillFreeSlots: false exactly when no waiting peer would be unchoked', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = seededRandom(1000 + seed)
      const choker = makeChoker(seed, { uploadSlots: 2, optimisticSlots: 1 })
      const peers = Array.from({ length: 6 }, (_, i) => peer(`p${i}`, { downloadRateBytesPerSec: Math.floor(random.next() * 5000) }))
      apply(peers, choker.rechoke(peers, 0, { seeding: false }))
      // Some unchoked peers lose interest, some choked ones become interested again.
      for (const p of peers) if (random.next() < 0.4) p.interested = !p.interested
      const interestedUnchoked = new Set(peers.filter((p) => p.interested && !p.amChoking).map((p) => p.peer))
      const free = choker.hasFreeSlot(interestedUnchoked)
      const filled = choker.fillFreeSlots(peers, 1_000, { seeding: false }).unchoke
      if (!free) expect(filled, `seed ${seed}`).toEqual([])
      if (free && peers.some((p) => p.interested && p.amChoking)) expect(filled.length, `seed ${seed}`).toBeGreaterThan(0)
    }
  })
})
