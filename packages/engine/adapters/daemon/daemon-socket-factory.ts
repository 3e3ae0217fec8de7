/**
 * {@link ISocketFactory} over the io-daemon bridge: TCP connect / listen and UDP, each socket a
 * set of frames on the shared WebSocket (daemon-connection.ts).
 *
 * Sends made in one turn of the event loop's microtasks go out as one TCP_SEND frame: the engine
 * sends each protocol message on its own (a 17-byte request per 16 KiB block), and one WebSocket
 * message per request cost the page's main thread more than the blocks' own processing.
 *
 * Flow control (the protocol's windows, bridge-protocol.ts):
 * - `send` queues a TCP_SEND frame and counts its bytes until the daemon's TCP_SEND_ACK says the
 *   kernel took them; above {@link DaemonSocketSettings.sendWindowBytes} it returns false, and
 *   `onDrain` runs when acknowledgements bring the count under the low-water mark.
 * - Received bytes are acknowledged (TCP_RECV_ACK) once delivered; a paused socket keeps what
 *   arrives and acknowledges nothing, so the daemon stops reading the peer once its window is full
 *   — the browser's memory holds at most one window per paused socket.
 *
 * Received stream offsets (FILE_WRITE_RECV): each TCP_RECV payload starts where the previous one
 * of the socket ended; a delivered chunk is a view of its WebSocket message, so the message's
 * buffer names the offset of any view of it (`receivedRange`), which the daemon's file writer
 * (bridge-file-writer.ts) sends instead of the bytes.
 */
import { LodestoneError } from '../../src/errors.js'
import type { ConnectOptions, ISocketFactory, ITcpServer, ITcpSocket, IUdpSocket, ReceivedRange, UdpRemote } from '../../src/interfaces/socket.js'
import {
  Errno, MAX_FRAME_BYTES, HEADER_BYTES, Op, Status, errnoName, idFrame, readUdpData, tcpAckFrame, tcpCloseFrame,
  tcpConnectFrame, tcpDataFrameOf, tcpListenFrame, tlsUpgradeFrame, udpBindFrame, udpDataFrame, multicastFrame,
  TLS_FLAG_INSECURE, PayloadReader, Feature, type Frame
} from './bridge-protocol.js'
import type { DaemonConnection, SocketFrameHandler } from './daemon-connection.js'

export interface DaemonSocketSettings {
  /** Unacknowledged sent bytes per socket above which `send` returns false. @default 1 MiB */
  sendWindowBytes: number
  /** `onDrain` runs when unacknowledged bytes fall to this. @default 256 KiB */
  sendLowWaterBytes: number
  /**
   * Received bytes acknowledged in batches of at least this (each acknowledgement is a WebSocket
   * message; the daemon's window is 4 MiB and it reads again below half of it). @default 1 MiB
   */
  recvAckBytes: number
}

export const defaultDaemonSocketSettings: Readonly<DaemonSocketSettings> = {
  sendWindowBytes: 1 << 20,
  sendLowWaterBytes: 256 << 10,
  recvAckBytes: 1 << 20
}

const MAX_CHUNK_BYTES = MAX_FRAME_BYTES - HEADER_BYTES - 64

function closedError (reason: string): LodestoneError {
  return new LodestoneError('PEER_CLOSED', { reason })
}

