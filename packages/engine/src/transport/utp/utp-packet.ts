/**
 * The uTP packet header (BEP 29) and its extension chain, read and written in place.
 *
 * Why a reused header object instead of returning a fresh one: every datagram of a transfer goes
 * through here (≈100 000 a second at full speed), so parsing fills one {@link UtpHeader} owned by
 * the manager and allocates nothing. The payload and the selective-ack bitmask stay in the
 * datagram; the header records where they start.
 *
 * Layout (big-endian): type<<4|version, extension, connection_id(16), timestamp_us(32),
 * timestamp_difference_us(32), wnd_size(32), seq_nr(16), ack_nr(16), then extensions, each
 * [next extension type][length][length bytes], then the payload.
 */

export const UTP_VERSION = 1
export const ST_DATA = 0
export const ST_FIN = 1
export const ST_STATE = 2
export const ST_RESET = 3
export const ST_SYN = 4
export const UTP_HEADER_BYTES = 20
export const EXTENSION_NONE = 0
/** BEP 29 selective acknowledgement: a bitmask of packets received past ack_nr + 1. */
export const EXTENSION_SACK = 1
/** libutp's extension bits (8 bytes, all zero from us: no extension claimed). */
export const EXTENSION_BITS = 2
/**
 * Ours, not in BEP 29: the largest payload the sender of the SYN (or of the STATE answering it)
 * accepts in one packet, 2 bytes big-endian. Lodestone peers on a loopback address use it to
 * raise the packet size to what loopback carries whole (its MTU is 65 536); every other client
 * skips an extension it does not know (libtorrent, libutp), so they never see large packets.
 * 0x4c ('L') is far from the numbers in use (1 selective ack, 2 libutp's extension bits,
 * 3 libtorrent's close reason). It never comes first in the chain: libutp (Transmission) takes a
 * packet whose header names an extension ≥ 3 for another protocol version and drops it, so the
 * header names {@link EXTENSION_BITS} (zero bits) and that links on to ours.
 */
export const EXTENSION_MAX_PACKET = 0x4c
/** Bytes {@link writeMaxPacketExtension} writes: extension bits (2 + 8), then ours (2 + 2). */
export const MAX_PACKET_EXTENSION_BYTES = 14
/** 16-bit sequence and ack numbers wrap. */
export const SEQ_MASK = 0xffff

/** Why a datagram was not a uTP packet (0 = it was). Counted by the manager, never thrown. */
export const PARSE_OK = 0
export const PARSE_TOO_SHORT = 1
export const PARSE_BAD_VERSION = 2
export const PARSE_BAD_TYPE = 3
export const PARSE_BAD_EXTENSION = 4

/** One parsed header; the manager owns one and refills it for every datagram. */
export class UtpHeader {
  type = 0
  connectionId = 0
  timestampUs = 0
  timestampDiffUs = 0
  windowBytes = 0
  seqNr = 0
  ackNr = 0
  /** Offset of the selective-ack bitmask in the datagram, or -1. */
  sackOffset = -1
  /** Length of that bitmask in bytes. */
  sackBytes = 0
  /** Offset of the payload in the datagram (after every extension). */
  payloadOffset = UTP_HEADER_BYTES
  /** The peer's {@link EXTENSION_MAX_PACKET} value, or 0 when the packet has none. */
  maxPacketBytes = 0
}

function readU32 (d: Uint8Array, o: number): number {
  return ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0
}

/**
 * Parses `data` into `out`. Returns {@link PARSE_OK} or the reason it is not a valid packet
 * (short, wrong version, unknown type, an extension running past the end). Never throws.
 */
