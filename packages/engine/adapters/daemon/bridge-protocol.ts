/**
 * The I/O bridge's socket protocol: binary WebSocket messages between a browser engine and the
 * io-daemon (`@lodestone/io-daemon`), shared by both ends so they cannot drift.
 *
 * Modelled on JSTorrent's io-daemon (same 8-byte header and opcode numbers where the operation is
 * the same), plus what it lacks: flow control in both directions. Each WebSocket message is one
 * frame:
 *
 *   version u8 (1) | opcode u8 | flags u16 LE | request id u32 LE | payload
 *
 * Integers are little-endian. Socket ids are chosen by the client below {@link SERVER_ID_BASE};
 * sockets the daemon creates (accepted connections) get ids from {@link SERVER_ID_BASE} up.
 *
 * Flow control (why: a fast peer must not fill the browser's memory, and a slow peer must not
 * fill the daemon's):
 * - Receive: the daemon counts bytes it has sent in TCP_RECV per socket and not yet acknowledged;
 *   above the window it stops reading that TCP socket. The engine acknowledges with TCP_RECV_ACK
 *   as it consumes; a paused engine socket simply stops acknowledging. The daemon also stops
 *   reading every socket while the WebSocket's own send buffer is above its high-water mark.
 * - Send: the daemon acknowledges TCP_SEND bytes with TCP_SEND_ACK once the kernel took them;
 *   the engine's `send` returns false while unacknowledged bytes are above its window and
 *   calls `onDrain` when acknowledgements bring them down.
 *
 * Files: positional writes through a handle the HTTP file API opened (`POST /fs/open`, which
 * confines the path to its root) may also travel here as FILE_WRITE, answered by
 * FILE_WRITE_RESULT with the same request id. Why: a browser's fetch per write costs the page's
 * main thread several milliseconds and the daemon an HTTP request, while this WebSocket is already
 * open and authenticated. Writes larger than a frame are split by the client.
 *
 * Writes from the received stream (FILE_WRITE_RECV, feature {@link Feature.WRITE_RECV}): the daemon
 * already holds every byte it delivered in TCP_RECV, so instead of sending a verified block's bytes
 * back, the client names where they were received — socket id and offset in that socket's received
 * stream (the sum of the TCP_RECV payload lengths before them, counted alike on both ends) — and
 * the daemon writes its own copy. Why: carrying file bytes back from the page cost about a third
 * of the bridge's CPU (bench/browser/RESULTS.md). The daemon keeps the most recent
 * {@link RECV_HOLD_BYTES}-ish of received data per session (oldest dropped first, so memory stays
 * bounded and nothing waits on the client); a range it no longer holds is answered with the error
 * code {@link RECV_NOT_HELD} and nothing written, and the client then sends the bytes in a plain
 * FILE_WRITE, which stays the path for everything else (OPFS content, blocks a wrapper decrypted,
 * blocks from other transports).
 *
 * Verified writes (feature {@link Feature.WRITE_RECV_SHA1}): a FILE_WRITE_RECV whose header flags
 * carry {@link FILE_WRITE_RECV_FLAG_SHA1} ends with the 20-byte SHA-1 its segments' bytes must
 * have; the daemon hashes its copy and writes nothing on a mismatch ({@link RECV_HASH_MISMATCH}).
 * Why: a BitTorrent v1 piece is checked against exactly such a digest, so a client that names a
 * whole piece's received bytes need neither hash them nor hold them for the check; in a page that
 * SHA-1 ran on the engine's one thread (~1.8 s per GiB, bench/browser/RESULTS.md).
 *
 * Versioning: the header's version stays 1; the daemon answers CLIENT_HELLO with SERVER_HELLO
 * carrying a feature bit set (u32; empty = none) before AUTH_RESULT, and a client sends an opcode
 * of a feature only when the daemon listed it (an older daemon treats an unknown opcode as a
 * protocol violation).
 *
 * Every decoder here checks lengths against the frame and throws {@link BridgeFrameError} on a
 * short or malformed frame; nothing reads past a buffer.
 */

