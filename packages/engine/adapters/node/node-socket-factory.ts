/**
 * {@link ISocketFactory} over `node:net` and `node:dgram`.
 *
 * How the port's contract maps onto Node streams:
 * - `send()` is `socket.write()`; its return value is the backpressure signal (false once the
 *   userland buffer reaches `sendHighWaterMarkBytes`), and `onDrain` is Node's 'drain', which
 *   comes when that buffer has emptied (Node's low-water mark is 0; the kernel buffer behind it
 *   keeps the connection busy meanwhile).
 * - `pause()` / `resume()` switch the readable side; a paused socket stops reading from the
 *   kernel once its small readable buffer is full, so the sender's TCP window closes.
 * - Nothing is read before `onData` is registered (the stream stays in paused mode until then:
 *   attaching a 'data' listener too early would drop bytes).
 * - `close()` is graceful: queued bytes are flushed and a FIN sent (`end()`); the socket is
 *   destroyed when the peer closes too, after `lingerMs`, or when the factory is closed (`close()`,
 *   which the engine calls last: a peer that never reads must not keep the process alive for the
 *   linger time after the engine has closed). `onClose()` follows on a microtask with
 *   no reason. A close from the peer or the network reports `PEER_CLOSED` with the reason
 *   ('remote closed', or the errno code such as 'ECONNRESET'), after all data that came before it.
 * - Chunks are delivered as plain `Uint8Array` views, not `Buffer`s: `Buffer#slice` does not copy,
 *   and core code relies on `Uint8Array#slice` semantics.
 * - Sends are batched per event-loop turn: the first `send()` corks the socket and a
 *   `setImmediate` uncorks it, so everything sent while libuv delivers one batch of I/O callbacks
 *   (a burst of 17-byte REQUESTs, PIECE headers with their blocks, the blocks of every piece read
 *   that completed in that batch) leaves in one `writev` system call instead of one each. Nothing is
 *   copied; the return value still reports the userland buffer against the high-water mark.
 *   `process.nextTick` ran after every single callback, so a seeder whose piece reads completed
 *   together still wrote each read's blocks separately: 8 libtorrent leechers × 128 MiB, writev
 *   calls 8 140 → 5 040 per GiB, seeder CPU −11 % (bench/seed/RESULTS.md, session 5). The timer
 *   comes from `node:timers`, so a test that fakes the global timers does not stall the sockets.
 * - Sockets we dial read through `onread` into one buffer shared by the factory
 *   (`readBufferBytes`), instead of Node allocating a fresh 64 KiB buffer per read: far fewer
 *   allocations (and the GC work their external memory triggers), and one large read takes all the
 *   kernel has queued, so the receiver handles (and answers) more messages per turn. Sharing is safe
 *   because reads are delivered one at a time on the event loop and nothing keeps the buffer past the
 *   callback: `onData` receivers get an exact-size copy (they own it), `onBorrowedData` receivers get
 *   a view valid only during the call. Accepted sockets still read the streams way.
 */
import { createSocket, type Socket as UdpSocketHandle } from 'node:dgram'
import { lookup as dnsLookup } from 'node:dns'
import { setImmediate } from 'node:timers'
import { connect as netConnect, createServer, isIP, isIPv6, type NetConnectOpts, type Server, type Socket } from 'node:net'
import { LodestoneError } from '../../src/errors.js'
import type { Logger } from '../../src/interfaces/logger.js'
import type {
  ConnectOptions, ISocketFactory, ITcpServer, ITcpSocket, IUdpSocket, UdpRemote
} from '../../src/interfaces/socket.js'

export interface NodeSocketFactorySettings {
  /**
   * `send()` returns false once this many bytes are queued in userland. 256 KiB rather than Node's
   * 64 KiB: a seeder then writes ~4x fewer, larger batches (one writev each, one drain/refill cycle
   * each). bench/seed A/B pairs, 8 libtorrent leechers x 128 MiB (load 10-25): seeder CPU lower in
   * 9 of 11 pairs (median -5 %), system time lower in most, aggregate MB/s equal or higher; one
   * leecher unchanged (1 MiB was slower there, session 3). @default 262_144
   */
  sendHighWaterMarkBytes: number
  /** Connect time-out when the caller gives none. @default 10_000 */
  connectTimeoutMs: number
  /** How long a closed socket may keep flushing before it is destroyed. @default 5_000 */
  lingerMs: number
  /**
   * Size of the read buffer the factory's dialled sockets share (the most one read takes from the
   * kernel); 0 lets Node allocate a buffer per read. @default 1_048_576
   */
  readBufferBytes: number
  /**
   * Kernel receive buffer of UDP sockets (SO_RCVBUF; Linux caps it at `net.core.rmem_max`). uTP
   * keeps a window of packets in flight on the engine's one UDP socket, and the default (≈ 200 KiB)
   * drops a burst before the event loop reads it. 0: the OS default. @default 4_194_304
   */
  udpReceiveBufferBytes: number
  /** Kernel send buffer of UDP sockets (SO_SNDBUF), for the same reason. 0: the OS default. @default 4_194_304 */
  udpSendBufferBytes: number
}