/** A TCP connection through the bridge. */
export class DaemonTcpSocket implements ITcpSocket, SocketFrameHandler {
  remoteAddress: string
  remotePort: number
  localPort: number
  private inflight = 0
  private blocked = false
  private paused = false
  private readonly queue: Uint8Array[] = []
  /** Sent chunks not yet framed (flushed at the end of the current microtask run). */
  private readonly outgoing: Uint8Array[] = []
  private outgoingBytes = 0
  private flushScheduled = false
  private unackedRecv = 0
  private dataCb: ((data: Uint8Array) => void) | null = null
  private drainCb: (() => void) | null = null
  private closeCb: ((reason?: LodestoneError) => void) | null = null
  private closedState: 'open' | 'closing' | 'closed' = 'open'
  /** Set when the daemon closed while data was still queued (delivered first). */
  private pendingClose: { reason?: LodestoneError } | null = null
  private closeReason: { reason?: LodestoneError } | null = null
  private closeReported = false
  /** Sum of this socket's TCP_RECV payload lengths so far (the daemon counts alike). */
  private recvOffset = 0
  /** A delivered message's buffer → the stream offset of its byte 0. */
  private readonly recvBases: WeakMap<ArrayBufferLike, number> | null

  constructor (
    private readonly conn: DaemonConnection,
    readonly id: number,
    info: { remoteAddress: string, remotePort: number, localPort: number },
    private readonly settings: DaemonSocketSettings
  ) {
    this.remoteAddress = info.remoteAddress
    this.remotePort = info.remotePort
    this.localPort = info.localPort
    conn.register(id, this)
    conn.claimStream(id, this)
    this.recvBases = (conn.features & Feature.WRITE_RECV) !== 0 ? new WeakMap() : null
  }

  /** Where a view of a chunk this socket delivered was received (ITcpSocket.receivedRange). */
  receivedRange (data: Uint8Array): ReceivedRange | undefined {
    const base = this.recvBases?.get(data.buffer)
    return base === undefined ? undefined : { stream: this, offset: base + data.byteOffset, lengthBytes: data.length }
  }

  /** This socket's id on `conn` while the daemon's received stream of that id is this socket's; else undefined. */
  streamIdOn (conn: DaemonConnection): number | undefined {
    return conn === this.conn && conn.ownsStream(this.id, this) ? this.id : undefined
  }

  get bufferedBytes (): number { return this.inflight }

  /** Received bytes held while paused (bounded by the daemon's receive window). */
  get heldBytes (): number {
    let n = 0
    for (const c of this.queue) n += c.length
    return n
  }

  send (data: Uint8Array): boolean {
    if (this.closedState !== 'open') return false
    if (data.length > 0) {
      // The socket owns `data` (ITcpSocket.send), so it may wait for the flush uncopied.
      this.outgoing.push(data)
      this.outgoingBytes += data.length
      if (this.outgoingBytes >= MAX_CHUNK_BYTES) this.flushOutgoing()
      else if (!this.flushScheduled) {
        this.flushScheduled = true
        queueMicrotask(() => { this.flushScheduled = false; this.flushOutgoing() })
      }
    }
    this.inflight += data.length
    if (this.inflight > this.settings.sendWindowBytes) { this.blocked = true; return false }
    return true
  }

  pause (): void { this.paused = true }

  /** Frames what was sent since the last flush: TCP_SEND frames of at most MAX_CHUNK_BYTES. */
  private flushOutgoing (): void {
    while (this.outgoing.length > 0) {
      const parts: Uint8Array[] = []
      let bytes = 0
      while (this.outgoing.length > 0 && bytes < MAX_CHUNK_BYTES) {
        const head = this.outgoing[0]!
        const room = MAX_CHUNK_BYTES - bytes
        if (head.length <= room) {
          parts.push(head)
          bytes += head.length
          this.outgoing.shift()
        } else {
          parts.push(head.subarray(0, room))
          bytes += room
          this.outgoing[0] = head.subarray(room)
        }
      }
      this.outgoingBytes -= bytes
      if (this.closedState !== 'closed') this.conn.send(tcpDataFrameOf(Op.TCP_SEND, this.id, parts, bytes))
    }
  }

  resume (): void {
    if (!this.paused) return
    this.paused = false
    this.flushQueue()
  }

  onData (cb: (data: Uint8Array) => void): void {
    this.dataCb = cb
    this.flushQueue()
  }

  /** Chunks are views of a WebSocket message nothing else holds: owned, as onData needs anyway. */
  onBorrowedData = (cb: (data: Uint8Array) => void): void => { this.onData(cb) }

