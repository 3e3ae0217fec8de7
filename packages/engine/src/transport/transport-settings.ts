/**
 * Which transports peer connections use (section `transport` of EngineSettings). Kept apart from
 * the dialer so `EngineSettings` can hold it without importing it (no cycle through session/).
 */

export interface TransportSettings {
  /** Dial peers over TCP and accept incoming TCP connections. @default true */
  tcp: boolean
  /** Dial peers over uTP (BEP 29) and accept incoming uTP connections on the UDP port. @default true */
  utp: boolean
  /**
   * A uTP dial made alone (the peer answered over uTP before, or `tcp` is off and nothing else is
   * tried) gives up after this and, when TCP is on, TCP is dialled instead. Short, because a
   * TCP-only peer drops uTP SYNs silently (libtorrent waits 4.5 s before falling back). @default 2_000
   */
  utpConnectTimeoutMs: number
  /**
   * When both are dialled at once and TCP connects first, TCP is used at once, but for at most
   * this long (and only until the peer's first byte over TCP) the connection still moves to uTP if
   * uTP answers: uTP is preferred (LEDBAT yields to other traffic), and a uTP-only peer accepts TCP
   * and closes it. @default 500
   */
  utpGraceMs: number
  /**
   * LEDBAT's target queueing delay for uTP connections (BEP 29): a uTP flow backs off once the
   * path's queue exceeds this, so TCP flows that keep a deeper queue get the bandwidth. Applies
   * to open connections at once. @default 100
   */
  utpTargetDelayMs: number
}

export const defaultTransportSettings: Readonly<TransportSettings> = {
  tcp: true,
  utp: true,
  utpConnectTimeoutMs: 2_000,
  utpGraceMs: 500,
  utpTargetDelayMs: 100
}
