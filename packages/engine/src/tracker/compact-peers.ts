/**
 * Compact peer lists: BEP 23 (IPv4, 6 bytes a peer: 4 address bytes, 2 port bytes, big-endian)
 * and BEP 7 (IPv6, 18 bytes a peer). The same layouts are used by UDP trackers (BEP 15), PEX
 * (BEP 11) and the DHT, so this module is the one place that reads and writes them.
 *
 * Why addresses become text here: the engine keys peers by `host:port` (core/peer-address.ts), so
 * one canonical text form per address is what makes de-duplication work. IPv6 is written in the
 * RFC 5952 form (lower case, longest zero run compressed), and an IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`) becomes plain IPv4, because that is the peer it reaches.
 */
import type { PeerAddress } from '../peer/peer-address.js'
import { parseIpv6Groups } from '../util/ipv6-groups.js'

/** Bytes per IPv4 compact peer (BEP 23). */
export const COMPACT_PEER_V4_BYTES = 6
/** Bytes per IPv6 compact peer (BEP 7). */
export const COMPACT_PEER_V6_BYTES = 18

export type IpFamily = 4 | 6

/** Bytes one compact entry of `family` takes. */
export function compactPeerBytes (family: IpFamily): number {
  return family === 4 ? COMPACT_PEER_V4_BYTES : COMPACT_PEER_V6_BYTES
}

/**
 * Decodes a compact peer string. A trailing partial entry is ignored (some trackers pad), and
 * entries that cannot be dialled (port 0, the unspecified address) are skipped. `bytes` is only
 * read; the result holds no reference to it.
 */
export function decodeCompactPeers (bytes: Uint8Array, family: IpFamily): PeerAddress[] {
  const size = compactPeerBytes(family)
  const count = Math.floor(bytes.length / size)
  const out: PeerAddress[] = []
  for (let i = 0; i < count; i++) {
    const at = i * size
    const addressLength = size - 2
    const port = ((bytes[at + addressLength] ?? 0) << 8) | (bytes[at + addressLength + 1] ?? 0)
    if (port === 0) continue
    const host = family === 4 ? formatIpv4(bytes, at) : formatIpv6(bytes, at)
    if (host === '0.0.0.0' || host === '::') continue
    out.push({ host, port })
  }
  return out
}

/** How many entries `decodeCompactPeers` would look at, before decoding (to check limits first). */
export function compactPeerCount (lengthBytes: number, family: IpFamily): number {
  return Math.floor(lengthBytes / compactPeerBytes(family))
}

/**
 * Encodes peers of one family as a compact string. Peers whose host is not an IP literal of that
 * family (names, the other family) are left out; an IPv4 address asked for as IPv6 is written as
 * IPv4-mapped.
 */
export function encodeCompactPeers (peers: readonly PeerAddress[], family: IpFamily): Uint8Array {
  const size = compactPeerBytes(family)
  const chunks: Uint8Array[] = []
  for (const peer of peers) {
    if (!Number.isInteger(peer.port) || peer.port < 1 || peer.port > 65535) continue
    let ip = parseIp(peer.host)
    if (ip === null) continue
    if (family === 6 && ip.length === 4) ip = mapIpv4(ip)
    if (ip.length !== size - 2) continue
    const entry = new Uint8Array(size)
    entry.set(ip, 0)
    entry[size - 2] = peer.port >> 8
    entry[size - 1] = peer.port & 0xff
    chunks.push(entry)
  }
  const out = new Uint8Array(chunks.length * size)
  chunks.forEach((c, i) => { out.set(c, i * size) })
  return out
}

/** Dotted-quad text of the 4 bytes at `offset`. */
export function formatIpv4 (bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset] ?? 0}.${bytes[offset + 1] ?? 0}.${bytes[offset + 2] ?? 0}.${bytes[offset + 3] ?? 0}`
}

/** RFC 5952 text of the 16 bytes at `offset`; IPv4-mapped addresses come out as dotted IPv4. */
export function formatIpv6 (bytes: Uint8Array, offset = 0): string {
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push(((bytes[offset + 2 * i] ?? 0) << 8) | (bytes[offset + 2 * i + 1] ?? 0))
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return formatIpv4(bytes, offset + 12)
  // RFC 5952 §4.2: compress the longest run of two or more zero groups (the first one on a tie).
  let bestStart = -1
  let bestLength = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength && j - i >= 2) { bestStart = i; bestLength = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

/**
 * Parses an IP literal: dotted-quad IPv4 (4 bytes) or IPv6 (16 bytes, `::` compression and a
 * trailing dotted quad allowed, optional brackets, no zone id). Null for anything else, including
 * host names: callers use this to refuse names where only addresses are acceptable.
 */
export function parseIp (text: string): Uint8Array | null {
  const v4 = parseIpv4(text)
  if (v4 !== null) return v4
  let t = text
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1)
  return parseIpv6(t)
}

/** The family of an IP literal, or null when `text` is not one. */
export function ipFamily (text: string): IpFamily | null {
  const ip = parseIp(text)
  return ip === null ? null : ip.length === 4 ? 4 : 6
}

/**
 * The canonical text of an IP literal (what {@link decodeCompactPeers} produces), or null when
 * `text` is not one. Used to compare addresses written differently (`::1` / `0:0::1`).
 */
export function canonicalIp (text: string): string | null {
  const ip = parseIp(text)
  if (ip === null) return null
  return ip.length === 4 ? formatIpv4(ip) : formatIpv6(ip)
}

function parseIpv4 (text: string): Uint8Array | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? ''
    // No leading zeros: `010` is octal to some parsers and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null
    const n = Number(p)
    if (n > 255) return null
    out[i] = n
  }
  return out
}

function parseIpv6 (text: string): Uint8Array | null {
  const groups = parseIpv6Groups(text, ipv4Number)
  if (groups === null) return null
  const out = new Uint8Array(16)
  groups.forEach((g, i) => { out[2 * i] = g >> 8; out[2 * i + 1] = g & 0xff })
  return out
}

function ipv4Number (text: string): number | null {
  const b = parseIpv4(text)
  return b === null ? null : ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!
}

function mapIpv4 (ip: Uint8Array): Uint8Array {
  const out = new Uint8Array(16)
  out[10] = 0xff
  out[11] = 0xff
  out.set(ip, 12)
  return out
}
