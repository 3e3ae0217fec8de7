/**
 * A growable ring of bytes with a scratch area behind it, in one `Uint8Array`.
 *
 * Why the scratch area lives in the same array: a uTP sender builds each datagram (header +
 * payload) from bytes it keeps for retransmission. With both in one array the payload is moved
 * with `copyWithin`, which needs no view object, so building a packet allocates nothing. The
 * capacity is a power of two and doubles on demand (the caller bounds it: the sender by its
 * window and high-water mark, the receiver by its advertised window).
 */

export class ByteRing {
  /** Ring storage in `[0, capacity)`, scratch in `[capacity, capacity + scratchBytes)`. */
  bytes: Uint8Array
  capacity: number
  /** Index of the oldest byte. */
  private head = 0
  /** Bytes stored. */
  length = 0
  private viewCache: Uint8Array | undefined

  constructor (initialCapacity: number, readonly scratchBytes = 0) {
    this.capacity = nextPowerOfTwo(Math.max(16, initialCapacity))
    this.bytes = new Uint8Array(this.capacity + scratchBytes)
  }

  /** Start of the scratch area (moves when the ring grows). */
  get scratchOffset (): number { return this.capacity }

  /** Appends `n` bytes of `src` from `srcOffset`, growing the ring if needed. */
  write (src: Uint8Array, srcOffset: number, n: number): void {
    if (n <= 0) return
    if (this.length + n > this.capacity) this.grow(this.length + n)
    const cap = this.capacity
    let tail = this.head + this.length
    if (tail >= cap) tail -= cap
    const first = Math.min(n, cap - tail)
    const whole = srcOffset === 0 && n === src.length
    if (first === n) {
      this.bytes.set(whole ? src : src.subarray(srcOffset, srcOffset + n), tail)
    } else {
      this.bytes.set(src.subarray(srcOffset, srcOffset + first), tail)
      this.bytes.set(src.subarray(srcOffset + first, srcOffset + n), 0)
    }
    this.length += n
  }

  /** Copies `n` bytes starting `offset` bytes after the oldest into the scratch area at `scratchPos`. */
  copyToScratch (offset: number, n: number, scratchPos: number): void {
    if (n <= 0) return
    const cap = this.capacity
    let start = this.head + offset
    if (start >= cap) start -= cap
    const first = Math.min(n, cap - start)
    const dst = cap + scratchPos
    this.bytes.copyWithin(dst, start, start + first)
    if (first < n) this.bytes.copyWithin(dst + first, 0, n - first)
  }

  /** Copies `n` bytes starting `offset` bytes after the oldest into `dst` at `dstOffset`. */
  copyOut (offset: number, n: number, dst: Uint8Array, dstOffset: number): void {
    if (n <= 0) return
    const cap = this.capacity
    let start = this.head + offset
    if (start >= cap) start -= cap
    const first = Math.min(n, cap - start)
    dst.set(this.bytes.subarray(start, start + first), dstOffset)
    if (first < n) dst.set(this.bytes.subarray(0, n - first), dstOffset + first)
  }

  /** Length of the contiguous run of stored bytes starting at the oldest. */
  get firstRunLength (): number {
    return Math.min(this.length, this.capacity - this.head)
  }

  /** A view of the first `n` bytes of the contiguous run at the oldest byte (`n ≤ firstRunLength`). */
  firstRun (n: number): Uint8Array {
    return this.bytes.subarray(this.head, this.head + n)
  }

  /** Drops the `n` oldest bytes. */
  discard (n: number): void {
    if (n <= 0) return
    if (n >= this.length) {
      this.head = 0
      this.length = 0
      return
    }
    this.head += n
    if (this.head >= this.capacity) this.head -= this.capacity
    this.length -= n
  }

  /** A view of the scratch area's first `n` bytes; the last one is reused while `n` repeats. */
  scratchView (n: number): Uint8Array {
    const cached = this.viewCache
    if (cached !== undefined && cached.length === n) return cached
    const view = this.bytes.subarray(this.capacity, this.capacity + n)
    this.viewCache = view
    return view
  }

  /** Releases the storage when the ring is empty and larger than `keepBytes` (an idle connection). */
  shrinkIfEmpty (keepBytes: number): void {
    if (this.length !== 0 || this.capacity <= keepBytes) return
    this.capacity = nextPowerOfTwo(Math.max(16, keepBytes))
    this.bytes = new Uint8Array(this.capacity + this.scratchBytes)
    this.head = 0
    this.viewCache = undefined
  }

  private grow (needed: number): void {
    let cap = this.capacity * 2
    while (cap < needed) cap *= 2
    const next = new Uint8Array(cap + this.scratchBytes)
    this.copyOut(0, this.length, next, 0)
    this.bytes = next
    this.capacity = cap
    this.head = 0
    this.viewCache = undefined
  }
}

export function nextPowerOfTwo (n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}