  onDrain (cb: () => void): void { this.drainCb = cb }

  onClose (cb: (reason?: LodestoneError) => void): void {
    this.closeCb = cb
    if (this.closeReason !== null) this.reportClose()
  }

  close (): void {
    if (this.closedState !== 'open') return
    this.flushOutgoing()
    this.closedState = 'closing'
    this.conn.send(tcpCloseFrame(this.id, false, 0))
    this.conn.unregister(this.id, this)
    this.queue.length = 0
    this.finish(undefined)
  }

  /** Starts TLS on this connection (for https through the bridge). */
  async upgradeTls (serverName: string, options: { insecure?: boolean } = {}): Promise<void> {
    const rid = this.conn.requestId()
    const answer = await this.conn.request(rid, tlsUpgradeFrame(rid, this.id, options.insecure === true ? TLS_FLAG_INSECURE : 0, serverName))
    const reader = new PayloadReader(answer.payload)
    reader.u32('socket id')
    const status = reader.u8('status')
    const errno = reader.u32('errno')
    if (status !== Status.OK) throw new LodestoneError('PEER_CONNECT_FAILED', { address: `${this.remoteAddress}:${this.remotePort}`, reason: `TLS: ${errnoName(errno)}` })
  }

  onFrame (frame: Frame, r: PayloadReader): void {
    switch (frame.opcode) {
      case Op.TCP_RECV: {
        if (this.closedState !== 'open') return
        const data = r.rest()
        if (data.length === 0) return
        if (this.recvBases !== null) {
          this.recvBases.set(data.buffer, this.recvOffset - data.byteOffset)
          this.recvOffset += data.length
        }
        if (this.paused || this.dataCb === null || this.queue.length > 0) { this.queue.push(data); return }
        this.deliver(data)
        return
      }
      case Op.TCP_SEND_ACK: {
        const n = r.u32('bytes')
        this.inflight = Math.max(0, this.inflight - n)
        if (this.blocked && this.inflight <= this.settings.sendLowWaterBytes && this.closedState === 'open') {
          this.blocked = false
          this.drainCb?.()
        }
        return
      }
      case Op.TCP_CLOSE: {
        const hadError = r.u8('had error') !== 0
        const errno = r.u32('errno')
        const reason = closedError(hadError ? errnoName(errno) : 'remote closed')
        this.conn.unregister(this.id, this)
        if (this.queue.length > 0) { this.pendingClose = { reason }; return }
        this.finish(reason)
        return
      }
      default:
    }
  }

  onBridgeClosed (): void {
    this.queue.length = 0
    this.finish(closedError('io-daemon connection closed'))
  }

  private deliver (data: Uint8Array): void {
    this.dataCb?.(data)
    this.unackedRecv += data.length
    if (this.unackedRecv >= this.settings.recvAckBytes && this.closedState === 'open') {
      this.conn.send(tcpAckFrame(Op.TCP_RECV_ACK, this.id, this.unackedRecv))
      this.unackedRecv = 0
    }
  }

  private flushQueue (): void {
    while (!this.paused && this.dataCb !== null && this.queue.length > 0 && this.closedState === 'open') {
      const data = this.queue.shift()
      if (data !== undefined) this.deliver(data)
    }
    if (this.queue.length === 0 && this.pendingClose !== null) {
      const { reason } = this.pendingClose
      this.pendingClose = null
      this.finish(reason)
    }
  }

  private finish (reason: LodestoneError | undefined): void {
    if (this.closedState === 'closed') return
    this.closedState = 'closed'
    this.closeReason = reason !== undefined ? { reason } : {}
    // onClose follows close() asynchronously, as with the other adapters.
    queueMicrotask(() => { this.reportClose() })
  }

