/**
 * BEP 40 eviction: the connected peer closed for a newcomer is the one of lowest canonical
 * priority, if the newcomer ranks above it — and never a connection in its first
 * EVICTION_GRACE_MS (issue 13: a PEX burst in a big swarm otherwise evicts connections seconds old,
 * and each eviction frees a slot that dials and evicts again).
 */
import { describe, expect, it } from 'vitest'
import { canonicalPeerPriority } from '../../../src/peer/peer-priority.js'
import { EVICTION_GRACE_MS, lowestPriorityPeer } from '../../../src/torrent/peer-eviction.js'
import type { PeerSession } from '../../../src/torrent/peer-session.js'

const US = new Uint8Array([10, 0, 0, 1])
const PORT = 6881

function session (host: string, connectedAtMs: number): PeerSession {
  return {
    connectedAtMs,
    conn: { state: 'active', extendedHandshake: { yourip: US } },
    slot: { address: { host, port: 6881 } }
  } as unknown as PeerSession
}

const rank = (host: string): number => canonicalPeerPriority({ ip: US, port: PORT }, { ip: host, port: 6881 })!

describe('lowestPriorityPeer', () => {
  // Three peers and a newcomer that ranks above the lowest of them.
  const hosts = ['10.1.0.7', '10.2.0.9', '10.3.0.11', '10.4.0.5', '10.5.0.3'].sort((a, b) => rank(a) - rank(b))
  const [lowest, second, ...rest] = hosts
  const newcomer = { host: rest[rest.length - 1]!, port: 6881 }

  it('closes the lowest-ranked connection once it is past the grace period', () => {
    const sessions = [lowest!, second!, rest[0]!].map((h) => session(h, 0))
    expect(lowestPriorityPeer(sessions, newcomer, PORT, EVICTION_GRACE_MS)?.slot.address.host).toBe(lowest)
  })

  it('spares connections younger than the grace period, even the lowest-ranked', () => {
    const now = 50_000
    const young = session(lowest!, now - EVICTION_GRACE_MS + 1)
    const old = [second!, rest[0]!].map((h) => session(h, now - EVICTION_GRACE_MS))
    // The lowest old one goes instead.
    expect(lowestPriorityPeer([young, ...old], newcomer, PORT, now)?.slot.address.host).toBe(second)
    // All young: the newcomer is refused.
    const allYoung = [lowest!, second!, rest[0]!].map((h) => session(h, now - 1_000))
    expect(lowestPriorityPeer(allYoung, newcomer, PORT, now)).toBeNull()
    // A newcomer below every connection is refused whatever their age.
    expect(lowestPriorityPeer(old, { host: lowest!, port: 6881 }, PORT, now)).toBeNull()
  })
})
