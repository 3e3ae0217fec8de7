/**
 * An iterative Kademlia lookup (BEP 5): ask the closest known nodes for nodes closer to `target`,
 * α at a time, until the k closest nodes seen have all answered.
 *
 * - Only candidates ranked within the k closest (failed and slow ones excluded) are asked, so the
 *   lookup converges instead of wandering. A query that is slow frees its slot and its rank (it may
 *   still answer, and ranks again if it does): a dead node costs one slot of the α window for the
 *   slow time, and the lookup neither waits for its time-out to ask the next node nor to end.
 * - Bootstrap routers (endpoints without a known id) are asked first; when they answer they join
 *   the ranking under the id they gave.
 * - Bounded: at most `maxQueries` queries, a candidate list of at most `maxCandidates`, at most
 *   `maxPeers` peers collected. A hostile answer full of addresses can add candidates, never
 *   queries beyond the bound.
 * - `hops` is how many answers separate a candidate from the seeds; the lookup reports the hop
 *   count of the closest answering node (the "rounds" a lookup took).
 */
import type { PeerAddress } from '../peer/peer-address.js'
import { endpointKey, type NodeContact } from './compact-nodes.js'
import type { KrpcResponse } from './krpc-codec.js'
import type { QueryOutcome, QueryOptions } from './krpc-transactions.js'
import { compareDistance, idEquals, type NodeId } from './node-id.js'

export interface LookupSettings {
  concurrency: number
  resultNodes: number
  maxQueries: number
  maxCandidates: number
  maxPeers: number
}

/** A node that answered the lookup, with the token it gave (get_peers). */
export interface LookupResponder {
  contact: NodeContact
  token?: Uint8Array
}

export interface LookupResult {
  /** Peers collected (get_peers), de-duplicated. */
  peers: PeerAddress[]
  /** The closest nodes that answered, closest first (at most `resultNodes`). */
  closest: LookupResponder[]
  queried: number
  responded: number
  /** Hops from the seeds to the closest answering node. */
  hops: number
}

export interface LookupDeps {
  /** Sends one query of the lookup's method to a node (the node owns tokens, routing and stats). */
  query: (host: string, port: number, options: QueryOptions) => Promise<QueryOutcome>
  /** Nodes of the answer that may be asked (the owner filters by family and `want`). */
  nodesOf: (response: KrpcResponse) => NodeContact[]
  ownId: NodeId
  /** New peers as they arrive (get_peers). */
  onPeers?: (peers: PeerAddress[]) => void
  /** A signal that ends the lookup early (its result so far is returned). */
  signal?: AbortSignal
}

type CandidateState = 'new' | 'pending' | 'slow' | 'answered' | 'failed'

interface Candidate {
  /** Null for a bootstrap router we know only by address. */
  id: NodeId | null
  host: string
  port: number
  state: CandidateState
  token?: Uint8Array
  hops: number
}

export class Lookup {
  private candidates: Candidate[] = []
  private readonly seen = new Set<string>()
  private readonly peerKeys = new Set<string>()
  private readonly peers: PeerAddress[] = []
  private queried = 0
  private responded = 0
  private active = 0
  private finished = false
  private done: ((result: LookupResult) => void) | undefined

  constructor (private readonly target: NodeId, private readonly deps: LookupDeps, private readonly settings: LookupSettings) {}

  async run (seeds: readonly NodeContact[], routers: ReadonlyArray<{ host: string, port: number }>): Promise<LookupResult> {
    for (const r of routers) this.addCandidate(null, r.host, r.port, 0)
    for (const s of seeds) this.addCandidate(s.id, s.host, s.port, 0)
    this.sort()
    const result = new Promise<LookupResult>((resolve) => { this.done = resolve })
    this.deps.signal?.addEventListener('abort', () => { this.finish() }, { once: true })
    if (this.deps.signal?.aborted === true) this.finish()
    this.step()
    return result
  }

