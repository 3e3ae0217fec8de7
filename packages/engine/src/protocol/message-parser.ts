/**
 * Incremental peer-wire message parser: socket chunks in, one synchronous handler call per
 * message out.
 *
 * Why it looks like this (DESIGN "data path"):
 * - Never re-concatenate the stream per chunk. Messages that lie inside the chunk being parsed are
 *   decoded in place; only the unparsed tail is kept, as a list of chunk views. Bytes are copied
 *   only when one message straddles chunk boundaries, and then exactly once, into a buffer of the
 *   message's size.
 * - PIECE blocks are handed out as `subarray` views of the socket chunk whenever the message lies
 *   in one chunk. The socket gives us ownership of each chunk, so the views stay valid; they pin
 *   the chunk's memory for as long as the receiver keeps them.
 * - The length prefix is checked against `maxMessageLengthBytes` as soon as its 4 bytes are in,
 *   before anything of the body is buffered, so a hostile length cannot make us hold memory.
 * - Handler calls are synchronous: no promise or event object per message.
 * - {@link MessageParser.pushBorrowed} takes chunks the socket lends only for the call (it reuses
 *   the memory for its next read, ITcpSocket.onBorrowedData): the pending tail is then copied (a
 *   message straddling reads is still copied once more, into its own buffer, when it completes),
 *   BITFIELD / EXTENDED / unknown payloads are copied before their handler sees them, and PIECE
 *   payloads stay views that are valid only during `onPiece` (the receiver copies the block).
 *
 * Errors: a malformed message throws a `ProtocolError` (PEER_MESSAGE_TOO_LARGE or
 * PEER_PROTOCOL_VIOLATION) out of {@link MessageParser.push}; the parser is then stopped and ignores
 * further input. A handler that throws also stops it (the exception propagates unchanged).
 */
import { ProtocolError } from '../errors.js'
import { MessageId, type WireMessage, type WireMessageHandler } from './wire-messages.js'

/**
 * Default limit on one message's length prefix: 1 MiB.
 *
 * Why not "16 KiB + 13" (the largest PIECE we request): a BITFIELD is one bit per piece and a
 * large torrent (e.g. 500 GiB in 64 KiB pieces: 8 M pieces) needs a 1 MiB bitfield; BEP 10/9
 * extended messages (metadata pieces of 16 KiB plus their dict, PEX lists) also exceed 16 KiB.
 * 1 MiB bounds memory per peer while accepting every message a correct peer sends. The peer
 * connection applies stricter per-message checks (a PIECE must match what we requested).
 */
export const DEFAULT_MAX_MESSAGE_LENGTH_BYTES = 1_048_576

export interface MessageParserSettings {
  /** A length prefix above this closes the peer with PEER_MESSAGE_TOO_LARGE. @default 1_048_576 */
  maxMessageLengthBytes: number
}

// Message ids as module-local bindings: the hot `switch` below reads them once per message, and
// bundlers and dev module runners turn accesses to *imported* bindings into getter calls.
const CHOKE = MessageId.choke
const UNCHOKE = MessageId.unchoke
const INTERESTED = MessageId.interested
const NOT_INTERESTED = MessageId.notInterested
const HAVE = MessageId.have
const BITFIELD = MessageId.bitfield
const REQUEST = MessageId.request
const PIECE = MessageId.piece
const CANCEL = MessageId.cancel
const PORT = MessageId.port
const SUGGEST = MessageId.suggest
const HAVE_ALL = MessageId.haveAll
const HAVE_NONE = MessageId.haveNone
const REJECT = MessageId.reject
const ALLOWED_FAST = MessageId.allowedFast
const EXTENDED = MessageId.extended

/** Expected body length (id byte included) of the fixed-size messages. */
const FIXED_LENGTH = new Int32Array(256).fill(-1)
for (const [id, length] of [
  [CHOKE, 1], [UNCHOKE, 1], [INTERESTED, 1], [NOT_INTERESTED, 1], [HAVE, 5], [REQUEST, 13], [CANCEL, 13], [PORT, 3],
  [SUGGEST, 5], [HAVE_ALL, 1], [HAVE_NONE, 1], [REJECT, 13], [ALLOWED_FAST, 5]
] as const) FIXED_LENGTH[id] = length

const NAMES: Record<number, string> = {
  0: 'choke', 1: 'unchoke', 2: 'interested', 3: 'not interested', 4: 'have', 6: 'request', 8: 'cancel',
  9: 'port', 13: 'suggest', 14: 'have all', 15: 'have none', 16: 'reject', 17: 'allowed fast'
}

