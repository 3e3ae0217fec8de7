/**
 * The Kademlia routing table (BEP 5): buckets of at most k nodes, split around our own id, with a
 * replacement cache per bucket.
 *
 * Shape: `buckets[i]` for i < last holds the nodes that share exactly i leading bits with our id;
 * the last bucket holds every node sharing at least `last` bits. Only the last bucket (the one our
 * id falls in) splits when it is full, so the table keeps fine detail near us and 8 nodes for each
 * coarser slice of the space far away: at most ~160 × k entries, whatever the DHT's size.
 *
 * Node health (BEP 5): a node is good if it answered one of our queries within `goodForMs`;
 * questionable after that; bad after `badAfterFailures` unanswered queries in a row. A full bucket
 * takes a newcomer only in place of a bad node, else the newcomer waits in the bucket's
 * replacement cache (newest kept) and the owner pings the bucket's stalest questionable node: if
 * that one fails, the freshest replacement takes its place. Only nodes that answered us enter the
 * table (a node that merely queried us is pinged first, see DhtNode), so a spoofed source address
 * cannot place entries.
 *
 * BEP 42: each entry records whether its id matches its IP. With `enforceNodeId` nodes that do not
 * are refused (libtorrent's `dht_enforce_node_id`); without it they are accepted, but a verified
 * newcomer may replace an unverified questionable node in a full bucket.
 */
import type { IClock } from '../interfaces/clock.js'
import type { IRandom } from '../interfaces/random.js'
import type { NodeContact } from './compact-nodes.js'
import { commonPrefixBits, compareDistance, idEquals, isBep42Valid, NODE_ID_BITS, randomIdWithPrefix, type NodeId } from './node-id.js'

export interface RoutingTableSettings {
  /** Nodes per bucket (BEP 5's K). @default 8 */
  bucketSize: number
  /** Replacement cache entries per bucket. @default 8 */
  replacementCacheSize: number
  /** A node is good for this long after its last answer (BEP 5: 15 minutes). @default 900_000 */
  goodForMs: number
  /** A node is bad after this many unanswered queries in a row. @default 2 */
  badAfterFailures: number
  /** A node is dropped after this many unanswered queries in a row, even without a replacement. @default 5 */
  dropAfterFailures: number
  /** Refuse nodes whose id does not match their IP (BEP 42). @default false */
  enforceNodeId: boolean
}

export const defaultRoutingTableSettings: Readonly<RoutingTableSettings> = {
  bucketSize: 8,
  replacementCacheSize: 8,
  goodForMs: 15 * 60_000,
  badAfterFailures: 2,
  dropAfterFailures: 5,
  enforceNodeId: false
}

export type NodeStatus = 'good' | 'questionable' | 'bad'

/** One node in the table. */
export interface RoutingEntry {
  contact: NodeContact
  /** Clock time of its last answer to us. */
  lastResponseMs: number
  /** Clock time of its last query to us (0: never). */
  lastQueryMs: number
  /** Unanswered queries in a row. */
  failures: number
  /** Its id matches its IP under BEP 42. */
  verified: boolean
}

class Bucket {
  entries: RoutingEntry[] = []
  replacements: RoutingEntry[] = []
  lastChangedMs: number
  constructor (nowMs: number) { this.lastChangedMs = nowMs }
}

/** What {@link RoutingTable.heardFrom} did with a node that answered us. */
export type InsertResult = 'updated' | 'added' | 'replacement' | 'refused'

export class RoutingTable {
  private readonly settings: RoutingTableSettings
  private buckets: Bucket[]
  private ownId: NodeId

  constructor (ownId: NodeId, private readonly clock: IClock, settings: Partial<RoutingTableSettings> = {}) {
    this.settings = { ...defaultRoutingTableSettings, ...settings }
    this.ownId = Uint8Array.from(ownId)
    this.buckets = [new Bucket(clock.now())]
  }

  get id (): NodeId { return this.ownId }

  /** Nodes in the table (replacements not counted). */
  get size (): number {
    let n = 0
    for (const b of this.buckets) n += b.entries.length
    return n
  }

  get bucketCount (): number { return this.buckets.length }

