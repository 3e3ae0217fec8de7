/**
 * BEP 40 canonical peer priority: a number both ends of a connection compute alike, so that a
 * swarm agrees on which connections to keep when peers are over their connection limits (and a
 * flood of newcomers cannot displace everyone: only those that rank above the ones they meet).
 *
 * priority = crc32-c(sort(masked our IP, masked peer IP)), the mask keeping the first 2 bytes of
 * an IPv4 address (6 of an IPv6 one) whole and the rest at 0x55, and one more whole byte for
 * each further leading byte the two addresses share; the same IP compares the ports instead.
 * "Our IP" is the address the peer sees us at (its `yourip`), so both sides hash the same bytes.
 */
import { crc32c } from '../dht/crc32c.js'
import { ipToBytes } from '../util/ip-bytes.js'

/** One end of the connection: its IP as bytes (4 or 16) or as a literal, and its port. */
export interface PriorityEndpoint {
  ip: Uint8Array | string
  port: number
}

/** An IPv4 address as IPv4-mapped IPv6, for a pair of mixed families. */
function mapped (v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16)
  out[10] = 0xff
  out[11] = 0xff
  out.set(v4, 12)
  return out
}

function compare (a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return 0
}

/**
 * The BEP 40 priority of the connection between `ours` and `peer` (an unsigned 32-bit number,
 * higher is kept first); null when an IP is not a literal.
 */
export function canonicalPeerPriority (ours: PriorityEndpoint, peer: PriorityEndpoint): number | null {
  let a = typeof ours.ip === 'string' ? ipToBytes(ours.ip) : ours.ip
  let b = typeof peer.ip === 'string' ? ipToBytes(peer.ip) : peer.ip
  if (a === null || b === null || (a.length !== 4 && a.length !== 16) || (b.length !== 4 && b.length !== 16)) return null
  if (a.length !== b.length) {
    a = a.length === 4 ? mapped(a) : a
    b = b.length === 4 ? mapped(b) : b
  }
  if (compare(a, b) === 0) {
    const ports = [ours.port & 0xffff, peer.port & 0xffff].sort((x, y) => x - y)
    return crc32c(Uint8Array.from([ports[0]! >> 8, ports[0]! & 0xff, ports[1]! >> 8, ports[1]! & 0xff]))
  }
  let shared = 0
  while (a[shared] === b[shared]) shared++
  const whole = Math.max(a.length === 4 ? 2 : 6, shared + 1)
  const masked = [a, b].map((ip) => ip.map((byte, i) => (i < whole ? byte : byte & 0x55)))
  masked.sort(compare)
  const joined = new Uint8Array(a.length * 2)
  joined.set(masked[0]!, 0)
  joined.set(masked[1]!, a.length)
  return crc32c(joined)
}