export const defaultNodeSocketFactorySettings: Readonly<NodeSocketFactorySettings> = {
  sendHighWaterMarkBytes: 262_144,
  connectTimeoutMs: 10_000,
  lingerMs: 5_000,
  readBufferBytes: 1_048_576,
  udpReceiveBufferBytes: 4_194_304,
  udpSendBufferBytes: 4_194_304
}

export interface NodeSocketFactoryDeps {
  /** Where unexpected socket errors (a failing server, a UDP send error) are reported. */
  log?: Logger
}

/** '::ffff:1.2.3.4' (an IPv4 peer on a dual-stack socket) → '1.2.3.4', so addresses compare equal. */
function normalizeAddress (address: string | undefined): string {
  if (address === undefined) return ''
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

function errnoOf (err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string') return code
    if (err instanceof Error) return err.message
  }
  return String(err)
}

/** A plain Uint8Array over the same memory (no copy). */
function asUint8Array (chunk: Uint8Array): Uint8Array {
  return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

class NodeTcpSocket implements ITcpSocket {
  readonly remoteAddress: string
  readonly remotePort: number
  readonly localPort: number
  private open = true
  private paused = false
  private reading = false
  private dataCb: ((data: Uint8Array) => void) | undefined
  private drainCb: (() => void) | undefined
  private closeCb: ((reason?: LodestoneError) => void) | undefined
  private closeReason: LodestoneError | undefined
  private closeNotified = false
  private lingerTimer: ReturnType<typeof setTimeout> | undefined
  private corked = false
  /** Reads through `onread` (see the module comment): how `onRead` hands data out. */
  private borrowedCb: ((data: Uint8Array) => void) | undefined
  /** `onread` chunks that came before a receiver was registered (copies). */
  private early: Uint8Array[] | undefined
  private readonly uncork = (): void => {
    this.corked = false
    this.socket.uncork()
  }

  /**
   * `userBuffer`: the socket was created with `onread` (and paused), and calls {@link onRead}.
   * `lingering`: the factory's set of sockets closed by us and still flushing (see close()).
   */
  constructor (private readonly socket: Socket, private readonly lingerMs: number, private readonly lingering: Set<Socket>, private readonly userBuffer = false) {
    this.remoteAddress = normalizeAddress(socket.remoteAddress)
    this.remotePort = socket.remotePort ?? 0
    this.localPort = socket.localPort ?? 0
    socket.setNoDelay(true)
    socket.on('drain', () => {
      if (this.open) this.drainCb?.()
    })
    socket.on('end', () => {
      this.closedBy(new LodestoneError('PEER_CLOSED', { reason: 'remote closed' }))
    })
    socket.on('error', (err) => {
      this.closedBy(new LodestoneError('PEER_CLOSED', { reason: errnoOf(err) }, { cause: err }))
    })
    socket.on('close', () => {
      lingering.delete(socket)
      if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer)
      this.lingerTimer = undefined
      this.closedBy(new LodestoneError('PEER_CLOSED', { reason: 'closed' }))
    })
  }

  get bufferedBytes (): number { return this.socket.writableLength }

  send (data: Uint8Array): boolean {
    if (!this.open || this.socket.destroyed || this.socket.writableEnded) return false
    if (data.length === 0) return !this.socket.writableNeedDrain
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      setImmediate(this.uncork)
    }
    return this.socket.write(data)
  }

  pause (): void {
    this.paused = true
    if (this.reading) this.socket.pause()
  }

  resume (): void {
    this.paused = false
    if (this.reading) this.socket.resume()
  }

  /**
   * Called by `onread` with `nread` bytes at the start of the shared buffer; they are valid only
   * during this call.
   */
  onRead (nread: number, buffer: Uint8Array): void {
    if (!this.open || nread <= 0) return
    const view = new Uint8Array(buffer.buffer, buffer.byteOffset, nread)
    if (this.borrowedCb !== undefined) this.borrowedCb(view)
    else if (this.dataCb !== undefined) this.dataCb(view.slice())
    else (this.early ??= []).push(view.slice())
  }

  onBorrowedData (cb: (data: Uint8Array) => void): void {
    if (!this.userBuffer) {
      this.onData(cb)
      return
    }
    this.borrowedCb = cb
    this.startReading()
  }

  onData (cb: (data: Uint8Array) => void): void {
    this.dataCb = cb
    if (this.userBuffer) {
      this.startReading()
      return
    }
    if (this.reading || !this.open) return
    this.reading = true
    this.socket.on('data', (chunk: Buffer) => {
      if (this.open) this.dataCb?.(asUint8Array(chunk))
    })
    // Attaching 'data' switches the stream to flowing mode; honour an earlier pause().
    if (this.paused) this.socket.pause()
    else this.socket.resume()
  }

  private startReading (): void {
    const early = this.early
    this.early = undefined
    const cb = this.borrowedCb ?? this.dataCb
    if (early !== undefined && cb !== undefined) for (const chunk of early) if (this.open) cb(chunk)
    if (this.reading || !this.open) return
    this.reading = true
    if (!this.paused) this.socket.resume()
  }

  onDrain (cb: () => void): void { this.drainCb = cb }

  onClose (cb: (reason?: LodestoneError) => void): void {
    this.closeCb = cb
    if (!this.open && !this.closeNotified) queueMicrotask(() => { this.notifyClose() })
  }

  close (): void {
    if (!this.open) return
    this.markClosed(undefined)
    const socket = this.socket
    if (!socket.destroyed) {
      // Keep reading (and discarding) so the peer is not blocked and the kernel does not answer
      // unread data with a reset; flush our queue and send FIN; destroy if that takes too long.
      if (!this.reading) socket.on('data', () => {})
      socket.resume()
      socket.end()
      this.lingering.add(socket)
      this.lingerTimer = setTimeout(() => { socket.destroy() }, this.lingerMs)
      this.lingerTimer.unref()
    }
    queueMicrotask(() => { this.notifyClose() })
  }

  private closedBy (reason: LodestoneError): void {
    if (!this.open) return
    this.markClosed(reason)
    this.socket.destroy()
    this.notifyClose()
  }

  private markClosed (reason: LodestoneError | undefined): void {
    this.open = false
    this.closeReason = reason
  }

  private notifyClose (): void {
    if (this.closeNotified || this.closeCb === undefined) return
    this.closeNotified = true
    const cb = this.closeCb
    this.dataCb = undefined
    this.borrowedCb = undefined
    this.drainCb = undefined
    cb(this.closeReason)
  }
}

