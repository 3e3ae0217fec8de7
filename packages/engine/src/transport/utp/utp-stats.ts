/** Counters of one uTP manager (all connections), for `stats()` and the bench's write-up. */
export interface UtpStats {
  packetsIn: number
  packetsOut: number
  payloadBytesIn: number
  payloadBytesOut: number
  /** Datagrams that failed to parse (short, wrong version or type, broken extension chain). */
  invalidPackets: number
  /** Well-formed packets for no known connection (not a SYN). */
  unknownConnection: number
  /** Packets with an ack for data never sent, or a sequence number outside the receive window. */
  outOfWindow: number
  /** Data packets received twice (already acknowledged or already buffered). */
  duplicatePackets: number
  /** Data dropped because the sender overran the advertised window. */
  overflowDropped: number
  synReceived: number
  /** SYNs dropped: too many connections or half-open connections, or not accepting. */
  synDropped: number
  /** Half-open connections forgotten because no data came. */
  halfOpenExpired: number
  accepted: number
  connected: number
  connectFailed: number
  retransmits: number
  fastRetransmits: number
  timeouts: number
  resetsIn: number
  resetsOut: number
  /** Exceptions thrown by application callbacks (caught; the connection is closed). */
  handlerErrors: number
  /** Connections open now, and of those, accepted ones still waiting for their first data. */
  connections: number
  halfOpen: number
}

export type UtpCounters = Omit<UtpStats, 'connections' | 'halfOpen'>

export function newUtpCounters (): UtpCounters {
  return {
    packetsIn: 0,
    packetsOut: 0,
    payloadBytesIn: 0,
    payloadBytesOut: 0,
    invalidPackets: 0,
    unknownConnection: 0,
    outOfWindow: 0,
    duplicatePackets: 0,
    overflowDropped: 0,
    synReceived: 0,
    synDropped: 0,
    halfOpenExpired: 0,
    accepted: 0,
    connected: 0,
    connectFailed: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    resetsIn: 0,
    resetsOut: 0,
    handlerErrors: 0
  }
}
