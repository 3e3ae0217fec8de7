/**
 * BEP 14 local service discovery messages: an HTTP-like `BT-SEARCH` request sent over UDP
 * multicast to 239.192.152.143:6771 (IPv4) or [ff15::efc0:988f]:6771 (IPv6):
 *
 *     BT-SEARCH * HTTP/1.1\\r\\n
 *     Host: <group>:6771\\r\\n
 *     Port: <tcp port>\\r\\n
 *     Infohash: <40 hex>\\r\\n     (one line per torrent)
 *     cookie: <opaque>\\r\\n       (to recognise our own messages)
 *     \\r\\n\\r\\n
 *
 * Anyone on the LAN can send these, so parsing is bounded (size, header count, info hashes) and
 * returns null for anything malformed instead of throwing.
 */

export const LSD_PORT = 6771
export const LSD_GROUP_V4 = '239.192.152.143'
export const LSD_GROUP_V6 = 'ff15::efc0:988f'
/** Larger datagrams are ignored; BEP 14 messages are a few hundred bytes. */
export const LSD_MAX_MESSAGE_BYTES = 1400
/** Info hashes read from one message (libtorrent sends one per message). */
export const LSD_MAX_INFOHASHES = 16

export interface LsdMessage {
  port: number
  /** Lower-case 40-hex info hashes. */
  infoHashes: string[]
  cookie: string | null
}

/** The datagram announcing `infoHashes` (hex) on TCP `port`. */
export function encodeLsdMessage (group: string, port: number, infoHashes: readonly string[], cookie: string): Uint8Array {
  const host = group.includes(':') ? `[${group}]:${LSD_PORT}` : `${group}:${LSD_PORT}`
  const lines = ['BT-SEARCH * HTTP/1.1', `Host: ${host}`, `Port: ${port}`, ...infoHashes.map((h) => `Infohash: ${h}`), `cookie: ${cookie}`, '', '']
  return new TextEncoder().encode(lines.join('\r\n') + '\r\n')
}

/** Parses a datagram; null when it is not a well-formed BT-SEARCH within the bounds. */
export function parseLsdMessage (data: Uint8Array): LsdMessage | null {
  if (data.length > LSD_MAX_MESSAGE_BYTES) return null
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data)
  } catch {
    return null
  }
  const lines = text.split(/\r?\n/, 64)
  if (!/^BT-SEARCH \* HTTP\/1\.[01]$/.test(lines[0] ?? '')) return null
  let port: number | null = null
  let cookie: string | null = null
  const infoHashes: string[] = []
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'port') {
      if (!/^\d{1,5}$/.test(value)) return null
      port = Number(value)
    } else if (name === 'infohash') {
      if (/^[0-9a-fA-F]{40}$/.test(value) && infoHashes.length < LSD_MAX_INFOHASHES) infoHashes.push(value.toLowerCase())
    } else if (name === 'cookie') {
      cookie = value.slice(0, 64)
    }
  }
  if (port === null || port < 1 || port > 65535 || infoHashes.length === 0) return null
  return { port, infoHashes, cookie }
}