class NodeTcpServer implements ITcpServer {
  private connectionCb: ((socket: ITcpSocket) => void) | undefined
  private readonly backlog: ITcpSocket[] = []
  private closed = false

  constructor (private readonly server: Server, readonly port: number, private readonly lingerMs: number, private readonly lingering: Set<Socket>, log: Logger | undefined) {
    server.on('connection', (socket: Socket) => {
      if (this.closed || socket.remoteAddress === undefined) {
        socket.destroy()
        return
      }
      const wrapped = new NodeTcpSocket(socket, this.lingerMs, this.lingering)
      if (this.connectionCb !== undefined) this.connectionCb(wrapped)
      else this.backlog.push(wrapped)
    })
    server.on('error', (err) => {
      log?.warn('tcp server error', { port, error: errnoOf(err) })
    })
  }

  onConnection (cb: (socket: ITcpSocket) => void): void {
    this.connectionCb = cb
    for (const socket of this.backlog.splice(0)) cb(socket)
  }

  /** Stops listening (the port is free when this resolves); accepted connections stay open. */
  close (): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    for (const socket of this.backlog.splice(0)) socket.close()
    // server.close()'s callback waits for every accepted connection to end; the listening
    // handle itself is released synchronously, which is what callers wait for.
    this.server.close()
    this.server.unref()
    return Promise.resolve()
  }
}

