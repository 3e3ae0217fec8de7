/**
 * An {@link ITcpSocket} that speaks MSE/PE over another stream socket (TCP, uTP, in-memory): it
 * runs the handshake, then encrypts what the consumer sends and decrypts what arrives. The
 * consumer (a PeerConnection, the listen router's header reader) is attached at once and never
 * knows: bytes it sends before the handshake finishes wait here, and it sees its first data when
 * the stream is established, or a close with `PEER_ENCRYPTION_FAILED` when it is not.
 *
 * Zero-copy on the data path: received chunks are decrypted in place, in the buffer the inner
 * socket delivered (for a borrowing consumer, the transport's shared read buffer; a borrowed view
 * is ours until the callback returns). Sent data may be shared by its sender (a view of the read
 * cache), so it is encrypted straight into a buffer of ours, reused once the inner socket has let
 * go of it (SendBufferPool). Nothing is allocated per block; the only other copies are for an
 * owning (`onData`) consumer fed by a borrowing transport, and for bytes that arrive while the
 * consumer is paused or not yet attached.
 *
 * The accepting side first tells an encrypted opening from a plaintext one by its first bytes: a
 * BitTorrent handshake starts with 19 and 'BitTorrent protocol', an MSE one with a random DH key.
 * A plaintext connection passes through unchanged when the policy allows it.
 */
import { LodestoneError, isLodestoneError } from '../../errors.js'
import type { IClock, ITimer } from '../../interfaces/clock.js'
import type { IRandom } from '../../interfaces/random.js'
import type { ITcpSocket, PeerTransport, ReceivedRange } from '../../interfaces/socket.js'
import type { Rc4 } from './rc4.js'
import { SendBufferPool } from './send-buffer-pool.js'
import { MseHandshake, mseError, MSE_MAX_INITIAL_PAYLOAD_BYTES, type MseHandshakeResult } from './mse-handshake.js'

/** What protects a connection's stream: RC4, MSE handshake then plaintext, or no MSE at all. */
export type StreamEncryption = 'rc4' | 'plaintext' | 'none'

/** The first 20 bytes of every plaintext BitTorrent handshake. */
const BT_PREFIX = new TextEncoder().encode('\x13BitTorrent protocol')

export interface MseSocketDeps {
  clock: IClock
  random: IRandom
}

export interface MseInitiatorSocketOptions {
  /** The 20-byte info hash the BitTorrent handshake will name (SKEY). */
  skey: Uint8Array
  /** CRYPTO_* bits offered. */
  cryptoProvide: number
  /** The handshake must finish within this long. */
  timeoutMs: number
  /** Our pads' upper bound (tests). @default 512 */
  maxPadBytes?: number
  /** See {@link MseResponderSocketOptions.onSettled}. */
  onSettled?: (outcome: MseOutcome) => void
}

/** How the handshake (or, accepting, the classification of the opening) ended. */
export type MseOutcome = { ok: true, encryption: StreamEncryption } | { ok: false, error: LodestoneError }

export interface MseResponderSocketOptions {
  /** See {@link MseResponderOptions.findSkey}. */
  findSkey: (req2: Uint8Array) => Uint8Array | null
  /** See {@link MseResponderOptions.selectCrypto}. */
  selectCrypto: (provide: number) => number
  /** A plaintext BitTorrent opening passes through (false: closed with 'plaintext-refused'). */
  allowPlaintext: boolean
  /** An MSE opening is answered (false: closed with 'encrypted-refused'). */
  allowEncrypted: boolean
  timeoutMs: number
  maxPadBytes?: number
  /**
   * Called once when the stream is established or the handshake failed (before the consumer
   * hears of either), so a policy can count outcomes and remember peers. Not called for a close
   * the consumer asked for.
   */
  onSettled?: (outcome: MseOutcome) => void
}

type Phase = 'classify' | 'handshake' | 'open' | 'closed'

