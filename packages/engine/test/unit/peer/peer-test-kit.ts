// Test doubles for peer-connection tests: a scriptable ITcpSocket, and helpers that play the
// remote peer by feeding bytes and parsing what the connection sent.
import type { LodestoneError } from '../../../src/errors.js'
import type { ITcpSocket } from '../../../src/interfaces/socket.js'
import { encodeHandshake, HandshakeDecoder, type Handshake, type HandshakeFeatures } from '../../../src/protocol/handshake.js'
import { createMessageCollector, MessageParser } from '../../../src/protocol/message-parser.js'
import type { WireMessage } from '../../../src/protocol/wire-messages.js'

/**
 * A socket the test drives. `feed` delivers bytes as if the remote sent them (synchronously);
 * everything the connection sends lands in `sent`. With a `highWaterMarkBytes`, `send` returns
 * false once that many bytes are "in flight"; `drain()` empties the queue and fires onDrain.
 * `link()` connects two of them with asynchronous (microtask) delivery.
 */
export class FakeSocket implements ITcpSocket {
  readonly sent: Uint8Array[] = []
  readonly localPort = 6881
  bufferedBytes = 0
  highWaterMarkBytes = Infinity
  paused = false
  closed = false
  closeCalls = 0
  private dataCb: ((data: Uint8Array) => void) | null = null
  private drainCb: (() => void) | null = null
  private closeCb: ((reason?: LodestoneError) => void) | null = null
  private readonly inbox: Uint8Array[] = []
  private peer: FakeSocket | null = null

  constructor (readonly remoteAddress = '10.0.0.2', readonly remotePort = 51413) {}

  static pair (): [FakeSocket, FakeSocket] {
    const a = new FakeSocket('127.0.0.2', 1002)
    const b = new FakeSocket('127.0.0.1', 1001)
    a.peer = b
    b.peer = a
    return [a, b]
  }

  send (data: Uint8Array): boolean {
    if (this.closed) return false
    this.sent.push(data)
    this.bufferedBytes += data.length
    const peer = this.peer
    if (peer !== null) {
      queueMicrotask(() => {
        this.bufferedBytes -= data.length
        peer.feed(data)
      })
    }
    return this.bufferedBytes < this.highWaterMarkBytes
  }

  /** The "network" took everything: buffered drops to 0 and onDrain fires. */
  drain (): void {
    this.bufferedBytes = 0
    this.drainCb?.()
  }

  pause (): void { this.paused = true }
  resume (): void {
    this.paused = false
    while (!this.paused && this.inbox.length > 0) this.dataCb?.(this.inbox.shift()!)
  }

  onData (cb: (data: Uint8Array) => void): void { this.dataCb = cb }
  onDrain (cb: () => void): void { this.drainCb = cb }
  onClose (cb: (reason?: LodestoneError) => void): void { this.closeCb = cb }

  close (): void {
    this.closeCalls++
    if (this.closed) return
    this.closed = true
    const peer = this.peer
    queueMicrotask(() => {
      this.closeCb?.()
      peer?.remoteClosed()
    })
  }

  /** The remote closed the connection (optionally with a transport error). */
  remoteClosed (reason?: LodestoneError): void {
    if (this.closed) return
    this.closed = true
    this.closeCb?.(reason)
  }

  /** Bytes from the remote. */
  feed (data: Uint8Array): void {
    if (this.closed) return
    if (this.paused || this.dataCb === null) this.inbox.push(data)
    else this.dataCb(data)
  }

  /** Every byte sent so far, concatenated. */
  sentBytes (): Uint8Array {
    let length = 0
    for (const c of this.sent) length += c.length
    const out = new Uint8Array(length)
    let at = 0
    for (const c of this.sent) {
      out.set(c, at)
      at += c.length
    }
    return out
  }
}

/**
 * Reads what the connection sent: its handshake first, then messages. `messages()` returns the
 * messages sent since the last call.
 */
export class RemoteView {
  private consumed = 0
  private readonly decoder = new HandshakeDecoder()
  private readonly parsed: WireMessage[] = []
  private readonly parser = new MessageParser(createMessageCollector((m) => this.parsed.push(m)))
  private taken = 0

  constructor (private readonly socket: FakeSocket) {}

  private pump (): void {
    const bytes = this.socket.sentBytes()
    let chunk = bytes.subarray(this.consumed)
    this.consumed = bytes.length
    while (chunk.length > 0 && this.decoder.stage !== 'done') chunk = chunk.subarray(this.decoder.push(chunk))
    if (chunk.length > 0) this.parser.push(chunk)
  }

  /** The header of the handshake the connection sent (null before it sent 48 bytes). */
  handshake (): Handshake | null {
    this.pump()
    return this.decoder.handshake
  }

  headerSent (): boolean {
    this.pump()
    return this.decoder.header !== null
  }

  /** Messages sent since the previous call. */
  messages (): WireMessage[] {
    this.pump()
    const out = this.parsed.slice(this.taken)
    this.taken = this.parsed.length
    return out
  }

  /** Types of the messages sent since the previous call. */
  types (): string[] {
    return this.messages().map((m) => m.type)
  }
}

export const INFO_HASH = Uint8Array.from({ length: 20 }, (_, i) => i + 1)
export const LOCAL_ID = Uint8Array.from('-LS0100-aaaaaaaaaaaa', (c) => c.charCodeAt(0))
export const REMOTE_ID = Uint8Array.from('-TR3000-bbbbbbbbbbbb', (c) => c.charCodeAt(0))

export const ALL_FEATURES: HandshakeFeatures = { extensionProtocol: true, fastExtension: true, dht: false }
export const NO_FEATURES: HandshakeFeatures = { extensionProtocol: false, fastExtension: false, dht: false }

export function remoteHandshake (features: HandshakeFeatures = ALL_FEATURES, infoHash: Uint8Array = INFO_HASH, peerId: Uint8Array = REMOTE_ID): Uint8Array {
  return encodeHandshake({ infoHash, peerId, features })
}

export function concat (...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Resolves after queued microtasks (and their follow-ups) have run. */
export async function flush (turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => { setImmediate(resolve) })
}
