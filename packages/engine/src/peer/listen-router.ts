/**
 * One listening port for every torrent: accepts connections, admits them against the global
 * connection limit and the banned set, reads the first 48 handshake bytes, and routes the socket
 * to the torrent whose info hash it names. Unknown info hashes are closed.
 *
 * Why it reads only the header: the accepting side must not send its own handshake (which
 * carries the info hash) before it knows the torrent, and the torrent's PeerConnection parses the
 * full handshake itself from a replaying socket, so both directions share one handshake path.
 *
 * With an encryption policy, every accepted socket is first wrapped in an accepting MseSocket: an
 * MSE/PE opening is answered when its SKEY (found by `HASH('req2', SKEY)` among the registered
 * hashes) is one of ours, a plaintext opening passes through, as the policy's mode allows; the
 * header is then read from the (decrypted) stream as before.
 *
 * Connections still in their handshake live in their own budget (`maxPendingIncoming`); when it
 * is full the oldest one is closed to make room. Silent or byte-at-a-time connections therefore
 * cannot lock honest peers out: an honest handshake arrives within a round trip, long before
 * newer arrivals push it to the front. The handshake deadline runs from the accept, and the peer
 * connection continues the same deadline (`ConnectionSlot.acceptedAtMs`) instead of starting a new one.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { ITcpServer, ITcpSocket, ISocketFactory } from '../interfaces/socket.js'
import type { HandshakeHeader } from '../protocol/handshake.js'
import { bytesEqual, fromHex, toHex } from '../util/bytes.js'
import type { EncryptionPolicy } from '../transport/mse/encryption-policy.js'
import { mseReq2Hash } from '../transport/mse/mse-handshake.js'
import { MseSocket } from '../transport/mse/mse-socket.js'
import type { ConnectionManager, IncomingTicket } from './connection-manager.js'
import { readIncomingHandshakeHeader } from './incoming-handshake.js'

export interface ListenRouterDeps {
  socketFactory: ISocketFactory
  clock: IClock
  connections: ConnectionManager
  /** MSE/PE for accepted connections; without it only plaintext openings are understood. */
  encryption?: EncryptionPolicy
  logger?: Logger
  /** False while incoming TCP is off (`transport.tcp`): TCP connections are closed on accept. @default always true */
  acceptTcp?: () => boolean
}

/** Receives a routed connection. The handler owns `socket` and must claim or release `ticket`. */
export type IncomingHandler = (socket: ITcpSocket, header: HandshakeHeader, ticket: IncomingTicket) => void

export interface ListenRouterStats {
  accepted: number
  refused: number
  unknownInfoHash: number
  handshakeFailures: number
  /** Pending handshakes closed to make room for a newer connection (the pending budget was full). */
  evicted: number
  /** Pending handshakes closed at their deadline. */
  timedOut: number
  pendingHandshakes: number
}

export class ListenRouter {
  private server: ITcpServer | null = null
  private readonly routes = new Map<string, IncomingHandler>()
  /** Hex `HASH('req2', SKEY)` → SKEY, for every registered hash (MSE openings name torrents so). */
  private readonly skeys = new Map<string, Uint8Array>()
  /** Handshakes being read, oldest first (Map order is insertion order). */
  private readonly pending = new Map<IncomingTicket, AbortController>()
  private closed = false
  private readonly counters = { accepted: 0, refused: 0, unknownInfoHash: 0, handshakeFailures: 0, evicted: 0, timedOut: 0 }

  constructor (private readonly deps: ListenRouterDeps, private readonly handshakeTimeoutMs = 10_000) {}

  /** The bound port, or null when not listening. */
  get port (): number | null {
    return this.server?.port ?? null
  }

