/**
 * One authenticated WebSocket client of the bridge: its TCP sockets, TCP listeners and UDP
 * sockets, and the flow control between them and the WebSocket (see bridge-protocol.ts).
 *
 * - A frame that cannot be parsed (short, wrong version, lengths that do not add up) is a
 *   protocol violation: the session sends ERROR and closes. Nothing a client sends throws out of
 *   this module.
 * - Receive window per TCP socket: reading stops when {@link RECV_WINDOW_BYTES} are sent and not
 *   acknowledged, or while the WebSocket's send buffer holds more than {@link WS_HIGH_WATER_BYTES}.
 * - Dialled sockets read straight into pooled TCP_RECV frames (recv-frame-pool.ts): one read, one
 *   frame, no copy. Accepted and TLS sockets (no `onread` there) gather their 'data' chunks of an
 *   event-loop turn into frames.
 * - Send: kernel-accepted bytes are acknowledged (coalesced per tick); a client that sends far
 *   beyond its window ({@link SEND_HARD_LIMIT_BYTES} queued) has its socket closed.
 * - Every TCP_RECV payload is also kept for a while (received-stream-store.ts, at most
 *   {@link SocketSessionOptions.recvHoldBytes}), so FILE_WRITE_RECV can write a range of it to a
 *   file without the client sending those bytes back.
 * - Everything the session opened is closed with it.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createHash } from 'node:crypto'
import { isIPv6 } from 'node:net'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import type { WebSocket } from 'ws'
import {
  BridgeFrameError, Errno, Op, PayloadReader, SERVER_ID_BASE, Status, TLS_FLAG_INSECURE,
  decodeFrame, errorFrame, fileWriteResultFrame, readFileWrite, readFileWriteRecv, RECV_HASH_MISMATCH, RECV_HOLD_BYTES, RECV_NOT_HELD, RECV_RANGE_INVALID,
  MAX_FILE_WRITE_RECV_BYTES, MAX_FILE_WRITE_RECV_SEGMENTS, type FileWriteRecv, tcpAcceptFrame, tcpAckFrame, tcpCloseFrame, tcpConnectedFrame, tcpDataFrameOf,
  tcpListenResultFrame, tlsUpgradedFrame, udpBoundFrame, udpDataFrame, readUdpData, encodeFrame,
  FILE_WRITE_HEADER_BYTES, HEADER_BYTES, MAX_FRAME_BYTES
} from '@lodestone/engine/adapters/daemon'
import { ReceivedStreamStore, type HeldRange } from './received-stream-store.js'
import { RECV_PAYLOAD_OFFSET, RecvFramePool } from './recv-frame-pool.js'

/** Unacknowledged TCP_RECV bytes per socket before the daemon stops reading it. */
export const RECV_WINDOW_BYTES = 4 * 1024 * 1024
/**
 * Most peer bytes in one TCP_RECV frame (one read of a dialled socket; reads of other sockets are
 * gathered up to this within an event-loop turn): every WebSocket message costs the browser work
 * in four threads (network service, IPC, bridge worker, page); above ~1 MiB Chromium maps each
 * message's buffer afresh.
 */
export const RECV_FRAME_BYTES = 512 * 1024
/**
 * Reads shorter than this are copied into a frame of their own and the pooled buffer reads again:
 * a frame waiting in the WebSocket's queue pins its whole buffer, and many short frames must not
 * pin many frame-sized buffers.
 */
const SMALL_READ_BYTES = 32 * 1024
/** WebSocket send buffer above which every socket of the session stops reading. */
export const WS_HIGH_WATER_BYTES = 8 * 1024 * 1024
const WS_LOW_WATER_BYTES = 2 * 1024 * 1024
/** Bytes queued towards one TCP peer beyond which the client is ignoring its window. */
export const SEND_HARD_LIMIT_BYTES = 16 * 1024 * 1024
/**
 * FILE_WRITE bytes received and not yet written, per session, beyond which the client is ignoring
 * its window (the engine's BridgeFileWriter keeps 16 MiB in flight): the session is closed.
 */
export const FILE_WRITE_HARD_LIMIT_BYTES = 64 * 1024 * 1024
/** Backstop for connects; the engine runs its own, shorter time-outs. */
const CONNECT_TIMEOUT_MS = 30_000
/** Most sockets, listeners and UDP sockets one session may hold. */
const MAX_HANDLES = 4096