/**
 * UDP on `node:dgram`, shaped for uTP's packet rate (one datagram per 1 400 bytes):
 * - `send` copies into a pooled buffer and sends it synchronously: the socket's `lookup` answers
 *   IP literals at once (Node's default defers every send to the next tick through
 *   `dns.lookup`), no completion callback is asked for (it costs a `nextTick` per datagram), and
 *   the pool is replaced only when a send had to queue in libuv (then the pending request holds
 *   it). Steady state: no allocation of ours per datagram. Send errors drop the datagram.
 * - `onBatchEnd` fires on `setImmediate` after a run of 'message' events: libuv reads what the
 *   kernel has queued in one poll phase, and the check phase that follows is the batch's end.
 */
class NodeUdpSocket implements IUdpSocket {
  private messageCb: ((data: Uint8Array, remote: UdpRemote) => void) | undefined
  private batchEndCb: (() => void) | undefined
  private batchScheduled = false
  private closed = false
  private pool = new Uint8Array(SEND_POOL_BYTES)
  private poolView: Uint8Array | undefined
  private readonly fireBatchEnd = (): void => {
    this.batchScheduled = false
    if (!this.closed) this.batchEndCb?.()
  }

  /** The last IPv4 destination and its IPv4-mapped form (a dual-stack socket sends to that). */
  private mappedFrom = ''
  private mappedTo = ''
  /** The last destination that needed no mapping. */
  private unmapped = ''

  constructor (private readonly socket: UdpSocketHandle, readonly port: number, private readonly log: Logger | undefined,
    readonly dualStack = false) {
    socket.on('message', (msg: Buffer, rinfo) => {
      if (this.closed) return
      this.messageCb?.(asUint8Array(msg), { address: normalizeAddress(rinfo.address), port: rinfo.port })
      if (this.batchEndCb !== undefined && !this.batchScheduled) {
        this.batchScheduled = true
        setImmediate(this.fireBatchEnd)
      }
    })
    socket.on('error', (err) => {
      log?.debug('udp socket error', { port, error: errnoOf(err) })
    })
  }

  /** The datagram is copied, so the caller may reuse `data` at once. Errors drop the datagram. */
  send (data: Uint8Array, host: string, port: number): void {
    if (this.closed) return
    const n = data.length
    let payload: Uint8Array
    if (n <= this.pool.length) {
      this.pool.set(data, 0)
      let view = this.poolView
      if (view === undefined || view.length !== n) {
        view = this.pool.subarray(0, n)
        this.poolView = view
      }
      payload = view
    } else {
      payload = new Uint8Array(data)
    }
    if (this.dualStack) host = this.mapped(host)
    try {
      this.socket.send(payload, port, host)
    } catch (err) {
      // Synchronous argument errors (bad port, socket closing): UDP is lossy anyway.
      this.log?.debug('udp send refused', { host, port, error: errnoOf(err) })
    }
    // The kernel buffer was full and libuv queued the request: it now owns the pool's memory.
    if (payload !== data && n <= this.pool.length && this.socket.getSendQueueCount() > 0) {
      this.pool = new Uint8Array(SEND_POOL_BYTES)
      this.poolView = undefined
    }
  }

  onMessage (cb: (data: Uint8Array, remote: UdpRemote) => void): void { this.messageCb = cb }

  onBatchEnd (cb: () => void): void { this.batchEndCb = cb }

  /**
   * An IPv6 socket reaches an IPv4 peer at its IPv4-mapped address. The last answers are cached,
   * so a connection's stream of datagrams builds no string per datagram. Names stay names (the
   * socket's lookup maps what they resolve to).
   */
  private mapped (host: string): string {
    if (host === this.mappedFrom) return this.mappedTo
    if (host === this.unmapped) return host
    if (isIP(host) === 4) {
      this.mappedFrom = host
      this.mappedTo = `::ffff:${host}`
      return this.mappedTo
    }
    this.unmapped = host
    return host
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.messageCb = undefined
    this.batchEndCb = undefined
    try {
      this.socket.close()
    } catch {
      // Already closed by an error: nothing left to release.
    }
  }
}

/** `udpLookup` for a dual-stack socket: a name of either family, IPv4 answers as IPv4-mapped IPv6. */
function udpLookupDualStack (hostname: string, _options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  if (isIP(hostname) !== 0) {
    callback(null, hostname, isIP(hostname))
    return
  }
  dnsLookup(hostname, { family: 0 }, (err, address, family) => {
    if (err === null && family === 4) callback(null, `::ffff:${address}`, 6)
    else callback(err, address, family)
  })
}