function u32 (b: Uint8Array, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0
}

function violation (reason: string): ProtocolError<'PEER_PROTOCOL_VIOLATION'> {
  return new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason }, { message: `protocol violation: ${reason}` })
}

export class MessageParser {
  /** Unparsed chunks; `chunks[head]` starts at `headOffset`. Never holds a complete message. */
  private chunks: Uint8Array[] = []
  /**
   * Per pending chunk, the view of the pushed chunk its bytes came from: itself, or for a copy of
   * a borrowed chunk the borrowed view (never read: it only names where the bytes were received).
   */
  private origins: Uint8Array[] = []
  private head = 0
  private headOffset = 0
  private buffered = 0
  private stopped = false
  /** Inside pushBorrowed: views of the current chunk must not outlive the call. */
  private borrowed = false
  private joinedStartValue: Uint8Array | null = null
  private readonly maxLength: number

  constructor (private readonly handler: WireMessageHandler, settings: MessageParserSettings = { maxMessageLengthBytes: DEFAULT_MAX_MESSAGE_LENGTH_BYTES }) {
    this.maxLength = settings.maxMessageLengthBytes
  }

  /** Bytes received and not yet parsed (part of one incomplete message). */
  get bufferedBytes (): number { return this.buffered }

  /**
   * While the handler runs for a message that straddled chunks (and so was copied): a view of the
   * pushed chunk the message body's first byte came from, starting at that byte; null otherwise.
   * Only names where the bytes were received (for a borrowed chunk its memory may have been reused
   * since): the body continues in the chunks pushed after it, so a transport that can name where a
   * chunk was received (ITcpSocket.receivedRange) can name the copied body too (peer/piece-origin.ts).
   */
  get joinedStart (): Uint8Array | null { return this.joinedStartValue }

  /** True after `stop()`, an error, or a handler exception. */
  get isStopped (): boolean { return this.stopped }

  /** Stops parsing: the rest of the current chunk and all later input are ignored. Safe from a handler. */
  stop (): void {
    this.stopped = true
    this.chunks = []
    this.origins = []
    this.head = 0
    this.headOffset = 0
    this.buffered = 0
  }

  /**
   * Parses `chunk` (which the parser may keep views of) from `offset`, calling the handler for
   * each complete message.
   * @throws ProtocolError PEER_MESSAGE_TOO_LARGE, PEER_PROTOCOL_VIOLATION; the parser is stopped.
   */
  push (chunk: Uint8Array, offset = 0): void {
    if (this.stopped || offset >= chunk.length) return
    try {
      if (this.buffered === 0) this.parseInPlace(chunk, offset)
      else {
        this.enqueue(offset === 0 ? chunk : chunk.subarray(offset))
        this.drain()
      }
    } catch (error) {
      this.stop()
      throw error
    }
  }

  /**
   * Like {@link push}, but `chunk` is only lent for this call (ITcpSocket.onBorrowedData): the
   * parser copies what it keeps and what handlers may keep, except PIECE payloads, which are views
   * valid only until `onPiece` returns.
   * @throws ProtocolError as {@link push}; the parser is stopped.
   */
  pushBorrowed (chunk: Uint8Array, offset = 0): void {
    if (this.stopped || offset >= chunk.length) return
    this.borrowed = true
    try {
      let pos = offset
      // Complete the pending message with exactly the bytes it lacks, so nothing of `chunk` stays queued.
      while (!this.stopped && this.buffered > 0 && pos < chunk.length) {
        if (this.buffered < 4) {
          const n = Math.min(4 - this.buffered, chunk.length - pos)
          this.enqueue(chunk.slice(pos, pos + n), chunk.subarray(pos, pos + n))
          pos += n
          continue
        }
        const length = this.peekLength()
        this.checkLength(length)
        const need = 4 + length - this.buffered
        if (chunk.length - pos < need) {
          this.enqueue(chunk.slice(pos), chunk.subarray(pos))
          return
        }
        if (need > 0) this.enqueue(chunk.subarray(pos, pos + need))
        pos += need
        this.drain()
      }
      if (this.buffered === 0) {
        if (!this.stopped && pos < chunk.length) this.parseInPlace(chunk, pos)
      } else if (!this.stopped && this.buffered >= 4) {
        // The chunk ran out with the length prefix just completed: check it (a keep-alive is
        // complete already). Everything pending is owned here.
        this.drain()
      }
    } catch (error) {
      this.stop()
      throw error
    } finally {
      this.borrowed = false
    }
  }

