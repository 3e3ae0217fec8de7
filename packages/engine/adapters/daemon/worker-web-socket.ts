/**
 * The bridge's WebSocket, run in a dedicated worker: a {@link BridgeWebSocket} whose real
 * `WebSocket` lives in a worker started from a Blob URL of {@link bridgeSocketWorkerMain}.
 *
 * Why: in Chromium a WebSocket's frames are read, reassembled and copied into each message's
 * ArrayBuffer on the thread that owns it, and what it sends is copied there too. On the page's
 * main thread that native work (profiled as "(program)", about as much as the whole engine's
 * JavaScript) competes with the engine for the one thread it has. In a worker it runs beside the
 * engine; each received message's buffer is transferred to the page without a copy.
 *
 * Sending: frames of at least {@link POOLED_SEND_MIN_BYTES} (file writes) are copied into a
 * buffer from a small pool and transferred; the worker sends it and transfers it back for reuse.
 * Smaller frames are copied and collected until the current microtasks have run, then go to the
 * worker in one message (a postMessage costs tens of microseconds; the engine sends requests and
 * acknowledgements in bursts). Order is kept. Either way the caller may reuse its buffer once
 * `send` returns, as with a WebSocket.
 *
 * `bufferedAmount` counts bytes handed to the worker and not yet passed to its WebSocket, plus
 * what the worker's WebSocket reported queued at its last pooled send.
 */
/** Frames at least this long go through the transfer pool. */
export const POOLED_SEND_MIN_BYTES = 64 * 1024
/** Pooled send buffers kept for reuse. */
const POOL_MAX_BUFFERS = 8

type ToWorker =
  | { t: 'open', url: string }
  | { t: 'send', frames: Uint8Array[] }
  | { t: 'send-pooled', buffer: ArrayBuffer, length: number }
  | { t: 'close', code?: number, reason?: string }

type FromWorker =
  | { t: 'open' }
  | { t: 'message', data: ArrayBuffer }
  | { t: 'sent', buffer: ArrayBuffer, length: number, buffered: number }
  | { t: 'close', code: number, reason: string }
  | { t: 'error' }

/** The worker program (self-contained: it runs from its own source text). */
export function bridgeSocketWorkerMain (): void {
  const scope = self as unknown as {
    onmessage: ((ev: { data: ToWorker }) => void) | null
    postMessage: (message: FromWorker, transfer?: Transferable[]) => void
  }
  let ws: WebSocket | null = null
  scope.onmessage = (ev) => {
    const m = ev.data
    switch (m.t) {
      case 'open': {
        const socket = new WebSocket(m.url)
        socket.binaryType = 'arraybuffer'
        socket.onopen = () => { scope.postMessage({ t: 'open' }) }
        socket.onmessage = (e: MessageEvent) => {
          const data: unknown = e.data
          if (data instanceof ArrayBuffer) scope.postMessage({ t: 'message', data }, [data])
        }
        socket.onclose = (e: CloseEvent) => { scope.postMessage({ t: 'close', code: e.code, reason: e.reason }) }
        socket.onerror = () => { scope.postMessage({ t: 'error' }) }
        ws = socket
        return
      }
      case 'send':
        if (ws?.readyState === 1) for (const frame of m.frames) ws.send(frame)
        return
      case 'send-pooled':
        if (ws?.readyState === 1) ws.send(new Uint8Array(m.buffer, 0, m.length))
        scope.postMessage({ t: 'sent', buffer: m.buffer, length: m.length, buffered: ws?.bufferedAmount ?? 0 }, [m.buffer])
        return
      case 'close':
        ws?.close(m.code, m.reason)
    }
  }
}

let workerUrl: string | null = null

/** A BridgeWebSocket (daemon-connection.ts; not imported, to keep the modules acyclic). */
export class WorkerWebSocket {
  binaryType = 'arraybuffer'
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code?: number, reason?: string }) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  private state = 0
  private readonly worker: Worker
  private readonly pool: ArrayBuffer[] = []
  private pendingBytes = 0
  /** Small frames waiting for the end of the current microtasks. */
  private batch: Uint8Array[] = []
  private workerBuffered = 0

  /** @throws when workers cannot be started here (e.g. a content security policy forbids blob: workers). */
  constructor (url: string) {
    workerUrl ??= URL.createObjectURL(new Blob([`(${bridgeSocketWorkerMain.toString()})()`], { type: 'text/javascript' }))
    this.worker = new Worker(workerUrl)
    this.worker.onmessage = (ev: MessageEvent<FromWorker>) => { this.onWorkerMessage(ev.data) }
    this.worker.onerror = () => { this.finish(1006, 'bridge worker failed') }
    this.post({ t: 'open', url })
  }

  get readyState (): number { return this.state }
  get bufferedAmount (): number { return this.pendingBytes + this.workerBuffered }

  send (data: Uint8Array): void {
    if (this.state !== 1) return
    if (data.length < POOLED_SEND_MIN_BYTES) {
      this.batch.push(data.slice())
      if (this.batch.length === 1) queueMicrotask(() => { this.flushBatch() })
      return
    }
    this.flushBatch()
    let buffer = this.pool.pop()
    if (buffer === undefined || buffer.byteLength < data.length) buffer = new ArrayBuffer(Math.max(data.length, buffer?.byteLength ?? 0))
    new Uint8Array(buffer).set(data)
    this.pendingBytes += data.length
    this.post({ t: 'send-pooled', buffer, length: data.length }, [buffer])
  }

  close (code?: number, reason?: string): void {
    if (this.state >= 2) return
    this.flushBatch()
    this.state = 2
    this.post({ t: 'close', ...(code !== undefined ? { code } : {}), ...(reason !== undefined ? { reason } : {}) })
  }

  private flushBatch (): void {
    if (this.batch.length === 0) return
    const frames = this.batch
    this.batch = []
    if (this.state === 1) this.post({ t: 'send', frames }, frames.map((f) => f.buffer))
  }

  private post (message: ToWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(message, transfer)
  }

  private onWorkerMessage (m: FromWorker): void {
    switch (m.t) {
      case 'open':
        if (this.state !== 0) return
        this.state = 1
        this.onopen?.({})
        return
      case 'message':
        this.onmessage?.({ data: m.data })
        return
      case 'sent':
        this.pendingBytes -= m.length
        this.workerBuffered = m.buffered
        if (this.pool.length < POOL_MAX_BUFFERS) this.pool.push(m.buffer)
        return
      case 'error':
        this.onerror?.({})
        return
      case 'close':
        this.finish(m.code, m.reason)
    }
  }

  private finish (code: number, reason: string): void {
    if (this.state === 3) return
    this.state = 3
    this.worker.terminate()
    this.pool.length = 0
    this.onclose?.({ code, reason })
  }
}