interface TcpEntry {
  socket: Socket | TLSSocket
  /** TCP_RECV bytes not yet acknowledged. */
  unacked: number
  /** Write-side bytes accepted by the kernel, not yet acknowledged to the client. */
  sendAck: number
  connected: boolean
  closed: boolean
  /** Bytes read from the peer and not yet framed (sent at the end of this event-loop turn). */
  recv: Buffer[]
  recvBytes: number
  /** Dialled sockets: the pooled frame the kernel reads into next (see SocketSession.readInto); else null. */
  reads: ReadTarget | null
}

interface ReadTarget { frame: Buffer | null }

function errnoOf (err: unknown): number {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  switch (code) {
    case 'ECONNREFUSED': return Errno.ECONNREFUSED
    case 'ETIMEDOUT': return Errno.ETIMEDOUT
    case 'EHOSTUNREACH': case 'ENETUNREACH': case 'ENOTFOUND': case 'EAI_AGAIN': return Errno.EHOSTUNREACH
    case 'EADDRINUSE': return Errno.EADDRINUSE
    case 'EACCES': case 'EPERM': case 'EADDRNOTAVAIL': return Errno.EACCES
    case 'ECONNRESET': return Errno.ECONNRESET
    case 'EPIPE': return Errno.EPIPE
    case 'EINVAL': return Errno.EINVAL
    default: return Errno.OTHER
  }
}

function statusOf (errno: number): number {
  switch (errno) {
    case Errno.ECONNREFUSED: return Status.REFUSED
    case Errno.ETIMEDOUT: return Status.TIMEOUT
    case Errno.EHOSTUNREACH: return Status.UNREACHABLE
    case Errno.EADDRINUSE: return Status.IN_USE
    case Errno.EACCES: return Status.DENIED
    default: return Status.FAILED
  }
}

/** File writes the session may carry (FileService in the daemon). */
export interface SessionFiles {
  /**
   * `data`: one buffer, or a message's parts written back to back. `received`: the bytes are the
   * session's held received data (FILE_WRITE_RECV), for the counters.
   */
  writeByHandle (handle: number, offset: number, data: Uint8Array | readonly Uint8Array[], received?: boolean): Promise<number>
  describeError (err: unknown): { code: string, message: string }
}

/** WebSocket messages and bytes per direction, summed over a daemon's sessions (diagnostics, bench). */
export interface BridgeTraffic {
  in: { frames: number, bytes: number }
  out: { frames: number, bytes: number }
  /** FILE_WRITE_RECVs answered RECV_NOT_HELD (the client then sent the bytes). */
  recvNotHeld?: number
  /** FILE_WRITE_RECVs answered RECV_HASH_MISMATCH (nothing written). */
  recvHashMismatch?: number
}

export interface SocketSessionOptions {
  /** Received bytes kept for FILE_WRITE_RECV (0: none, every such write is RECV_NOT_HELD). @default RECV_HOLD_BYTES */
  recvHoldBytes?: number
}

export interface SocketSessionStats {
  tcpSockets: number
  listeners: number
  udpSockets: number
}

export class SocketSession {
  private readonly tcp = new Map<number, TcpEntry>()
  private readonly servers = new Map<number, Server>()
  private readonly udp = new Map<number, UdpSocket>()
  private nextServerSideId = SERVER_ID_BASE
  /** Bytes handed to ws.send whose callback has not run. */
  private wsPending = 0
  private wsCongested = false
  private ackFlushScheduled = false
  private readonly recvFlush = new Map<number, TcpEntry>()
  private recvFlushScheduled = false
  private closed = false
  /** FILE_WRITE bytes being written. */
  private fileWriteBytes = 0
  private readonly recvFrames = new RecvFramePool(RECV_FRAME_BYTES)
  private readonly received: ReceivedStreamStore

  constructor (
    private readonly ws: WebSocket,
    private readonly onViolation: (reason: string) => void,
    private readonly files?: SessionFiles,
    private readonly traffic: BridgeTraffic = { in: { frames: 0, bytes: 0 }, out: { frames: 0, bytes: 0 } },
    options: SocketSessionOptions = {}
  ) {
    this.received = new ReceivedStreamStore(options.recvHoldBytes ?? RECV_HOLD_BYTES)
  }