export class MseSocket implements ITcpSocket {
  private phase: Phase
  private handshake: MseHandshake | null = null
  private encryptor: Rc4 | null = null
  private decryptor: Rc4 | null = null
  private readonly sendPool = new SendBufferPool()
  private mode: StreamEncryption | null = null
  private sharedKey: Uint8Array | null = null
  private timer: ITimer | null = null
  /** Responder: the opening bytes read while classifying. */
  private opening: Uint8Array | null = null
  /** Bytes for the consumer that it could not take yet (owned, already decrypted). */
  private readonly pendingIn: Uint8Array[] = []
  /** Bytes the consumer sent before the stream was established (plaintext, owned by us). */
  private pendingOut: Uint8Array[] = []
  private pendingOutBytes = 0
  private consumerData: ((data: Uint8Array) => void) | null = null
  private consumerBorrows = false
  private consumerClose: ((reason?: LodestoneError) => void) | null = null
  private consumerDrain: (() => void) | null = null
  private consumerPaused = false
  private flushScheduled = false
  /** Set when the connection ended; the consumer hears of it once its pending data is delivered. */
  private ended: { reason: LodestoneError | undefined } | null = null
  private closeFired = false
  /** The consumer closed: nothing more is delivered to it. */
  private closedLocally = false
  /** The inner socket delivers views it reuses (we copy for an owning consumer). */
  private readonly innerBorrows: boolean

  private constructor (
    private readonly inner: ITcpSocket,
    private readonly deps: MseSocketDeps,
    phase: Phase,
    timeoutMs: number
  ) {
    this.phase = phase
    this.innerBorrows = inner.onBorrowedData !== undefined
    if (inner.onBorrowedData !== undefined) inner.onBorrowedData((chunk) => { this.onInnerData(chunk) })
    else inner.onData((chunk) => { this.onInnerData(chunk) })
    inner.onDrain(() => { if (this.phase === 'open') this.consumerDrain?.() })
    inner.onClose((reason) => { this.onInnerClose(reason) })
    this.timer = deps.clock.setTimeout(() => { this.fail(mseError('timeout')) }, timeoutMs)
  }

  /** Wraps a socket we dialled: sends Ya at once; the consumer's first send becomes the IA. */
  static initiate (inner: ITcpSocket, deps: MseSocketDeps, options: MseInitiatorSocketOptions): MseSocket {
    const socket = new MseSocket(inner, deps, 'handshake', options.timeoutMs)
    socket.handshake = new MseHandshake({
      role: 'initiator',
      skey: options.skey,
      cryptoProvide: options.cryptoProvide,
      takeInitialPayload: () => socket.takeInitialPayload()
    }, { random: deps.random, ...(options.maxPadBytes !== undefined ? { maxPadBytes: options.maxPadBytes } : {}) })
    socket.sharedKey = options.skey
    socket.onSettled = options.onSettled ?? null
    socket.sendInner(socket.handshake.start(), false)
    return socket
  }

  /** Wraps an accepted socket: classifies its opening, then answers MSE or passes plaintext through. */
  static accept (inner: ITcpSocket, deps: MseSocketDeps, options: MseResponderSocketOptions): MseSocket {
    const socket = new MseSocket(inner, deps, 'classify', options.timeoutMs)
    socket.responderOptions = options
    socket.onSettled = options.onSettled ?? null
    return socket
  }

  private responderOptions: MseResponderSocketOptions | null = null
  private onSettled: ((outcome: MseOutcome) => void) | null = null

  /** How the stream is protected; null until the handshake finishes (or for a failed one). */
  get encryption (): StreamEncryption | null { return this.mode }
  /** The SKEY (info hash) the MSE handshake used; null for plaintext and until established. */
  get skey (): Uint8Array | null { return this.mode === null || this.mode === 'none' ? null : this.sharedKey }

  /**
   * Delivered bytes are the inner socket's own only while nothing decrypts them (the handshake is
   * done and the stream is plaintext): RC4 decrypts in place, so the transport's copy is ciphertext.
   */
  receivedRange (data: Uint8Array): ReceivedRange | undefined {
    return this.phase === 'open' && this.decryptor === null ? this.inner.receivedRange?.(data) : undefined
  }

  get remoteAddress (): string { return this.inner.remoteAddress }
  get remotePort (): number { return this.inner.remotePort }
  get localPort (): number { return this.inner.localPort }
  get transport (): PeerTransport { return this.inner.transport ?? 'tcp' }
  get bufferedBytes (): number { return this.inner.bufferedBytes + this.pendingOutBytes }

