/**
 * Choker: which peers we upload to (BEP 3 "choking", the libtorrent-like variant).
 *
 * The torrent calls `Choker.rechoke` every `rechokeIntervalMs` with a snapshot of its peers
 * and applies the returned decision (send `choke` / `unchoke`). Nothing here touches a peer or a
 * clock: input is the snapshot, the time and an injected random source, so every rule is unit
 * tested in virtual time. The only state kept between rounds is what the rules need to remember:
 * the optimistic peer(s) and when they were picked, and when each peer last held a slot.
 *
 * Rules:
 * - Downloading: tit-for-tat. The `uploadSlots` interested, non-snubbed peers that upload to us
 *   fastest get the regular slots (a peer that stopped sending to us is snubbed and has to earn its
 *   way back through the optimistic slot).
 * - Seeding: nobody uploads to us, so rate-to-us means nothing. `round-robin` (default) gives each
 *   interested peer a turn of `seedingSlotMs`, longest-waiting first, so everyone gets served;
 *   `fastest-upload` keeps the peers we upload to fastest (best for throughput, unfair).
 * - Plus `optimisticSlots` optimistic unchokes, rotated every `optimisticUnchokeIntervalMs`, chosen
 *   at random among the other interested peers, peers connected in the last `newPeerWindowMs`
 *   weighted `newPeerWeight`× (BEP 3: they have nothing to trade yet, so they need a first chance).
 * - Uninterested peers are choked: a slot is worth nothing to them. When one becomes interested,
 *   {@link Choker.fillFreeSlots} may unchoke it into a free slot without waiting for the next round
 *   and without choking anyone (which would make the choke state flap).
 * Ties in rate are broken at random, with peers that already hold a slot first, to avoid churn.
 */
import type { IRandom } from '../interfaces/random.js'
import { defaultChokerSettings, validateChokerSettings, type ChokerSettings } from './choker-settings.js'
import { SparseMap } from '../util/sparse-collections.js'

export interface ChokerDeps {
  random: IRandom
}

/** What the choker needs to know about one peer at decision time. */
export interface ChokerPeer<P> {
  peer: P
  /** The peer is interested in our pieces. */
  interested: boolean
  /** We currently choke it. */
  amChoking: boolean
  /** Recent rate of data from the peer to us (tit-for-tat). */
  downloadRateBytesPerSec: number
  /** Recent rate of data from us to the peer (seeding, fastest-upload). */
  uploadRateBytesPerSec: number
  /** It has not sent us a block for a while although we had requests out. */
  snubbed: boolean
  /** When the connection was established (same clock as `nowMs`). */
  connectedAtMs: number
}

/** Changes to apply; peers not listed keep their state. */
export interface ChokeDecision<P> {
  /** Currently choked peers to unchoke. */
  unchoke: P[]
  /** Currently unchoked peers to choke. */
  choke: P[]
  /** The optimistic unchokes after this round (unchoked, whether newly or already). */
  optimistic: P[]
}

export interface RechokeOptions {
  /** We have every wanted piece: rank for seeding. */
  seeding: boolean
}

interface History {
  /** When the current unchoke started; null while choked. */
  unchokedAtMs: number | null
  /** Last round in which the peer held an unchoke (round-robin order). */
  lastSlotAtMs: number
}

export class Choker<P> {
  private readonly settings: ChokerSettings
  private optimistic: P[] = []
  private optimisticSinceMs = Number.NEGATIVE_INFINITY
  private readonly history = new SparseMap<P, History>()

  /** @throws LodestoneError SETTINGS_INVALID naming the key. */
  constructor (private readonly deps: ChokerDeps, settings: Partial<ChokerSettings> = {}) {
    this.settings = validateChokerSettings({ ...defaultChokerSettings, ...settings })
  }

  /** Changes settings at run time; they apply from the next round. */
  updateSettings (patch: Partial<ChokerSettings>): void {
    Object.assign(this.settings, validateChokerSettings({ ...this.settings, ...patch }))
  }

  /** The current optimistic unchokes. */
  get optimisticPeers (): readonly P[] {
    return this.optimistic
  }

