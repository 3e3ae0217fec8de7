/**
 * All uTP connections of one UDP port (BEP 29): routes each datagram to its connection by
 * connection id and source address, accepts SYNs within bounds, dials, runs the shared tick
 * (time-outs, keep-alives) and flushes connections in batches.
 *
 * Batching: a connection that received packets only marks itself; the manager flushes every
 * marked connection (deliver, send, ack) once the UDP socket has handed over what arrived
 * together (`onBatchEnd`, Node: after the poll phase, where up to dozens of datagrams arrive
 * in a row), so a burst of data packets is answered with one ack. Without that hook it falls
 * back to a zero-delay clock timer. Writes by the application flush on a microtask, so all
 * writes of one turn are packetised together. The batches also tell how long a datagram may have
 * waited unread ({@link UtpManager.receiveWaitUs}): our own stalls are not queueing on the path.
 *
 * Bounds: at most `maxConnections` connections and `maxHalfOpen` accepted ones that have not yet
 * sent data (a SYN flood costs a few hundred bytes each, then they expire after
 * `halfOpenTimeoutMs`); an accepted connection reaches the application only with its first data
 * packet, which must acknowledge our (random) sequence number, so spoofed SYNs never do.
 * Malformed, unknown-connection, out-of-window and forged packets are dropped and counted;
 * nothing a remote sends can throw out of {@link handleDatagram}.
 */
import { LodestoneError } from '../../errors.js'
import type { IClock, ITimer } from '../../interfaces/clock.js'
import type { Logger } from '../../interfaces/logger.js'
import { cryptoRandom, type IRandom } from '../../interfaces/random.js'
import type { ITcpSocket, UdpRemote } from '../../interfaces/socket.js'
import { STATE_CLOSED, UtpConnection, type UtpConnectionHost } from './utp-connection.js'
import { PARSE_OK, SEQ_MASK, ST_SYN, UtpHeader, parseUtpHeader } from './utp-packet.js'
import { resolveUtpSettings, type UtpSettings } from './utp-settings.js'
import { newUtpCounters, type UtpCounters, type UtpStats } from './utp-stats.js'

/**
 * The datagram channel uTP runs over: an `IUdpSocket` or a channel of the engine's UDP
 * demultiplexer. `send` must be done with `data` when it returns (copy it or send it).
 */
export interface UtpDatagramChannel {
  readonly port: number
  send (data: Uint8Array, host: string, port: number): void
  onMessage (cb: (data: Uint8Array, remote: UdpRemote) => void): void
  /** Optional: called after a run of datagrams that arrived together. */
  onBatchEnd?: (cb: () => void) => void
}

/**
 * Datagrams a receive batch holds when the socket may still have more: libuv (Node) reads at most
 * 32 per poll of a UDP socket.
 */
const FULL_BATCH_DATAGRAMS = 32

export interface UtpManagerDeps {
  channel: UtpDatagramChannel
  clock: IClock
  /** Connection ids and initial sequence numbers. @default cryptoRandom */
  random?: IRandom
  logger?: Logger
}

export interface UtpConnectOptions {
  signal?: AbortSignal
  /** @default settings.connectTimeoutMs */
  timeoutMs?: number
}