  /** Fast path: nothing pending, so messages are decoded straight out of `chunk`. */
  private parseInPlace (chunk: Uint8Array, offset: number): void {
    let pos = offset
    while (!this.stopped && chunk.length - pos >= 4) {
      const length = u32(chunk, pos)
      this.checkLength(length)
      if (chunk.length - pos - 4 < length) break
      pos += 4
      this.dispatch(chunk, pos, length)
      pos += length
    }
    if (!this.stopped && pos < chunk.length) this.enqueue(this.borrowed ? chunk.slice(pos) : chunk.subarray(pos), chunk.subarray(pos))
  }

  /** Slow path: parses messages out of the pending chunk list. */
  private drain (): void {
    while (!this.stopped && this.buffered >= 4) {
      const length = this.peekLength()
      this.checkLength(length)
      if (this.buffered - 4 < length) return
      this.skip(4)
      const first = this.chunks[this.head]
      if (first !== undefined && first.length - this.headOffset >= length) {
        // The whole body sits in one chunk: decode in place, no copy.
        const at = this.headOffset
        this.skip(length)
        this.dispatch(first, at, length)
      } else {
        this.joinedStartValue = this.origins[this.head]?.subarray(this.headOffset) ?? null
        const body = this.take(length)
        try { this.dispatch(body, 0, length) } finally { this.joinedStartValue = null }
      }
      // Once the list is down to one chunk, the in-place path handles the rest of it.
      if (!this.stopped && this.chunks.length - this.head === 1 && this.buffered >= 4) {
        const last = this.chunks[this.head]!
        const at = this.headOffset
        this.chunks = []
        this.origins = []
        this.head = 0
        this.headOffset = 0
        this.buffered = 0
        this.parseInPlace(last, at)
        return
      }
    }
  }

  private checkLength (length: number): void {
    if (length > this.maxLength) {
      throw new ProtocolError('PEER_MESSAGE_TOO_LARGE', { lengthBytes: length, limitBytes: this.maxLength },
        { message: `peer announced a ${length}-byte message; the limit is ${this.maxLength}` })
    }
  }

  /** `origin`: the pushed view `view` copies, when it is a copy. */
  private enqueue (view: Uint8Array, origin = view): void {
    if (view.length === 0) return
    this.chunks.push(view)
    this.origins.push(origin)
    this.buffered += view.length
  }

  private peekLength (): number {
    let value = 0
    let needed = 4
    let index = this.head
    let at = this.headOffset
    while (needed > 0) {
      const chunk = this.chunks[index]
      if (chunk === undefined) return 0 // unreachable: callers check buffered >= 4
      while (needed > 0 && at < chunk.length) {
        value = value * 256 + (chunk[at] ?? 0)
        at++
        needed--
      }
      index++
      at = 0
    }
    return value
  }

  /** Drops `count` bytes from the front of the pending list. */
  private skip (count: number): void {
    this.buffered -= count
    while (count > 0) {
      const chunk = this.chunks[this.head]
      if (chunk === undefined) break
      const available = chunk.length - this.headOffset
      if (available > count) {
        this.headOffset += count
        return
      }
      count -= available
      this.head++
      this.headOffset = 0
    }
    this.compact()
  }

  /** Copies `length` bytes (spanning chunks) off the front of the pending list. */
  private take (length: number): Uint8Array {
    const out = new Uint8Array(length)
    let written = 0
    while (written < length) {
      const chunk = this.chunks[this.head]
      if (chunk === undefined) break
      const n = Math.min(chunk.length - this.headOffset, length - written)
      out.set(chunk.subarray(this.headOffset, this.headOffset + n), written)
      written += n
      if (this.headOffset + n === chunk.length) {
        this.head++
        this.headOffset = 0
      } else {
        this.headOffset += n
      }
    }
    this.buffered -= length
    this.compact()
    return out
  }

