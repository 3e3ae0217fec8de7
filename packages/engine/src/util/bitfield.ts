/**
 * A fixed-size bit array in BitTorrent order (bit 0 is the high bit of byte 0), with a cached
 * count so `count` and `isComplete` are O(1) on the hot path.
 */
export class Bitfield {
  readonly bytes: Uint8Array
  private setCount = 0

  constructor (readonly length: number, bytes?: Uint8Array) {
    const byteLength = Math.ceil(length / 8)
    this.bytes = new Uint8Array(byteLength)
    if (bytes !== undefined) {
      this.bytes.set(bytes.subarray(0, byteLength))
      // Spare bits past `length` must be zero (BEP 3); clear them rather than trust the input.
      const spare = byteLength * 8 - length
      if (spare > 0 && byteLength > 0) this.bytes[byteLength - 1]! &= (0xff << spare) & 0xff
      for (const b of this.bytes) this.setCount += popcount(b)
    }
  }

  get (index: number): boolean {
    if (index < 0 || index >= this.length) return false
    return ((this.bytes[index >> 3]! >> (7 - (index & 7))) & 1) === 1
  }

  /** Sets or clears a bit; returns true when it changed. */
  set (index: number, value = true): boolean {
    if (index < 0 || index >= this.length) throw new RangeError(`bit ${index} outside 0..${this.length - 1}`)
    const mask = 1 << (7 - (index & 7))
    const byte = this.bytes[index >> 3]!
    const was = (byte & mask) !== 0
    if (was === value) return false
    this.bytes[index >> 3] = value ? byte | mask : byte & ~mask
    this.setCount += value ? 1 : -1
    return true
  }

  get count (): number { return this.setCount }
  get isComplete (): boolean { return this.setCount === this.length }
  get isEmpty (): boolean { return this.setCount === 0 }

  setAll (): void {
    for (let i = 0; i < this.length; i++) this.set(i)
  }

  clone (): Bitfield {
    return new Bitfield(this.length, this.bytes)
  }

  /** Indices of set bits, ascending. */
  * ones (): IterableIterator<number> {
    for (let i = 0; i < this.length; i++) if (this.get(i)) yield i
  }
}

function popcount (b: number): number {
  b = b - ((b >> 1) & 0x55)
  b = (b & 0x33) + ((b >> 2) & 0x33)
  return (b + (b >> 4)) & 0x0f
}