  /** Changes our id (BEP 42, after learning our external IP) and re-files every node. */
  setOwnId (id: NodeId): void {
    const entries = this.entries()
    this.ownId = Uint8Array.from(id)
    this.buckets = [new Bucket(this.clock.now())]
    for (const e of entries) this.place(e)
  }

  status (entry: RoutingEntry): NodeStatus {
    if (entry.failures >= this.settings.badAfterFailures) return 'bad'
    return this.clock.now() - entry.lastResponseMs <= this.settings.goodForMs ? 'good' : 'questionable'
  }

  /** The entry with this id, if any. */
  get (id: NodeId): RoutingEntry | undefined {
    return this.bucketFor(id).entries.find((e) => idEquals(e.contact.id, id))
  }

  /**
   * Records that `contact` answered one of our queries: refreshes its entry, or adds it (splitting
   * the bucket around our id when needed), or files it as a replacement.
   */
  heardFrom (contact: NodeContact): InsertResult {
    if (idEquals(contact.id, this.ownId)) return 'refused'
    const verified = isBep42Valid(contact.id, contact.host)
    if (this.settings.enforceNodeId && !verified) return 'refused'
    const now = this.clock.now()
    const bucket = this.bucketFor(contact.id)
    const existing = bucket.entries.find((e) => idEquals(e.contact.id, contact.id))
    if (existing !== undefined) {
      // Same id from another endpoint: keep the one we know (an id is not proof of identity).
      if (existing.contact.host !== contact.host || existing.contact.port !== contact.port) return 'refused'
      existing.lastResponseMs = now
      existing.failures = 0
      bucket.lastChangedMs = now
      return 'updated'
    }
    // The endpoint changed its id: forget the old one.
    this.removeEndpoint(contact.host, contact.port)
    return this.place({ contact: { id: Uint8Array.from(contact.id), host: contact.host, port: contact.port }, lastResponseMs: now, lastQueryMs: 0, failures: 0, verified })
  }

  /** Records a query from a node already in the table (keeps it good, BEP 5). False if unknown. */
  heardQueryFrom (contact: NodeContact): boolean {
    const entry = this.get(contact.id)
    if (entry === undefined || entry.contact.host !== contact.host || entry.contact.port !== contact.port) return false
    entry.lastQueryMs = this.clock.now()
    return true
  }

  /** Whether a node that answered would get a place now (room, a split, or a bad node to replace). */
  hasRoomFor (id: NodeId): boolean {
    if (idEquals(id, this.ownId)) return false
    const index = this.bucketIndex(id)
    const bucket = this.buckets[index]
    if (bucket === undefined) return false
    if (bucket.entries.some((e) => idEquals(e.contact.id, id))) return false
    if (bucket.entries.length < this.settings.bucketSize) return true
    if (index === this.buckets.length - 1 && this.buckets.length < NODE_ID_BITS) return true
    return bucket.entries.some((e) => this.status(e) === 'bad')
  }

  /** Records an unanswered query; a bad node gives way to the freshest replacement. */
  failed (id: NodeId): void {
    const bucket = this.bucketFor(id)
    const index = bucket.entries.findIndex((e) => idEquals(e.contact.id, id))
    const entry = bucket.entries[index]
    if (entry === undefined) {
      bucket.replacements = bucket.replacements.filter((e) => !idEquals(e.contact.id, id))
      return
    }
    entry.failures++
    if (entry.failures < this.settings.badAfterFailures) return
    const replacement = bucket.replacements.pop()
    if (replacement !== undefined) {
      bucket.entries[index] = replacement
      bucket.lastChangedMs = this.clock.now()
    } else if (entry.failures >= this.settings.dropAfterFailures) {
      bucket.entries.splice(index, 1)
    }
  }

  /** Removes the node at this endpoint (it answered with another id, or we were told to). */
  removeEndpoint (host: string, port: number): void {
    for (const b of this.buckets) {
      b.entries = b.entries.filter((e) => e.contact.host !== host || e.contact.port !== port)
      b.replacements = b.replacements.filter((e) => e.contact.host !== host || e.contact.port !== port)
    }
  }

