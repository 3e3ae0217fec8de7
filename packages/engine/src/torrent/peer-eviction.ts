/**
 * Which connection gives way when a torrent is full and another peer wants in (BEP 40). Each
 * connection's canonical priority is computed from our address as that peer sees us (its
 * `yourip`), so it is the number the peer computes too; the newcomer's from the address most of
 * our peers report for us. Without any report we do not know our address and keep everyone.
 *
 * A connection younger than {@link EVICTION_GRACE_MS} is never the one closed. When a peer-exchange
 * round reaches a big swarm, every torrent receives a burst of newcomers while its own connections
 * are seconds old; evicting them closes a connection both ends just paid a handshake for, and the
 * evicted peer's freed slot dials the next address it heard of, which evicts another: one dial
 * moves a free slot around the swarm instead of filling it (1 000 peers in memory made thousands of
 * such evictions in their first seconds). libtorrent has no such grace (its `find_lowest_ranking_peer`
 * carries a TODO about sparing good peers); a newcomer refused now is simply dialled later.
 */
import type { PeerAddress } from '../peer/peer-address.js'
import { canonicalPeerPriority } from '../peer/peer-priority.js'
import type { PeerSession } from './peer-session.js'

/** A connection this young is not closed for a newcomer: one choking round (10 s) to show its worth. */
export const EVICTION_GRACE_MS = 10_000

/** The address most peers say they see us at (their `yourip`), or null when none said. */
export function externalAddressFromPeers (sessions: Iterable<PeerSession>): Uint8Array | null {
  const votes = new Map<string, { ip: Uint8Array, count: number }>()
  let best: { ip: Uint8Array, count: number } | null = null
  for (const s of sessions) {
    const ip = s.conn.extendedHandshake?.yourip
    if (ip === undefined) continue
    const key = ip.join('.')
    const vote = votes.get(key) ?? { ip, count: 0 }
    vote.count++
    votes.set(key, vote)
    if (best === null || vote.count > best.count) best = vote
  }
  return best?.ip ?? null
}

/**
 * The connected peer to close for `newcomer`: the one of lowest priority among those connected at
 * least {@link EVICTION_GRACE_MS} before `nowMs`, if the newcomer's is higher; null to refuse the
 * newcomer instead.
 */
export function lowestPriorityPeer (sessions: Iterable<PeerSession>, newcomer: PeerAddress, listenPort: number, nowMs: number): PeerSession | null {
  const ours = externalAddressFromPeers(sessions)
  if (ours === null) return null
  const incoming = canonicalPeerPriority({ ip: ours, port: listenPort }, { ip: newcomer.host, port: newcomer.port })
  if (incoming === null) return null
  let lowest: { session: PeerSession, priority: number } | null = null
  for (const s of sessions) {
    if (s.conn.state !== 'active' || nowMs - s.connectedAtMs < EVICTION_GRACE_MS) continue
    const seenAs = s.conn.extendedHandshake?.yourip ?? ours
    const priority = canonicalPeerPriority({ ip: seenAs, port: listenPort }, { ip: s.slot.address.host, port: s.slot.address.port })
    if (priority !== null && (lowest === null || priority < lowest.priority)) lowest = { session: s, priority }
  }
  return lowest !== null && lowest.priority < incoming ? lowest.session : null
}
