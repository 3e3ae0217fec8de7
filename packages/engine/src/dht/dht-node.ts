/**
 * A Mainline DHT node (BEP 5, with BEP 32, 42, 43 and 51): answers other nodes, keeps a routing
 * table per address family, runs lookups, announces, and stores what others announce.
 *
 * It owns nothing but a UDP socket (usually the engine's shared socket's `krpc` channel) and a
 * clock, so the same code runs over the in-memory network under a manual clock and on real UDP.
 *
 * Safety, in one place:
 * - Every datagram goes through the bounded decoder; whatever fails is counted (`malformed`), a
 *   bad query with a transaction id gets a KRPC error, and nothing is thrown out of the handler.
 * - Queries are rate-limited per source endpoint and in total before any work is done.
 * - We send only (a) answers to queries that passed the limits, each one datagram, and (b) our own
 *   queries, which all go through {@link KrpcTransactions}' global budget; lookups are bounded in
 *   queries, and a node that queried us gets at most one verification ping. So no answer, however
 *   many addresses it lists, can make us send more than those bounds (no amplification).
 * - Nodes enter the routing table only after answering one of our queries.
 */
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import { cryptoRandom, type IRandom } from '../interfaces/random.js'
import type { IUdpSocket, UdpRemote } from '../interfaces/socket.js'
import type { PeerAddress } from '../peer/peer-address.js'
import { canonicalIp, ipFamily, type IpFamily } from '../tracker/compact-peers.js'
import { toHex } from '../util/bytes.js'
import { endpointKey, type NodeContact } from './compact-nodes.js'
import { resolveDhtSettings, type DhtSettings, type DhtSettingsInput } from './dht-settings.js'
import { decodeDhtState, encodeDhtState, type DhtState } from './dht-state.js'
import type { DhtStats } from './dht-stats.js'
import {
  decodeKrpc, encodeError, encodeQuery, KRPC_ERROR, type KrpcQuery, type KrpcQueryArgs, type KrpcResponse
} from './krpc-codec.js'
import { KrpcTransactions, type QueryOptions, type QueryOutcome } from './krpc-transactions.js'
import { Lookup, type LookupResult } from './lookup.js'
import { bep42NodeId, isBep42Exempt, isBep42Valid, randomNodeId, type NodeId } from './node-id.js'
import { PeerStore } from './peer-store.js'
import { answerQuery } from './query-responder.js'
import { SourceRateLimiter, TokenBucket } from './query-rate-limiter.js'
import { RoutingTable } from './routing-table.js'
import { TokenSecrets } from './token-secrets.js'
import { parseIp } from '../tracker/compact-peers.js'
import { hasCode, LodestoneError } from '../errors.js'

export interface DhtNodeDeps {
  /** The socket (or the shared socket's `krpc` channel); the node registers its `onMessage`. */
  socket: IUdpSocket
  clock: IClock
  /** @default cryptoRandom */
  random?: IRandom
  logger?: Logger
  /** Address families the socket can reach. @default [4] */
  families?: readonly IpFamily[]
}

export interface LookupOptions {
  /** Peers as they arrive (before the lookup ends). */
  onPeers?: (peers: PeerAddress[]) => void
  signal?: AbortSignal
}

export interface AnnounceOptions extends LookupOptions {
  /** The TCP port peers should connect to; absent: BEP 5 `implied_port` (our UDP source port). */
  port?: number
}

export interface AnnounceResult extends LookupResult {
  /** Nodes that accepted our `announce_peer`. */
  announcedTo: number
}

/** How often the node refreshes buckets, pings stale nodes and expires stored peers. */
const MAINTENANCE_INTERVAL_MS = 60_000
/** Most nodes that queried us we ping per maintenance window (verification pings, see module doc). */
const MAX_VERIFY_PINGS_TRACKED = 512
/** Lookup candidate list bound: enough for the closest k of several rounds of answers. */
const MAX_LOOKUP_CANDIDATES = 128
const MAX_LOOKUP_PEERS = 1000
/**
 * A bootstrap that leaves fewer than k nodes is repeated after this delay, doubling up to the
 * maintenance interval: nodes started together all bootstrap off a router that knew nobody yet.
 */
const BOOTSTRAP_RETRY_MS = 5_000

