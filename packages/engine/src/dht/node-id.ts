/**
 * DHT node ids and the XOR metric (BEP 5), and ids tied to the node's external IP (BEP 42).
 *
 * Ids and info hashes are both 160-bit strings compared by XOR distance; everything here works on
 * 20-byte `Uint8Array`s and never keeps a reference to its arguments.
 *
 * BEP 42: the first 21 bits of a node id are a CRC-32C of the node's masked IP and a 3-bit random
 * `r` (also stored in the last byte), so a node cannot pick its id, i.e. its place in the key space,
 * freely. Local and private addresses are exempt (they cannot be checked).
 */
import type { IRandom } from '../interfaces/random.js'
import { parseIp } from '../tracker/compact-peers.js'
import { crc32c } from './crc32c.js'

/** BEP 5: node ids and info hashes are 160 bits. */
export const NODE_ID_BYTES = 20
export const NODE_ID_BITS = 160

/** A 20-byte node id or info hash. */
export type NodeId = Uint8Array

/** -1, 0 or 1: whether `a` is closer to `target` than `b` (XOR metric). */
export function compareDistance (target: NodeId, a: NodeId, b: NodeId): number {
  for (let i = 0; i < NODE_ID_BYTES; i++) {
    const t = target[i] ?? 0
    const da = (a[i] ?? 0) ^ t
    const db = (b[i] ?? 0) ^ t
    if (da !== db) return da < db ? -1 : 1
  }
  return 0
}

/** Number of leading bits `a` and `b` share (160 when equal). */
export function commonPrefixBits (a: NodeId, b: NodeId): number {
  for (let i = 0; i < NODE_ID_BYTES; i++) {
    const x = (a[i] ?? 0) ^ (b[i] ?? 0)
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return NODE_ID_BITS
}

/** True when both ids are the same 20 bytes. */
export function idEquals (a: NodeId, b: NodeId): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A random id. */
export function randomNodeId (random: IRandom): NodeId {
  return random.fill(new Uint8Array(NODE_ID_BYTES))
}

/**
 * A random id that shares exactly `prefixBits` leading bits with `base` (the next bit differs),
 * i.e. a random id in the routing-table bucket at depth `prefixBits`; used to refresh buckets.
 * With `prefixBits` = 160 it returns a copy of `base`.
 */
export function randomIdWithPrefix (base: NodeId, prefixBits: number, random: IRandom): NodeId {
  const id = randomNodeId(random)
  if (prefixBits >= NODE_ID_BITS) return Uint8Array.from(base)
  const whole = prefixBits >> 3
  for (let i = 0; i < whole; i++) id[i] = base[i] ?? 0
  const bit = prefixBits & 7
  const keepMask = (0xff00 >> bit) & 0xff // the bits of byte `whole` that come from base
  const flip = 0x80 >> bit // the first differing bit
  const b = base[whole] ?? 0
  id[whole] = (b & keepMask) | (~b & flip) | ((id[whole] ?? 0) & ~(keepMask | flip) & 0xff)
  return id
}

// --- BEP 42 -----------------------------------------------------------------------------------

const V4_MASK = [0x03, 0x0f, 0x3f, 0xff]
const V6_MASK = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff]

/** The 21-bit prefix BEP 42 requires for `ip` (4 or 16 bytes) and `r` (0..7), as the top bits of a number. */
function bep42Crc (ip: Uint8Array, r: number): number {
  const v4 = ip.length === 4
  const mask = v4 ? V4_MASK : V6_MASK
  const masked = new Uint8Array(mask.length)
  for (let i = 0; i < mask.length; i++) masked[i] = (ip[i] ?? 0) & (mask[i] ?? 0)
  masked[0] = (masked[0] ?? 0) | ((r & 7) << 5)
  return crc32c(masked)
}

/**
 * True for addresses BEP 42 exempts: loopback, private (RFC 1918), link-local, and their IPv6
 * counterparts (::1, fc00::/7, fe80::/10). Ids of nodes there are not checked.
 */
export function isBep42Exempt (ip: Uint8Array): boolean {
  if (ip.length === 4) {
    const a = ip[0] ?? 0
    const b = ip[1] ?? 0
    return a === 10 || a === 127 || (a === 172 && (b & 0xf0) === 16) || (a === 192 && b === 168) || (a === 169 && b === 254)
  }
  const first = ip[0] ?? 0
  const loopback = ip.subarray(0, 15).every((x) => x === 0) && ip[15] === 1
  return loopback || (first & 0xfe) === 0xfc || (first === 0xfe && ((ip[1] ?? 0) & 0xc0) === 0x80)
}

/** A BEP 42 id for the external address `host` (an IP literal); a random id when `host` is not one. */
export function bep42NodeId (host: string, random: IRandom): NodeId {
  const id = randomNodeId(random)
  const ip = parseIp(host)
  if (ip === null) return id
  const r = Math.floor(random.next() * 8) & 7
  const crc = bep42Crc(ip, r)
  id[0] = (crc >>> 24) & 0xff
  id[1] = (crc >>> 16) & 0xff
  id[2] = ((crc >>> 8) & 0xf8) | ((id[2] ?? 0) & 0x07)
  id[19] = r
  return id
}

/**
 * Whether `id` is acceptable for a node at `host` under BEP 42: true for exempt addresses (and for
 * hosts that are not IP literals, which cannot be checked), else the first 21 bits must match.
 */
export function isBep42Valid (id: NodeId, host: string): boolean {
  const ip = parseIp(host)
  if (ip === null || isBep42Exempt(ip)) return true
  const crc = bep42Crc(ip, (id[19] ?? 0) & 7)
  return id[0] === ((crc >>> 24) & 0xff) && id[1] === ((crc >>> 16) & 0xff) && ((id[2] ?? 0) & 0xf8) === ((crc >>> 8) & 0xf8)
}
