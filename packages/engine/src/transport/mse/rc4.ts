/**
 * RC4 (the stream cipher MSE/PE uses), in place and allocation-free on the data path.
 *
 * Why it is written this way: RC4 is a chain of dependent S-box reads, so what costs is the work
 * around them. Unrolled four times it runs ~40% faster than the textbook loop in V8; producing four
 * keystream bytes into one 32-bit word and XORing that into the data gains another ~8% but needs a
 * Uint32Array view of the buffer. The receive path decrypts inside the transport's shared read
 * buffer, so a view of that one buffer is kept and reused (word loop); other buffers (sent blocks,
 * each its own) take the unrolled byte loop rather than allocating a view per message.
 * Measured on this project's 2-core machine (CPU time, see bench/micro/mse.bench.ts): ~470-690 MiB/s
 * depending on load, on par with OpenSSL's RC4 through node:crypto, which needs OpenSSL's legacy
 * provider and allocates its output per call. So the core's cipher is the only one.
 */

/** MSE/PE discards this much keystream before use (the early RC4 keystream is biased). */
export const MSE_RC4_DISCARD_BYTES = 1_024

/** A stream cipher that transforms bytes in place (encryption and decryption are the same XOR). */
export interface StreamCipher {
  /** XORs the next `data.length` keystream bytes into `data`. */
  process (data: Uint8Array): void
}

/** Data in an underlying buffer at least this large takes the word loop (the view is cached). */
const WORD_VIEW_MIN_BYTES = 65_536

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

export class Rc4 implements StreamCipher {
  private readonly s = new Uint8Array(256)
  private i = 0
  private j = 0
  /** The last large buffer seen and a 32-bit view of it (the shared read buffer, in practice). */
  private wordsBuffer: ArrayBufferLike | null = null
  private words: Uint32Array | null = null

  /** `key`: 1–256 bytes. `discardBytes` of keystream are dropped first. */
  constructor (key: Uint8Array, discardBytes = 0) {
    if (key.length === 0 || key.length > 256) throw new RangeError('RC4 key must be 1-256 bytes')
    const s = this.s
    for (let i = 0; i < 256; i++) s[i] = i
    let j = 0
    for (let i = 0; i < 256; i++) {
      const a = s[i]!
      j = (j + a + key[i % key.length]!) & 255
      s[i] = s[j]!
      s[j] = a
    }
    if (discardBytes > 0) this.skip(discardBytes)
  }

  /** Advances the keystream by `count` bytes without output. */
  skip (count: number): void {
    const s = this.s
    let i = this.i
    let j = this.j
    for (let k = 0; k < count; k++) {
      i = (i + 1) & 255
      const a = s[i]!
      j = (j + a) & 255
      s[i] = s[j]!
      s[j] = a
    }
    this.i = i
    this.j = j
  }

  process (data: Uint8Array): void {
    if (LITTLE_ENDIAN && data.length >= 64 && (data.buffer === this.wordsBuffer || data.buffer.byteLength >= WORD_VIEW_MIN_BYTES)) {
      const head = (4 - (data.byteOffset & 3)) & 3
      const wordCount = (data.length - head) >>> 2
      this.unrolled(data, 0, head)
      this.wordLoop(data, (data.byteOffset + head) >>> 2, wordCount)
      this.unrolled(data, head + wordCount * 4, data.length)
      return
    }
    this.unrolled(data, 0, data.length)
  }

  /** Bytes `from` to `to` of `data`. */
  private unrolled (data: Uint8Array, from: number, to: number): void {
    const s = this.s
    let i = this.i
    let j = this.j
    let a: number
    let b: number
    const whole = from + ((to - from) & ~3)
    let k = from
    for (; k < whole; k += 4) {
      i = (i + 1) & 255; a = s[i]!; j = (j + a) & 255; b = s[j]!; s[i] = b; s[j] = a
      data[k]! ^= s[(a + b) & 255]!
      i = (i + 1) & 255; a = s[i]!; j = (j + a) & 255; b = s[j]!; s[i] = b; s[j] = a
      data[k + 1]! ^= s[(a + b) & 255]!
      i = (i + 1) & 255; a = s[i]!; j = (j + a) & 255; b = s[j]!; s[i] = b; s[j] = a
      data[k + 2]! ^= s[(a + b) & 255]!
      i = (i + 1) & 255; a = s[i]!; j = (j + a) & 255; b = s[j]!; s[i] = b; s[j] = a
      data[k + 3]! ^= s[(a + b) & 255]!
    }
    for (; k < to; k++) {
      i = (i + 1) & 255; a = s[i]!; j = (j + a) & 255; b = s[j]!; s[i] = b; s[j] = a
      data[k]! ^= s[(a + b) & 255]!
    }
    this.i = i
    this.j = j
  }

  private wordLoop (data: Uint8Array, firstWord: number, count: number): void {
    let words = this.words
    if (this.wordsBuffer !== data.buffer || words === null) {
      words = new Uint32Array(data.buffer, 0, data.buffer.byteLength >>> 2)
      this.words = words
      this.wordsBuffer = data.buffer
    }
    const s = this.s
    let i = this.i
    let j = this.j
    let a: number
    let b: number
    let x: number
    const end = firstWord + count
    for (let w = firstWord; w < end; w++) {
      i = (i + 1) & 255; a = s[i]!; j = (j + a) & 255; b = s[j]!; s[i] = b; s[j] = a
      x = s[(a + b) & 255]!
      i = (i + 1) & 255; a = s[i]!; j = (j + a) & 255; b = s[j]!; s[i] = b; s[j] = a
      x |= s[(a + b) & 255]! << 8
      i = (i + 1) & 255; a = s[i]!; j = (j + a) & 255; b = s[j]!; s[i] = b; s[j] = a
      x |= s[(a + b) & 255]! << 16
      i = (i + 1) & 255; a = s[i]!; j = (j + a) & 255; b = s[j]!; s[i] = b; s[j] = a
      x |= s[(a + b) & 255]! << 24
      words[w]! ^= x
    }
    this.i = i
    this.j = j
  }
}
