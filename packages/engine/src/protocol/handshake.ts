/**
 * The BitTorrent handshake (BEP 3): `<19><"BitTorrent protocol"><8 reserved><20 info hash><20 peer id>`.
 *
 * Why the decoder is split in two stages: the side that accepts a connection does not know which
 * torrent it is for until it has read the info hash (byte 48). It must route the connection by info
 * hash, and only then answer with its own handshake (it cannot send an info hash it does not know).
 * {@link HandshakeDecoder} therefore reports the 48-byte header as soon as it is complete, before
 * the peer id arrives, and both stages accept input split at any byte.
 *
 * Reserved bits used here (bit numbers count from the high bit of byte 0):
 * - byte 5, 0x10: extension protocol (BEP 10)
 * - byte 7, 0x10: BitTorrent v2 (BEP 52): we can use v2 info hashes and hash messages
 * - byte 7, 0x04: fast extension (BEP 6)
 * - byte 7, 0x01: DHT (BEP 5)
 */
import { LodestoneError, ProtocolError } from '../errors.js'

/** The protocol string every BitTorrent v1 handshake starts with. */
export const PROTOCOL_STRING = 'BitTorrent protocol'
/** Length of the full handshake. */
export const HANDSHAKE_LENGTH_BYTES = 68
/** Length of the part before the peer id: pstrlen, pstr, reserved, info hash. */
export const HANDSHAKE_HEADER_LENGTH_BYTES = 48
/** Info hashes and peer ids are both 20 bytes on the wire. */
export const INFO_HASH_LENGTH_BYTES = 20
export const PEER_ID_LENGTH_BYTES = 20
export const RESERVED_LENGTH_BYTES = 8

const PSTR_BYTES = Uint8Array.from(PROTOCOL_STRING, (c) => c.charCodeAt(0))

/** The reserved-bit features this engine knows. Unknown bits are kept in {@link HandshakeHeader.reserved}. */
export interface HandshakeFeatures {
  /** BEP 10 extension protocol (reserved byte 5, 0x10). */
  extensionProtocol: boolean
  /** BEP 6 fast extension (reserved byte 7, 0x04). */
  fastExtension: boolean
  /** BEP 5 DHT (reserved byte 7, 0x01): the peer accepts PORT messages. */
  dht: boolean
  /**
   * BEP 52 (reserved byte 7, 0x10): set for v2 and hybrid torrents; the peer speaks hash requests.
   * Absent reads as false.
   */
  v2?: boolean
}

/** What we have read of a peer's handshake once its info hash is known. */
export interface HandshakeHeader {
  /** The raw 8 reserved bytes (a copy the caller owns). */
  reserved: Uint8Array
  features: HandshakeFeatures
  /** 20 bytes (a copy the caller owns). */
  infoHash: Uint8Array
}

/** A complete handshake. */
export interface Handshake extends HandshakeHeader {
  /** 20 bytes (a copy the caller owns). */
  peerId: Uint8Array
}

/** Builds the 8 reserved bytes for the features we announce. */
export function encodeReserved (features: HandshakeFeatures): Uint8Array {
  const reserved = new Uint8Array(RESERVED_LENGTH_BYTES)
  if (features.extensionProtocol) reserved[5] = 0x10
  let b7 = 0
  if (features.fastExtension) b7 |= 0x04
  if (features.dht) b7 |= 0x01
  if (features.v2 === true) b7 |= 0x10
  reserved[7] = b7
  return reserved
}

/** Reads the features we know from 8 reserved bytes (missing bytes read as zero). */
export function decodeReserved (reserved: Uint8Array): HandshakeFeatures {
  const b5 = reserved[5] ?? 0
  const b7 = reserved[7] ?? 0
  return {
    extensionProtocol: (b5 & 0x10) !== 0,
    fastExtension: (b7 & 0x04) !== 0,
    dht: (b7 & 0x01) !== 0,
    v2: (b7 & 0x10) !== 0
  }
}

/**
 * Encodes a full 68-byte handshake into a new buffer (ownership passes to the caller, e.g. a socket).
 * @throws LodestoneError ARGUMENT_INVALID when `infoHash` or `peerId` is not 20 bytes (a caller bug).
 */
