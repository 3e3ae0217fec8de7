/**
 * Connection limits and their defaults. Kept apart from the class that uses them, so
 * `EngineSettings` can hold them without importing it (no import cycle through session/).
 */
/** Connection limits and connect-queue policy. */
export interface ConnectionSettings {
  /** Open connections across all torrents, dials included (not incoming ones still in their handshake). @default 200 */
  maxConnections: number
  /**
   * Incoming connections whose handshake has not named a torrent yet. They have their own budget
   * so that silent or slow connections never take the slots of established peers; when it is full
   * the oldest of them makes room for the newest (an honest handshake takes a round trip, a silent
   * one waits for its deadline). @default 100
   */
  maxPendingIncoming: number
  /** Open connections per torrent. @default 50 */
  maxConnectionsPerTorrent: number
  /** Outgoing dials in flight at once (OS SYN backlog and NAT tables suffer beyond this). @default 8 */
  maxHalfOpen: number
  /** A dial that takes longer fails. @default 10_000 */
  connectTimeoutMs: number
  /** Candidate addresses queued per torrent; further ones are dropped (and counted). @default 1_000 */
  maxCandidatesPerTorrent: number
  /** Wait before re-dialling an address that failed; doubles per failure. @default 30_000 */
  retryBackoffMs: number
  /** Dial attempts per address before it is forgotten. @default 3 */
  maxConnectAttempts: number
  /**
   * Wait before re-dialling a peer that hung up after a good handshake (doubling per hang-up;
   * once that reaches `retryBackoffMs` hang-ups count as failed attempts). Short, because such a
   * peer was reachable a moment ago: Transmission drops and restarts a magnet torrent once it has
   * the metadata, then waits to be dialled again. @default 2_000
   */
  reconnectDelayMs: number
  /**
   * Dials per second, per torrent, to addresses learned only through peer exchange (BEP 11). They
   * wait behind every other candidate: a PEX round in a big swarm names hundreds of peers at once,
   * most of them as full as we are, and dialling them all at once turns into connection churn
   * (refusals, BEP 40 evictions) instead of transfer. libtorrent ranks PEX peers last and paces
   * its dials the same way (`connection_speed`). @default 2
   */
  pexDialsPerSecond: number
}

export const defaultConnectionSettings: Readonly<ConnectionSettings> = {
  maxConnections: 200,
  maxPendingIncoming: 100,
  maxConnectionsPerTorrent: 50,
  maxHalfOpen: 8,
  connectTimeoutMs: 10_000,
  maxCandidatesPerTorrent: 1_000,
  retryBackoffMs: 30_000,
  maxConnectAttempts: 3,
  reconnectDelayMs: 2_000,
  pexDialsPerSecond: 2
}
