/** Counters and gauges of one DHT node (`DhtNode.stats()`), for the engine's stats and the CLI. */
export interface DhtStats {
  /** Our node id, hex. */
  nodeId: string
  /** Nodes in the routing tables (IPv4 + IPv6), and per family. */
  nodes: number
  nodes4: number
  nodes6: number
  /** Of them, good ones (answered within 15 minutes). */
  goodNodes: number
  buckets: number
  /** Lookups started, and running now. */
  lookups: number
  lookupsActive: number
  queriesIn: number
  queriesOut: number
  repliesOut: number
  responsesIn: number
  errorsIn: number
  timeouts: number
  /** Datagrams that were not valid KRPC (counted, dropped or answered with a KRPC error). */
  malformed: number
  /** Queries dropped by the per-source or global rate limits. */
  rateLimited: number
  /** Answers that matched none of our queries. */
  unmatched: number
  announcesIn: number
  /** Peers and info hashes in the store of announces we received. */
  storedPeers: number
  storedTorrents: number
  /** Our external IP as agreed by other nodes (BEP 42), or null. */
  externalIp: string | null
}