  /** Received bytes held for FILE_WRITE_RECV. */
  get heldReceivedBytes (): number { return this.received.heldBytes }

  stats (): SocketSessionStats {
    return { tcpSockets: this.tcp.size, listeners: this.servers.size, udpSockets: this.udp.size }
  }

  /**
   * Handles one binary message after authentication: one buffer, or the payloads of the WebSocket
   * frames it came in. Never throws.
   */
  onMessage (message: Uint8Array | readonly Uint8Array[]): void {
    if (this.closed) return
    const parts = message instanceof Uint8Array ? [message] : message
    let bytes = 0
    for (const p of parts) bytes += p.length
    this.traffic.in.frames++
    this.traffic.in.bytes += bytes
    try {
      if (parts.length <= 1) this.dispatch(parts[0] ?? new Uint8Array(0)) // an empty message is a short frame
      else this.dispatchParts(parts, bytes)
    } catch (err) {
      if (err instanceof BridgeFrameError) {
        this.send(errorFrame(0, err.message))
        this.onViolation(err.message)
      } else {
        this.send(errorFrame(0, 'internal error'))
      }
    }
  }

  private dispatch (message: Uint8Array): void {
    const frame = decodeFrame(message)
    const r = new PayloadReader(frame.payload)
    switch (frame.opcode) {
      case Op.TCP_CONNECT: {
        const id = r.u32('socket id'); const port = r.u16('port'); const host = r.restText('host')
        this.connectTcp(frame.requestId, id, host, port)
        return
      }
      case Op.TCP_SEND: {
        const id = r.u32('socket id'); const data = r.rest()
        this.sendTcp(id, data)
        return
      }
      case Op.TCP_RECV_ACK: {
        const id = r.u32('socket id'); const bytes = r.u32('bytes'); r.end()
        this.ackRecv(id, bytes)
        return
      }
      case Op.TCP_CLOSE: {
        const id = r.u32('socket id')
        const entry = this.tcp.get(id)
        if (entry !== undefined) { entry.closed = true; this.tcp.delete(id); entry.socket.destroySoon() }
        return
      }
      case Op.TCP_LISTEN: {
        const id = r.u32('server id'); const port = r.u16('port'); const host = r.restText('bind address')
        this.listenTcp(frame.requestId, id, port, host)
        return
      }
      case Op.TCP_STOP_LISTEN: {
        const id = r.u32('server id'); r.end()
        this.servers.get(id)?.close()
        this.servers.delete(id)
        return
      }
      case Op.TLS_UPGRADE: {
        const id = r.u32('socket id'); const flags = r.u8('flags'); const name = r.restText('server name')
        this.upgradeTls(frame.requestId, id, flags, name)
        return
      }
      case Op.UDP_BIND: {
        const id = r.u32('socket id'); const port = r.u16('port'); const host = r.restText('bind address')
        this.bindUdp(frame.requestId, id, port, host)
        return
      }
      case Op.UDP_SEND: {
        const d = readUdpData(frame.payload)
        const s = this.udp.get(d.id)
        if (s !== undefined) s.send(d.data, d.port, d.host, () => {})
        return
      }
      case Op.UDP_CLOSE: {
        const id = r.u32('socket id'); r.end()
        const s = this.udp.get(id)
        this.udp.delete(id)
        try { s?.close() } catch {}
        return
      }
      case Op.MCAST_JOIN:
      case Op.MCAST_LEAVE: {
        const id = r.u32('socket id'); const group = r.restText('group')
        const s = this.udp.get(id)
        if (s === undefined) return
        try {
          if (frame.opcode === Op.MCAST_JOIN) s.addMembership(group)
          else s.dropMembership(group)
        } catch (err) { this.send(errorFrame(frame.requestId, `multicast ${group}: ${errnoOf(err)}`)) }
        return
      }
      case Op.FILE_WRITE: {
        const w = readFileWrite(frame.payload)
        this.writeFile(frame.requestId, w.handle, w.offset, w.data, w.data.length)
        return
      }
      case Op.FILE_WRITE_RECV:
        this.writeReceived(frame.requestId, readFileWriteRecv(frame.payload, frame.flags))
        return
      default:
        throw new BridgeFrameError(`unexpected opcode 0x${frame.opcode.toString(16)}`)
    }
  }

