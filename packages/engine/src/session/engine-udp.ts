/**
 * The engine's one UDP socket: bound on the TCP listener's port and host once the engine listens,
 * demultiplexed by {@link UdpMux} into channels — uTP (peer connections), the UDP tracker client
 * and KRPC (the DHT takes its channel through {@link EngineUdp.channel}) — and the peer dialer
 * that picks TCP or uTP on it.
 *
 * Why the same port as TCP: peers learn one port (the BEP 10 `p`, tracker announces, PEX) and
 * other clients try uTP and the DHT on it, as libtorrent and Transmission listen.
 *
 * A failed bind (the UDP port taken by another program) leaves the engine TCP-only with a
 * warning; it is not fatal. The socket's address family follows the listen host; on all
 * interfaces it serves both families when the socket is dual-stack (the Node adapter's is, where
 * the host has IPv6), else IPv4. uTP and the tracker channel are offered only for addresses of a
 * family the socket serves.
 */
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import type { ISocketFactory, ITcpSocket, IUdpSocket } from '../interfaces/socket.js'
import { ipFamily, type IpFamily } from '../tracker/compact-peers.js'
import { UdpMux, type UdpChannel, type UdpChannelKind, type UdpMuxStats } from '../transport/udp-mux.js'
import { PeerDialer } from '../transport/peer-dialer.js'
import type { TransportSettings } from '../transport/transport-settings.js'
import { UtpManager } from '../transport/utp/utp-manager.js'
import type { UtpStats } from '../transport/utp/utp-stats.js'

export interface EngineUdpDeps {
  socketFactory: ISocketFactory
  clock: IClock
  random: IRandom
  /** Read when bound and on `applySettings()`. */
  settings: () => TransportSettings
  /** An incoming uTP connection (once it sent data); routed like an accepted TCP socket. */
  onIncomingUtp: (socket: ITcpSocket) => void
  logger?: Logger
}

/** Counters of the UDP socket and of uTP; null before the socket is bound. */
export interface EngineUdpStats {
  port: number
  mux: UdpMuxStats
  utp: UtpStats
}

export class EngineUdp {
  /** Dials peers over TCP and/or uTP on this socket (see peer-dialer.ts). */
  readonly dialer: PeerDialer
  private mux: UdpMux | null = null
  private utpManager: UtpManager | null = null
  private families: readonly IpFamily[] = [4]
  private closed = false

  constructor (private readonly deps: EngineUdpDeps) {
    this.dialer = new PeerDialer({
      socketFactory: deps.socketFactory,
      clock: deps.clock,
      utpFor: (host) => this.utpFor(host),
      settings: deps.settings,
      ...(deps.logger !== undefined ? { logger: deps.logger.child('dialer') } : {})
    })
  }

  /** The bound UDP port, or null. */
  get port (): number | null { return this.mux?.port ?? null }

  /**
   * Binds the socket on `port` (the TCP listener's) and `host` ('' = all interfaces). Idempotent.
   * @throws whatever the socket factory throws (LISTEN_FAILED)
   */
  async bind (port: number, host: string): Promise<void> {
    if (this.closed || this.mux !== null) return
    const socket: IUdpSocket = await this.deps.socketFactory.bindUdp(port, host === '' ? undefined : host)
    if (this.closed || this.mux !== null) {
      socket.close()
      return
    }
    this.families = host === '' ? (socket.dualStack === true ? [4, 6] : [4]) : [ipFamily(host) ?? 4]
    const logger = this.deps.logger
    this.mux = new UdpMux(socket, logger !== undefined ? { logger } : {})
    const utp = new UtpManager({
      channel: this.mux.channel('utp'),
      clock: this.deps.clock,
      random: this.deps.random,
      ...(logger !== undefined ? { logger: logger.child('utp') } : {})
    }, { targetDelayMs: this.deps.settings().utpTargetDelayMs })
    utp.setAcceptIncoming(this.deps.settings().utp)
    utp.onConnection((s) => { this.deps.onIncomingUtp(s) })
    this.utpManager = utp
  }

  /**
   * The channel of `kind` on the engine's UDP socket, or null before it is bound (the DHT takes
   * 'krpc'; uTP and the tracker client have theirs already). One channel per kind.
   */
  channel (kind: UdpChannelKind): UdpChannel | null {
    return this.mux?.channel(kind) ?? null
  }

  /** The tracker client's channel when the socket can reach trackers of `family`, else null. */
  trackerChannel (family: IpFamily): UdpChannel | null {
    return this.families.includes(family) ? this.channel('tracker') : null
  }

  /** The uTP manager when uTP can reach `host` (bound, same address family), else null. */
  utpFor (host: string): UtpManager | null {
    if (this.utpManager === null) return null
    const family = ipFamily(host)
    // Names that are not IP literals (the memory network's hosts) are left to the socket.
    return family === null || this.families.includes(family) ? this.utpManager : null
  }

  /** Applies `transport.utp` to incoming SYNs and `transport.utpTargetDelayMs` to LEDBAT (dials read the settings themselves). */
  applySettings (): void {
    const settings = this.deps.settings()
    this.utpManager?.setAcceptIncoming(settings.utp)
    this.utpManager?.setTargetDelayMs(settings.utpTargetDelayMs)
  }

  stats (): EngineUdpStats | null {
    if (this.mux === null || this.utpManager === null) return null
    return { port: this.mux.port, mux: this.mux.stats(), utp: this.utpManager.stats() }
  }

  /** Resets every uTP connection and closes the socket. Idempotent. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.utpManager?.close()
    this.mux?.close()
  }
}
