/**
 * A scripted hostile peer: raw TCP on 127.0.0.1 speaking just enough of the peer wire to misbehave
 * on purpose (silent sockets, byte-at-a-time handshakes, absurd length prefixes, request floods
 * from a peer that never reads...). The hostile-peer tests point it at a running `lodestone`
 * process and watch what the process does about it.
 *
 * Deliberately independent of the engine: messages are built here from the BEP 3 / 6 / 10 layout,
 * so a bug in the engine's own encoders cannot hide a bug in its parser.
 */
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

export const MSG = {
  choke: 0, unchoke: 1, interested: 2, notInterested: 3, have: 4, bitfield: 5, request: 6, piece: 7, cancel: 8,
  port: 9, suggest: 13, haveAll: 14, haveNone: 15, reject: 16, allowedFast: 17, extended: 20
} as const

/** A 68-byte handshake; `fast` / `extensions` set the BEP 6 / BEP 10 reserved bits. */
export function handshake (infoHash: Uint8Array, options: { peerId?: Uint8Array, fast?: boolean, extensions?: boolean } = {}): Buffer {
  const out = Buffer.alloc(68)
  out[0] = 19
  out.write('BitTorrent protocol', 1, 'latin1')
  if (options.extensions ?? true) out[25] = 0x10
  if (options.fast ?? true) out[27] = 0x04
  Buffer.from(infoHash).copy(out, 28)
  Buffer.from(options.peerId ?? peerId()).copy(out, 48)
  return out
}

/** A random Azureus-style peer id of a client no one has heard of. */
export function peerId (): Buffer {
  return Buffer.concat([Buffer.from('-HP0001-', 'latin1'), randomBytes(12)])
}

/** `<length><id><payload>`; `length` overrides the prefix (to lie about it). */
export function message (id: number, payload: Uint8Array = new Uint8Array(0), length?: number): Buffer {
  const out = Buffer.alloc(5 + payload.length)
  out.writeUInt32BE(length ?? payload.length + 1, 0)
  out[4] = id
  Buffer.from(payload).copy(out, 5)
  return out
}

export function u32s (...values: number[]): Buffer {
  const out = Buffer.alloc(4 * values.length)
  values.forEach((v, i) => { out.writeUInt32BE(v >>> 0, 4 * i) })
  return out
}

export const request = (piece: number, begin: number, length: number): Buffer => message(MSG.request, u32s(piece, begin, length))
export const have = (piece: number): Buffer => message(MSG.have, u32s(piece))

/**
 * `count` REQUEST messages in one buffer, walking every block of the torrent in turn (distinct
 * requests: a queue that ignores duplicates cannot absorb them).
 */
export function requestBurst (count: number, pieceCount: number, pieceLengthBytes: number, blockBytes = 16_384): Buffer {
  const blocksPerPiece = Math.ceil(pieceLengthBytes / blockBytes)
  const out = Buffer.alloc(17 * count)
  for (let i = 0; i < count; i++) {
    const block = i % (pieceCount * blocksPerPiece)
    const o = 17 * i
    out.writeUInt32BE(13, o)
    out[o + 4] = MSG.request
    out.writeUInt32BE(Math.floor(block / blocksPerPiece), o + 5)
    out.writeUInt32BE((block % blocksPerPiece) * blockBytes, o + 9)
    out.writeUInt32BE(blockBytes, o + 13)
  }
  return out
}

/** A minimal bencoder for extension payloads (dicts with sorted keys, ints, strings, lists). */
export function bencode (value: unknown): Buffer {
  if (typeof value === 'number') return Buffer.from(`i${Math.trunc(value)}e`, 'latin1')
  if (typeof value === 'string') return Buffer.concat([Buffer.from(`${Buffer.byteLength(value)}:`, 'latin1'), Buffer.from(value)])
  if (value instanceof Uint8Array) return Buffer.concat([Buffer.from(`${value.length}:`, 'latin1'), Buffer.from(value)])
  if (Array.isArray(value)) return Buffer.concat([Buffer.from('l'), ...value.map(bencode), Buffer.from('e')])
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return Buffer.concat([Buffer.from('d'), ...entries.flatMap(([k, v]) => [bencode(k), bencode(v)]), Buffer.from('e')])
  }
  throw new Error(`cannot bencode ${typeof value}`)
}

export const extended = (extId: number, payload: Uint8Array): Buffer => message(MSG.extended, Buffer.concat([Buffer.from([extId]), payload]))

export interface HostileConnectionOptions {
  host?: string
  /** Never read from the socket (the kernel receive buffer fills, the sender's queue grows). */
  neverRead?: boolean
}