  /**
   * A message that came in several WebSocket frames (Chromium sends at most ~128 KiB per frame, so
   * a 1 MiB FILE_WRITE arrives as 9 or more): a FILE_WRITE whose header is in the first frame is
   * written from the frames as they are, with no joined copy of its MiB; anything else is joined.
   */
  private dispatchParts (parts: readonly Uint8Array[], bytes: number): void {
    const first = parts[0]!
    if (first.length >= HEADER_BYTES + FILE_WRITE_HEADER_BYTES && first[1] === Op.FILE_WRITE) {
      if (bytes > MAX_FRAME_BYTES) throw new BridgeFrameError(`frame of ${bytes} bytes is over the limit`)
      const frame = decodeFrame(first)
      const w = readFileWrite(frame.payload)
      this.writeFile(frame.requestId, w.handle, w.offset, [w.data, ...parts.slice(1)], bytes - HEADER_BYTES - FILE_WRITE_HEADER_BYTES)
      return
    }
    this.dispatch(Buffer.concat(parts, bytes))
  }

  private writeFile (requestId: number, handle: number, offset: number, data: Uint8Array | readonly Uint8Array[], length: number, held?: HeldRange): void {
    const files = this.files
    if (files === undefined) { this.send(errorFrame(requestId, 'no file service')); return }
    this.fileWriteBytes += length
    if (this.fileWriteBytes > FILE_WRITE_HARD_LIMIT_BYTES) {
      if (held !== undefined) this.received.unpin(held)
      throw new BridgeFrameError('client ignored its file write window')
    }
    // `data` is (views of) the WebSocket message, which nothing else holds, or held received
    // data pinned until the write settles: written without a copy.
    files.writeByHandle(handle, offset, data, held !== undefined).then((written) => {
      this.send(fileWriteResultFrame(requestId, written))
    }, (err: unknown) => {
      this.send(fileWriteResultFrame(requestId, 0, files.describeError(err)))
    }).finally(() => {
      this.fileWriteBytes -= length
      if (held !== undefined) this.received.unpin(held)
    })
  }

  /**
   * FILE_WRITE_RECV: writes held received bytes. Counts and lengths out of bounds are answered
   * RECV_RANGE_INVALID, bytes not held (unknown socket, dropped, never received) RECV_NOT_HELD,
   * bytes whose SHA-1 is not the one the request carries RECV_HASH_MISMATCH; in each case nothing
   * is written and the session goes on.
   */
  private writeReceived (requestId: number, w: FileWriteRecv): void {
    const refuse = (code: string, message: string): void => { this.send(fileWriteResultFrame(requestId, 0, { code, message })) }
    const { segments } = w
    if (segments.length === 0 || segments.length > MAX_FILE_WRITE_RECV_SEGMENTS) { refuse(RECV_RANGE_INVALID, `${segments.length} segments`); return }
    let length = 0
    for (const s of segments) {
      if (s.length === 0) { refuse(RECV_RANGE_INVALID, 'empty segment'); return }
      length += s.length
    }
    if (length > MAX_FILE_WRITE_RECV_BYTES) { refuse(RECV_RANGE_INVALID, `${length} bytes`); return }
    const held: HeldRange = { parts: [], chunks: [] }
    for (const s of segments) {
      if (this.received.take(s.id, s.offset, s.length, held) === null) {
        this.received.unpin(held)
        this.traffic.recvNotHeld = (this.traffic.recvNotHeld ?? 0) + 1
        refuse(RECV_NOT_HELD, `socket ${s.id} bytes ${s.offset}+${s.length} not held`)
        return
      }
    }
    if (w.sha1 !== undefined) {
      const hash = createHash('sha1')
      for (const part of held.parts) hash.update(part)
      if (!hash.digest().equals(w.sha1)) {
        this.received.unpin(held)
        this.traffic.recvHashMismatch = (this.traffic.recvHashMismatch ?? 0) + 1
        refuse(RECV_HASH_MISMATCH, `the ${length} bytes do not have the expected SHA-1`)
        return
      }
    }
    this.writeFile(requestId, w.handle, w.offset, held.parts, length, held)
  }