  private reportClose (): void {
    if (this.closeReported || this.closeCb === null || this.closeReason === null) return
    this.closeReported = true
    const cb = this.closeCb
    this.dataCb = null
    this.drainCb = null
    cb(this.closeReason.reason)
  }
}

class DaemonTcpServer implements ITcpServer, SocketFrameHandler {
  private connectionCb: ((socket: ITcpSocket) => void) | null = null
  private readonly early: ITcpSocket[] = []
  private closed = false

  constructor (
    private readonly conn: DaemonConnection,
    private readonly id: number,
    readonly port: number,
    private readonly settings: DaemonSocketSettings
  ) {
    conn.register(id, this)
  }

  onConnection (cb: (socket: ITcpSocket) => void): void {
    this.connectionCb = cb
    for (const s of this.early.splice(0)) cb(s)
  }

  onFrame (frame: Frame, r: PayloadReader): void {
    if (frame.opcode !== Op.TCP_ACCEPT || this.closed) return
    const socketId = r.u32('socket id')
    const localPort = r.u16('local port')
    const remotePort = r.u16('remote port')
    const remoteAddress = r.restText('remote address')
    const socket = new DaemonTcpSocket(this.conn, socketId, { remoteAddress, remotePort, localPort }, this.settings)
    if (this.connectionCb !== null) this.connectionCb(socket)
    else this.early.push(socket)
  }

  onBridgeClosed (): void { this.closed = true }

  close (): Promise<void> {
    if (!this.closed) {
      this.closed = true
      this.conn.send(idFrame(Op.TCP_STOP_LISTEN, this.id))
      this.conn.unregister(this.id, this)
    }
    return Promise.resolve()
  }
}

export class DaemonUdpSocket implements IUdpSocket, SocketFrameHandler {
  private messageCb: ((data: Uint8Array, remote: UdpRemote) => void) | null = null
  private closed = false

  constructor (private readonly conn: DaemonConnection, private readonly id: number, readonly port: number) {
    conn.register(id, this)
  }

  send (data: Uint8Array, host: string, port: number): void {
    if (this.closed) return
    this.conn.send(udpDataFrame(Op.UDP_SEND, this.id, host, port, data))
  }

  onMessage (cb: (data: Uint8Array, remote: UdpRemote) => void): void { this.messageCb = cb }

  /** Joins a multicast group (LSD, SSDP). */
  joinMulticast (group: string): void {
    if (!this.closed) this.conn.send(multicastFrame(Op.MCAST_JOIN, 0, this.id, group))
  }

  onFrame (frame: Frame): void {
    if (frame.opcode !== Op.UDP_RECV || this.closed) return
    const d = readUdpData(frame.payload)
    this.messageCb?.(d.data, { address: d.host, port: d.port })
  }

  onBridgeClosed (): void { this.closed = true }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.conn.send(idFrame(Op.UDP_CLOSE, this.id))
    this.conn.unregister(this.id, this)
  }
}

export class DaemonSocketFactory implements ISocketFactory {
  private readonly settings: DaemonSocketSettings

  constructor (private readonly conn: DaemonConnection, settings: Partial<DaemonSocketSettings> = {}) {
    this.settings = { ...defaultDaemonSocketSettings, ...settings }
  }

