/**
 * A small synchronous SHA-1 (FIPS 180-4) for short inputs on protocol paths that cannot wait for a
 * promise: the MSE handshake hashes a few hundred bytes per connection (`HASH('req1', S)`, the
 * RC4 keys) while bytes keep arriving, and the listen router hashes every torrent's info hash
 * once when it registers. Piece verification does not use this: it goes through `IHasher`
 * (WebCrypto or the Node worker pool), which is far faster on large inputs.
 */

const BLOCK_BYTES = 64

/** The 80-word message schedule, reused across calls (the core is single-threaded). */
const schedule = new Int32Array(80)

/**
 * SHA-1 of the concatenation of `parts`. Returns a fresh 20-byte buffer the caller owns.
 * Meant for inputs of a few KiB at most (the whole input is copied once into a padded buffer).
 */
export function sha1 (...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  // Message, 0x80, zero fill, then the 64-bit bit length: a whole number of 64-byte blocks.
  const padded = new Uint8Array(Math.ceil((length + 9) / BLOCK_BYTES) * BLOCK_BYTES)
  let offset = 0
  for (const part of parts) {
    padded.set(part, offset)
    offset += part.length
  }
  padded[length] = 0x80
  const view = new DataView(padded.buffer)
  const bitLength = length * 8
  view.setUint32(padded.length - 8, Math.floor(bitLength / 0x1_0000_0000))
  view.setUint32(padded.length - 4, bitLength >>> 0)

  let h0 = 0x67452301
  let h1 = 0xefcdab89 | 0
  let h2 = 0x98badcfe | 0
  let h3 = 0x10325476
  let h4 = 0xc3d2e1f0 | 0
  const w = schedule
  for (let block = 0; block < padded.length; block += BLOCK_BYTES) {
    for (let t = 0; t < 16; t++) w[t] = view.getInt32(block + t * 4)
    for (let t = 16; t < 80; t++) {
      const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!
      w[t] = (x << 1) | (x >>> 31)
    }
    let a = h0
    let b = h1
    let c = h2
    let d = h3
    let e = h4
    for (let t = 0; t < 80; t++) {
      let f: number
      let k: number
      if (t < 20) {
        f = (b & c) | (~b & d)
        k = 0x5a827999
      } else if (t < 40) {
        f = b ^ c ^ d
        k = 0x6ed9eba1
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d)
        k = 0x8f1bbcdc | 0
      } else {
        f = b ^ c ^ d
        k = 0xca62c1d6 | 0
      }
      const temp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]!) | 0
      e = d
      d = c
      c = (b << 30) | (b >>> 2)
      b = a
      a = temp
    }
    h0 = (h0 + a) | 0
    h1 = (h1 + b) | 0
    h2 = (h2 + c) | 0
    h3 = (h3 + d) | 0
    h4 = (h4 + e) | 0
  }
  const out = new Uint8Array(20)
  const outView = new DataView(out.buffer)
  outView.setInt32(0, h0)
  outView.setInt32(4, h1)
  outView.setInt32(8, h2)
  outView.setInt32(12, h3)
  outView.setInt32(16, h4)
  return out
}