export const BRIDGE_VERSION = 1
export const HEADER_BYTES = 8
/** Largest frame either side accepts (a TCP_SEND / TCP_RECV carries at most this minus the header). */
export const MAX_FRAME_BYTES = 1024 * 1024 + 64
/** Ids at or above this are the daemon's (accepted sockets). */
export const SERVER_ID_BASE = 0x1_0000
/** Longest host name or address string in a frame. */
export const MAX_HOST_BYTES = 255

export const Op = {
  CLIENT_HELLO: 0x01,
  SERVER_HELLO: 0x02,
  AUTH: 0x03,
  AUTH_RESULT: 0x04,
  TCP_CONNECT: 0x10,
  TCP_CONNECTED: 0x11,
  TCP_SEND: 0x12,
  TCP_RECV: 0x13,
  TCP_CLOSE: 0x14,
  TCP_LISTEN: 0x15,
  TCP_LISTEN_RESULT: 0x16,
  TCP_ACCEPT: 0x17,
  TCP_STOP_LISTEN: 0x18,
  TLS_UPGRADE: 0x19,
  TLS_UPGRADED: 0x1a,
  TCP_SEND_ACK: 0x1b,
  TCP_RECV_ACK: 0x1c,
  UDP_BIND: 0x20,
  UDP_BOUND: 0x21,
  UDP_SEND: 0x22,
  UDP_RECV: 0x23,
  UDP_CLOSE: 0x24,
  MCAST_JOIN: 0x25,
  MCAST_LEAVE: 0x26,
  FILE_WRITE: 0x30,
  FILE_WRITE_RESULT: 0x31,
  FILE_WRITE_RECV: 0x32,
  ERROR: 0x7f
} as const
export type Opcode = typeof Op[keyof typeof Op]

/** Status byte of results: 0 ok, else one of these. */
export const Status = {
  OK: 0,
  FAILED: 1,
  REFUSED: 2,
  TIMEOUT: 3,
  UNREACHABLE: 4,
  IN_USE: 5,
  DENIED: 6
} as const

/** Feature bits of SERVER_HELLO. */
export const Feature = {
  /** FILE_WRITE_RECV: writes from the received stream. */
  WRITE_RECV: 1,
  /** FILE_WRITE_RECV with {@link FILE_WRITE_RECV_FLAG_SHA1}: the daemon checks the bytes' SHA-1 before writing. */
  WRITE_RECV_SHA1: 2
} as const

/** SERVER_HELLO: features u32 (an empty payload, as older daemons send, means none). */
export function serverHelloFrame (features: number): Uint8Array {
  return encodeFrame(Op.SERVER_HELLO, 0, 4, (v) => { v.setUint32(0, features >>> 0, true) })
}

/** The feature bits of a SERVER_HELLO payload. */
export function readServerHello (payload: Uint8Array): number {
  return payload.length >= 4 ? new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true) : 0
}

/** Flag bit of TLS_UPGRADE: skip certificate verification. */
export const TLS_FLAG_INSECURE = 1

export class BridgeFrameError extends Error {
  override name = 'BridgeFrameError'
}

export interface Frame {
  opcode: number
  flags: number
  requestId: number
  /** A view of the message; valid as long as the message's buffer. */
  payload: Uint8Array
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Parses the header. @throws BridgeFrameError on a short frame or a wrong version. */
export function decodeFrame (message: Uint8Array): Frame {
  if (message.length < HEADER_BYTES) throw new BridgeFrameError(`frame of ${message.length} bytes is shorter than the header`)
  if (message.length > MAX_FRAME_BYTES) throw new BridgeFrameError(`frame of ${message.length} bytes is over the limit`)
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength)
  const version = view.getUint8(0)
  if (version !== BRIDGE_VERSION) throw new BridgeFrameError(`unknown protocol version ${version}`)
  return { opcode: view.getUint8(1), flags: view.getUint16(2, true), requestId: view.getUint32(4, true), payload: message.subarray(HEADER_BYTES) }
}