  /** A full round: rank every peer, rotate the optimistic slot when due. */
  rechoke (peers: ReadonlyArray<ChokerPeer<P>>, nowMs: number, options: RechokeOptions): ChokeDecision<P> {
    this.sync(peers, nowMs)
    const byPeer = new Map(peers.map((p) => [p.peer, p]))
    const ranked = this.rank(peers.filter((p) => p.interested), nowMs, options)
    const regular = new Set(ranked.slice(0, this.settings.uploadSlots).map((p) => p.peer))

    const keep = this.optimistic.filter((peer) => byPeer.get(peer)?.interested === true && !regular.has(peer))
    const due = nowMs - this.optimisticSinceMs >= this.settings.optimisticUnchokeIntervalMs
    if (due || keep.length < this.optimistic.length) {
      // Rotation replaces every optimistic peer; a vacated slot (peer left, lost interest or was
      // promoted to a regular slot) is refilled now, but the remaining ones keep their term.
      const kept = due ? [] : keep
      const want = this.settings.optimisticSlots - kept.length
      const pool = peers.filter((p) => p.interested && !regular.has(p.peer) && !kept.includes(p.peer))
      // A rotation moves the slot on: the outgoing peers are drawn again only if nobody else can be.
      const fresh = pool.filter((p) => !this.optimistic.includes(p.peer))
      const drawn = this.draw(fresh, want, nowMs)
      if (drawn.length < want) drawn.push(...this.draw(pool.filter((p) => !drawn.includes(p.peer) && !fresh.includes(p)), want - drawn.length, nowMs))
      this.optimistic = [...kept, ...drawn]
      if (due) this.optimisticSinceMs = nowMs
    } else if (this.optimistic.length < this.settings.optimisticSlots) {
      const pool = peers.filter((p) => p.interested && !regular.has(p.peer) && !this.optimistic.includes(p.peer))
      this.optimistic.push(...this.draw(pool, this.settings.optimisticSlots - this.optimistic.length, nowMs))
    }

    const unchoked = new Set([...regular, ...this.optimistic])
    const decision: ChokeDecision<P> = { unchoke: [], choke: [], optimistic: [...this.optimistic] }
    for (const p of peers) {
      if (unchoked.has(p.peer)) {
        if (p.amChoking) decision.unchoke.push(p.peer)
      } else if (!p.amChoking) {
        decision.choke.push(p.peer)
      }
    }
    this.record(decision, unchoked, nowMs)
    return decision
  }

  /**
   * Between rounds: unchokes interested peers into regular or optimistic slots that are free now
   * (e.g. a peer just became interested). Never chokes anyone.
   */
  fillFreeSlots (peers: ReadonlyArray<ChokerPeer<P>>, nowMs: number, options: RechokeOptions): ChokeDecision<P> {
    this.sync(peers, nowMs)
    const optimistic = new Set(this.optimistic.filter((peer) => peers.some((p) => p.peer === peer && p.interested && !p.amChoking)))
    const regularUsed = peers.filter((p) => p.interested && !p.amChoking && !optimistic.has(p.peer)).length
    const waiting = peers.filter((p) => p.interested && p.amChoking)
    const decision: ChokeDecision<P> = { unchoke: [], choke: [], optimistic: [] }
    const free = this.settings.uploadSlots - regularUsed
    if (free > 0) decision.unchoke.push(...this.rank(waiting, nowMs, options).slice(0, free).map((p) => p.peer))
    this.optimistic = [...optimistic]
    const freeOptimistic = this.settings.optimisticSlots - this.optimistic.length
    if (freeOptimistic > 0) {
      const drawn = this.draw(waiting.filter((p) => !decision.unchoke.includes(p.peer)), freeOptimistic, nowMs)
      if (this.optimistic.length === 0 && drawn.length > 0) this.optimisticSinceMs = nowMs
      this.optimistic.push(...drawn)
      decision.unchoke.push(...drawn)
    }
    decision.optimistic = [...this.optimistic]
    const unchoked = new Set(peers.filter((p) => !p.amChoking).map((p) => p.peer))
    for (const peer of decision.unchoke) unchoked.add(peer)
    this.record(decision, unchoked, nowMs)
    return decision
  }