export class DhtNode {
  readonly settings: DhtSettings
  private readonly clock: IClock
  private readonly random: IRandom
  private readonly socket: IUdpSocket
  private readonly logger: Logger | undefined
  private readonly families: readonly IpFamily[]
  private nodeId: NodeId
  private readonly tables: Record<IpFamily, RoutingTable>
  private readonly peers: PeerStore
  private readonly tokens: TokenSecrets
  private readonly transactions: KrpcTransactions
  private readonly sourceLimiter: SourceRateLimiter
  private readonly replyBudget: TokenBucket
  private readonly savedNodes: NodeContact[]
  /** The saved nodes were asked and none answered: lookups fall back to the routers. */
  private savedNodesFailed = false
  private readonly verifyPinged = new Set<string>()
  private readonly ipVotes = new Map<string, Set<string>>()
  private externalIp: string | null = null
  private maintenanceTimer: ITimer | undefined
  private started = false
  private closed = false
  private bootstrapping: Promise<void> | undefined
  private bootstrapRetryMs = BOOTSTRAP_RETRY_MS
  private bootstrapTimer: ITimer | undefined
  private readonly counters = {
    lookups: 0, lookupsActive: 0, queriesIn: 0, repliesOut: 0, responsesIn: 0, errorsIn: 0, malformed: 0, rateLimited: 0, announcesIn: 0
  }

  constructor (deps: DhtNodeDeps, settings: DhtSettingsInput = {}, state: unknown = null) {
    this.settings = resolveDhtSettings(settings)
    this.clock = deps.clock
    this.random = deps.random ?? cryptoRandom
    this.socket = deps.socket
    this.logger = deps.logger
    this.families = deps.families ?? [4]
    const restored = decodeDhtState(state, this.settings.savedNodes)
    this.nodeId = restored?.id ?? randomNodeId(this.random)
    this.savedNodes = restored?.nodes ?? []
    this.tables = {
      4: new RoutingTable(this.nodeId, this.clock, this.settings.routingTable),
      6: new RoutingTable(this.nodeId, this.clock, this.settings.routingTable)
    }
    this.peers = new PeerStore(this.clock, this.random, this.settings.peerStore)
    this.tokens = new TokenSecrets(this.clock, this.random, this.settings.tokenRotateMs)
    this.transactions = new KrpcTransactions(this.clock, this.random, {
      slowMs: this.settings.querySlowMs,
      timeoutMs: this.settings.queryTimeoutMs,
      maxInFlight: this.settings.maxQueriesInFlight,
      perSec: this.settings.maxQueriesPerSec,
      maxQueued: this.settings.maxQueriesInFlight * 8
    }, (data, host, port) => { this.socket.send(data, host, port) })
    this.sourceLimiter = new SourceRateLimiter({ perSecond: this.settings.incomingQueriesPerSourcePerSec, burst: this.settings.incomingQueriesPerSourceBurst })
    this.replyBudget = new TokenBucket({ perSecond: this.settings.maxRepliesPerSec, burst: Math.max(1, this.settings.maxRepliesPerSec) }, this.clock.now())
  }

  /** Our node id (a copy). */
  get id (): NodeId { return Uint8Array.from(this.nodeId) }

  /** The UDP port we answer on. */
  get port (): number { return this.socket.port }

  /**
   * Starts answering and maintaining the table, and bootstraps in the background (from the saved
   * state's nodes first, then `bootstrapNodes`). Idempotent.
   */
  start (): void {
    if (this.started || this.closed) return
    this.started = true
    this.socket.onMessage((data, remote) => { this.onDatagram(data, remote) })
    this.maintenanceTimer = this.clock.setInterval(() => { this.maintain() }, MAINTENANCE_INTERVAL_MS)
    void this.bootstrap()
  }

  /** Resolves when the current bootstrap has finished (whether or not it found nodes). */
  async bootstrap (): Promise<void> {
    if (this.bootstrapping !== undefined) return this.bootstrapping
    this.bootstrapping = this.runBootstrap().finally(() => {
      this.bootstrapping = undefined
      if (this.closed || this.nodeCount >= this.settings.lookupResultNodes || this.bootstrapTimer !== undefined) return
      this.bootstrapTimer = this.clock.setTimeout(() => { this.bootstrapTimer = undefined; void this.bootstrap() }, this.bootstrapRetryMs)
      this.bootstrapRetryMs = Math.min(this.bootstrapRetryMs * 2, MAINTENANCE_INTERVAL_MS)
    })
    return this.bootstrapping
  }

  /** Nodes in the routing tables. */
  get nodeCount (): number { return this.tables[4].size + this.tables[6].size }