  async connectTcp (host: string, port: number, options: ConnectOptions = {}): Promise<DaemonTcpSocket> {
    const address = `${host}:${port}`
    const { signal } = options
    if (signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'connect' })
    if (!Number.isInteger(port) || port <= 0 || port > 0xffff) throw new LodestoneError('PEER_CONNECT_FAILED', { address, reason: 'EINVAL: bad port' })
    const id = this.conn.allocateId()
    const rid = this.conn.requestId()
    // Reserve the id for the socket's frames before the answer can arrive.
    const placeholder: SocketFrameHandler = { onFrame: () => {}, onBridgeClosed: () => {} }
    this.conn.register(id, placeholder)
    const timeoutMs = options.timeoutMs ?? 10_000
    return new Promise<DaemonTcpSocket>((resolve, reject) => {
      let settled = false
      const cleanup = (): void => {
        settled = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const giveUp = (error: LodestoneError): void => {
        if (settled) return
        cleanup()
        this.conn.cancel(rid)
        this.conn.unregister(id, placeholder)
        this.conn.send(tcpCloseFrame(id, false, 0))
        reject(error)
      }
      const onAbort = (): void => { giveUp(new LodestoneError('ABORTED', { operation: 'connect' })) }
      const timer = setTimeout(() => { giveUp(new LodestoneError('PEER_CONNECT_FAILED', { address, reason: 'timeout' })) }, timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.conn.request(rid, tcpConnectFrame(rid, id, host, port)).then((answer) => {
        if (settled) return
        cleanup()
        this.conn.unregister(id, placeholder)
        const reader = new PayloadReader(answer.payload)
        reader.u32('socket id')
        const status = reader.u8('status')
        const errno = reader.u32('errno')
        if (status !== Status.OK) {
          reject(new LodestoneError('PEER_CONNECT_FAILED', { address, reason: errnoName(errno) }))
          return
        }
        const localPort = reader.u16('local port')
        const remotePort = reader.u16('remote port')
        const remoteAddress = reader.restText('remote address')
        resolve(new DaemonTcpSocket(this.conn, id, { remoteAddress: remoteAddress === '' ? host : remoteAddress, remotePort: remotePort === 0 ? port : remotePort, localPort }, this.settings))
      }, (error: unknown) => {
        if (settled) return
        cleanup()
        this.conn.unregister(id, placeholder)
        reject(error instanceof LodestoneError ? error : new LodestoneError('PEER_CONNECT_FAILED', { address, reason: String(error) }))
      })
    })
  }

  async listenTcp (port: number, host?: string): Promise<ITcpServer> {
    const id = this.conn.allocateId()
    const rid = this.conn.requestId()
    this.conn.register(id, { onFrame: () => {}, onBridgeClosed: () => {} })
    let answer: Frame
    try {
      answer = await this.conn.request(rid, tcpListenFrame(rid, id, port, host ?? ''))
    } catch (error) {
      this.conn.unregister(id)
      throw new LodestoneError('LISTEN_FAILED', { address: host ?? '0.0.0.0', port, reason: error instanceof Error ? error.message : String(error) })
    }
    const r = new PayloadReader(answer.payload)
    r.u32('server id')
    const status = r.u8('status')
    const bound = r.u16('port')
    const errno = r.u32('errno')
    if (status !== Status.OK) {
      this.conn.unregister(id)
      throw new LodestoneError('LISTEN_FAILED', { address: host ?? '0.0.0.0', port, reason: errnoName(errno) })
    }
    return new DaemonTcpServer(this.conn, id, bound, this.settings)
  }

  async bindUdp (port: number, host?: string): Promise<DaemonUdpSocket> {
    const id = this.conn.allocateId()
    const rid = this.conn.requestId()
    this.conn.register(id, { onFrame: () => {}, onBridgeClosed: () => {} })
    let answer: Frame
    try {
      answer = await this.conn.request(rid, udpBindFrame(rid, id, port, host ?? ''))
    } catch (error) {
      this.conn.unregister(id)
      throw new LodestoneError('LISTEN_FAILED', { address: host ?? '0.0.0.0', port, reason: error instanceof Error ? error.message : String(error) })
    }
    const r = new PayloadReader(answer.payload)
    r.u32('socket id')
    const status = r.u8('status')
    const bound = r.u16('port')
    const errno = r.u32('errno')
    if (status !== Status.OK) {
      this.conn.unregister(id)
      throw new LodestoneError('LISTEN_FAILED', { address: host ?? '0.0.0.0', port, reason: errno === Errno.EADDRINUSE ? 'EADDRINUSE' : errnoName(errno) })
    }
    return new DaemonUdpSocket(this.conn, id, bound)
  }
}
