/**
 * Routing an accepted connection by info hash before answering it.
 *
 * The accepting side learns which torrent a connection is for only from the peer's handshake, and
 * must not send its own handshake (which carries the info hash) before it knows. The listener
 * therefore reads the first 48 bytes here, looks the torrent up by `header.infoHash`, and hands
 * the returned socket to that torrent's `PeerConnection` (with `outgoing: false`).
 *
 * The returned socket replays every byte read so far, header included, before live data: the
 * peer connection parses the handshake itself, so there is one handshake code path for both
 * directions, and no bytes are lost or consumed twice.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { ITcpSocket, PeerTransport, ReceivedRange } from '../interfaces/socket.js'
import { HandshakeDecoder, type HandshakeHeader } from '../protocol/handshake.js'

export interface IncomingHandshake {
  header: HandshakeHeader
  /** Hand this (not the original) to the PeerConnection; it replays the bytes read so far. */
  socket: ITcpSocket
}

export interface IncomingHandshakeOptions {
  /** @default 20_000 */
  timeoutMs?: number
  signal?: AbortSignal
}

/**
 * Reads the peer's handshake header (protocol string, reserved bits, info hash) from a freshly
 * accepted socket. On failure the socket is closed.
 * @throws LodestoneError PEER_HANDSHAKE_FAILED (not BitTorrent), PEER_TIMEOUT, PEER_CLOSED, ABORTED.
 */
