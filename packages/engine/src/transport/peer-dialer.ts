/**
 * Dials a peer over TCP, uTP or both, under the `transport` settings, and remembers per peer
 * which one worked.
 *
 * Why a race and not "uTP, then TCP": a TCP-only peer drops uTP SYNs without a word, so trying
 * uTP first costs a whole connect time-out (libtorrent waits 4.5 s); a uTP-only libtorrent accepts
 * TCP and closes it before a byte, so TCP first loses the peer. A peer we know nothing about is
 * therefore dialled both ways at once. When uTP answers first it is used; when TCP connects first
 * it is used at once (no wait), as a {@link RaceSocket} that moves the connection to uTP if uTP
 * answers before the peer's first TCP byte, or if the peer closes TCP unread (the uTP-only case).
 * A peer whose transport is known is dialled that way alone (uTP with the short
 * `utpConnectTimeoutMs`), falling back to the other transport on failure and forgetting what it
 * knew. A peer we have only heard supports uTP (PEX flag 0x04, {@link PeerDialer.hintUtp}) is
 * dialled as one known to answer over uTP: uTP first, alone, then TCP — no TCP connection to race
 * and drop, and the connection is uTP (LEDBAT) whenever the peer can do it.
 *
 * Sockets carry their transport (`ITcpSocket.transport`, 'utp' on uTP connections), so nothing
 * above the dialer needs to know which one it got.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { ConnectOptions, ISocketFactory, ITcpSocket, PeerTransport } from '../interfaces/socket.js'
import { RaceSocket } from './race-socket.js'
import type { TransportSettings } from './transport-settings.js'

/** What the dialer needs of a uTP manager. */
export interface UtpDialer {
  /** @throws PEER_CONNECT_FAILED, ABORTED, CLOSED */
  connect (host: string, port: number, options?: { signal?: AbortSignal, timeoutMs?: number }): Promise<ITcpSocket>
}

export interface PeerDialerDeps {
  socketFactory: ISocketFactory
  clock: IClock
  /** The uTP manager that can reach `host`, or null (no UDP socket, or another address family). */
  utpFor: (host: string) => UtpDialer | null
  /** Read on every dial: run-time changes apply. */
  settings: () => TransportSettings
  logger?: Logger
}

/** Counters for stats and tests. */
export interface PeerDialerStats {
  /** Dials that ended with a TCP / uTP connection. */
  tcpConnections: number
  utpConnections: number
  /** Dials that tried both transports at once. */
  races: number
  /** TCP connections dropped because uTP answered first, or the peer closed them unread. */
  tcpDiscarded: number
  /** Dials of a remembered transport that failed and went on with the other one. */
  fallbacks: number
}

/** Peers whose transport is remembered; the oldest are forgotten first. */
const MAX_REMEMBERED_PEERS = 4_096

export class PeerDialer {
  private readonly remembered = new Map<string, PeerTransport>()
  /** Peers said to support uTP that we have not dialled yet (insertion order: oldest first). */
  private readonly utpHints = new Set<string>()
  private readonly counters: PeerDialerStats = { tcpConnections: 0, utpConnections: 0, races: 0, tcpDiscarded: 0, fallbacks: 0 }

  constructor (private readonly deps: PeerDialerDeps) {}

  stats (): PeerDialerStats {
    return { ...this.counters }
  }

  /** The transport that last worked for `host:port`, if known. */
  knownTransport (host: string, port: number): PeerTransport | undefined {
    return this.remembered.get(`${host}:${port}`)
  }

  /**
   * Someone told us `host:port` supports uTP (a PEX flag): unless we already know what works for
   * it, its next dial tries uTP first, alone.
   */
  hintUtp (host: string, port: number): void {
    const key = `${host}:${port}`
    if (this.remembered.has(key) || this.utpHints.has(key)) return
    this.utpHints.add(key)
    if (this.utpHints.size > MAX_REMEMBERED_PEERS) {
      const oldest = this.utpHints.values().next().value
      if (oldest !== undefined) this.utpHints.delete(oldest)
    }
  }

