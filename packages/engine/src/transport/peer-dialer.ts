/**
 * Dials a peer over TCP, uTP or both, under the `transport` settings, and remembers per peer
 * which one worked.
 *
 * Why a race and not "uTP, then TCP": a TCP-only peer drops uTP SYNs without a word, so trying
 * uTP first costs a whole connect time-out (libtorrent waits 4.5 s); a uTP-only libtorrent accepts
 * TCP and closes it before a byte, so TCP first loses the peer. A peer we know nothing about is
 * therefore dialled both ways at once. uTP wins whenever it answers in time: when TCP connects
 * first its socket is held for a short grace (at most `utpGraceMs`, and at most twice the time TCP
 * took plus 20 ms) and dropped if uTP answers meanwhile or if the peer closes it (the uTP-only
 * case). A peer whose transport is known is dialled that way alone (uTP with the short
 * `utpConnectTimeoutMs`), falling back to the other transport on failure and forgetting what it
 * knew.
 *
 * Sockets carry their transport (`ITcpSocket.transport`, 'utp' on uTP connections), so nothing
 * above the dialer needs to know which one it got.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { ConnectOptions, ISocketFactory, ITcpSocket, PeerTransport } from '../interfaces/socket.js'
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
  /** TCP connections dropped because uTP answered during the grace, or the peer closed them. */
  tcpDiscarded: number
  /** Dials of a remembered transport that failed and went on with the other one. */
  fallbacks: number
}

/** Peers whose transport is remembered; the oldest are forgotten first. */
const MAX_REMEMBERED_PEERS = 4_096
/** Floor of the grace after a fast TCP connect (timer granularity, loopback). */
const MIN_GRACE_MS = 20

export class PeerDialer {
  private readonly remembered = new Map<string, PeerTransport>()
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
    const known = this.remembered.get(key)
    if (known === undefined) return this.race(utp, host, port, settings, options)
    try {
      const socket = known === 'utp'
        ? await utp.connect(host, port, { ...options, timeoutMs: Math.min(settings.utpConnectTimeoutMs, options.timeoutMs ?? Infinity) })
        : await this.deps.socketFactory.connectTcp(host, port, options)
      return this.counted(socket, known)
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

  private remember (key: string, socket: ITcpSocket): ITcpSocket {
    this.remembered.delete(key)
    this.remembered.set(key, socket.transport ?? 'tcp')
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
      let held: ITcpSocket | null = null
      let graceTimer: ITimer | null = null
      let utpError: unknown = null
      let tcpError: unknown = null
      const utpPending = (): boolean => utpError === null && !settled
      const finish = (): void => {
        settled = true
        graceTimer?.cancel()
        outer?.removeEventListener('abort', onAbort)
      }
      const win = (socket: ITcpSocket, transport: PeerTransport): void => {
        finish()
        if (transport === 'utp') tcpAbort.abort()
        else utpAbort.abort()
        resolve(this.remember(key, this.counted(socket, transport)))
      }
      const fail = (): void => {
        finish()
        // The TCP error says more about an unreachable peer (refused, unreachable) than uTP's time-out.
        const error = tcpError ?? utpError
        reject(isLodestoneError(error) ? error : new LodestoneError('PEER_CONNECT_FAILED', { address: key, reason: String(error) }, { cause: error }))
      }
      const discardHeld = (): void => {
        const socket = held
        held = null
        graceTimer?.cancel()
        if (socket === null) return
        this.counters.tcpDiscarded++
        socket.close()
      }
      const onAbort = (): void => {
        if (settled) return
        finish()
        utpAbort.abort()
        tcpAbort.abort()
        discardHeld()
        reject(new LodestoneError('ABORTED', { operation: 'connect' }))
      }
      if (outer?.aborted === true) {
        onAbort()
        return
      }
      outer?.addEventListener('abort', onAbort, { once: true })

      utp.connect(host, port, { signal: utpAbort.signal, ...timeoutOptions }).then((socket) => {
        if (settled) {
          socket.close()
          return
        }
        discardHeld()
        win(socket, 'utp')
      }, (error: unknown) => {
        utpError = error ?? 'uTP connect failed'
        if (settled) return
        if (held !== null) {
          const socket = held
          held = null
          win(socket, 'tcp')
        } else if (tcpError !== null) {
          fail()
        }
      })

      this.deps.socketFactory.connectTcp(host, port, { signal: tcpAbort.signal, ...timeoutOptions }).then((socket) => {
        if (settled) {
          socket.close()
          return
        }
        if (!utpPending()) {
          win(socket, 'tcp')
          return
        }
        held = socket
        // The PeerConnection replaces this callback when it takes the socket.
        socket.onClose(() => {
          if (held !== socket || settled) return
          // A uTP-only peer accepts TCP and closes it: wait for uTP (its own time-out ends it).
          held = null
          graceTimer?.cancel()
          this.counters.tcpDiscarded++
          tcpError = new LodestoneError('PEER_CONNECT_FAILED', { address: key, reason: 'closed by the peer' })
          if (utpError !== null) fail()
        })
        const graceMs = Math.min(settings.utpGraceMs, 2 * (clock.now() - startedMs) + MIN_GRACE_MS)
        graceTimer = clock.setTimeout(() => {
          graceTimer = null
          if (settled || held === null) return
          const chosen = held
          held = null
          win(chosen, 'tcp')
        }, graceMs)
      }, (error: unknown) => {
        tcpError = error ?? 'TCP connect failed'
        if (settled) return
        if (utpError !== null) fail()
      })
    })
  }
}