export function readIncomingHandshakeHeader (
  deps: { socket: ITcpSocket, clock: IClock },
  options: IncomingHandshakeOptions = {}
): Promise<IncomingHandshake> {
  const { socket, clock } = deps
  const timeoutMs = options.timeoutMs ?? 20_000
  const replay = new ReplaySocket(socket)
  const decoder = new HandshakeDecoder()
  return new Promise<IncomingHandshake>((resolve, reject) => {
    let settled = false
    let timer: ITimer | null = null
    const onAbort = (): void => { fail(new LodestoneError('ABORTED', { operation: 'read incoming handshake' })) }
    const finish = (): void => {
      settled = true
      timer?.cancel()
      options.signal?.removeEventListener('abort', onAbort)
    }
    const fail = (error: LodestoneError): void => {
      if (settled) return
      finish()
      replay.detach()
      socket.close()
      reject(error)
    }
    if (options.signal?.aborted === true) {
      onAbort()
      return
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    timer = clock.setTimeout(() => {
      fail(new LodestoneError('PEER_TIMEOUT', { what: 'handshake', timeoutMs }))
    }, timeoutMs)
    replay.onPreview((chunk) => {
      if (settled) return
      let offset = 0
      try {
        while (offset < chunk.length && decoder.stage === 'header') offset += decoder.push(chunk, offset)
      } catch (error) {
        fail(isLodestoneError(error) ? error : new LodestoneError('INTERNAL', { reason: String(error) }, { cause: error }))
        return
      }
      const header = decoder.header
      if (header !== null) {
        finish()
        replay.holdForConsumer()
        resolve({ header, socket: replay })
      }
    }, (reason) => {
      fail(reason ?? new LodestoneError('PEER_CLOSED', { reason: 'closed before its handshake' }))
    })
  })
}

/**
 * A view of a socket that buffers what arrived during the preview and replays it to the next
 * `onData` callback (asynchronously, so the consumer can finish its constructor first).
 */
class ReplaySocket implements ITcpSocket {
  private readonly buffered: Uint8Array[] = []
  private preview: ((chunk: Uint8Array) => void) | null = null
  private previewClose: ((reason?: LodestoneError) => void) | null = null
  private consumer: ((chunk: Uint8Array) => void) | null = null
  private consumerClose: ((reason?: LodestoneError) => void) | null = null
  private closedWith: { reason: LodestoneError | undefined } | null = null
  private consumerPaused = false
  private replaying = false
  private detached = false
  /** The inner socket lends views of memory it reuses for its next read. */
  private readonly innerBorrows: boolean
  /** The consumer registered with onBorrowedData (takes views, copies what it keeps). */
  private consumerBorrows = false
  /**
   * Present when the inner socket lends its read buffer (the Node adapter, an MseSocket): the
   * consumer then gets those views too, so a connection that dialled us is read without a copy
   * per read, as one we dialled is. Chunks held during the preview are copies, owned here.
   */
  readonly onBorrowedData?: (cb: (data: Uint8Array) => void) => void

  constructor (private readonly inner: ITcpSocket) {
    this.innerBorrows = inner.onBorrowedData !== undefined
    if (inner.onBorrowedData !== undefined) {
      inner.onBorrowedData((chunk) => { this.deliver(chunk) })
      this.onBorrowedData = (cb) => {
        this.consumer = cb
        this.consumerBorrows = true
        this.scheduleReplay()
      }
    } else {
      inner.onData((chunk) => { this.deliver(chunk) })
    }
    inner.onClose((reason) => { this.closed(reason) })
  }

  get remoteAddress (): string { return this.inner.remoteAddress }
  get remotePort (): number { return this.inner.remotePort }
  get localPort (): number { return this.inner.localPort }
  get transport (): PeerTransport { return this.inner.transport ?? 'tcp' }
  get bufferedBytes (): number { return this.inner.bufferedBytes }
  get encryption (): 'rc4' | 'plaintext' | 'none' | null { return this.inner.encryption ?? null }
  send (data: Uint8Array): boolean { return this.inner.send(data) }
  /** Delivered bytes are the inner socket's own (a preview copy is not found there). */
  receivedRange (data: Uint8Array): ReceivedRange | undefined { return this.inner.receivedRange?.(data) }
  onDrain (cb: () => void): void { this.inner.onDrain(cb) }
  close (): void { this.inner.close() }

  pause (): void {
    this.consumerPaused = true
    this.inner.pause()
  }

  resume (): void {
    this.consumerPaused = false
    if (this.buffered.length > 0) this.scheduleReplay()
    else this.inner.resume()
  }

  onData (cb: (data: Uint8Array) => void): void {
    this.consumer = cb
    this.consumerBorrows = false
    this.scheduleReplay()
  }

  onClose (cb: (reason?: LodestoneError) => void): void {
    this.consumerClose = cb
    if (this.closedWith !== null && this.buffered.length === 0) this.scheduleReplay()
  }

  /** @internal preview stage: see every chunk (they are also buffered for the consumer). */
  onPreview (onChunk: (chunk: Uint8Array) => void, onClose: (reason?: LodestoneError) => void): void {
    this.preview = onChunk
    this.previewClose = onClose
  }

  /** @internal the header is in: stop reading until the consumer takes over. */
  holdForConsumer (): void {
    this.preview = null
    this.previewClose = null
    if (this.consumer === null) this.inner.pause()
  }

  /** @internal the preview failed: drop everything. */
  detach (): void {
    this.detached = true
    this.preview = null
    this.previewClose = null
    this.buffered.length = 0
  }

  private deliver (chunk: Uint8Array): void {
    if (this.detached) return
    if (this.consumer !== null && this.buffered.length === 0 && !this.replaying) {
      this.consumer(this.innerBorrows && !this.consumerBorrows ? chunk.slice() : chunk)
      return
    }
    // Kept past this call (and the header decoded from it is kept by the caller): own it.
    const owned = this.innerBorrows ? chunk.slice() : chunk
    this.buffered.push(owned)
    this.preview?.(owned)
  }

  private closed (reason?: LodestoneError): void {
    if (this.detached) return
    this.closedWith = { reason }
    if (this.previewClose !== null) {
      this.previewClose(reason)
      return
    }
    if (this.consumer !== null && this.buffered.length === 0 && !this.replaying) this.fireClose()
  }

  private fireClose (): void {
    const cb = this.consumerClose
    this.consumerClose = null
    cb?.(this.closedWith?.reason)
  }

  private scheduleReplay (): void {
    if (this.replaying) return
    this.replaying = true
    queueMicrotask(() => {
      this.replaying = false
      const consumer = this.consumer
      if (consumer === null || this.detached) return
      while (this.buffered.length > 0 && !this.consumerPaused) consumer(this.buffered.shift()!)
      if (this.buffered.length > 0) return
      if (this.closedWith !== null) {
        this.fireClose()
        return
      }
      if (!this.consumerPaused) this.inner.resume()
    })
  }
}