  private compact (): void {
    if (this.head === this.chunks.length) {
      this.chunks = []
      this.origins = []
      this.head = 0
    } else if (this.head > 16 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head)
      this.origins = this.origins.slice(this.head)
      this.head = 0
    }
  }

  /** Decodes the message whose body (id byte first) is `b[o, o + length)`. */
  private dispatch (b: Uint8Array, o: number, length: number): void {
    const h = this.handler
    if (length === 0) {
      h.onKeepAlive()
      return
    }
    const id = b[o] ?? 0
    const fixed = FIXED_LENGTH[id] ?? -1
    if (fixed >= 0 && fixed !== length) {
      throw violation(`${NAMES[id] ?? id} message has length ${length}, expected ${fixed}`)
    }
    switch (id) {
      case CHOKE: h.onChoke(); return
      case UNCHOKE: h.onUnchoke(); return
      case INTERESTED: h.onInterested(); return
      case NOT_INTERESTED: h.onNotInterested(); return
      case HAVE: h.onHave(u32(b, o + 1)); return
      case BITFIELD: h.onBitfield(this.payload(b, o + 1, o + length)); return
      case REQUEST: h.onRequest(u32(b, o + 1), u32(b, o + 5), u32(b, o + 9)); return
      case PIECE:
        if (length < 9) throw violation(`piece message has length ${length}, expected at least 9`)
        h.onPiece(u32(b, o + 1), u32(b, o + 5), b.subarray(o + 9, o + length))
        return
      case CANCEL: h.onCancel(u32(b, o + 1), u32(b, o + 5), u32(b, o + 9)); return
      case PORT: h.onPort(((b[o + 1] ?? 0) << 8) | (b[o + 2] ?? 0)); return
      case SUGGEST: h.onSuggest(u32(b, o + 1)); return
      case HAVE_ALL: h.onHaveAll(); return
      case HAVE_NONE: h.onHaveNone(); return
      case REJECT: h.onReject(u32(b, o + 1), u32(b, o + 5), u32(b, o + 9)); return
      case ALLOWED_FAST: h.onAllowedFast(u32(b, o + 1)); return
      case EXTENDED:
        if (length < 2) throw violation('extended message without an extended id')
        h.onExtended(b[o + 1] ?? 0, this.payload(b, o + 2, o + length))
        return
      default:
        h.onUnknown(id, this.payload(b, o + 1, o + length))
    }
  }

  /** A payload handlers may keep: a view, or a copy while the chunk is only borrowed. */
  private payload (b: Uint8Array, start: number, end: number): Uint8Array {
    return this.borrowed ? b.slice(start, end) : b.subarray(start, end)
  }
}

/**
 * A handler that turns each call back into a {@link WireMessage} object: for tests, tools and
 * code off the hot path (it allocates one object per message).
 */
export function createMessageCollector (onMessage: (message: WireMessage) => void): WireMessageHandler {
  return {
    onKeepAlive: () => { onMessage({ type: 'keep-alive' }) },
    onChoke: () => { onMessage({ type: 'choke' }) },
    onUnchoke: () => { onMessage({ type: 'unchoke' }) },
    onInterested: () => { onMessage({ type: 'interested' }) },
    onNotInterested: () => { onMessage({ type: 'not-interested' }) },
    onHave: (piece) => { onMessage({ type: 'have', piece }) },
    onBitfield: (bytes) => { onMessage({ type: 'bitfield', bytes }) },
    onRequest: (piece, begin, length) => { onMessage({ type: 'request', piece, begin, length }) },
    onPiece: (piece, begin, data) => { onMessage({ type: 'piece', piece, begin, data }) },
    onCancel: (piece, begin, length) => { onMessage({ type: 'cancel', piece, begin, length }) },
    onPort: (port) => { onMessage({ type: 'port', port }) },
    onSuggest: (piece) => { onMessage({ type: 'suggest', piece }) },
    onHaveAll: () => { onMessage({ type: 'have-all' }) },
    onHaveNone: () => { onMessage({ type: 'have-none' }) },
    onReject: (piece, begin, length) => { onMessage({ type: 'reject', piece, begin, length }) },
    onAllowedFast: (piece) => { onMessage({ type: 'allowed-fast', piece }) },
    onExtended: (id, payload) => { onMessage({ type: 'extended', id, payload }) },
    onUnknown: (id, payload) => { onMessage({ type: 'unknown', id, payload }) }
  }
}

/**
 * Parses a complete byte string into messages (tests and tools).
 * @throws ProtocolError as {@link MessageParser.push}, or PEER_PROTOCOL_VIOLATION when bytes are
 *   left over after the last complete message.
 */
export function parseMessages (bytes: Uint8Array, settings?: MessageParserSettings): WireMessage[] {
  const out: WireMessage[] = []
  const parser = new MessageParser(createMessageCollector((m) => out.push(m)), settings)
  parser.push(bytes)
  if (parser.bufferedBytes > 0) throw violation(`${parser.bufferedBytes} bytes of an incomplete message at the end`)
  return out
}