/**
 * A frame whose payload is written by `write` (sizes known up front: one allocation). With `into`
 * (at least as long as the frame) the frame is built in that buffer instead and a view of it is
 * returned — for a sender that reuses one buffer because the WebSocket copies what it is given.
 */
export function encodeFrame (opcode: number, requestId: number, payloadBytes: number, write?: (view: DataView, bytes: Uint8Array) => void, flags = 0, into?: Uint8Array): Uint8Array {
  const out = into !== undefined && into.length >= HEADER_BYTES + payloadBytes ? into.subarray(0, HEADER_BYTES + payloadBytes) : new Uint8Array(HEADER_BYTES + payloadBytes)
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  view.setUint8(0, BRIDGE_VERSION)
  view.setUint8(1, opcode)
  view.setUint16(2, flags, true)
  view.setUint32(4, requestId >>> 0, true)
  if (write !== undefined) write(new DataView(out.buffer, out.byteOffset + HEADER_BYTES, payloadBytes), out.subarray(HEADER_BYTES))
  return out
}

/** Bounds-checked reader over a payload. */
export class PayloadReader {
  private offset = 0
  private readonly view: DataView
  constructor (private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  private need (n: number, what: string): void {
    if (this.offset + n > this.bytes.length) throw new BridgeFrameError(`payload too short for ${what}`)
  }

  u8 (what: string): number { this.need(1, what); return this.view.getUint8(this.offset++) }
  u16 (what: string): number { this.need(2, what); const v = this.view.getUint16(this.offset, true); this.offset += 2; return v }
  u32 (what: string): number { this.need(4, what); const v = this.view.getUint32(this.offset, true); this.offset += 4; return v }
  bytesOf (n: number, what: string): Uint8Array { this.need(n, what); const v = this.bytes.subarray(this.offset, this.offset + n); this.offset += n; return v }
  /** The rest of the payload. */
  rest (): Uint8Array { const v = this.bytes.subarray(this.offset); this.offset = this.bytes.length; return v }
  /** The rest as UTF-8, at most `maxBytes`. */
  restText (what: string, maxBytes = MAX_HOST_BYTES): string {
    const raw = this.rest()
    if (raw.length > maxBytes) throw new BridgeFrameError(`${what} longer than ${maxBytes} bytes`)
    try { return decoder.decode(raw) } catch { throw new BridgeFrameError(`${what} is not UTF-8`) }
  }

  text (n: number, what: string): string {
    if (n > MAX_HOST_BYTES) throw new BridgeFrameError(`${what} longer than ${MAX_HOST_BYTES} bytes`)
    try { return decoder.decode(this.bytesOf(n, what)) } catch (e) { if (e instanceof BridgeFrameError) throw e; throw new BridgeFrameError(`${what} is not UTF-8`) }
  }

  /** @throws BridgeFrameError when bytes are left over. */
  end (): void { if (this.offset !== this.bytes.length) throw new BridgeFrameError('trailing bytes in payload') }
}

export function utf8 (text: string): Uint8Array { return encoder.encode(text) }

// ---- builders shared by both ends (payload layouts are the single source of truth) ----

/** AUTH: type u8 (0 = token) + `token \0 clientName`. */
export function authFrame (token: string, clientName = 'lodestone'): Uint8Array {
  const body = utf8(`${token}\0${clientName}`)
  return encodeFrame(Op.AUTH, 0, 1 + body.length, (v, b) => { v.setUint8(0, 0); b.set(body, 1) })
}

export function authResultFrame (ok: boolean, message: string): Uint8Array {
  const body = utf8(message)
  return encodeFrame(Op.AUTH_RESULT, 0, 1 + body.length, (v, b) => { v.setUint8(0, ok ? Status.OK : Status.DENIED); b.set(body, 1) })
}

/** TCP_CONNECT: id u32, port u16, host. */
export function tcpConnectFrame (requestId: number, id: number, host: string, port: number): Uint8Array {
  const h = utf8(host)
  return encodeFrame(Op.TCP_CONNECT, requestId, 6 + h.length, (v, b) => { v.setUint32(0, id, true); v.setUint16(4, port, true); b.set(h, 6) })
}

/** TCP_CONNECTED: id u32, status u8, errno u32, local port u16, remote port u16, remote address. */
export function tcpConnectedFrame (requestId: number, id: number, status: number, errno: number, localPort = 0, remotePort = 0, remoteAddress = ''): Uint8Array {
  const a = utf8(remoteAddress)
  return encodeFrame(Op.TCP_CONNECTED, requestId, 13 + a.length, (v, b) => {
    v.setUint32(0, id, true); v.setUint8(4, status); v.setUint32(5, errno, true); v.setUint16(9, localPort, true); v.setUint16(11, remotePort, true); b.set(a, 13)
  })
}

/** TCP_SEND / TCP_RECV: id u32 + bytes. */
export function tcpDataFrame (opcode: typeof Op.TCP_SEND | typeof Op.TCP_RECV, id: number, data: Uint8Array): Uint8Array {
  return encodeFrame(opcode, 0, 4 + data.length, (v, b) => { v.setUint32(0, id, true); b.set(data, 4) })
}

/** TCP_SEND / TCP_RECV of several chunks in order (`bytes`: their total length), one frame. */
export function tcpDataFrameOf (opcode: typeof Op.TCP_SEND | typeof Op.TCP_RECV, id: number, chunks: readonly Uint8Array[], bytes: number): Uint8Array {
  return encodeFrame(opcode, 0, 4 + bytes, (v, b) => {
    v.setUint32(0, id, true)
    let at = 4
    for (const c of chunks) { b.set(c, at); at += c.length }
  })
}

/** TCP_SEND_ACK / TCP_RECV_ACK: id u32, bytes u32. */
export function tcpAckFrame (opcode: typeof Op.TCP_SEND_ACK | typeof Op.TCP_RECV_ACK, id: number, bytes: number): Uint8Array {
  return encodeFrame(opcode, 0, 8, (v) => { v.setUint32(0, id, true); v.setUint32(4, bytes, true) })
}

/** TCP_CLOSE: id u32, had-error u8, errno u32. */
export function tcpCloseFrame (id: number, hadError: boolean, errno = 0): Uint8Array {
  return encodeFrame(Op.TCP_CLOSE, 0, 9, (v) => { v.setUint32(0, id, true); v.setUint8(4, hadError ? 1 : 0); v.setUint32(5, errno, true) })
}

/** TCP_LISTEN: server id u32, port u16, bind address. */
export function tcpListenFrame (requestId: number, serverId: number, port: number, host: string): Uint8Array {
  const h = utf8(host)
  return encodeFrame(Op.TCP_LISTEN, requestId, 6 + h.length, (v, b) => { v.setUint32(0, serverId, true); v.setUint16(4, port, true); b.set(h, 6) })
}

/** TCP_LISTEN_RESULT: server id u32, status u8, port u16, errno u32. */
export function tcpListenResultFrame (requestId: number, serverId: number, status: number, port: number, errno: number): Uint8Array {
  return encodeFrame(Op.TCP_LISTEN_RESULT, requestId, 11, (v) => { v.setUint32(0, serverId, true); v.setUint8(4, status); v.setUint16(5, port, true); v.setUint32(7, errno, true) })
}

/** TCP_ACCEPT: server id u32, socket id u32, local port u16, remote port u16, remote address. */
export function tcpAcceptFrame (serverId: number, socketId: number, localPort: number, remotePort: number, remoteAddress: string): Uint8Array {
  const a = utf8(remoteAddress)
  return encodeFrame(Op.TCP_ACCEPT, 0, 12 + a.length, (v, b) => {
    v.setUint32(0, serverId, true); v.setUint32(4, socketId, true); v.setUint16(8, localPort, true); v.setUint16(10, remotePort, true); b.set(a, 12)
  })
}

/** TCP_STOP_LISTEN / UDP_CLOSE: id u32. */
export function idFrame (opcode: number, id: number): Uint8Array {
  return encodeFrame(opcode, 0, 4, (v) => { v.setUint32(0, id, true) })
}

/** TLS_UPGRADE: id u32, flags u8, server name. */
export function tlsUpgradeFrame (requestId: number, id: number, flags: number, serverName: string): Uint8Array {
  const n = utf8(serverName)
  return encodeFrame(Op.TLS_UPGRADE, requestId, 5 + n.length, (v, b) => { v.setUint32(0, id, true); v.setUint8(4, flags); b.set(n, 5) })
}

/** TLS_UPGRADED: id u32, status u8, errno u32. */
export function tlsUpgradedFrame (requestId: number, id: number, status: number, errno: number): Uint8Array {
  return encodeFrame(Op.TLS_UPGRADED, requestId, 9, (v) => { v.setUint32(0, id, true); v.setUint8(4, status); v.setUint32(5, errno, true) })
}

/** UDP_BIND: id u32, port u16, bind address. */
export function udpBindFrame (requestId: number, id: number, port: number, host: string): Uint8Array {
  const h = utf8(host)
  return encodeFrame(Op.UDP_BIND, requestId, 6 + h.length, (v, b) => { v.setUint32(0, id, true); v.setUint16(4, port, true); b.set(h, 6) })
}

/** UDP_BOUND: id u32, status u8, port u16, errno u32. */
export function udpBoundFrame (requestId: number, id: number, status: number, port: number, errno: number): Uint8Array {
  return encodeFrame(Op.UDP_BOUND, requestId, 11, (v) => { v.setUint32(0, id, true); v.setUint8(4, status); v.setUint16(5, port, true); v.setUint32(7, errno, true) })
}

/** UDP_SEND / UDP_RECV: id u32, port u16, address length u16, address, data. */
export function udpDataFrame (opcode: typeof Op.UDP_SEND | typeof Op.UDP_RECV, id: number, host: string, port: number, data: Uint8Array): Uint8Array {
  const h = utf8(host)
  return encodeFrame(opcode, 0, 8 + h.length + data.length, (v, b) => {
    v.setUint32(0, id, true); v.setUint16(4, port, true); v.setUint16(6, h.length, true); b.set(h, 8); b.set(data, 8 + h.length)
  })
}

export interface UdpDatagram { id: number, host: string, port: number, data: Uint8Array }

export function readUdpData (payload: Uint8Array): UdpDatagram {
  const r = new PayloadReader(payload)
  const id = r.u32('socket id')
  const port = r.u16('port')
  const n = r.u16('address length')
  const host = r.text(n, 'address')
  return { id, host, port, data: r.rest() }
}

/** MCAST_JOIN / MCAST_LEAVE: id u32, group address. */
export function multicastFrame (opcode: typeof Op.MCAST_JOIN | typeof Op.MCAST_LEAVE, requestId: number, id: number, group: string): Uint8Array {
  const g = utf8(group)
  return encodeFrame(opcode, requestId, 4 + g.length, (v, b) => { v.setUint32(0, id, true); b.set(g, 4) })
}

/** Bytes of a FILE_WRITE payload before the data: handle u32, offset low u32, offset high u32. */
export const FILE_WRITE_HEADER_BYTES = 12
/** Most data one FILE_WRITE frame carries. */
export const MAX_FILE_WRITE_BYTES = MAX_FRAME_BYTES - HEADER_BYTES - FILE_WRITE_HEADER_BYTES

/** FILE_WRITE: handle u32, offset u64 (low u32, high u32), data. `into`: see {@link encodeFrame}. */
export function fileWriteFrame (requestId: number, handle: number, offset: number, data: Uint8Array, into?: Uint8Array): Uint8Array {
  return encodeFrame(Op.FILE_WRITE, requestId, FILE_WRITE_HEADER_BYTES + data.length, (v, b) => {
    v.setUint32(0, handle, true); v.setUint32(4, offset % 0x1_0000_0000, true); v.setUint32(8, Math.floor(offset / 0x1_0000_0000), true)
    b.set(data, FILE_WRITE_HEADER_BYTES)
  }, 0, into)
}

export interface FileWrite { handle: number, offset: number, data: Uint8Array }

/** @throws BridgeFrameError on a short payload or an offset past 2^53. */
export function readFileWrite (payload: Uint8Array): FileWrite {
  const r = new PayloadReader(payload)
  const handle = r.u32('handle')
  const low = r.u32('offset')
  const high = r.u32('offset')
  if (high > 0x1f_ffff) throw new BridgeFrameError('file offset past 2^53')
  return { handle, offset: high * 0x1_0000_0000 + low, data: r.rest() }
}

/** FILE_WRITE_RESULT: status u8 (0 ok), bytes written u32, then on failure `code \0 message`. */
export function fileWriteResultFrame (requestId: number, written: number, error?: { code: string, message: string }): Uint8Array {
  const text = error !== undefined ? utf8(`${error.code.slice(0, 40)}\0${error.message.slice(0, 200)}`) : new Uint8Array(0)
  return encodeFrame(Op.FILE_WRITE_RESULT, requestId, 5 + text.length, (v, b) => {
    v.setUint8(0, error !== undefined ? Status.FAILED : Status.OK); v.setUint32(1, written, true); b.set(text, 5)
  })
}

export interface FileWriteResult { written: number, error?: { code: string, message: string } }

/** @throws BridgeFrameError on a short payload or text that is not UTF-8. */
export function readFileWriteResult (payload: Uint8Array): FileWriteResult {
  const r = new PayloadReader(payload)
  const status = r.u8('status')
  const written = r.u32('written')
  const text = r.restText('error', 1024)
  if (status === Status.OK) return { written }
  const nul = text.indexOf('\0')
  return { written, error: { code: nul >= 0 ? text.slice(0, nul) : 'STORAGE_IO', message: nul >= 0 ? text.slice(nul + 1) : text } }
}

/** FILE_WRITE_RECV before its segments: handle u32, file offset u64 (low, high u32), segment count u32. */
export const FILE_WRITE_RECV_HEADER_BYTES = 16
/** Per segment: socket id u32, stream offset u64 (low, high u32), length u32. */
export const FILE_WRITE_RECV_SEGMENT_BYTES = 16
/** Most segments in one FILE_WRITE_RECV (a 16 MiB piece of 16 KiB blocks is 1 024). */
export const MAX_FILE_WRITE_RECV_SEGMENTS = 4096
/** Most bytes one FILE_WRITE_RECV writes. */
export const MAX_FILE_WRITE_RECV_BYTES = 64 * 1024 * 1024
/** FILE_WRITE_RESULT error code: a segment's bytes are not (or no longer) held; nothing was written. */
export const RECV_NOT_HELD = 'RECV_NOT_HELD'
/** FILE_WRITE_RESULT error code: a segment count or length out of bounds; nothing was written. */
export const RECV_RANGE_INVALID = 'RECV_RANGE_INVALID'
/** FILE_WRITE_RESULT error code: the bytes' SHA-1 is not the expected one; nothing was written. */
export const RECV_HASH_MISMATCH = 'RECV_HASH_MISMATCH'
/** FILE_WRITE_RECV header flag: the payload ends with the expected SHA-1 of the bytes. */
export const FILE_WRITE_RECV_FLAG_SHA1 = 1
/** Bytes of that SHA-1. */
export const SHA1_BYTES = 20
/** How much received data a daemon keeps per session for FILE_WRITE_RECV (a default, not a promise). */
export const RECV_HOLD_BYTES = 48 * 1024 * 1024

/** Where a segment's bytes were received: `length` bytes at `offset` of socket `id`'s received stream. */
export interface RecvSegment {
  /** Socket id (TCP). */
  id: number
  /** Offset in that socket's received stream. */
  offset: number
  /** Bytes. */
  length: number
}

/** A parsed FILE_WRITE_RECV: the segments' bytes, back to back, at `offset` of `handle`'s file. */
export interface FileWriteRecv {
  handle: number
  offset: number
  segments: RecvSegment[]
  /** The SHA-1 the bytes must have (FILE_WRITE_RECV_FLAG_SHA1), else undefined. */
  sha1?: Uint8Array
}

function setU64 (v: DataView, at: number, value: number): void {
  v.setUint32(at, value % 0x1_0000_0000, true); v.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true)
}

