/** IP literals as bytes (the extended handshake's `yourip`). */

/** Compact bytes of an IP literal (IPv4-mapped IPv6 gives 4 bytes); null for names or garbage. */
export function ipToBytes (host: string): Uint8Array | null {
  const text = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (v4 !== null) {
    const parts = v4.slice(1).map(Number)
    return parts.every((p) => p <= 255) ? Uint8Array.from(parts) : null
  }
  if (!text.includes(':')) return null
  const mapped = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(text)
  if (mapped !== null) return ipToBytes(mapped[1]!)
  const halves = text.split('::')
  if (halves.length > 2) return null
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':')
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] ?? '').split(':')) : []
  const missing = 8 - head.length - tail.length
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return null
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail]
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? ''
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null
    const v = parseInt(g, 16)
    out[i * 2] = v >> 8
    out[i * 2 + 1] = v & 0xff
  }
  return out
}
