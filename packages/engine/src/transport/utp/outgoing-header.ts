/**
 * The header and extensions of a packet a connection sends, written in place into its scratch
 * area (no allocation): the BEP 29 header, then either our packet-size offer (a SYN, or the
 * STATE answering one; loopback-packets.ts) or the selective ack describing the receiver's gaps.
 */
import type { ReceiveBuffer } from './receive-buffer.js'
import {
  EXTENSION_BITS, EXTENSION_NONE, EXTENSION_SACK, MAX_PACKET_EXTENSION_BYTES, ST_SYN, UTP_HEADER_BYTES,
  writeMaxPacketExtension, writeUtpHeader
} from './utp-packet.js'

/**
 * Writes the header at `buf[o]` and returns its length with extensions: the max-packet offer
 * when `offerBytes` > 0, else a selective ack when `recv` holds packets past a gap (never on a
 * SYN, which acknowledges nothing).
 */
export function writeOutgoingHeader (
  buf: Uint8Array, o: number, type: number, connectionId: number, timestampUs: number, replyMicro: number,
  windowBytes: number, seqNr: number, ackNr: number, recv: ReceiveBuffer, offerBytes: number
): number {
  let headerBytes = UTP_HEADER_BYTES
  let extension = EXTENSION_NONE
  if (offerBytes > 0) {
    writeMaxPacketExtension(buf, o + UTP_HEADER_BYTES, offerBytes)
    extension = EXTENSION_BITS
    headerBytes += MAX_PACKET_EXTENSION_BYTES
  } else if (type !== ST_SYN && recv.reorderCount > 0) {
    const sack = recv.writeSack(buf, o + UTP_HEADER_BYTES)
    if (sack > 0) {
      extension = EXTENSION_SACK
      headerBytes += sack
    }
  }
  writeUtpHeader(buf, o, type, extension, connectionId, timestampUs, replyMicro, windowBytes, seqNr, ackNr)
  return headerBytes
}