function readU64 (r: PayloadReader, what: string): number {
  const low = r.u32(what)
  const high = r.u32(what)
  if (high > 0x1f_ffff) throw new BridgeFrameError(`${what} past 2^53`)
  return high * 0x1_0000_0000 + low
}

/**
 * FILE_WRITE_RECV: the segments' bytes, back to back, at `offset` of `handle`'s file; with `sha1`,
 * only if they have that SHA-1 (feature WRITE_RECV_SHA1).
 */
export function fileWriteRecvFrame (requestId: number, handle: number, offset: number, segments: readonly RecvSegment[], sha1?: Uint8Array): Uint8Array {
  if (sha1 !== undefined && sha1.length !== SHA1_BYTES) throw new BridgeFrameError(`a SHA-1 is ${SHA1_BYTES} bytes, not ${sha1.length}`)
  const segmentBytes = segments.length * FILE_WRITE_RECV_SEGMENT_BYTES
  return encodeFrame(Op.FILE_WRITE_RECV, requestId, FILE_WRITE_RECV_HEADER_BYTES + segmentBytes + (sha1?.length ?? 0), (v, b) => {
    v.setUint32(0, handle, true); setU64(v, 4, offset); v.setUint32(12, segments.length, true)
    let at = FILE_WRITE_RECV_HEADER_BYTES
    for (const s of segments) {
      v.setUint32(at, s.id, true); setU64(v, at + 4, s.offset); v.setUint32(at + 12, s.length, true)
      at += FILE_WRITE_RECV_SEGMENT_BYTES
    }
    if (sha1 !== undefined) b.set(sha1, at)
  }, sha1 !== undefined ? FILE_WRITE_RECV_FLAG_SHA1 : 0)
}

