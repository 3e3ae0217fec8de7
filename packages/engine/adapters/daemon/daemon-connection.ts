/**
 * The engine's end of the io-daemon bridge: one authenticated WebSocket that carries every TCP
 * and UDP socket (bridge-protocol.ts), plus the daemon's HTTP base URL and token for files.
 *
 * Frames are routed by socket id to the socket objects (daemon-socket-factory.ts) and by request
 * id to pending requests (connect, listen, bind, TLS upgrade). When the WebSocket closes every
 * socket is closed with PEER_CLOSED and every pending request fails.
 */
import { LodestoneError } from '../../src/errors.js'
import {
  BridgeFrameError, Op, PayloadReader, SERVER_ID_BASE, Status, authFrame, decodeFrame, encodeFrame, readServerHello, type Frame
} from './bridge-protocol.js'
import { WorkerWebSocket } from './worker-web-socket.js'

/** The part of the WHATWG WebSocket API the bridge uses (browsers; `ws` in Node tests). */
export interface BridgeWebSocket {
  binaryType: string
  readonly bufferedAmount: number
  readonly readyState: number
  send (data: Uint8Array): void
  close (code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code?: number, reason?: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
}
export type BridgeWebSocketConstructor = new (url: string) => BridgeWebSocket

export interface DaemonConnectionOptions {
  /** The daemon's port on `host`. */
  port: number
  /** The per-run token the daemon printed. */
  authToken: string
  /** @default '127.0.0.1' */
  host?: string
  /** @default globalThis.WebSocket (run in a worker, see `worker`) */
  WebSocket?: BridgeWebSocketConstructor
  /**
   * Run the WebSocket in a dedicated worker (worker-web-socket.ts) so its frames are handled
   * beside the page's main thread; falls back to the page's own WebSocket where workers cannot
   * start. Ignored when `WebSocket` is given. @default true where `Worker` exists
   */
  worker?: boolean
  /** @default 10_000 */
  timeoutMs?: number
}

/** Handler of frames addressed to one socket id. */
export interface SocketFrameHandler { onFrame (frame: Frame, reader: PayloadReader): void, onBridgeClosed (): void }

interface PendingRequest { resolve: (frame: Frame) => void, reject: (error: LodestoneError) => void }

function bridgeError (reason: string): LodestoneError {
  return new LodestoneError('PEER_CONNECT_FAILED', { address: 'io-daemon', reason })
}

export class DaemonConnection {
  /** `http://host:port`: base of the file API. */
  readonly httpBase: string
  readonly authToken: string
  private readonly handlers = new Map<number, SocketFrameHandler>()
  private readonly pending = new Map<number, PendingRequest>()
  private readonly closeListeners = new Set<() => void>()
  private nextRequestId = 1
  private nextSocketId = 1
  private closedFlag = false
  /** The socket whose received stream each client id names now (see {@link ownsStream}). */
  private readonly streamOwners = new Map<number, object>()

  private constructor (
    private readonly ws: BridgeWebSocket,
    options: DaemonConnectionOptions,
    /** The daemon's SERVER_HELLO feature bits (bridge-protocol.ts `Feature`); 0 from a daemon that lists none. */
    readonly features: number
  ) {
    const host = options.host ?? '127.0.0.1'
    this.httpBase = `http://${host.includes(':') ? `[${host}]` : host}:${options.port}`
    this.authToken = options.authToken
    ws.onmessage = (ev) => { this.onMessage(ev.data) }
    ws.onclose = () => { this.onClosed() }
    ws.onerror = () => {}
  }

  /**
   * Opens the WebSocket and authenticates.
   * @throws PEER_CONNECT_FAILED (address 'io-daemon') when the daemon cannot be reached or refuses the token.
   */
  static async connect (options: DaemonConnectionOptions): Promise<DaemonConnection> {
    const inWorker = options.WebSocket === undefined && options.worker !== false && typeof Worker !== 'undefined'
    if (inWorker) {
      try {
        return await DaemonConnection.open(options, (url) => new WorkerWebSocket(url))
      } catch (err) {
        // A worker that cannot start (a content security policy forbidding blob: workers) fails
        // like an unreachable daemon: try once more on the page's own WebSocket.
        if (err instanceof LodestoneError && /refused the token/.test(String((err.details as { reason?: string }).reason))) throw err
      }
    }
    const Ctor = options.WebSocket ?? (globalThis as unknown as { WebSocket?: BridgeWebSocketConstructor }).WebSocket
    if (Ctor === undefined) throw bridgeError('no WebSocket implementation')
    return DaemonConnection.open(options, (url) => new Ctor(url))
  }