  /** Finds peers of `infoHash` (BEP 5 get_peers lookup). Never rejects. */
  async getPeers (infoHash: NodeId, options: LookupOptions = {}): Promise<LookupResult> {
    return this.lookup(infoHash, 'get_peers', { info_hash: infoHash }, options)
  }

  /** A get_peers lookup, then `announce_peer` to the closest nodes that gave a token (at most k). */
  async announce (infoHash: NodeId, options: AnnounceOptions = {}): Promise<AnnounceResult> {
    const result = await this.getPeers(infoHash, options)
    if (this.settings.readOnly || this.closed) return { ...result, announcedTo: 0 }
    const args: KrpcQueryArgs = options.port === undefined
      ? { info_hash: infoHash, implied_port: 1, port: this.socket.port }
      : { info_hash: infoHash, port: options.port }
    const outcomes = await Promise.all(result.closest.filter((r) => r.token !== undefined).slice(0, this.settings.lookupResultNodes)
      .map(async (r) => this.query(r.contact.host, r.contact.port, 'announce_peer', { ...args, ...(r.token === undefined ? {} : { token: r.token }) })))
    return { ...result, announcedTo: outcomes.filter((o) => o.kind === 'response').length }
  }

  /** A find_node lookup for `target`. Never rejects. */
  async findNode (target: NodeId, options: LookupOptions = {}): Promise<LookupResult> {
    return this.lookup(target, 'find_node', { target }, options)
  }

  /** Pings host:port; on an answer the node enters the routing table. The node's contact, or null. */
  async ping (host: string, port: number): Promise<NodeContact | null> {
    const outcome = await this.query(host, port, 'ping', {})
    if (outcome.kind !== 'response') return null
    return { id: outcome.response.id, host: canonicalIp(outcome.from.address) ?? outcome.from.address, port: outcome.from.port }
  }

  /** BEP 51 client side: asks host:port for a sample of the info hashes it stores. */
  async sampleInfohashes (host: string, port: number, target: NodeId): Promise<KrpcResponse | null> {
    const outcome = await this.query(host, port, 'sample_infohashes', { target })
    return outcome.kind === 'response' ? outcome.response : null
  }

  /** Id and a sample of good nodes, for the session store (`dht:state`). */
  saveState (): DhtState {
    const nodes: NodeContact[] = []
    for (const family of [4, 6] as const) {
      for (const e of this.tables[family].entries()) if (this.tables[family].status(e) === 'good') nodes.push(e.contact)
    }
    return encodeDhtState(this.nodeId, nodes.slice(0, this.settings.savedNodes))
  }

  stats (): DhtStats {
    let good = 0
    let buckets = 0
    for (const family of [4, 6] as const) {
      const table = this.tables[family]
      buckets += table.bucketCount
      for (const e of table.entries()) if (table.status(e) === 'good') good++
    }
    return {
      nodeId: toHex(this.nodeId),
      nodes: this.nodeCount,
      nodes4: this.tables[4].size,
      nodes6: this.tables[6].size,
      goodNodes: good,
      buckets,
      lookups: this.counters.lookups,
      lookupsActive: this.counters.lookupsActive,
      queriesIn: this.counters.queriesIn,
      queriesOut: this.transactions.sent,
      repliesOut: this.counters.repliesOut,
      responsesIn: this.counters.responsesIn,
      errorsIn: this.counters.errorsIn,
      timeouts: this.transactions.timeouts,
      malformed: this.counters.malformed,
      rateLimited: this.counters.rateLimited,
      unmatched: this.transactions.unmatched,
      announcesIn: this.counters.announcesIn,
      storedPeers: this.peers.peerCount,
      storedTorrents: this.peers.torrentCount,
      externalIp: this.externalIp
    }
  }

  /** Stops timers and pending queries (their lookups end with what they have). The socket is the owner's. Idempotent. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.maintenanceTimer?.cancel()
    this.bootstrapTimer?.cancel()
    this.transactions.close()
  }

  // --- incoming -------------------------------------------------------------------------------

  /** The socket handler: never throws (hostile input is counted and dropped). */
  private onDatagram (data: Uint8Array, remote: UdpRemote): void {
    if (this.closed) return
    try {
      this.handleDatagram(data, remote)
    } catch (error) {
      // Only our decoder's typed errors are expected here; anything else is a bug, logged, not rethrown.
      this.counters.malformed++
      if (!hasCode(error, 'DHT_MESSAGE_INVALID') && this.logger?.enabled('warn') === true) {
        this.logger.warn('dht handler failed', { error: String(error) })
      }
    }
  }