/** Largest datagram sent without an allocation (UDP's maximum payload). */
const SEND_POOL_BYTES = 65_536

/** dgram's `lookup`: IP literals answer synchronously (see NodeUdpSocket), names go to DNS. */
function udpLookup (hostname: string, options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  const family = isIP(hostname)
  if (family !== 0) {
    callback(null, hostname, family)
    return
  }
  const family4or6 = typeof options === 'number' ? options : 0
  dnsLookup(hostname, { family: family4or6 }, (err, address, resolvedFamily) => { callback(err, address, resolvedFamily) })
}

/** `new NodeSocketFactory(settings?, deps?)`: real TCP and UDP sockets. */
export class NodeSocketFactory implements ISocketFactory {
  private readonly settings: NodeSocketFactorySettings
  private readonly log: Logger | undefined
  /** Shared by every dialled socket's `onread` (see the module comment); null: Node allocates. */
  private readonly readBuffer: Uint8Array | null
  /** TCP sockets closed by us and still flushing their last bytes (up to `lingerMs`). */
  private readonly lingering = new Set<Socket>()

  constructor (settings: Partial<NodeSocketFactorySettings> = {}, deps: NodeSocketFactoryDeps = {}) {
    this.settings = { ...defaultNodeSocketFactorySettings, ...settings }
    this.log = deps.log
    this.readBuffer = this.settings.readBufferBytes > 0 ? new Uint8Array(this.settings.readBufferBytes) : null
  }

  /**
   * Destroys the TCP sockets still lingering after close() (their peers did not take our last
   * bytes or did not close their side). The engine calls this once everything else is closed, so
   * a peer that never reads cannot hold the process open for `lingerMs`. Sockets keep working
   * afterwards; only the lingering ones are cut.
   */
  close (): void {
    for (const socket of this.lingering) socket.destroy()
    this.lingering.clear()
  }

