/**
 * Compact node info (BEP 5 `nodes`: 26 bytes a node, id + IPv4 + port; BEP 32 `nodes6`: 38 bytes,
 * id + IPv6 + port) and the contact type the DHT passes around.
 */
import { formatIpv4, formatIpv6, parseIp, type IpFamily } from '../tracker/compact-peers.js'
import { NODE_ID_BYTES, type NodeId } from './node-id.js'

/** A DHT node we can address: its id and UDP endpoint (`host` is an IP literal in canonical form). */
export interface NodeContact {
  id: NodeId
  host: string
  port: number
}

/** Bytes per compact IPv4 node. */
export const COMPACT_NODE_V4_BYTES = 26
/** Bytes per compact IPv6 node (BEP 32). */
export const COMPACT_NODE_V6_BYTES = 38

export function compactNodeBytes (family: IpFamily): number {
  return family === 4 ? COMPACT_NODE_V4_BYTES : COMPACT_NODE_V6_BYTES
}

/**
 * Decodes at most `maxNodes` compact nodes of `family`; a trailing partial entry, port 0 and the
 * unspecified address are skipped. The ids are copies (the input may be a reused buffer).
 */
export function decodeCompactNodes (bytes: Uint8Array, family: IpFamily, maxNodes: number): NodeContact[] {
  const size = compactNodeBytes(family)
  const count = Math.min(Math.floor(bytes.length / size), maxNodes)
  const out: NodeContact[] = []
  for (let i = 0; i < count; i++) {
    const at = i * size
    const ipAt = at + NODE_ID_BYTES
    const portAt = at + size - 2
    const port = ((bytes[portAt] ?? 0) << 8) | (bytes[portAt + 1] ?? 0)
    if (port === 0) continue
    const host = family === 4 ? formatIpv4(bytes, ipAt) : formatIpv6(bytes, ipAt)
    if (host === '0.0.0.0' || host === '::') continue
    out.push({ id: bytes.slice(at, ipAt), host, port })
  }
  return out
}

/** Encodes the contacts of `family` (others are left out: an IPv4 node never goes into `nodes6`). */
export function encodeCompactNodes (nodes: readonly NodeContact[], family: IpFamily): Uint8Array {
  const size = compactNodeBytes(family)
  const entries: Uint8Array[] = []
  for (const node of nodes) {
    const ip = parseIp(node.host)
    if (ip === null || ip.length !== (family === 4 ? 4 : 16) || node.id.length !== NODE_ID_BYTES) continue
    const entry = new Uint8Array(size)
    entry.set(node.id, 0)
    entry.set(ip, NODE_ID_BYTES)
    entry[size - 2] = node.port >> 8
    entry[size - 1] = node.port & 0xff
    entries.push(entry)
  }
  const out = new Uint8Array(entries.length * size)
  entries.forEach((e, i) => { out.set(e, i * size) })
  return out
}

/** `host:port` (IPv6 in brackets), the key the DHT uses for endpoints. */
export function endpointKey (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
