/**
 * Peer wire messages (BEP 3, BEP 5's PORT, BEP 6 fast extension, BEP 10 extended): ids, the
 * decoded shape, and encoders.
 *
 * Encoders allocate exactly one `Uint8Array` per message, sized up front, and write the length
 * prefix, id and fields straight into it. The buffer is the caller's to hand to `socket.send`,
 * which takes ownership, so no encoder ever reuses a shared scratch buffer.
 *
 * PIECE is the exception to "one buffer": {@link encodePieceHeader} writes only the 13-byte header,
 * and the caller sends the block as a second buffer. Copying a 16 KiB block per upload just to
 * glue 13 bytes in front of it would be the single largest cost of seeding.
 */
import { LodestoneError } from '../errors.js'

/** Message ids (BEP 3, 5, 6, 10, 52). */
export const MessageId = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  /** BEP 5 */
  port: 9,
  /** BEP 6 */
  suggest: 13,
  haveAll: 14,
  haveNone: 15,
  reject: 16,
  allowedFast: 17,
  /** BEP 10 */
  extended: 20,
  /** BEP 52 (protocol/hash-messages.ts) */
  hashRequest: 21,
  hashes: 22,
  hashReject: 23
} as const
export type MessageIdValue = typeof MessageId[keyof typeof MessageId]

/** The standard block length (BEP 3). */
export const BLOCK_LENGTH_BYTES = 16_384
/** Length prefix + id + piece index + begin: what precedes a PIECE block on the wire. */
export const PIECE_HEADER_LENGTH_BYTES = 13

/** A block coordinate, as used by REQUEST, CANCEL and REJECT. */
export interface BlockRequest {
  piece: number
  begin: number
  length: number
}

/** A decoded wire message, keyed by `type` (BEP names in kebab-case). */
export type WireMessage =
  | { type: 'keep-alive' }
  | { type: 'choke' }
  | { type: 'unchoke' }
  | { type: 'interested' }
  | { type: 'not-interested' }
  | { type: 'have', piece: number }
  | { type: 'bitfield', bytes: Uint8Array }
  | { type: 'request', piece: number, begin: number, length: number }
  | { type: 'piece', piece: number, begin: number, data: Uint8Array }
  | { type: 'cancel', piece: number, begin: number, length: number }
  | { type: 'port', port: number }
  | { type: 'suggest', piece: number }
  | { type: 'have-all' }
  | { type: 'have-none' }
  | { type: 'reject', piece: number, begin: number, length: number }
  | { type: 'allowed-fast', piece: number }
  | { type: 'extended', id: number, payload: Uint8Array }
  /** A message id this engine does not know; BEP 3 says to ignore it. */
  | { type: 'unknown', id: number, payload: Uint8Array }

/**
 * Receives decoded messages from the parser, one synchronous call per message (no object is
 * allocated per message on this path). Byte payloads are views into the socket chunk whenever
 * the message lay inside one chunk, otherwise a fresh copy; either way the handler may keep them
 * (the parser never writes to them again).
 */
export interface WireMessageHandler {
  onKeepAlive (): void
  onChoke (): void
  onUnchoke (): void
  onInterested (): void
  onNotInterested (): void
  onHave (piece: number): void
  onBitfield (bytes: Uint8Array): void
  onRequest (piece: number, begin: number, length: number): void
  onPiece (piece: number, begin: number, data: Uint8Array): void
  onCancel (piece: number, begin: number, length: number): void
  onPort (port: number): void
  onSuggest (piece: number): void
  onHaveAll (): void
  onHaveNone (): void
  onReject (piece: number, begin: number, length: number): void
  onAllowedFast (piece: number): void
  onExtended (id: number, payload: Uint8Array): void
  onUnknown (id: number, payload: Uint8Array): void
}

// --- encoders ----------------------------------------------------------------------------------

/** Big-endian u32 at `at` (no DataView: these encoders run once per 16 KiB block on the data path). */
function putU32 (buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24
  buf[at + 1] = (value >>> 16) & 0xff
  buf[at + 2] = (value >>> 8) & 0xff
  buf[at + 3] = value & 0xff
}

function withId (payloadBytes: number, id: number): Uint8Array {
  const buf = new Uint8Array(5 + payloadBytes)
  putU32(buf, 0, 1 + payloadBytes)
  buf[4] = id
  return buf
}

function checkU32 (name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new LodestoneError('ARGUMENT_INVALID', { name, reason: `${value} is not a 32-bit unsigned integer` })
  }
}

function idOnly (id: number): Uint8Array {
  return withId(0, id)
}

function pieceOnly (id: number, piece: number): Uint8Array {
  checkU32('piece', piece)
  const buf = withId(4, id)
  putU32(buf, 5, piece)
  return buf
}

function block (id: number, piece: number, begin: number, length: number): Uint8Array {
  checkU32('piece', piece)
  checkU32('begin', begin)
  checkU32('length', length)
  const buf = withId(12, id)
  putU32(buf, 5, piece)
  putU32(buf, 9, begin)
  putU32(buf, 13, length)
  return buf
}