  send (data: Uint8Array): boolean {
    if (this.phase === 'closed') return false
    if (this.phase !== 'open') {
      this.pendingOut.push(data)
      this.pendingOutBytes += data.length
      return true
    }
    return this.sendEncrypted(data)
  }

  /**
   * Sends `data` itself in plaintext, else an encrypted copy. Senders may share what they send
   * (blocks are views of the read cache), so RC4 never runs in place on their buffer; the copies
   * come from a pool the transport hands back as it flushes (see SendBufferPool).
   */
  private sendEncrypted (data: Uint8Array): boolean {
    const encryptor = this.encryptor
    if (encryptor === null) return this.sendInner(data, false)
    const out = this.sendPool.take(data.length, this.inner.bufferedBytes)
    encryptor.processInto(data, out)
    return this.sendInner(out, true)
  }

  /** Every send to the inner socket goes here, so the pool knows the byte positions. */
  private sendInner (data: Uint8Array, pooled: boolean): boolean {
    this.sendPool.sent(data, pooled)
    return this.inner.send(data)
  }

  pause (): void {
    this.consumerPaused = true
    this.inner.pause()
  }

  resume (): void {
    this.consumerPaused = false
    if (this.pendingIn.length > 0 || this.ended !== null) this.scheduleFlush()
    else this.inner.resume()
  }

  onData (cb: (data: Uint8Array) => void): void {
    this.consumerData = cb
    this.consumerBorrows = false
    this.scheduleFlush()
  }

  onBorrowedData (cb: (data: Uint8Array) => void): void {
    this.consumerData = cb
    this.consumerBorrows = true
    this.scheduleFlush()
  }

  onDrain (cb: () => void): void { this.consumerDrain = cb }

  onClose (cb: (reason?: LodestoneError) => void): void {
    this.consumerClose = cb
    if (this.ended !== null) this.scheduleFlush()
  }

  close (): void {
    if (this.phase === 'closed') return
    this.onSettled = null
    this.closedLocally = true
    this.end(undefined)
    this.inner.close()
  }

  // ------------------------------------------------------------------ receiving

  private onInnerData (chunk: Uint8Array): void {
    switch (this.phase) {
      case 'open':
        this.decryptor?.process(chunk)
        if (this.pendingIn.length === 0 && this.consumerData !== null && !this.consumerPaused && !this.flushScheduled) {
          this.consumerData(this.innerBorrows && !this.consumerBorrows ? chunk.slice() : chunk)
        } else {
          this.queueIn(this.innerBorrows ? chunk.slice() : chunk)
        }
        return
      case 'classify':
        this.classify(chunk)
        return
      case 'handshake':
        this.handshakeData(chunk)
        return
      case 'closed':
    }
  }

  private classify (chunk: Uint8Array): void {
    const seen = this.opening === null ? 0 : this.opening.length
    const opening = new Uint8Array(seen + chunk.length)
    if (this.opening !== null) opening.set(this.opening, 0)
    opening.set(chunk, seen)
    this.opening = opening
    const options = this.responderOptions!
    const n = Math.min(opening.length, BT_PREFIX.length)
    let plaintext = true
    for (let i = 0; i < n; i++) {
      if (opening[i] !== BT_PREFIX[i]) {
        plaintext = false
        break
      }
    }
    if (plaintext && n < BT_PREFIX.length) return // not decided yet
    this.opening = null
    if (plaintext) {
      if (!options.allowPlaintext) {
        this.fail(mseError('plaintext-refused'))
        return
      }
      this.mode = 'none'
      this.established([opening])
      return
    }
    if (!options.allowEncrypted) {
      this.fail(mseError('encrypted-refused'))
      return
    }
    this.phase = 'handshake'
    this.handshake = new MseHandshake({
      role: 'responder',
      findSkey: options.findSkey,
      selectCrypto: options.selectCrypto
    }, { random: this.deps.random, ...(options.maxPadBytes !== undefined ? { maxPadBytes: options.maxPadBytes } : {}) })
    this.handshakeData(opening)
  }