  private checkClientId (id: number): void {
    if (id >= SERVER_ID_BASE) throw new BridgeFrameError('client ids must be below 0x10000')
    if (this.tcp.has(id) || this.udp.has(id) || this.servers.has(id)) throw new BridgeFrameError(`id ${id} in use`)
    if (this.tcp.size + this.udp.size + this.servers.size >= MAX_HANDLES) throw new BridgeFrameError('too many sockets')
  }

  private connectTcp (requestId: number, id: number, host: string, port: number): void {
    this.checkClientId(id)
    const reads: ReadTarget = { frame: null }
    // `buffer` is first asked for while connecting, `callback` only once the entry exists.
    const socket = createConnection({ host, port, onread: { buffer: () => this.readInto(reads), callback: (n: number) => { this.onRead(id, entry, n); return true } } })
    const entry: TcpEntry = { socket, unacked: 0, sendAck: 0, connected: false, closed: false, recv: [], recvBytes: 0, reads }
    this.tcp.set(id, entry)
    this.received.open(id)
    socket.setNoDelay(true)
    const timer = setTimeout(() => { socket.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })) }, CONNECT_TIMEOUT_MS)
    socket.once('connect', () => {
      clearTimeout(timer)
      entry.connected = true
      this.send(tcpConnectedFrame(requestId, id, Status.OK, 0, socket.localPort ?? 0, socket.remotePort ?? 0, socket.remoteAddress ?? ''))
    })
    this.wireTcp(id, entry, (err) => {
      clearTimeout(timer)
      if (!entry.connected) {
        const errno = errnoOf(err)
        this.send(tcpConnectedFrame(requestId, id, statusOf(errno), errno))
        return true
      }
      return false
    })
  }

  /**
   * Data, close and error handling shared by dialled and accepted sockets. `onEarlyError` answers
   * a failed connect (returns true when it did, so no TCP_CLOSE follows).
   */
  private wireTcp (id: number, entry: TcpEntry, onEarlyError?: (err: unknown) => boolean): void {
    const { socket } = entry
    let error: unknown
    // A dialled socket reads through `onread` (readInto / onRead) and emits no 'data'.
    socket.on('data', (chunk: Buffer) => {
      if (entry.closed) return
      entry.unacked += chunk.length
      entry.recv.push(chunk)
      entry.recvBytes += chunk.length
      if (entry.recvBytes >= RECV_FRAME_BYTES) this.flushRecv(id, entry)
      else this.scheduleRecvFlush(id, entry)
      if (entry.unacked >= RECV_WINDOW_BYTES || this.wsCongested) socket.pause()
    })
    socket.on('error', (err) => { error = err })
    socket.on('close', () => {
      if (this.tcp.get(id) !== entry) return
      this.tcp.delete(id)
      if (entry.closed) return
      entry.closed = true
      if (onEarlyError !== undefined && error !== undefined && onEarlyError(error)) return
      if (!entry.connected && onEarlyError !== undefined) { this.send(tcpConnectedFrame(0, id, Status.FAILED, Errno.OTHER)); return }
      this.flushRecv(id, entry)
      this.send(tcpCloseFrame(id, error !== undefined, error !== undefined ? errnoOf(error) : 0))
    })
  }

  /** Where the kernel writes `entry`'s next read: the payload of a pooled TCP_RECV frame. */
  private readInto (reads: ReadTarget): Buffer {
    reads.frame ??= this.recvFrames.take()
    return reads.frame.subarray(RECV_PAYLOAD_OFFSET)
  }

  /**
   * `n` bytes arrived in the payload of `entry.reads.frame`: the frame goes out as it is (its header
   * written in front), or — a short read — as a copy, and the buffer reads again.
   */
  private onRead (id: number, entry: TcpEntry, n: number): void {
    const reads = entry.reads
    const frame = reads?.frame ?? null
    if (entry.closed || reads === null || frame === null) return
    entry.unacked += n
    if (n < SMALL_READ_BYTES) {
      this.sendRecv(id, tcpDataFrameOf(Op.TCP_RECV, id, [frame.subarray(RECV_PAYLOAD_OFFSET, RECV_PAYLOAD_OFFSET + n)], n))
    } else {
      reads.frame = null
      const out = encodeFrame(Op.TCP_RECV, 0, 4 + n, (v) => { v.setUint32(0, id, true) }, 0, frame)
      // Back to the pool once both the WebSocket and the received-stream store let go of it.
      let holders = 2
      const done = (): void => { if (--holders === 0) this.recvFrames.give(frame) }
      this.sendRecv(id, out, frame.length, done)
    }
    if (entry.unacked >= RECV_WINDOW_BYTES || this.wsCongested) entry.socket.pause()
  }

  /** Frames what `entry` read since the last flush: TCP_RECV frames of at most RECV_FRAME_BYTES. */
  private flushRecv (id: number, entry: TcpEntry): void {
    while (entry.recv.length > 0) {
      const parts: Buffer[] = []
      let bytes = 0
      while (entry.recv.length > 0 && bytes < RECV_FRAME_BYTES) {
        const head = entry.recv[0]!
        const room = RECV_FRAME_BYTES - bytes
        if (head.length <= room) { parts.push(head); bytes += head.length; entry.recv.shift() } else {
          parts.push(head.subarray(0, room)); bytes += room; entry.recv[0] = head.subarray(room)
        }
      }
      entry.recvBytes -= bytes
      this.sendRecv(id, tcpDataFrameOf(Op.TCP_RECV, id, parts, bytes))
    }
  }

  /** Reads of one poll phase (libuv reads a readable socket several times) go out as one frame. */
  private scheduleRecvFlush (id: number, entry: TcpEntry): void {
    this.recvFlush.set(id, entry)
    if (this.recvFlushScheduled) return
    this.recvFlushScheduled = true
    setImmediate(() => {
      this.recvFlushScheduled = false
      const due = [...this.recvFlush]
      this.recvFlush.clear()
      for (const [sid, e] of due) if (!e.closed && this.tcp.get(sid) === e) this.flushRecv(sid, e)
    })
  }

  private sendTcp (id: number, data: Uint8Array): void {
    const entry = this.tcp.get(id)
    if (entry === undefined || entry.closed) return // closed meanwhile: the client learns from TCP_CLOSE
    if (entry.socket.writableLength > SEND_HARD_LIMIT_BYTES) {
      entry.socket.destroy(Object.assign(new Error('client ignored its send window'), { code: 'EPIPE' }))
      return
    }
    const n = data.length
    // `data` is a view of the WebSocket message, which nothing else holds: no copy needed.
    entry.socket.write(data, () => {
      if (entry.closed) return
      entry.sendAck += n
      this.scheduleAckFlush()
    })
  }

  private scheduleAckFlush (): void {
    if (this.ackFlushScheduled) return
    this.ackFlushScheduled = true
    setImmediate(() => {
      this.ackFlushScheduled = false
      for (const [id, entry] of this.tcp) {
        if (entry.sendAck === 0) continue
        this.send(tcpAckFrame(Op.TCP_SEND_ACK, id, entry.sendAck))
        entry.sendAck = 0
      }
    })
  }

  private ackRecv (id: number, bytes: number): void {
    const entry = this.tcp.get(id)
    if (entry === undefined) return
    entry.unacked = Math.max(0, entry.unacked - bytes)
    if (entry.unacked < RECV_WINDOW_BYTES / 2 && !this.wsCongested && entry.socket.isPaused()) entry.socket.resume()
  }

  private listenTcp (requestId: number, id: number, port: number, host: string): void {
    this.checkClientId(id)
    const server = createServer({ pauseOnConnect: false, noDelay: true })
    this.servers.set(id, server)
    let listening = false
    server.on('error', (err) => {
      if (!listening) {
        this.servers.delete(id)
        const errno = errnoOf(err)
        this.send(tcpListenResultFrame(requestId, id, statusOf(errno), 0, errno))
      }
    })
    server.on('connection', (socket) => {
      if (this.closed || this.tcp.size >= MAX_HANDLES) { socket.destroy(); return }
      const sid = this.nextServerSideId++
      if (this.nextServerSideId > 0xffff_fff0) this.nextServerSideId = SERVER_ID_BASE
      const entry: TcpEntry = { socket, unacked: 0, sendAck: 0, connected: true, closed: false, recv: [], recvBytes: 0, reads: null }
      this.tcp.set(sid, entry)
      this.received.open(sid)
      this.send(tcpAcceptFrame(id, sid, socket.localPort ?? 0, socket.remotePort ?? 0, socket.remoteAddress ?? ''))
      this.wireTcp(sid, entry)
    })
    server.listen({ port, host: host === '' ? undefined : host }, () => {
      listening = true
      const address = server.address()
      const bound = typeof address === 'object' && address !== null ? address.port : 0
      this.send(tcpListenResultFrame(requestId, id, Status.OK, bound, 0))
    })
  }

  private upgradeTls (requestId: number, id: number, flags: number, serverName: string): void {
    const entry = this.tcp.get(id)
    if (entry === undefined || !entry.connected || entry.closed) {
      this.send(tlsUpgradedFrame(requestId, id, Status.FAILED, Errno.EINVAL))
      return
    }
    this.flushRecv(id, entry)
    const raw = entry.socket
    raw.removeAllListeners('data')
    raw.removeAllListeners('close')
    raw.removeAllListeners('error')
    // TLS reads the raw socket from now on; a late `onread` call of the old entry sends nothing.
    entry.closed = true
    const secure = tlsConnect({
      socket: raw,
      servername: isIPv6(serverName) || /^[\d.]+$/.test(serverName) ? undefined : serverName,
      rejectUnauthorized: (flags & TLS_FLAG_INSECURE) === 0
    })
    const upgraded: TcpEntry = { socket: secure, unacked: 0, sendAck: 0, connected: false, closed: false, recv: [], recvBytes: 0, reads: null }
    this.tcp.set(id, upgraded)
    secure.once('secureConnect', () => {
      upgraded.connected = true
      this.send(tlsUpgradedFrame(requestId, id, Status.OK, 0))
    })
    this.wireTcp(id, upgraded, (err) => {
      if (upgraded.connected) return false
      this.send(tlsUpgradedFrame(requestId, id, Status.FAILED, errnoOf(err)))
      return true
    })
  }

  private bindUdp (requestId: number, id: number, port: number, host: string): void {
    this.checkClientId(id)
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' })
    this.udp.set(id, socket)
    let bound = false
    socket.on('error', (err) => {
      if (!bound) {
        this.udp.delete(id)
        const errno = errnoOf(err)
        this.send(udpBoundFrame(requestId, id, statusOf(errno), 0, errno))
        try { socket.close() } catch {}
      }
    })
    socket.on('message', (msg, rinfo) => {
      // UDP is lossy: under WebSocket congestion drop rather than queue without bound.
      if (this.wsCongested) return
      this.send(udpDataFrame(Op.UDP_RECV, id, rinfo.address, rinfo.port, msg))
    })
    socket.bind(port, host === '' ? undefined : host, () => {
      bound = true
      this.send(udpBoundFrame(requestId, id, Status.OK, socket.address().port, 0))
    })
  }

  /**
   * Sends a TCP_RECV frame and keeps its payload for FILE_WRITE_RECV. `done` runs twice: once the
   * WebSocket and once the store let go of the frame.
   */
  private sendRecv (id: number, frame: Uint8Array, costBytes = frame.length, done?: () => void): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return
    this.received.append(id, frame.subarray(RECV_PAYLOAD_OFFSET), costBytes, done)
    this.send(frame, done)
  }

  /** Sends a frame; `onSent` runs once the WebSocket no longer holds it (written or failed). */
  private send (frame: Uint8Array, onSent?: () => void): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return
    const n = frame.length
    this.traffic.out.frames++
    this.traffic.out.bytes += n
    this.wsPending += n
    if (!this.wsCongested && this.wsPending > WS_HIGH_WATER_BYTES) {
      this.wsCongested = true
      for (const entry of this.tcp.values()) entry.socket.pause()
    }
    this.ws.send(frame, { binary: true }, () => {
      onSent?.()
      this.wsPending -= n
      if (this.wsCongested && this.wsPending < WS_LOW_WATER_BYTES) {
        this.wsCongested = false
        for (const entry of this.tcp.values()) {
          if (!entry.closed && entry.unacked < RECV_WINDOW_BYTES / 2) entry.socket.resume()
        }
      }
    })
  }

  /** Closes every socket, listener and UDP socket of the session. */
  close (): void {
    if (this.closed) return
    this.closed = true
    for (const entry of this.tcp.values()) { entry.closed = true; entry.socket.destroy() }
    this.tcp.clear()
    for (const server of this.servers.values()) server.close()
    this.servers.clear()
    for (const s of this.udp.values()) { try { s.close() } catch {} }
    this.udp.clear()
    this.received.clear()
  }
}