/** Four zero bytes. */
export function encodeKeepAlive (): Uint8Array { return new Uint8Array(4) }
export function encodeChoke (): Uint8Array { return idOnly(MessageId.choke) }
export function encodeUnchoke (): Uint8Array { return idOnly(MessageId.unchoke) }
export function encodeInterested (): Uint8Array { return idOnly(MessageId.interested) }
export function encodeNotInterested (): Uint8Array { return idOnly(MessageId.notInterested) }
/** @throws LodestoneError ARGUMENT_INVALID when `piece` is not a u32 (a caller bug); so do the other numeric encoders. */
export function encodeHave (piece: number): Uint8Array { return pieceOnly(MessageId.have, piece) }
/** Copies `bytes` (the bitfield, BEP 3 bit order) into the message. */
export function encodeBitfield (bytes: Uint8Array): Uint8Array {
  const buf = withId(bytes.length, MessageId.bitfield)
  buf.set(bytes, 5)
  return buf
}
export function encodeRequest (piece: number, begin: number, length: number): Uint8Array {
  return block(MessageId.request, piece, begin, length)
}
export function encodeCancel (piece: number, begin: number, length: number): Uint8Array {
  return block(MessageId.cancel, piece, begin, length)
}

/**
 * The 13-byte header of a PIECE message carrying `lengthBytes` of block data. Send the block
 * itself as a second buffer right after it; nothing may be sent in between.
 */
export function encodePieceHeader (piece: number, begin: number, lengthBytes: number): Uint8Array {
  return encodePieceHeaderInto(new Uint8Array(PIECE_HEADER_LENGTH_BYTES), piece, begin, lengthBytes)
}

/** {@link encodePieceHeader} into the first 13 bytes of `target`, which is returned. */
export function encodePieceHeaderInto (target: Uint8Array, piece: number, begin: number, lengthBytes: number): Uint8Array {
  checkU32('piece', piece)
  checkU32('begin', begin)
  checkU32('length', lengthBytes)
  if (target.length < PIECE_HEADER_LENGTH_BYTES) throw new LodestoneError('ARGUMENT_INVALID', { name: 'target', reason: `${target.length} bytes, a PIECE header takes ${PIECE_HEADER_LENGTH_BYTES}` })
  putU32(target, 0, 9 + lengthBytes)
  target[4] = MessageId.piece
  putU32(target, 5, piece)
  putU32(target, 9, begin)
  return target
}

/** A whole PIECE message in one buffer (a copy of `data`): for tests and tools, not the upload path. */
export function encodePiece (piece: number, begin: number, data: Uint8Array): Uint8Array {
  const header = encodePieceHeader(piece, begin, data.length)
  const buf = new Uint8Array(PIECE_HEADER_LENGTH_BYTES + data.length)
  buf.set(header, 0)
  buf.set(data, PIECE_HEADER_LENGTH_BYTES)
  return buf
}

/** BEP 5: our DHT node's UDP port. */
export function encodePort (port: number): Uint8Array {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new LodestoneError('ARGUMENT_INVALID', { name: 'port', reason: `${port} is not in 0..65535` })
  const buf = withId(2, MessageId.port)
  buf[5] = port >>> 8
  buf[6] = port & 0xff
  return buf
}
export function encodeSuggest (piece: number): Uint8Array { return pieceOnly(MessageId.suggest, piece) }
export function encodeHaveAll (): Uint8Array { return idOnly(MessageId.haveAll) }
export function encodeHaveNone (): Uint8Array { return idOnly(MessageId.haveNone) }
export function encodeReject (piece: number, begin: number, length: number): Uint8Array {
  return block(MessageId.reject, piece, begin, length)
}
export function encodeAllowedFast (piece: number): Uint8Array { return pieceOnly(MessageId.allowedFast, piece) }

/** BEP 10: `extendedId` 0 is the extension handshake, others are the ids the peer assigned. Copies `payload`. */
export function encodeExtended (extendedId: number, payload: Uint8Array): Uint8Array {
  if (!Number.isInteger(extendedId) || extendedId < 0 || extendedId > 255) {
    throw new LodestoneError('ARGUMENT_INVALID', { name: 'extendedId', reason: `${extendedId} is not in 0..255` })
  }
  const buf = withId(1 + payload.length, MessageId.extended)
  buf[5] = extendedId
  buf.set(payload, 6)
  return buf
}

/** Encodes any {@link WireMessage} into one buffer (PIECE included, copied): for tests and tools. */
export function encodeMessage (message: WireMessage): Uint8Array {
  switch (message.type) {
    case 'keep-alive': return encodeKeepAlive()
    case 'choke': return encodeChoke()
    case 'unchoke': return encodeUnchoke()
    case 'interested': return encodeInterested()
    case 'not-interested': return encodeNotInterested()
    case 'have': return encodeHave(message.piece)
    case 'bitfield': return encodeBitfield(message.bytes)
    case 'request': return encodeRequest(message.piece, message.begin, message.length)
    case 'piece': return encodePiece(message.piece, message.begin, message.data)
    case 'cancel': return encodeCancel(message.piece, message.begin, message.length)
    case 'port': return encodePort(message.port)
    case 'suggest': return encodeSuggest(message.piece)
    case 'have-all': return encodeHaveAll()
    case 'have-none': return encodeHaveNone()
    case 'reject': return encodeReject(message.piece, message.begin, message.length)
    case 'allowed-fast': return encodeAllowedFast(message.piece)
    case 'extended': return encodeExtended(message.id, message.payload)
    case 'unknown': {
      if (!Number.isInteger(message.id) || message.id < 0 || message.id > 255) {
        throw new LodestoneError('ARGUMENT_INVALID', { name: 'id', reason: `${message.id} is not in 0..255` })
      }
      const buf = withId(message.payload.length, message.id)
      buf.set(message.payload, 5)
      return buf
    }
  }
}
