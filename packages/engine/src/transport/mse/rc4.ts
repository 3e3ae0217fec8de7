/**
 * RC4 (the stream cipher MSE/PE uses), in place and allocation-free on the data path.
 *
 * Why it is written this way: RC4 is a chain of dependent S-box reads, so what costs is the work
 * around them. Data of {@link KERNEL_MIN_BYTES} or more goes through the WebAssembly kernel
 * (rc4-wasm.ts: no bounds checks, eight bytes per step), copied into its memory and back, since it
 * cannot see the caller's buffer; the copies are two memcpy of at most 63 KiB, cheap beside the
 * cipher. Without WebAssembly, and for short messages where the copies and the state exchange
 * would dominate, the JavaScript loops run: unrolled four times (~40% faster than the textbook
 * loop in V8), and for a buffer with a cached 32-bit view (the transport's shared read buffer)
 * four keystream bytes XORed as one word (another ~8%).
 * Measured (CPU time, bench/micro/mse.bench.ts, 2-core EPYC shared with other jobs): kernel with
 * copies ~750 MiB/s on any buffer; JavaScript word loop ~690, byte loop ~470 (every sent block
 * took that path before the kernel); OpenSSL's RC4 through node:crypto ~620-775 with a copy back,
 * but it needs OpenSSL's legacy provider (absent by default in Node 20) and allocates its output
 * per call, so there is no native cipher port.
 */
import { RC4_KERNEL_DATA_BYTES, RC4_KERNEL_DATA_OFFSET, rc4Kernel, type Rc4Kernel } from './rc4-wasm.js'

/** MSE/PE discards this much keystream before use (the early RC4 keystream is biased). */
export const MSE_RC4_DISCARD_BYTES = 1_024

/** A stream cipher that transforms bytes in place (encryption and decryption are the same XOR). */
export interface StreamCipher {
  /** XORs the next `data.length` keystream bytes into `data`. */
  process (data: Uint8Array): void
}

/** Data at least this long goes through the WebAssembly kernel (when there is one). */
export const KERNEL_MIN_BYTES = 256

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
  private readonly kernel: Rc4Kernel | null

  /**
   * `key`: 1–256 bytes. `discardBytes` of keystream are dropped first. `useKernel: false` keeps
   * to the JavaScript loops (tests compare the two).
   */
  constructor (key: Uint8Array, discardBytes = 0, useKernel = true) {
    this.kernel = useKernel ? rc4Kernel() : null
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
    if (this.kernel !== null && data.length >= KERNEL_MIN_BYTES) {
      this.viaKernel(this.kernel, data, data)
      return
    }
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

  /**
   * Writes `src` transformed into `dst` (same length; `src` is left as it is): the encrypted copy
   * of a buffer the sender still uses, without copying it first.
   */
  processInto (src: Uint8Array, dst: Uint8Array): void {
    if (dst.length !== src.length) throw new RangeError('processInto: src and dst lengths differ')
    if (this.kernel !== null && src.length >= KERNEL_MIN_BYTES) {
      this.viaKernel(this.kernel, src, dst)
      return
    }
    dst.set(src)
    this.process(dst)
  }

  /** Loads our state into the shared kernel, runs it over `src` in slices into `dst`, takes the state back. */
  private viaKernel (kernel: Rc4Kernel, src: Uint8Array, dst: Uint8Array): void {
    const memory = kernel.memory
    kernel.sbox.set(this.s)
    kernel.words[64] = this.i
    kernel.words[65] = this.j
    for (let at = 0; at < src.length; at += RC4_KERNEL_DATA_BYTES) {
      const length = Math.min(RC4_KERNEL_DATA_BYTES, src.length - at)
      memory.set(length === src.length ? src : src.subarray(at, at + length), RC4_KERNEL_DATA_OFFSET)
      kernel.run(RC4_KERNEL_DATA_OFFSET, length)
      const out = kernelView(memory, length)
      if (length === dst.length) dst.set(out)
      else dst.set(out, at)
    }
    this.s.set(kernel.sbox)
    this.i = kernel.words[64]!
    this.j = kernel.words[65]!
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

/** The last view of kernel output handed out: sent blocks are all one length, so it is reused. */
let lastView: Uint8Array | null = null

function kernelView (memory: Uint8Array, length: number): Uint8Array {
  if (lastView === null || lastView.length !== length || lastView.buffer !== memory.buffer) {
    lastView = memory.subarray(RC4_KERNEL_DATA_OFFSET, RC4_KERNEL_DATA_OFFSET + length)
  }
  return lastView
}