  /**
   * Whether a regular or optimistic slot is free, given the interested peers we do not choke: what
   * {@link fillFreeSlots} needs before it can unchoke anyone. Cheap (no snapshot of every peer's
   * rates), so callers ask it first — in a large swarm every slot is usually taken.
   */
  hasFreeSlot (interestedUnchoked: ReadonlySet<P>): boolean {
    let optimistic = 0
    for (const peer of this.optimistic) if (interestedUnchoked.has(peer)) optimistic++
    return this.settings.uploadSlots - (interestedUnchoked.size - optimistic) > 0 || this.settings.optimisticSlots - optimistic > 0
  }

  /** Candidates for regular slots, best first. */
  private rank (candidates: ReadonlyArray<ChokerPeer<P>>, nowMs: number, options: RechokeOptions): Array<ChokerPeer<P>> {
    const tie = new Map(candidates.map((p) => [p.peer, this.deps.random.next()]))
    const holding = (p: ChokerPeer<P>): number => (p.amChoking ? 1 : 0)
    const byTie = (a: ChokerPeer<P>, b: ChokerPeer<P>): number => holding(a) - holding(b) || tie.get(a.peer)! - tie.get(b.peer)!
    if (!options.seeding) {
      return candidates.filter((p) => !p.snubbed)
        .sort((a, b) => b.downloadRateBytesPerSec - a.downloadRateBytesPerSec || byTie(a, b))
    }
    if (this.settings.seedingAlgorithm === 'fastest-upload') {
      return [...candidates].sort((a, b) => b.uploadRateBytesPerSec - a.uploadRateBytesPerSec || byTie(a, b))
    }
    // Round-robin: peers still within their turn keep it; then whoever waited longest.
    const inTurn = (p: ChokerPeer<P>): boolean => {
      const at = this.history.get(p.peer)?.unchokedAtMs ?? null
      return !p.amChoking && at !== null && nowMs - at < this.settings.seedingSlotMs
    }
    const lastSlot = (p: ChokerPeer<P>): number => this.history.get(p.peer)?.lastSlotAtMs ?? Number.NEGATIVE_INFINITY
    return [...candidates].sort((a, b) => {
      const ta = inTurn(a)
      const tb = inTurn(b)
      if (ta !== tb) return ta ? -1 : 1
      if (ta) return b.uploadRateBytesPerSec - a.uploadRateBytesPerSec || byTie(a, b)
      return lastSlot(a) - lastSlot(b) || byTie(a, b)
    })
  }

  /** Weighted draw without replacement: new peers count `newPeerWeight` times. */
  private draw (pool: ReadonlyArray<ChokerPeer<P>>, count: number, nowMs: number): P[] {
    const out: P[] = []
    const left = [...pool]
    while (out.length < count && left.length > 0) {
      const weights = left.map((p) => (nowMs - p.connectedAtMs < this.settings.newPeerWindowMs ? this.settings.newPeerWeight : 1))
      let r = this.deps.random.next() * weights.reduce((a, b) => a + b, 0)
      let i = 0
      while (i < left.length - 1 && r >= weights[i]!) r -= weights[i++]!
      out.push(left[i]!.peer)
      left.splice(i, 1)
    }
    return out
  }

  /** Forgets departed peers; adopts the snapshot's choke state as the truth. */
  private sync (peers: ReadonlyArray<ChokerPeer<P>>, nowMs: number): void {
    const present = new Set(peers.map((p) => p.peer))
    for (const peer of this.history.keys()) if (!present.has(peer)) this.history.delete(peer)
    this.optimistic = this.optimistic.filter((peer) => present.has(peer))
    for (const p of peers) {
      const h = this.history.get(p.peer)
      if (h === undefined) this.history.set(p.peer, { unchokedAtMs: p.amChoking ? null : nowMs, lastSlotAtMs: Number.NEGATIVE_INFINITY })
      else if (p.amChoking) h.unchokedAtMs = null
      else h.unchokedAtMs ??= nowMs
    }
  }

  private record (decision: ChokeDecision<P>, unchoked: ReadonlySet<P>, nowMs: number): void {
    for (const peer of decision.unchoke) {
      const h = this.history.get(peer)
      if (h !== undefined) h.unchokedAtMs = nowMs
    }
    for (const peer of decision.choke) {
      const h = this.history.get(peer)
      if (h !== undefined) h.unchokedAtMs = null
    }
    for (const peer of unchoked) {
      const h = this.history.get(peer)
      if (h !== undefined) h.lastSlotAtMs = nowMs
    }
  }
}