  /** Up to `count` non-bad nodes closest to `target`, closest first. */
  closest (target: NodeId, count: number): NodeContact[] {
    const all: NodeContact[] = []
    for (const b of this.buckets) for (const e of b.entries) if (this.status(e) !== 'bad') all.push(e.contact)
    all.sort((a, b) => compareDistance(target, a.id, b.id))
    return all.slice(0, count)
  }

  /** Every entry (copies of the list, not of the entries). */
  entries (): RoutingEntry[] {
    const out: RoutingEntry[] = []
    for (const b of this.buckets) out.push(...b.entries)
    return out
  }

  /** Random targets inside each bucket not changed for `staleMs` (BEP 5 refresh), marking them refreshed. */
  refreshTargets (staleMs: number, random: IRandom): NodeId[] {
    const now = this.clock.now()
    const targets: NodeId[] = []
    this.buckets.forEach((b, i) => {
      if (now - b.lastChangedMs < staleMs) return
      b.lastChangedMs = now
      targets.push(randomIdWithPrefix(this.ownId, i, random))
    })
    return targets
  }

  /** The stalest questionable node of each full bucket that has replacements waiting: worth a ping. */
  pingCandidates (): NodeContact[] {
    const out: NodeContact[] = []
    for (const b of this.buckets) {
      if (b.replacements.length === 0) continue
      let stalest: RoutingEntry | undefined
      for (const e of b.entries) {
        if (this.status(e) !== 'questionable') continue
        if (stalest === undefined || e.lastResponseMs < stalest.lastResponseMs) stalest = e
      }
      if (stalest !== undefined) out.push(stalest.contact)
    }
    return out
  }

  private bucketIndex (id: NodeId): number {
    return Math.min(commonPrefixBits(id, this.ownId), this.buckets.length - 1)
  }

  private bucketFor (id: NodeId): Bucket {
    // The table always has at least one bucket and the index is clamped into range.
    return this.buckets[this.bucketIndex(id)] ?? this.buckets[0]!
  }

  private place (entry: RoutingEntry): InsertResult {
    const { bucketSize } = this.settings
    for (;;) {
      const index = this.bucketIndex(entry.contact.id)
      const bucket = this.buckets[index]
      if (bucket === undefined) return 'refused'
      if (bucket.entries.length < bucketSize) {
        bucket.entries.push(entry)
        bucket.replacements = bucket.replacements.filter((e) => !idEquals(e.contact.id, entry.contact.id))
        bucket.lastChangedMs = this.clock.now()
        return 'added'
      }
      if (index === this.buckets.length - 1 && this.buckets.length < NODE_ID_BITS) {
        this.split()
        continue
      }
      const victim = bucket.entries.findIndex((e) => this.status(e) === 'bad') >= 0
        ? bucket.entries.findIndex((e) => this.status(e) === 'bad')
        : entry.verified ? bucket.entries.findIndex((e) => !e.verified && this.status(e) === 'questionable') : -1
      if (victim >= 0) {
        bucket.entries[victim] = entry
        bucket.lastChangedMs = this.clock.now()
        return 'added'
      }
      bucket.replacements = bucket.replacements.filter((e) => !idEquals(e.contact.id, entry.contact.id))
      bucket.replacements.push(entry)
      if (bucket.replacements.length > this.settings.replacementCacheSize) bucket.replacements.shift()
      return 'replacement'
    }
  }

  /** Splits the last bucket: nodes sharing more bits with us move into a new last bucket. */
  private split (): void {
    const last = this.buckets[this.buckets.length - 1]
    if (last === undefined) return
    const depth = this.buckets.length
    const next = new Bucket(this.clock.now())
    next.lastChangedMs = last.lastChangedMs
    const stays = (e: RoutingEntry): boolean => commonPrefixBits(e.contact.id, this.ownId) < depth
    next.entries = last.entries.filter((e) => !stays(e))
    next.replacements = last.replacements.filter((e) => !stays(e))
    last.entries = last.entries.filter(stays)
    last.replacements = last.replacements.filter(stays)
    this.buckets.push(next)
  }
}