  /**
   * @throws PEER_CONNECT_FAILED (reason: the errno code, e.g. 'ECONNREFUSED', or 'timeout'),
   *   ABORTED (through `options.signal`)
   */
  async connectTcp (host: string, port: number, options: ConnectOptions = {}): Promise<ITcpSocket> {
    const address = `${host}:${port}`
    const signal = options.signal
    if (signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'connect' })
    if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
      throw new LodestoneError('PEER_CONNECT_FAILED', { address, reason: 'EINVAL: bad port' })
    }
    const timeoutMs = options.timeoutMs ?? this.settings.connectTimeoutMs
    return new Promise<ITcpSocket>((resolve, reject) => {
      // writableHighWaterMark is honoured by net.Socket (a stream.Duplex option) but missing from @types/node.
      const connectOptions: NetConnectOpts & { writableHighWaterMark: number } = {
        host, port, noDelay: true, writableHighWaterMark: this.settings.sendHighWaterMarkBytes
      }
      let wrapped: NodeTcpSocket | undefined
      if (this.readBuffer !== null) {
        connectOptions.onread = {
          buffer: this.readBuffer,
          callback: (nread: number, buffer: Uint8Array): boolean => {
            wrapped?.onRead(nread, buffer)
            return true
          }
        }
      }
      const socket = netConnect(connectOptions)
      // Nothing is read before a receiver is registered (onData / onBorrowedData resume it).
      if (this.readBuffer !== null) socket.pause()
      let settled = false
      const fail = (error: LodestoneError): void => {
        if (settled) return
        settled = true
        cleanup()
        socket.destroy()
        reject(error)
      }
      const onAbort = (): void => { fail(new LodestoneError('ABORTED', { operation: 'connect' })) }
      const onError = (err: Error): void => {
        fail(new LodestoneError('PEER_CONNECT_FAILED', { address, reason: errnoOf(err) }, { cause: err }))
      }
      const onClose = (): void => { fail(new LodestoneError('PEER_CONNECT_FAILED', { address, reason: 'closed' })) }
      const timer = setTimeout(() => {
        fail(new LodestoneError('PEER_CONNECT_FAILED', { address, reason: 'timeout' }))
      }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        socket.off('error', onError)
        socket.off('close', onClose)
      }
      socket.once('error', onError)
      socket.once('close', onClose)
      signal?.addEventListener('abort', onAbort, { once: true })
      socket.once('connect', () => {
        if (settled) return
        settled = true
        cleanup()
        wrapped = new NodeTcpSocket(socket, this.settings.lingerMs, this.lingering, this.readBuffer !== null)
        resolve(wrapped)
      })
    })
  }

  /** @throws LISTEN_FAILED (reason: the errno code, e.g. 'EADDRINUSE') */
  async listenTcp (port: number, host?: string): Promise<ITcpServer> {
    const server = createServer({ noDelay: true, highWaterMark: this.settings.sendHighWaterMarkBytes })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new LodestoneError('LISTEN_FAILED', { address: host ?? '::', port, reason: errnoOf(err) }, { cause: err }))
      }
      server.once('error', onError)
      try {
        server.listen({ port, host, exclusive: true }, () => {
          server.off('error', onError)
          resolve()
        })
      } catch (err) {
        // Synchronous argument errors (port out of range).
        server.off('error', onError)
        reject(new LodestoneError('LISTEN_FAILED', { address: host ?? '::', port, reason: errnoOf(err) }, { cause: err }))
      }
    })
    const bound = server.address()
    const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port
    return new NodeTcpServer(server, boundPort, this.settings.lingerMs, this.lingering, this.log)
  }

  /**
   * UDP on `host`; without one, on all interfaces of both families — an IPv6 socket on `::` that
   * takes IPv4 as mapped addresses, the way a TCP listener on all interfaces does — or of IPv4
   * alone where the host has no IPv6. @throws LISTEN_FAILED
   */
  async bindUdp (port: number, host?: string): Promise<IUdpSocket> {
    if (host !== undefined) return this.bindUdpOn(port, host, false)
    try {
      return await this.bindUdpOn(port, '::', true)
    } catch (error) {
      const reason = (error as LodestoneError<'LISTEN_FAILED'>).details.reason
      // No IPv6 on this host: IPv4 alone. Anything else (the port is taken) is the caller's.
      if (reason !== 'EAFNOSUPPORT' && reason !== 'EADDRNOTAVAIL' && reason !== 'EPROTONOSUPPORT') throw error
      return this.bindUdpOn(port, undefined, false)
    }
  }

  private async bindUdpOn (port: number, host: string | undefined, dualStack: boolean): Promise<IUdpSocket> {
    const { udpReceiveBufferBytes, udpSendBufferBytes } = this.settings
    const socket = createSocket({
      type: host !== undefined && isIPv6(host) ? 'udp6' : 'udp4',
      ...(dualStack ? { ipv6Only: false } : {}),
      lookup: dualStack ? udpLookupDualStack : udpLookup,
      ...(udpReceiveBufferBytes > 0 ? { recvBufferSize: udpReceiveBufferBytes } : {}),
      ...(udpSendBufferBytes > 0 ? { sendBufferSize: udpSendBufferBytes } : {})
    })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close()
        reject(new LodestoneError('LISTEN_FAILED', { address: host ?? '0.0.0.0', port, reason: errnoOf(err) }, { cause: err }))
      }
      socket.once('error', onError)
      try {
        socket.bind({ port, address: host, exclusive: true }, () => {
          socket.off('error', onError)
          resolve()
        })
      } catch (err) {
        socket.off('error', onError)
        reject(new LodestoneError('LISTEN_FAILED', { address: host ?? '0.0.0.0', port, reason: errnoOf(err) }, { cause: err }))
      }
    })
    return new NodeUdpSocket(socket, socket.address().port, this.log, dualStack)
  }

  /** A shared (reuseAddr) UDP socket on `port` joined to the multicast `group` (LSD). @throws LISTEN_FAILED */
  async bindUdpMulticast (group: string, port: number): Promise<IUdpSocket> {
    const v6 = isIPv6(group)
    const socket = createSocket({ type: v6 ? 'udp6' : 'udp4', reuseAddr: true, lookup: udpLookup })
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown): void => {
        socket.close()
        reject(new LodestoneError('LISTEN_FAILED', { address: group, port, reason: errnoOf(err) }, { cause: err }))
      }
      socket.once('error', fail)
      socket.bind(port, () => {
        socket.off('error', fail)
        try {
          socket.addMembership(group)
          socket.setMulticastLoopback(true)
          resolve()
        } catch (err) {
          fail(err)
        }
      })
    })
    return new NodeUdpSocket(socket, socket.address().port, this.log)
  }
}