  private handleDatagram (data: Uint8Array, remote: UdpRemote): void {
    const host = canonicalIp(remote.address) ?? remote.address
    const from = { host, port: remote.port }
    let message
    try {
      message = decodeKrpc(data, this.settings.limits)
    } catch (error) {
      this.counters.malformed++
      if (error instanceof LodestoneError && error.code === 'DHT_MESSAGE_INVALID') {
        const details = (error as LodestoneError<'DHT_MESSAGE_INVALID'>).details
        // A malformed query still gets a KRPC error (BEP 5: 203), within the same limits as answers.
        if (details.query && details.transactionId !== null && !this.settings.readOnly && this.admitQuery(from)) {
          const t = Uint8Array.from((details.transactionId.match(/../g) ?? []).map((h) => parseInt(h, 16)))
          this.reply(encodeError(t, KRPC_ERROR.protocol, details.reason), from)
        }
      }
      return
    }
    if (message.kind === 'query') {
      this.counters.queriesIn++
      this.onQuery(message, from)
      return
    }
    if (message.kind === 'error') this.counters.errorsIn++
    else this.counters.responsesIn++
    this.transactions.resolve(message, remote)
  }

  private admitQuery (from: PeerAddress): boolean {
    const now = this.clock.now()
    if (!this.sourceLimiter.allow(endpointKey(from.host, from.port), now) || !this.replyBudget.take(now)) {
      this.counters.rateLimited++
      return false
    }
    return true
  }

  private onQuery (query: KrpcQuery, from: PeerAddress): void {
    // BEP 43: a read-only node does not answer.
    if (this.settings.readOnly) return
    if (!this.admitQuery(from)) return
    const answer = answerQuery({
      ownId: () => this.nodeId,
      tables: this.tables,
      peers: this.peers,
      tokens: this.tokens,
      settings: this.settings,
      onAnnounce: () => { this.counters.announcesIn++ }
    }, query, from)
    this.reply(answer, from)
    if (!query.readOnly) this.considerQuerier({ id: query.id, host: from.host, port: from.port })
  }

  private reply (data: Uint8Array, to: PeerAddress): void {
    this.counters.repliesOut++
    this.socket.send(data, to.host, to.port)
  }

  /** A node that queried us enters the table only after answering a ping (one ping per endpoint per maintenance window). */
  private considerQuerier (contact: NodeContact): void {
    const family = ipFamily(contact.host)
    if (family === null || !this.families.includes(family)) return
    const table = this.tables[family]
    if (table.heardQueryFrom(contact) || !table.hasRoomFor(contact.id)) return
    const key = endpointKey(contact.host, contact.port)
    if (this.verifyPinged.has(key) || this.verifyPinged.size >= MAX_VERIFY_PINGS_TRACKED) return
    this.verifyPinged.add(key)
    void this.ping(contact.host, contact.port)
  }

  // --- outgoing -------------------------------------------------------------------------------

  /** Sends one query; answers update the routing table and the external-IP votes. Never rejects. */
  private async query (host: string, port: number, method: string, args: KrpcQueryArgs, options: QueryOptions = {}): Promise<QueryOutcome> {
    if (this.closed) return { kind: 'dropped' }
    const want = this.families.length > 1 ? { want: ['n4', 'n6'] } : {}
    const outcome = await this.transactions.query(host, port,
      (t) => encodeQuery(t, method, this.nodeId, { ...want, ...args }, this.settings.readOnly), options)
    if (outcome.kind === 'response') {
      const from = canonicalIp(outcome.from.address) ?? outcome.from.address
      const family = ipFamily(from)
      if (family !== null) this.tables[family].heardFrom({ id: outcome.response.id, host: from, port: outcome.from.port })
      if (outcome.response.ip !== undefined) this.voteExternalIp(outcome.response.ip.host, endpointKey(from, outcome.from.port))
    } else if (outcome.kind === 'timeout') {
      const family = ipFamily(host)
      if (family !== null) {
        const entry = this.tables[family].entries().find((e) => e.contact.host === host && e.contact.port === port)
        if (entry !== undefined) this.tables[family].failed(entry.contact.id)
      }
    }
    return outcome
  }

  private async lookup (target: NodeId, method: 'get_peers' | 'find_node', args: KrpcQueryArgs, options: LookupOptions): Promise<LookupResult> {
    const k = this.settings.lookupResultNodes
    const seeds = [...this.tables[4].closest(target, k * 2), ...this.tables[6].closest(target, k * 2)]
    // A thin table borrows bootstrap contacts: the saved nodes while they may still answer (after a
    // restart the routers are not needed), else the routers.
    const routers = this.nodeCount >= k ? [] : this.savedNodes.length > 0 && !this.savedNodesFailed ? this.savedEndpoints() : this.routerEndpoints()
    return this.runLookup(target, method, args, options, seeds, routers)
  }