export function parseUtpHeader (data: Uint8Array, out: UtpHeader): number {
  const size = data.length
  if (size < UTP_HEADER_BYTES) return PARSE_TOO_SHORT
  const b0 = data[0]!
  if ((b0 & 0x0f) !== UTP_VERSION) return PARSE_BAD_VERSION
  const type = b0 >> 4
  if (type > ST_SYN) return PARSE_BAD_TYPE
  out.type = type
  out.connectionId = (data[2]! << 8) | data[3]!
  out.timestampUs = readU32(data, 4)
  out.timestampDiffUs = readU32(data, 8)
  out.windowBytes = readU32(data, 12)
  out.seqNr = (data[16]! << 8) | data[17]!
  out.ackNr = (data[18]! << 8) | data[19]!
  out.sackOffset = -1
  out.sackBytes = 0
  out.maxPacketBytes = 0
  let extension = data[1]!
  let offset = UTP_HEADER_BYTES
  // Each extension takes at least two bytes, so the chain ends within the datagram.
  while (extension !== EXTENSION_NONE) {
    if (offset + 2 > size) return PARSE_BAD_EXTENSION
    const next = data[offset]!
    const length = data[offset + 1]!
    offset += 2
    if (offset + length > size) return PARSE_BAD_EXTENSION
    // Unknown extensions (libtorrent's close reason, libutp's extension bits) are skipped.
    if (extension === EXTENSION_SACK && out.sackOffset < 0) {
      out.sackOffset = offset
      out.sackBytes = length
    } else if (extension === EXTENSION_MAX_PACKET && length === 2) {
      out.maxPacketBytes = (data[offset]! << 8) | data[offset + 1]!
    }
    offset += length
    extension = next
  }
  out.payloadOffset = offset
  return PARSE_OK
}

/** Writes the fixed 20-byte header at `buf[o..o+20)`. All numbers are taken modulo their field width. */
export function writeUtpHeader (
  buf: Uint8Array, o: number, type: number, extension: number, connectionId: number, timestampUs: number,
  timestampDiffUs: number, windowBytes: number, seqNr: number, ackNr: number
): void {
  buf[o] = (type << 4) | UTP_VERSION
  buf[o + 1] = extension
  buf[o + 2] = (connectionId >> 8) & 0xff
  buf[o + 3] = connectionId & 0xff
  buf[o + 4] = (timestampUs >>> 24) & 0xff
  buf[o + 5] = (timestampUs >>> 16) & 0xff
  buf[o + 6] = (timestampUs >>> 8) & 0xff
  buf[o + 7] = timestampUs & 0xff
  buf[o + 8] = (timestampDiffUs >>> 24) & 0xff
  buf[o + 9] = (timestampDiffUs >>> 16) & 0xff
  buf[o + 10] = (timestampDiffUs >>> 8) & 0xff
  buf[o + 11] = timestampDiffUs & 0xff
  buf[o + 12] = (windowBytes >>> 24) & 0xff
  buf[o + 13] = (windowBytes >>> 16) & 0xff
  buf[o + 14] = (windowBytes >>> 8) & 0xff
  buf[o + 15] = windowBytes & 0xff
  buf[o + 16] = (seqNr >> 8) & 0xff
  buf[o + 17] = seqNr & 0xff
  buf[o + 18] = (ackNr >> 8) & 0xff
  buf[o + 19] = ackNr & 0xff
}

/**
 * Writes the extension chain carrying our {@link EXTENSION_MAX_PACKET} offer at
 * `buf[o..o+MAX_PACKET_EXTENSION_BYTES)`; the header's extension byte must be {@link EXTENSION_BITS}.
 */
export function writeMaxPacketExtension (buf: Uint8Array, o: number, maxPayloadBytes: number): void {
  buf[o] = EXTENSION_MAX_PACKET
  buf[o + 1] = 8
  buf.fill(0, o + 2, o + 10)
  buf[o + 10] = EXTENSION_NONE
  buf[o + 11] = 2
  buf[o + 12] = (maxPayloadBytes >> 8) & 0xff
  buf[o + 13] = maxPayloadBytes & 0xff
}

/** True when sequence number `a` comes before `b` (16-bit wrap, half-range rule). */
export function seqLess (a: number, b: number): boolean {
  const d = (b - a) & SEQ_MASK
  return d !== 0 && d < 0x8000
}

/** How many steps forward from `from` to `to`, modulo 2^16. */
export function seqDistance (from: number, to: number): number {
  return (to - from) & SEQ_MASK
}

/** True when 32-bit timestamp value `a` comes before `b` (wrap-aware). */
export function u32Less (a: number, b: number): boolean {
  const d = (b - a) >>> 0
  return d !== 0 && d < 0x8000_0000
}