  /**
   * Starts listening. `host` '' means all interfaces.
   * @throws whatever the socket factory throws (e.g. port in use), CLOSED after close().
   */
  async listen (port: number, host: string): Promise<number> {
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'listen router' })
    if (this.server !== null) return this.server.port
    const server = await this.deps.socketFactory.listenTcp(port, host === '' ? undefined : host)
    if (this.closed) {
      await server.close()
      throw new LodestoneError('CLOSED', { what: 'listen router' })
    }
    this.server = server
    server.onConnection((socket) => {
      if (this.deps.acceptTcp?.() === false) {
        this.counters.refused++
        socket.close()
        return
      }
      this.accept(socket)
    })
    return server.port
  }

  /**
   * Routes a connection that arrived another way (an incoming uTP connection) exactly like an
   * accepted TCP socket: same limits, bans, handshake time-out and info-hash routing.
   */
  acceptConnection (socket: ITcpSocket): void {
    this.accept(socket)
  }

  /** Routes connections for `infoHash` (20 bytes, or its hex) to `handler`. */
  register (infoHash: Uint8Array | string, handler: IncomingHandler): void {
    const hex = typeof infoHash === 'string' ? infoHash.toLowerCase() : toHex(infoHash)
    this.routes.set(hex, handler)
    const skey = fromHex(hex)
    if (skey !== null && skey.length === 20) this.skeys.set(toHex(mseReq2Hash(skey)), skey)
  }

  unregister (infoHash: Uint8Array | string): void {
    const hex = typeof infoHash === 'string' ? infoHash.toLowerCase() : toHex(infoHash)
    this.routes.delete(hex)
    const skey = fromHex(hex)
    if (skey !== null && skey.length === 20) this.skeys.delete(toHex(mseReq2Hash(skey)))
  }

  stats (): ListenRouterStats {
    return { ...this.counters, pendingHandshakes: this.pending.size }
  }

  /** Stops listening and drops connections still in their handshake. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const pending = [...this.pending]
    this.pending.clear()
    for (const [ticket, abort] of pending) {
      ticket.release()
      abort.abort()
    }
    this.routes.clear()
    this.skeys.clear()
    const server = this.server
    this.server = null
    if (server !== null) await server.close()
  }

  private accept (socket: ITcpSocket): void {
    if (this.closed) {
      socket.close()
      return
    }
    const address = { host: socket.remoteAddress, port: socket.remotePort }
    let admitted = this.deps.connections.acceptIncoming(address)
    if (admitted === 'pending-limit' && this.evictOldest()) admitted = this.deps.connections.acceptIncoming(address)
    if (typeof admitted === 'string') {
      this.counters.refused++
      socket.close()
      return
    }
    const ticket = admitted
    this.counters.accepted++
    const abort = new AbortController()
    this.pending.set(ticket, abort)
    const encryption = this.deps.encryption
    const stream = encryption?.wrapIncoming(socket, (req2) => this.skeys.get(toHex(req2)) ?? null) ?? socket
    readIncomingHandshakeHeader({ socket: stream, clock: this.deps.clock }, { timeoutMs: this.handshakeTimeoutMs, signal: abort.signal })
      .then(({ header, socket: replay }) => {
        if (!this.pending.delete(ticket)) {
          replay.close() // evicted (or the router closed) after the header was complete
          return
        }
        // An MSE opening is bound to the torrent its SKEY named: the handshake must name the same.
        const skey = stream instanceof MseSocket ? stream.skey : null
        if (skey !== null && !bytesEqual(skey, header.infoHash)) {
          encryption?.countFailure('skey-mismatch')
          this.counters.handshakeFailures++
          ticket.release()
          replay.close()
          return
        }
        const handler = this.closed ? undefined : this.routes.get(toHex(header.infoHash))
        if (handler === undefined) {
          this.counters.unknownInfoHash++
          ticket.release()
          replay.close()
          return
        }
        handler(replay, header, ticket)
      }, (error: unknown) => {
        // The reader closed the socket already. An evicted one was counted and released by evictOldest.
        if (!this.pending.delete(ticket)) return
        if (isLodestoneError(error) && error.code === 'PEER_TIMEOUT') this.counters.timedOut++
        else this.counters.handshakeFailures++
        ticket.release()
        if (this.deps.logger?.enabled('debug') === true) {
          this.deps.logger.debug('incoming handshake failed', {
            address: `${socket.remoteAddress}:${socket.remotePort}`,
            code: isLodestoneError(error) ? error.code : 'INTERNAL'
          })
        }
      })
  }

  /** Closes the oldest pending handshake and frees its place in the budget; false when none. */
  private evictOldest (): boolean {
    const oldest = this.pending.entries().next()
    if (oldest.done === true) return false
    const [ticket, abort] = oldest.value
    this.pending.delete(ticket)
    ticket.release()
    this.counters.evicted++
    abort.abort()
    return true
  }
}