  /**
   * Connects to `host:port`. `timeoutMs` bounds each transport's attempt.
   * @throws PEER_CONNECT_FAILED (both failed, or no transport is enabled), ABORTED
   */
  async connect (host: string, port: number, options: ConnectOptions = {}): Promise<ITcpSocket> {
    const settings = this.deps.settings()
    const utp = settings.utp ? this.deps.utpFor(host) : null
    const key = `${host}:${port}`
    if (utp === null && !settings.tcp) {
      throw new LodestoneError('PEER_CONNECT_FAILED', { address: key, reason: settings.utp ? 'uTP cannot reach this address and TCP is off' : 'no transport enabled' })
    }
    if (utp === null) return this.counted(await this.deps.socketFactory.connectTcp(host, port, options), 'tcp')
    if (!settings.tcp) return this.counted(await utp.connect(host, port, options), 'utp')
    const hinted = this.utpHints.delete(key)
    const known = this.remembered.get(key) ?? (hinted ? 'utp' : undefined)
    if (known === undefined) return this.race(utp, host, port, settings, options)
    try {
      const socket = known === 'utp'
        ? await utp.connect(host, port, { ...options, timeoutMs: Math.min(settings.utpConnectTimeoutMs, options.timeoutMs ?? Infinity) })
        : await this.deps.socketFactory.connectTcp(host, port, options)
      return hinted ? this.remember(key, this.counted(socket, known)) : this.counted(socket, known)
    } catch (error) {
      if (isLodestoneError(error) && error.code === 'ABORTED') throw error
      this.remembered.delete(key)
      this.counters.fallbacks++
      const socket = known === 'utp' ? await this.deps.socketFactory.connectTcp(host, port, options) : await utp.connect(host, port, options)
      return this.remember(key, this.counted(socket, known === 'utp' ? 'tcp' : 'utp'))
    }
  }

  private counted (socket: ITcpSocket, transport: PeerTransport): ITcpSocket {
    if (transport === 'utp') this.counters.utpConnections++
    else this.counters.tcpConnections++
    return socket
  }

  private remember (key: string, socket: ITcpSocket, transport: PeerTransport = socket.transport ?? 'tcp'): ITcpSocket {
    this.remembered.delete(key)
    this.remembered.set(key, transport)
    if (this.remembered.size > MAX_REMEMBERED_PEERS) {
      const oldest = this.remembered.keys().next().value
      if (oldest !== undefined) this.remembered.delete(oldest)
    }
    return socket
  }

  /** Both at once; see the module comment for who wins. */
  private async race (utp: UtpDialer, host: string, port: number, settings: TransportSettings, options: ConnectOptions): Promise<ITcpSocket> {
    this.counters.races++
    const key = `${host}:${port}`
    const clock = this.deps.clock
    const startedMs = clock.now()
    const utpAbort = new AbortController()
    const tcpAbort = new AbortController()
    const outer = options.signal
    const timeoutOptions = options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}
    return new Promise<ITcpSocket>((resolve, reject) => {
      let settled = false
      let utpError: unknown = null
      let tcpError: unknown = null
      const finish = (): void => {
        settled = true
        outer?.removeEventListener('abort', onAbort)
      }
      const fail = (): void => {
        finish()
        // The TCP error says more about an unreachable peer (refused, unreachable) than uTP's time-out.
        const error = tcpError ?? utpError
        reject(isLodestoneError(error) ? error : new LodestoneError('PEER_CONNECT_FAILED', { address: key, reason: String(error) }, { cause: error }))
      }
      const onAbort = (): void => {
        if (settled) return
        finish()
        utpAbort.abort()
        tcpAbort.abort()
        reject(new LodestoneError('ABORTED', { operation: 'connect' }))
      }
      if (outer?.aborted === true) {
        onAbort()
        return
      }
      outer?.addEventListener('abort', onAbort, { once: true })

      const utpConnect = utp.connect(host, port, { signal: utpAbort.signal, ...timeoutOptions })
      utpConnect.then((socket) => {
        // After TCP won, the RaceSocket owns the uTP outcome.
        if (settled) return
        finish()
        tcpAbort.abort()
        resolve(this.remember(key, this.counted(socket, 'utp')))
      }, (error: unknown) => {
        utpError = error ?? 'uTP connect failed'
        if (!settled && tcpError !== null) fail()
      })

      this.deps.socketFactory.connectTcp(host, port, { signal: tcpAbort.signal, ...timeoutOptions }).then((socket) => {
        if (settled) {
          socket.close()
          return
        }
        finish()
        if (utpError !== null) {
          resolve(this.remember(key, this.counted(socket, 'tcp')))
          return
        }
        // uTP has not answered yet: use TCP at once, switching to uTP if it answers first.
        resolve(new RaceSocket(socket, utpConnect, {
          clock,
          graceMs: settings.utpGraceMs,
          tcpConnectMs: clock.now() - startedMs,
          abortUtp: () => { utpAbort.abort() },
          onDecided: (transport) => { this.remember(key, this.counted(socket, transport), transport) },
          onTcpDiscarded: () => { this.counters.tcpDiscarded++ }
        }))
      }, (error: unknown) => {
        tcpError = error ?? 'TCP connect failed'
        if (!settled && utpError !== null) fail()
      })
    })
  }
}