export function encodeHandshake (handshake: { infoHash: Uint8Array, peerId: Uint8Array, features: HandshakeFeatures }): Uint8Array {
  if (handshake.infoHash.length !== INFO_HASH_LENGTH_BYTES) throw new LodestoneError('ARGUMENT_INVALID', { name: 'infoHash', reason: 'must be 20 bytes' })
  if (handshake.peerId.length !== PEER_ID_LENGTH_BYTES) throw new LodestoneError('ARGUMENT_INVALID', { name: 'peerId', reason: 'must be 20 bytes' })
  const out = new Uint8Array(HANDSHAKE_LENGTH_BYTES)
  out[0] = PSTR_BYTES.length
  out.set(PSTR_BYTES, 1)
  out.set(encodeReserved(handshake.features), 20)
  out.set(handshake.infoHash, 28)
  out.set(handshake.peerId, 48)
  return out
}

/** Progress of a {@link HandshakeDecoder} after a `push`. */
export type HandshakeStage = 'header' | 'peer-id' | 'done'

/**
 * Incremental handshake reader. Feed it socket chunks with {@link push}; it consumes only handshake
 * bytes and returns how many it took, so the caller hands the rest of the chunk to the message parser.
 *
 * It holds at most 68 bytes (one fixed buffer), whatever the chunking.
 */
export class HandshakeDecoder {
  private readonly buffer = new Uint8Array(HANDSHAKE_LENGTH_BYTES)
  private filled = 0
  private headerValue: HandshakeHeader | null = null
  private peerIdValue: Uint8Array | null = null

  /** 'header' until 48 bytes are in, 'peer-id' until 68, then 'done'. */
  get stage (): HandshakeStage {
    if (this.peerIdValue !== null) return 'done'
    return this.headerValue !== null ? 'peer-id' : 'header'
  }

  /** The pstr, reserved bytes and info hash, once 48 bytes have arrived. */
  get header (): HandshakeHeader | null { return this.headerValue }

  /** The whole handshake once 68 bytes have arrived. */
  get handshake (): Handshake | null {
    if (this.headerValue === null || this.peerIdValue === null) return null
    return { ...this.headerValue, peerId: this.peerIdValue }
  }

  /**
   * Consumes bytes from `chunk` (starting at `offset`) up to the end of the current stage: it
   * stops after the header so the caller can route by info hash before the peer id is read, and
   * after the peer id. Returns the number of bytes consumed; call again with the rest.
   * @throws ProtocolError PEER_HANDSHAKE_FAILED on a wrong protocol string; the pstr is checked
   *   byte by byte, so a non-BitTorrent peer is refused as soon as its first bytes arrive.
   */
  push (chunk: Uint8Array, offset = 0): number {
    const stageEnd = this.headerValue === null ? HANDSHAKE_HEADER_LENGTH_BYTES : HANDSHAKE_LENGTH_BYTES
    if (this.peerIdValue !== null) return 0
    const take = Math.min(stageEnd - this.filled, chunk.length - offset)
    if (take <= 0) return 0
    const start = this.filled
    this.buffer.set(chunk.subarray(offset, offset + take), start)
    this.filled += take
    this.checkPstr(start, this.filled)
    if (this.filled === HANDSHAKE_HEADER_LENGTH_BYTES && this.headerValue === null) {
      const reserved = this.buffer.slice(20, 28)
      this.headerValue = { reserved, features: decodeReserved(reserved), infoHash: this.buffer.slice(28, 48) }
    } else if (this.filled === HANDSHAKE_LENGTH_BYTES) {
      this.peerIdValue = this.buffer.slice(48, 68)
    }
    return take
  }

  private checkPstr (from: number, to: number): void {
    const end = Math.min(to, 1 + PSTR_BYTES.length)
    for (let i = from; i < end; i++) {
      const expected = i === 0 ? PSTR_BYTES.length : PSTR_BYTES[i - 1]
      if (this.buffer[i] !== expected) {
        throw failed(i === 0
          ? `protocol string length ${this.buffer[0] ?? 0}, expected ${PSTR_BYTES.length}`
          : 'protocol string is not "BitTorrent protocol"')
      }
    }
  }
}

function failed (reason: string): ProtocolError<'PEER_HANDSHAKE_FAILED'> {
  return new ProtocolError('PEER_HANDSHAKE_FAILED', { reason }, { message: `handshake failed: ${reason}` })
}
