/**
 * Large uTP packets between two Lodestone peers on a loopback address.
 *
 * Why: a uTP connection in JavaScript spends its CPU per packet (a UDP send and a receive
 * event, an ack's share, the bookkeeping), not per byte, so at 1 400 payload bytes two Node
 * processes on one machine top out far below what the loopback carries (~22 MB/s at load 14 in
 * bench/utp). Loopback has a 65 536-byte MTU: a 60 000-byte packet crosses it whole, costs about
 * what a small one does, and cuts the per-byte cost by ~40×.
 *
 * How it stays safe: only packets to and from a loopback address qualify (no fragmentation, no
 * loss), and only when the peer said it takes them — each side states the largest payload it
 * accepts in its SYN, or in the STATE answering one ({@link EXTENSION_MAX_PACKET}). libtorrent
 * and libutp skip extensions they do not know and never state one, so to them we keep sending
 * ordinary packets.
 */
import type { UtpSettings } from './utp-settings.js'

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopbackAddress (address: string): boolean {
  if (address.startsWith('127.')) return true
  const a = address.toLowerCase()
  return a === '::1' || a === '0:0:0:0:0:0:0:1' || a.startsWith('::ffff:127.')
}

/**
 * The largest payload we offer to accept from `address` in the handshake, or 0 to offer nothing
 * (not loopback, or no larger than the ordinary packet size `ordinaryBytes`). At most a quarter
 * of the receive window, so a window always holds a few packets.
 */
export function offeredPacketBytes (settings: Pick<UtpSettings, 'loopbackPacketBytes' | 'receiveWindowBytes'>, address: string, ordinaryBytes: number): number {
  const bytes = Math.min(settings.loopbackPacketBytes, Math.floor(settings.receiveWindowBytes / 4))
  return bytes > ordinaryBytes && isLoopbackAddress(address) ? bytes : 0
}

/**
 * The payload size to send once the handshake is done: the smaller of the two offers when both
 * sides made one, else the ordinary size.
 */
export function agreedPacketBytes (ourOffer: number, theirOffer: number, ordinaryBytes: number): number {
  if (ourOffer <= ordinaryBytes || theirOffer <= ordinaryBytes) return ordinaryBytes
  return Math.min(ourOffer, theirOffer)
}