  private static async open (options: DaemonConnectionOptions, create: (url: string) => BridgeWebSocket): Promise<DaemonConnection> {
    const host = options.host ?? '127.0.0.1'
    const url = `ws://${host.includes(':') ? `[${host}]` : host}:${options.port}/io`
    const ws = create(url)
    ws.binaryType = 'arraybuffer'
    const timeoutMs = options.timeoutMs ?? 10_000
    let features = 0
    await new Promise<void>((resolve, reject) => {
      let done = false
      const finish = (error?: LodestoneError): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        ws.onopen = null; ws.onmessage = null; ws.onclose = null; ws.onerror = null
        if (error !== undefined) { try { ws.close() } catch {} reject(error) } else resolve()
      }
      const timer = setTimeout(() => { finish(bridgeError('timed out connecting to the io-daemon')) }, timeoutMs)
      ws.onerror = () => { finish(bridgeError('cannot reach the io-daemon')) }
      ws.onclose = (ev) => { finish(bridgeError(`io-daemon closed the connection (${ev.code ?? 0} ${ev.reason ?? ''})`)) }
      ws.onopen = () => {
        ws.send(encodeFrame(Op.CLIENT_HELLO, 0, 0))
        ws.send(authFrame(options.authToken))
      }
      ws.onmessage = (ev) => {
        try {
          const frame = decodeFrame(toBytes(ev.data))
          if (frame.opcode === Op.SERVER_HELLO) features = readServerHello(frame.payload)
          if (frame.opcode !== Op.AUTH_RESULT) return
          const status = new PayloadReader(frame.payload).u8('status')
          finish(status === Status.OK ? undefined : bridgeError('the io-daemon refused the token'))
        } catch { finish(bridgeError('bad answer from the io-daemon')) }
      }
    })
    return new DaemonConnection(ws, options, features)
  }

  get closed (): boolean { return this.closedFlag }
  /** True when the WebSocket runs in a dedicated worker (see DaemonConnectionOptions.worker). */
  get runsInWorker (): boolean { return this.ws instanceof WorkerWebSocket }
  /** Bytes queued in the WebSocket and not yet sent. */
  get bufferedAmount (): number { return this.ws.bufferedAmount }

  /** A fresh client-side socket id (below SERVER_ID_BASE, not in use). */
  allocateId (): number {
    for (let i = 0; i < SERVER_ID_BASE; i++) {
      const id = this.nextSocketId
      this.nextSocketId = id + 1 >= SERVER_ID_BASE ? 1 : id + 1
      if (!this.handlers.has(id)) {
        // Before any frame names the id again: the ranges of its last TCP socket are void now.
        this.streamOwners.delete(id)
        return id
      }
    }
    throw new LodestoneError('INTERNAL', { reason: 'io-daemon socket ids exhausted' })
  }

  register (id: number, handler: SocketFrameHandler): void { this.handlers.set(id, handler) }

  /**
   * `owner` is the TCP socket of `id` from now on: the daemon starts a new received stream for the
   * id when it connects or accepts it. Client ids are reused after 65 535 sockets, so a closed
   * socket's ranges must not be taken for its successor's ({@link ownsStream}); allocating the id
   * again voids them before the new socket's TCP_CONNECT goes out.
   */
  claimStream (id: number, owner: object): void {
    if (id < SERVER_ID_BASE) this.streamOwners.set(id, owner)
  }

  /** True while the daemon's received stream of `id` is `owner`'s (server ids are never reused). */
  ownsStream (id: number, owner: object): boolean {
    return id >= SERVER_ID_BASE || this.streamOwners.get(id) === owner
  }
  unregister (id: number, handler?: SocketFrameHandler): void {
    if (handler === undefined || this.handlers.get(id) === handler) this.handlers.delete(id)
  }

  /** Sends a frame; silently dropped once the bridge is closed (the sockets learn from onBridgeClosed). */
  send (frame: Uint8Array): void {
    if (this.closedFlag) return
    this.ws.send(frame)
  }

  /** A request id for a frame whose answer comes back with the same id. */
  requestId (): number {
    const id = this.nextRequestId
    this.nextRequestId = id >= 0xffff_fff0 ? 1 : id + 1
    return id
  }

  /**
   * Sends `frame` (built with `requestId`) before returning, and resolves with the answer carrying
   * that id. The WebSocket has copied `frame` by then: the caller may reuse its buffer.
   */
  async request (requestId: number, frame: Uint8Array): Promise<Frame> {
    if (this.closedFlag) throw bridgeError('io-daemon connection closed')
    return new Promise<Frame>((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject })
      this.ws.send(frame)
    })
  }

  /** Forgets a pending request (its caller gave up); a late answer is ignored. */
  cancel (requestId: number): void { this.pending.delete(requestId) }

  onClose (cb: () => void): () => void {
    this.closeListeners.add(cb)
    return () => { this.closeListeners.delete(cb) }
  }

  close (): void {
    if (this.closedFlag) return
    try { this.ws.close(1000, 'engine closed') } catch {}
    this.onClosed()
  }

  private onMessage (data: unknown): void {
    let frame: Frame
    try { frame = decodeFrame(toBytes(data)) } catch { return }
    const pending = frame.requestId !== 0 ? this.pending.get(frame.requestId) : undefined
    if (pending !== undefined) {
      this.pending.delete(frame.requestId)
      if (frame.opcode === Op.ERROR) {
        pending.reject(bridgeError(new TextDecoder().decode(frame.payload)))
      } else {
        pending.resolve(frame)
      }
      return
    }
    if (frame.payload.length < 4) return
    const reader = new PayloadReader(frame.payload)
    try {
      const id = reader.u32('id')
      this.handlers.get(id)?.onFrame(frame, reader)
    } catch (err) {
      if (!(err instanceof BridgeFrameError)) throw err
    }
  }

  private onClosed (): void {
    if (this.closedFlag) return
    this.closedFlag = true
    for (const p of this.pending.values()) p.reject(bridgeError('io-daemon connection closed'))
    this.pending.clear()
    const handlers = [...this.handlers.values()]
    this.handlers.clear()
    for (const h of handlers) h.onBridgeClosed()
    for (const cb of this.closeListeners) cb()
  }
}

function toBytes (data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  throw new BridgeFrameError('text frame')
}