export class UtpManager implements UtpConnectionHost {
  readonly settings: UtpSettings
  readonly counters: UtpCounters = newUtpCounters()
  readonly localPort: number
  private readonly clock: IClock
  private readonly random: IRandom
  private readonly channel: UtpDatagramChannel
  private readonly logger: Logger | undefined
  private readonly header = new UtpHeader()
  /** Connections by the id of the packets they receive (a few share an id across peers). */
  private readonly byRecvId = new Map<number, UtpConnection[]>()
  private readonly connections = new Set<UtpConnection>()
  private readonly halfOpen = new Set<UtpConnection>()
  private lastConnection: UtpConnection | undefined
  private readonly pending: UtpConnection[] = []
  private flushing = false
  private receiving = false
  private microtaskQueued = false
  private batchTimer: ITimer | undefined
  private readonly hasBatchEnd: boolean
  private tickTimer: ITimer | undefined
  private acceptCb: ((socket: ITcpSocket) => void) | undefined
  private readonly backlog: UtpConnection[] = []
  private acceptIncoming = true
  private closed = false
  /** Time cached while handling one datagram, flush or tick (one clock read each). */
  private cachedNowMs = -1
  /** When the last datagram was read (-1: none yet). */
  private lastReadMs = -1
  /** Datagrams in the current (or last) receive batch. */
  private batchDatagrams = 0
  /**
   * Since when the datagrams of the current receive batch may have waited unread (-1: unknown):
   * the last read of the last batch that drained the socket (see {@link receiveWaitUs}).
   */
  private waitingSinceMs = -1
  private readonly runFlush = (): void => { this.flushAll() }

  constructor (deps: UtpManagerDeps, settings: Partial<UtpSettings> = {}) {
    this.settings = resolveUtpSettings(settings)
    this.clock = deps.clock
    this.random = deps.random ?? cryptoRandom
    this.channel = deps.channel
    this.logger = deps.logger
    this.localPort = deps.channel.port
    deps.channel.onMessage((data, remote) => { this.handleDatagram(data, remote) })
    this.hasBatchEnd = typeof deps.channel.onBatchEnd === 'function'
    deps.channel.onBatchEnd?.(() => {
      this.receiving = false
      this.flushAll()
    })
  }

  /** Incoming connections, each once it has sent its first data. */
  onConnection (cb: (socket: ITcpSocket) => void): void {
    this.acceptCb = cb
    for (const c of this.backlog.splice(0)) if (c.state !== STATE_CLOSED) cb(c)
  }

  /** Accept SYNs or drop them (`transport.utp` incoming off). @default true */
  setAcceptIncoming (accept: boolean): void { this.acceptIncoming = accept }

  /** LEDBAT's target for every connection, open ones included (they read the manager's settings). @throws SETTINGS_INVALID */
  setTargetDelayMs (ms: number): void {
    if (!(ms > 0)) throw new LodestoneError('SETTINGS_INVALID', { key: 'utp.targetDelayMs', reason: 'must be > 0' })
    this.settings.targetDelayMs = ms
  }

  stats (): UtpStats {
    return { ...this.counters, connections: this.connections.size, halfOpen: this.halfOpen.size }
  }