/**
 * One raw connection. Everything it receives is kept (unless `neverRead`); `closed` resolves when
 * the other side (or we) closed it, with the time since the connect.
 */
export class HostileConnection {
  readonly socket: Socket
  readonly connectedAtMs: number
  readonly closed: Promise<{ afterMs: number, byPeer: boolean }>
  private chunks: Buffer[] = []
  private receivedLength = 0
  private closedByUs = false
  private isClosed = false
  private readonly waiters = new Set<() => void>()

  private constructor (socket: Socket, options: HostileConnectionOptions) {
    this.socket = socket
    this.connectedAtMs = performance.now()
    socket.setNoDelay(true)
    if (options.neverRead === true) socket.pause()
    else {
      socket.on('data', (chunk: Buffer) => {
        this.chunks.push(chunk)
        this.receivedLength += chunk.length
        for (const w of [...this.waiters]) w()
      })
    }
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true
        for (const w of [...this.waiters]) w()
        resolve({ afterMs: performance.now() - this.connectedAtMs, byPeer: !this.closedByUs })
      })
    })
    socket.on('error', () => {}) // resets are an expected outcome here
  }

  static async open (port: number, options: HostileConnectionOptions = {}): Promise<HostileConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host ?? '127.0.0.1', port })
      socket.once('connect', () => {
        socket.removeListener('error', reject)
        resolve(new HostileConnection(socket, options))
      })
      socket.once('error', reject)
    })
  }

  get isOpen (): boolean { return !this.isClosed }
  get receivedBytes (): number { return this.receivedLength }
  received (): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)]
    return this.chunks[0] ?? Buffer.alloc(0)
  }

  /** Writes and resolves once the data left our buffer (or the socket closed). */
  async write (data: Uint8Array): Promise<void> {
    if (this.isClosed) return
    if (this.socket.write(data)) return
    await new Promise<void>((resolve) => {
      const done = (): void => { this.socket.off('drain', done); this.socket.off('close', done); resolve() }
      this.socket.once('drain', done)
      this.socket.once('close', done)
    })
  }

  /** Sends `data` one byte every `intervalMs`, until done or the socket closes. */
  async trickle (data: Uint8Array, intervalMs: number): Promise<void> {
    for (let i = 0; i < data.length && !this.isClosed; i++) {
      this.socket.write(data.subarray(i, i + 1))
      await sleep(intervalMs)
    }
  }

  /** Resolves when at least `bytes` were received, or rejects when the socket closes first / on time-out. */
  async waitForBytes (bytes: number, timeoutMs = 10_000): Promise<Buffer> {
    await this.until(() => this.receivedLength >= bytes, timeoutMs, `${bytes} bytes`)
    return this.received()
  }

  /** Resolves once `predicate` holds for what was received so far. */
  async until (predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (predicate()) { done(); resolve() } else if (this.isClosed) { done(); reject(new Error(`closed before ${what}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${what}`)) }, timeoutMs)
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
      check()
    })
  }

  /** `closed`, or a rejection when the other side has not closed the connection within `timeoutMs`. */
  async closedWithin (timeoutMs: number): Promise<{ afterMs: number, byPeer: boolean }> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`the connection was still open after ${timeoutMs} ms`)) }, timeoutMs)
    })
    try {
      return await Promise.race([this.closed, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  close (): void {
    if (this.isClosed) return
    this.closedByUs = true
    this.socket.destroy()
  }
}

/**
 * Keeps `count` silent connections open to `port` (re-opening any the other side closes, after
 * `reopenDelayMs`) until `stop()`. Counts the connects and the closes by the peer.
 */
export class SilentFlood {
  connects = 0
  closedByPeer = 0
  failedConnects = 0
  private stopped = false
  private readonly open = new Set<HostileConnection>()
  private readonly loops: Array<Promise<void>> = []

  constructor (private readonly port: number, count: number, private readonly reopenDelayMs = 100) {
    for (let i = 0; i < count; i++) this.loops.push(this.keep())
  }

  get openCount (): number { return this.open.size }

  private async keep (): Promise<void> {
    while (!this.stopped) {
      let conn: HostileConnection
      try {
        conn = await HostileConnection.open(this.port)
      } catch {
        this.failedConnects++
        await sleep(this.reopenDelayMs)
        continue
      }
      this.connects++
      this.open.add(conn)
      if (this.stopped) conn.close()
      const { byPeer } = await conn.closed
      this.open.delete(conn)
      if (byPeer) this.closedByPeer++
      if (!this.stopped) await sleep(this.reopenDelayMs)
    }
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const c of this.open) c.close()
    await Promise.all(this.loops)
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
