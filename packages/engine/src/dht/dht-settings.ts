/**
 * DHT settings (`EngineSettings.dht`). The defaults are the real-world ones (public bootstrap
 * routers): every test and local run passes loopback `bootstrapNodes` or turns the DHT off.
 */
import { defaultKrpcLimits, type KrpcLimits } from './krpc-codec.js'
import { defaultPeerStoreSettings, type PeerStoreSettings } from './peer-store.js'
import { defaultRoutingTableSettings, type RoutingTableSettings } from './routing-table.js'

export interface DhtSettings {
  /** Run the DHT (non-private torrents only). @default true */
  enabled: boolean
  /**
   * `host:port` of nodes to bootstrap from when the table is empty (after the saved state's nodes).
   * @default the public routers: router.bittorrent.com:6881, dht.transmissionbt.com:6881,
   *   router.utorrent.com:6881, dht.libtorrent.org:25401
   */
  bootstrapNodes: string[]
  /** BEP 43: query only, never answer, and ask others not to add us. @default false */
  readOnly: boolean
  /** Queries in flight per lookup (Kademlia's α). @default 3 */
  lookupConcurrency: number
  /** A lookup stops when this many closest nodes have answered (Kademlia's K). @default 8 */
  lookupResultNodes: number
  /** Most nodes one lookup queries (bounds what one bad answer can make us send). @default 64 */
  maxQueriesPerLookup: number
  /** A query unanswered after this long stops holding a lookup slot (libtorrent's short time-out). @default 1_000 */
  querySlowMs: number
  /** A query unanswered after this long failed. @default 5_000 */
  queryTimeoutMs: number
  /** Most queries in flight over all lookups and pings. @default 128 */
  maxQueriesInFlight: number
  /** Queries we send per second, sustained (a global budget; lookups wait for it). @default 200 */
  maxQueriesPerSec: number
  /** Queries a single source endpoint may make per second, sustained. @default 5 */
  incomingQueriesPerSourcePerSec: number
  /** Burst allowed per source endpoint. @default 20 */
  incomingQueriesPerSourceBurst: number
  /** Queries answered per second from everyone together. @default 500 */
  maxRepliesPerSec: number
  /** Buckets not changed for this long are refreshed with a lookup (BEP 5: 15 minutes). @default 900_000 */
  bucketRefreshMs: number
  /** Announce-token secret rotation (BEP 5: 5 minutes). @default 300_000 */
  tokenRotateMs: number
  /** Samples per BEP 51 answer. @default 20 */
  sampleInfohashesCount: number
  /** BEP 51 `interval`: seconds before asking again. @default 21_600 */
  sampleInfohashesIntervalSec: number
  /** Distinct nodes that must report the same external IP before we believe it (BEP 42). @default 3 */
  externalIpVotes: number
  /** Largest good-node sample kept in the saved state. @default 64 */
  savedNodes: number
  routingTable: RoutingTableSettings
  peerStore: PeerStoreSettings
  limits: KrpcLimits
}

/** The well-known public bootstrap routers (issue 10). */
export const PUBLIC_DHT_ROUTERS: readonly string[] = [
  'router.bittorrent.com:6881',
  'dht.transmissionbt.com:6881',
  'router.utorrent.com:6881',
  'dht.libtorrent.org:25401'
]

export const defaultDhtSettings: Readonly<DhtSettings> = {
  enabled: true,
  bootstrapNodes: [...PUBLIC_DHT_ROUTERS],
  readOnly: false,
  lookupConcurrency: 3,
  lookupResultNodes: 8,
  maxQueriesPerLookup: 64,
  querySlowMs: 1_000,
  queryTimeoutMs: 5_000,
  maxQueriesInFlight: 128,
  maxQueriesPerSec: 200,
  incomingQueriesPerSourcePerSec: 5,
  incomingQueriesPerSourceBurst: 20,
  maxRepliesPerSec: 500,
  bucketRefreshMs: 15 * 60_000,
  tokenRotateMs: 5 * 60_000,
  sampleInfohashesCount: 20,
  sampleInfohashesIntervalSec: 21_600,
  externalIpVotes: 3,
  savedNodes: 64,
  routingTable: { ...defaultRoutingTableSettings },
  peerStore: { ...defaultPeerStoreSettings },
  limits: { ...defaultKrpcLimits }
}

/** Settings as a caller may give them: any subset, nested sections too. */
export type DhtSettingsInput = Partial<Omit<DhtSettings, 'routingTable' | 'peerStore' | 'limits'>> & {
  routingTable?: Partial<RoutingTableSettings>
  peerStore?: Partial<PeerStoreSettings>
  limits?: Partial<KrpcLimits>
}

/** Defaults overlaid with `input` (sections merged key by key). */
export function resolveDhtSettings (input: DhtSettingsInput = {}): DhtSettings {
  return {
    ...defaultDhtSettings,
    ...input,
    bootstrapNodes: [...(input.bootstrapNodes ?? defaultDhtSettings.bootstrapNodes)],
    routingTable: { ...defaultDhtSettings.routingTable, ...input.routingTable },
    peerStore: { ...defaultDhtSettings.peerStore, ...input.peerStore },
    limits: { ...defaultDhtSettings.limits, ...input.limits }
  }
}
