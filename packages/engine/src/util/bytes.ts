/** Byte helpers for Uint8Array (the core never uses Buffer). */

const HEX = '0123456789abcdef'
const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8')
const strictUtf8Decoder = new TextDecoder('utf-8', { fatal: true })

export function toHex (bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!
  return out
}

/** Parses hex (either case); returns null when `hex` is not an even-length hex string. */
export function fromHex (hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** RFC 4648 base32 without padding (case-insensitive); null on bad input. */
export function fromBase32 (text: string): Uint8Array | null {
  const clean = text.toUpperCase().replace(/=+$/, '')
  const out = new Uint8Array(Math.floor(clean.length * 5 / 8))
  let bits = 0
  let value = 0
  let index = 0
  for (const ch of clean) {
    const v = BASE32.indexOf(ch)
    if (v < 0) return null
    value = (value << 5) | v
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[index++] = (value >>> bits) & 0xff
    }
  }
  return out
}

export function toBase32 (bytes: Uint8Array): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += BASE32[(value >>> bits) & 31]!
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]!
  return out
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function concatBytes (parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

export function utf8 (text: string): Uint8Array {
  return utf8Encoder.encode(text)
}

/** Decodes UTF-8, replacing invalid sequences with U+FFFD. */
export function fromUtf8 (bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes)
}

/** Decodes UTF-8; null when the bytes are not valid UTF-8. */
export function fromUtf8Strict (bytes: Uint8Array): string | null {
  try {
    return strictUtf8Decoder.decode(bytes)
  } catch {
    return null
  }
}