  private handshakeData (chunk: Uint8Array): void {
    const handshake = this.handshake!
    let replies: Uint8Array[]
    try {
      replies = handshake.receive(chunk)
    } catch (error) {
      this.fail(isLodestoneError(error) ? error : new LodestoneError('INTERNAL', { reason: String(error) }, { cause: error }))
      return
    }
    for (const reply of replies) this.sendInner(reply, false)
    const result = handshake.result
    if (result !== null) this.handshakeDone(result)
  }

  private handshakeDone (result: MseHandshakeResult): void {
    this.handshake = null
    this.sharedKey = result.skey
    this.mode = result.method
    if (result.method === 'rc4') {
      this.encryptor = result.encryptor
      this.decryptor = result.decryptor
    }
    const incoming: Uint8Array[] = []
    if (result.initialPayload.length > 0) incoming.push(result.initialPayload)
    if (result.remainder.length > 0) {
      // The remainder is a view of the handshake's own buffer, which nothing else uses.
      this.decryptor?.process(result.remainder)
      incoming.push(result.remainder)
    }
    this.established(incoming)
  }

  /** The stream is usable: flush what the consumer sent and deliver what arrived. */
  private established (incoming: Uint8Array[]): void {
    this.phase = 'open'
    this.timer?.cancel()
    this.timer = null
    this.settle({ ok: true, encryption: this.mode ?? 'none' })
    for (const chunk of incoming) this.queueIn(chunk)
    const out = this.pendingOut
    this.pendingOut = []
    this.pendingOutBytes = 0
    for (const data of out) this.sendEncrypted(data)
  }

  /** The dialling side's IA: the consumer's first message (its BitTorrent handshake), if it sent one yet. */
  private takeInitialPayload (): Uint8Array {
    const first = this.pendingOut[0]
    if (first === undefined || first.length > MSE_MAX_INITIAL_PAYLOAD_BYTES) return new Uint8Array(0)
    this.pendingOut.shift()
    this.pendingOutBytes -= first.length
    return first
  }

  private queueIn (chunk: Uint8Array): void {
    this.pendingIn.push(chunk)
    // Hold the transport while the consumer cannot take data, as a paused socket would.
    if (this.consumerPaused || this.consumerData === null) this.inner.pause()
    this.scheduleFlush()
  }

  private scheduleFlush (): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    // Asynchronous, so a consumer attaching in its constructor finishes before data arrives.
    queueMicrotask(() => {
      this.flushScheduled = false
      this.flush()
    })
  }

  private flush (): void {
    const consumer = this.consumerData
    if (consumer !== null) {
      while (this.pendingIn.length > 0 && !this.consumerPaused && !this.closedLocally) consumer(this.pendingIn.shift()!)
    }
    if (this.pendingIn.length > 0 && !this.closedLocally) return
    if (this.ended !== null) {
      this.fireClose()
      return
    }
    if (consumer !== null && !this.consumerPaused && this.phase === 'open') this.inner.resume()
  }

  // ------------------------------------------------------------------ closing

  private onInnerClose (reason?: LodestoneError): void {
    if (this.phase === 'closed') return
    if (this.phase !== 'open') {
      this.fail(mseError('closed', reason))
      return
    }
    this.end(reason)
  }

  /** Ends the handshake (or classification) with `error`, normally PEER_ENCRYPTION_FAILED and its reason. */
  private fail (error: LodestoneError): void {
    if (this.phase === 'closed' || this.phase === 'open') return
    this.pendingIn.length = 0
    this.end(error)
    this.inner.close()
    this.settle({ ok: false, error })
  }

  private settle (outcome: MseOutcome): void {
    const cb = this.onSettled
    this.onSettled = null
    cb?.(outcome)
  }

  private end (reason: LodestoneError | undefined): void {
    this.phase = 'closed'
    this.timer?.cancel()
    this.timer = null
    this.handshake = null
    this.pendingOut = []
    this.pendingOutBytes = 0
    this.ended = { reason }
    this.scheduleFlush()
  }

  private fireClose (): void {
    if (this.closeFired || this.consumerClose === null) return
    this.closeFired = true
    const cb = this.consumerClose
    this.consumerData = null
    this.consumerDrain = null
    cb(this.ended?.reason)
  }
}