  private async runLookup (target: NodeId, method: 'get_peers' | 'find_node', args: KrpcQueryArgs, options: LookupOptions,
    seeds: readonly NodeContact[], routers: ReadonlyArray<{ host: string, port: number }>): Promise<LookupResult> {
    this.counters.lookups++
    this.counters.lookupsActive++
    const lookup = new Lookup(target, {
      query: async (host, port, queryOptions) => this.query(host, port, method, args, queryOptions),
      nodesOf: (r) => [...(this.families.includes(4) ? r.nodes : []), ...(this.families.includes(6) ? r.nodes6 : [])],
      ownId: this.nodeId,
      ...(options.onPeers === undefined ? {} : { onPeers: options.onPeers }),
      ...(options.signal === undefined ? {} : { signal: options.signal })
    }, {
      concurrency: this.settings.lookupConcurrency,
      resultNodes: this.settings.lookupResultNodes,
      maxQueries: this.settings.maxQueriesPerLookup,
      maxCandidates: MAX_LOOKUP_CANDIDATES,
      maxPeers: MAX_LOOKUP_PEERS
    })
    try {
      return await lookup.run(seeds, routers)
    } finally {
      this.counters.lookupsActive--
    }
  }

  private savedEndpoints (): Array<{ host: string, port: number }> {
    return this.savedNodes.map((n) => ({ host: n.host, port: n.port }))
  }

  /** `bootstrapNodes` as endpoints (malformed entries skipped). */
  private routerEndpoints (): Array<{ host: string, port: number }> {
    const out: Array<{ host: string, port: number }> = []
    for (const text of this.settings.bootstrapNodes) {
      const colon = text.lastIndexOf(':')
      if (colon <= 0) continue
      const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
      const port = Number(text.slice(colon + 1))
      if (!Number.isInteger(port) || port < 1 || port > 65535 || host.length === 0) continue
      const family = ipFamily(host)
      if (family !== null && !this.families.includes(family)) continue
      out.push({ host: canonicalIp(host) ?? host, port })
    }
    return out
  }

  private async runBootstrap (): Promise<void> {
    // Saved nodes first: after a restart they usually suffice and the routers are never asked.
    if (this.savedNodes.length > 0 && !this.savedNodesFailed) {
      await this.runLookup(this.nodeId, 'find_node', { target: this.nodeId }, {}, [], this.savedEndpoints())
      if (this.nodeCount > 0 || this.closed) return
      this.savedNodesFailed = true
    }
    await this.runLookup(this.nodeId, 'find_node', { target: this.nodeId }, {}, [], this.routerEndpoints())
  }

  private maintain (): void {
    if (this.closed) return
    this.verifyPinged.clear()
    this.peers.expire()
    if (this.nodeCount === 0) { void this.bootstrap(); return }
    for (const family of this.families) {
      const table = this.tables[family]
      for (const target of table.refreshTargets(this.settings.bucketRefreshMs, this.random)) void this.findNode(target)
      for (const contact of table.pingCandidates()) void this.ping(contact.host, contact.port)
    }
  }

  /**
   * BEP 42: once `externalIpVotes` distinct nodes report the same address for us, adopt it, and
   * take an id derived from it if ours does not match (keeping our place otherwise).
   */
  private voteExternalIp (address: string, voter: string): void {
    const ip = canonicalIp(address)
    if (ip === null || ip === this.externalIp) return
    if (this.ipVotes.size > 16) this.ipVotes.clear()
    const voters = this.ipVotes.get(ip) ?? new Set<string>()
    voters.add(voter)
    this.ipVotes.set(ip, voters)
    if (voters.size < this.settings.externalIpVotes) return
    this.externalIp = ip
    this.ipVotes.clear()
    const bytes = parseIp(ip)
    if (bytes === null || isBep42Exempt(bytes) || isBep42Valid(this.nodeId, ip)) return
    this.nodeId = bep42NodeId(ip, this.random)
    this.tables[4].setOwnId(this.nodeId)
    this.tables[6].setOwnId(this.nodeId)
    this.logger?.info('dht node id derived from external ip (BEP 42)', { ip, nodeId: toHex(this.nodeId) })
  }
}
