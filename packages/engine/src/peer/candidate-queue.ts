/**
 * One torrent's connect queue: the addresses waiting to be dialled, in two tiers.
 *
 * Why two tiers: a peer exchange (BEP 11) round hands a torrent up to 50 addresses per connection,
 * in a big swarm hundreds at once, nearly all of them peers that are as busy as we are. Dialled all
 * at once, a swarm meshes toward every peer's connection limit in one burst: most dials reach a
 * full torrent and are refused, or push out another of its peers (BEP 40), whose freed slot dials
 * the next address it heard of — connection churn that moves no data (1 000 peers in memory made
 * ~100 connections a peer in 2.5 s). libtorrent ranks PEX-learned peers below every other source
 * and spreads its dials over time (`connection_speed`); here addresses learned only through PEX
 * wait in a reserve that is dialled after the main queue and at most `reserveDialsPerSecond` a
 * second (a token bucket per torrent), so a torrent grows its peer set steadily instead.
 */
import { formatPeerAddress, type PeerAddress } from './peer-address.js'
import { SparseSet } from '../util/sparse-collections.js'

/** A candidate ready to dial, and which tier it came from. */
export interface TakenCandidate {
  address: PeerAddress
  key: string
  fromReserve: boolean
}

export class CandidateQueue {
  /** Trackers, DHT, magnets, the user, re-dials: dialled first, in order. */
  private main: PeerAddress[] = []
  /** Addresses learned through PEX: dialled after the main queue, under the rate. */
  private reserve: PeerAddress[] = []
  /** Keys of both tiers, for O(1) duplicate checks. */
  private readonly keys = new SparseSet<string>()
  private reserveTokens = 1
  private refilledAtMs: number | null = null

  get length (): number { return this.keys.size }

  has (key: string): boolean { return this.keys.has(key) }

  /**
   * Queues `address` (the caller checked it is not queued). `lowPriority`: learned only through
   * PEX, so it goes to the reserve. `first`: ahead of everything (a retry of a peer reachable a
   * moment ago). A low-priority address already in the reserve that is heard of from a better
   * source is not moved: the caller sees it queued.
   */
  push (address: PeerAddress, options: { lowPriority?: boolean, first?: boolean } = {}): void {
    const key = formatPeerAddress(address)
    const tier = options.lowPriority === true ? this.reserve : this.main
    if (options.first === true) tier.unshift(address)
    else tier.push(address)
    this.keys.add(key)
  }

  /** Drops `key` if queued. */
  delete (key: string): boolean {
    if (!this.keys.delete(key)) return false
    this.main = this.main.filter((a) => formatPeerAddress(a) !== key)
    this.reserve = this.reserve.filter((a) => formatPeerAddress(a) !== key)
    return true
  }

  /** Keeps only the addresses `keep` accepts. */
  filter (keep: (address: PeerAddress) => boolean): void {
    const test = (a: PeerAddress): boolean => {
      if (keep(a)) return true
      this.keys.delete(formatPeerAddress(a))
      return false
    }
    this.main = this.main.filter(test)
    this.reserve = this.reserve.filter(test)
  }

  clear (): void {
    this.main.length = 0
    this.reserve.length = 0
    this.keys.clear()
  }

  /**
   * Removes and returns the first candidate not backing off: from the main queue, else from the
   * reserve while its rate allows (see {@link spentReserveDial}). Candidates backing off keep
   * their place. Null when none is due.
   */
  take (nowMs: number, backingOff: (key: string) => boolean, reserveDialsPerSecond: number): TakenCandidate | null {
    const fromMain = takeFirst(this.main, backingOff)
    if (fromMain !== null) {
      this.keys.delete(fromMain.key)
      return { ...fromMain, fromReserve: false }
    }
    if (this.reserve.length === 0 || this.tokens(nowMs, reserveDialsPerSecond) < 1) return null
    const fromReserve = takeFirst(this.reserve, backingOff)
    if (fromReserve === null) return null
    this.keys.delete(fromReserve.key)
    return { ...fromReserve, fromReserve: true }
  }

  /** A reserve candidate was dialled: it spends one dial of the rate. */
  spentReserveDial (): void {
    this.reserveTokens--
  }

  /** The reserve's dial allowance now: refilled at the rate, never more than a second's worth (at least one). */
  private tokens (nowMs: number, perSecond: number): number {
    const capacity = Math.max(1, perSecond)
    if (this.refilledAtMs === null) this.reserveTokens = capacity
    else this.reserveTokens = Math.min(capacity, this.reserveTokens + (nowMs - this.refilledAtMs) * perSecond / 1000)
    this.refilledAtMs = nowMs
    return this.reserveTokens
  }
}

function takeFirst (tier: PeerAddress[], backingOff: (key: string) => boolean): { address: PeerAddress, key: string } | null {
  for (let i = 0; i < tier.length; i++) {
    const address = tier[i]!
    const key = formatPeerAddress(address)
    if (backingOff(key)) continue
    tier.splice(i, 1)
    return { address, key }
  }
  return null
}