/**
 * Parses a FILE_WRITE_RECV. Counts and lengths are not judged here (the daemon answers those with
 * {@link RECV_RANGE_INVALID}); only the frame's own shape is.
 * @throws BridgeFrameError when the payload is not exactly the header plus its segments, or an offset is past 2^53.
 */
export function readFileWriteRecv (payload: Uint8Array, flags = 0): FileWriteRecv {
  const r = new PayloadReader(payload)
  const handle = r.u32('handle')
  const offset = readU64(r, 'file offset')
  const count = r.u32('segment count')
  const hashBytes = (flags & FILE_WRITE_RECV_FLAG_SHA1) !== 0 ? SHA1_BYTES : 0
  if (payload.length !== FILE_WRITE_RECV_HEADER_BYTES + count * FILE_WRITE_RECV_SEGMENT_BYTES + hashBytes) {
    throw new BridgeFrameError(`FILE_WRITE_RECV of ${payload.length} bytes does not hold ${count} segments${hashBytes > 0 ? ' and a SHA-1' : ''}`)
  }
  const segments: RecvSegment[] = []
  for (let i = 0; i < count; i++) segments.push({ id: r.u32('socket id'), offset: readU64(r, 'stream offset'), length: r.u32('length') })
  if (hashBytes === 0) return { handle, offset, segments }
  return { handle, offset, segments, sha1: payload.subarray(payload.length - SHA1_BYTES) }
}

export function errorFrame (requestId: number, message: string): Uint8Array {
  const m = utf8(message.slice(0, 200))
  return encodeFrame(Op.ERROR, requestId, m.length, (_v, b) => { b.set(m) })
}

/** Errno values carried in results (small and stable, not the OS's numbers). */
export const Errno = {
  NONE: 0,
  ECONNREFUSED: 1,
  ETIMEDOUT: 2,
  EHOSTUNREACH: 3,
  EADDRINUSE: 4,
  EACCES: 5,
  ECONNRESET: 6,
  EPIPE: 7,
  EINVAL: 8,
  OTHER: 255
} as const

const ERRNO_NAMES = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]))
export function errnoName (errno: number): string { return ERRNO_NAMES.get(errno) ?? `errno ${errno}` }