  private addCandidate (id: NodeId | null, host: string, port: number, hops: number): void {
    if (id !== null && idEquals(id, this.deps.ownId)) return
    const key = endpointKey(host, port)
    if (this.seen.has(key)) return
    this.seen.add(key)
    this.candidates.push({ id, host, port, state: 'new', hops })
  }

  /** Routers first (they have no id), then by distance. */
  private sort (): void {
    this.candidates.sort((a, b) => {
      if (a.id === null || b.id === null) return (a.id === null ? 0 : 1) - (b.id === null ? 0 : 1)
      return compareDistance(this.target, a.id, b.id)
    })
    if (this.candidates.length > this.settings.maxCandidates) {
      // Keep everything in flight or answered; drop the farthest untried candidates.
      const keep: Candidate[] = []
      let extra = this.candidates.length - this.settings.maxCandidates
      for (let i = this.candidates.length - 1; i >= 0; i--) {
        const c = this.candidates[i]
        if (c === undefined) continue
        if (extra > 0 && (c.state === 'new' || c.state === 'failed')) { extra--; continue }
        keep.push(c)
      }
      this.candidates = keep.reverse()
    }
  }

  private step (): void {
    if (this.finished) return
    let ranked = 0
    let allAnswered = true
    for (const c of this.candidates) {
      if (ranked >= this.settings.resultNodes) break
      if (c.state === 'failed' || c.state === 'slow') continue
      if (c.id !== null) ranked++
      if (c.state !== 'answered') allAnswered = false
      if (c.state === 'new' && this.active < this.settings.concurrency && this.queried < this.settings.maxQueries) this.ask(c)
    }
    const anyPending = this.candidates.some((c) => c.state === 'pending' || c.state === 'slow')
    if ((allAnswered && ranked > 0) || !anyPending) this.finish()
  }

  private ask (c: Candidate): void {
    c.state = 'pending'
    this.active++
    this.queried++
    const onSlow = (): void => {
      if (c.state !== 'pending') return
      c.state = 'slow'
      this.active--
      this.step()
    }
    void this.deps.query(c.host, c.port, { onSlow }).then((outcome) => { this.answered(c, outcome) })
  }

  private answered (c: Candidate, outcome: QueryOutcome): void {
    if (c.state === 'pending') this.active--
    if (this.finished) return
    if (outcome.kind !== 'response') {
      c.state = 'failed'
      this.step()
      return
    }
    const r = outcome.response
    this.responded++
    c.state = 'answered'
    if (c.id === null) c.id = r.id
    if (r.token !== undefined) c.token = r.token
    for (const n of this.deps.nodesOf(r)) this.addCandidate(n.id, n.host, n.port, c.hops + 1)
    if (r.values.length > 0) this.collectPeers(r.values)
    this.sort()
    this.step()
  }

  private collectPeers (values: readonly PeerAddress[]): void {
    const fresh: PeerAddress[] = []
    for (const p of values) {
      if (this.peers.length >= this.settings.maxPeers) break
      const key = endpointKey(p.host, p.port)
      if (this.peerKeys.has(key)) continue
      this.peerKeys.add(key)
      this.peers.push(p)
      fresh.push(p)
    }
    if (fresh.length > 0) this.deps.onPeers?.(fresh)
  }

  private finish (): void {
    if (this.finished) return
    this.finished = true
    const closest: LookupResponder[] = []
    let hops = 0
    for (const c of this.candidates) {
      if (closest.length >= this.settings.resultNodes) break
      if (c.state !== 'answered' || c.id === null) continue
      if (closest.length === 0) hops = c.hops
      const responder: LookupResponder = { contact: { id: c.id, host: c.host, port: c.port } }
      if (c.token !== undefined) responder.token = c.token
      closest.push(responder)
    }
    this.done?.({ peers: this.peers, closest, queried: this.queried, responded: this.responded, hops })
  }
}