  /**
   * Dials `host:port` over uTP; resolves once the peer acknowledged the SYN.
   * @throws PEER_CONNECT_FAILED (reason 'timeout', 'reset', 'too many connections'), ABORTED, CLOSED
   */
  async connect (host: string, port: number, options: UtpConnectOptions = {}): Promise<ITcpSocket> {
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'utp' })
    const signal = options.signal
    if (signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'connect' })
    const address = `${host}:${port}`
    if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
      throw new LodestoneError('PEER_CONNECT_FAILED', { address, reason: 'EINVAL: bad port' })
    }
    if (this.connections.size >= this.settings.maxConnections) {
      throw new LodestoneError('PEER_CONNECT_FAILED', { address, reason: 'too many connections' })
    }
    let recvId = this.random16()
    for (let tries = 0; tries < 64 && (this.find(host, port, recvId) !== undefined || this.find(host, port, (recvId + 1) & SEQ_MASK) !== undefined); tries++) {
      recvId = this.random16()
    }
    const connection = new UtpConnection(this, host, port, recvId, (recvId + 1) & SEQ_MASK, true)
    this.add(connection)
    return new Promise<ITcpSocket>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => { connection.fail('timeout') }, options.timeoutMs ?? this.settings.connectTimeoutMs)
      const onAbort = (): void => {
        connection.onConnectResult = undefined
        cleanup()
        connection.destroy()
        reject(new LodestoneError('ABORTED', { operation: 'connect' }))
      }
      const cleanup = (): void => {
        timer.cancel()
        signal?.removeEventListener('abort', onAbort)
      }
      connection.onConnectResult = (error) => {
        cleanup()
        if (error !== undefined) reject(error)
        else resolve(connection)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      connection.start()
    })
  }

  /**
   * Handles one datagram classified as uTP (the demultiplexer already checked the first byte).
   * `data` is valid only during the call. Never throws.
   */
  handleDatagram (data: Uint8Array, remote: UdpRemote): void {
    if (this.closed) return
    const counters = this.counters
    counters.packetsIn++
    const h = this.header
    if (parseUtpHeader(data, h) !== PARSE_OK) {
      counters.invalidPackets++
      return
    }
    const now = this.clock.now()
    this.cachedNowMs = now
    if (!this.receiving) {
      // A batch as large as the platform reads at once may have left datagrams in the socket:
      // then this batch's may have waited since before it, and the older origin stays.
      if (this.batchDatagrams < FULL_BATCH_DATAGRAMS || this.waitingSinceMs < 0) this.waitingSinceMs = this.lastReadMs
      this.batchDatagrams = 0
    }
    this.batchDatagrams++
    this.lastReadMs = now
    this.receiving = true
    let connection: UtpConnection | undefined
    try {
      if (h.type === ST_SYN) {
        this.onSyn(h, data, remote)
      } else {
        connection = this.lastConnection
        if (connection === undefined || connection.recvId !== h.connectionId ||
          connection.remotePort !== remote.port || connection.remoteAddress !== remote.address) {
          connection = this.find(remote.address, remote.port, h.connectionId)
        }
        if (connection === undefined) {
          counters.unknownConnection++
        } else {
          this.lastConnection = connection
          connection.onPacket(h, data)
        }
      }
    } catch (error) {
      counters.handlerErrors++
      this.logger?.warn('utp packet handler failed', { error: String(error) })
      connection?.fail('internal error')
    } finally {
      this.cachedNowMs = -1
    }
    if (this.pending.length > 0 && !this.hasBatchEnd && this.batchTimer === undefined) {
      this.batchTimer = this.clock.setTimeout(() => {
        this.batchTimer = undefined
        this.receiving = false
        this.flushAll()
      }, 0)
    }
  }

  /** Flushes every connection marked since the last flush (the receive batch ended). */
  flush (): void {
    this.receiving = false
    this.flushAll()
  }

  /** Resets every connection (RESET to each peer), fails pending connects, stops the timers. */
  close (): void {
    if (this.closed) return
    this.closed = true
    for (const connection of [...this.connections]) {
      connection.sendReset()
      connection.fail('closed')
      connection.destroy()
    }
    this.backlog.length = 0
    this.pending.length = 0
    this.batchTimer?.cancel()
    this.batchTimer = undefined
    this.stopTick()
  }

  // ------------------------------------------------------------------ UtpConnectionHost

  nowMs (): number {
    return this.cachedNowMs >= 0 ? this.cachedNowMs : this.clock.now()
  }

  nowUs (): number {
    return (this.nowMs() * 1000) >>> 0
  }

  /**
   * How long the datagram being handled may have waited unread in the socket: since the previous
   * batch that drained it (one-way-delay.ts takes that off the delay it echoes: our own stalls are
   * not queueing on the path). At most the LEDBAT target: a receiver that stays behind for longer
   * (every batch full) is overloaded rather than stalled, and must not hide a real queue behind it.
   */
  receiveWaitUs (): number {
    const since = this.waitingSinceMs
    if (since < 0 || this.cachedNowMs <= since) return 0
    const waitedMs = this.cachedNowMs - since
    const capMs = this.settings.targetDelayMs
    return (waitedMs < capMs ? waitedMs : capMs) * 1000
  }

  refreshNow (): void {
    if (this.cachedNowMs >= 0) this.cachedNowMs = this.clock.now()
  }

  sendDatagram (data: Uint8Array, host: string, port: number): void {
    this.channel.send(data, host, port)
  }

  schedule (connection: UtpConnection): void {
    if (!connection.queued) {
      connection.queued = true
      this.pending.push(connection)
    }
    if (this.flushing || this.microtaskQueued) return
    if (this.receiving) return // the batch end (or its timer) flushes
    this.microtaskQueued = true
    queueMicrotask(this.runFlush)
  }

  accepted (connection: UtpConnection): void {
    this.halfOpen.delete(connection)
    if (this.acceptCb !== undefined) this.acceptCb(connection)
    else if (this.backlog.length < this.settings.maxHalfOpen) this.backlog.push(connection)
    else connection.fail('backlog full')
  }

  removed (connection: UtpConnection): void {
    this.connections.delete(connection)
    this.halfOpen.delete(connection)
    if (this.lastConnection === connection) this.lastConnection = undefined
    const list = this.byRecvId.get(connection.recvId)
    if (list !== undefined) {
      const index = list.indexOf(connection)
      if (index >= 0) list.splice(index, 1)
      if (list.length === 0) this.byRecvId.delete(connection.recvId)
    }
    if (this.connections.size === 0) this.stopTick()
  }

  random16 (): number {
    return Math.floor(this.random.next() * 65_536) & SEQ_MASK
  }

  // ------------------------------------------------------------------ internals

  private onSyn (h: UtpHeader, data: Uint8Array, remote: UdpRemote): void {
    const counters = this.counters
    counters.synReceived++
    const recvId = (h.connectionId + 1) & SEQ_MASK
    const existing = this.find(remote.address, remote.port, recvId)
    if (existing !== undefined) {
      existing.onPacket(h, data)
      return
    }
    if (!this.acceptIncoming || this.connections.size >= this.settings.maxConnections ||
      this.halfOpen.size >= this.settings.maxHalfOpen) {
      counters.synDropped++
      return
    }
    const connection = new UtpConnection(this, remote.address, remote.port, recvId, h.connectionId, false)
    this.add(connection)
    this.halfOpen.add(connection)
    connection.acceptSyn(h)
  }

  private find (host: string, port: number, recvId: number): UtpConnection | undefined {
    const list = this.byRecvId.get(recvId)
    if (list === undefined) return undefined
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!
      if (c.remotePort === port && c.remoteAddress === host) return c
    }
    return undefined
  }

  private add (connection: UtpConnection): void {
    this.connections.add(connection)
    const list = this.byRecvId.get(connection.recvId)
    if (list === undefined) this.byRecvId.set(connection.recvId, [connection])
    else list.push(connection)
    if (this.tickTimer === undefined) {
      this.tickTimer = this.clock.setInterval(() => { this.tick() }, this.settings.tickIntervalMs)
    }
  }

  private flushAll (): void {
    this.microtaskQueued = false
    if (this.flushing) return
    this.flushing = true
    this.cachedNowMs = this.clock.now()
    const pending = this.pending
    try {
      // Connections flushed here may mark others (or themselves) again: the loop takes those too.
      for (let i = 0; i < pending.length; i++) {
        const connection = pending[i]!
        connection.queued = false
        if (connection.state === STATE_CLOSED) continue
        try {
          connection.flush()
        } catch (error) {
          this.counters.handlerErrors++
          this.logger?.warn('utp flush failed', { error: String(error) })
          connection.fail('internal error')
        }
      }
    } finally {
      pending.length = 0
      this.flushing = false
      this.cachedNowMs = -1
    }
  }

  private tick (): void {
    const now = this.clock.now()
    this.cachedNowMs = now
    try {
      for (const connection of [...this.connections]) {
        try {
          connection.tick(now)
        } catch (error) {
          this.counters.handlerErrors++
          this.logger?.warn('utp tick failed', { error: String(error) })
          connection.fail('internal error')
        }
      }
    } finally {
      this.cachedNowMs = -1
    }
    if (this.pending.length > 0) this.flushAll()
  }

  private stopTick (): void {
    this.tickTimer?.cancel()
    this.tickTimer = undefined
  }
}
