/**
 * Rarest-first without scanning every piece: pieces live in one array sorted by
 * `key = class × S + availability` (class 0..6 = priority 7..1, 7 = skip, 8 = have), with bucket
 * start offsets per key (libtorrent's layout). One HAVE moves a piece by one key, which is one swap
 * with the bucket edge: O(1). A bulk change (priorities, availability reaching S) marks the order
 * dirty; it is rebuilt by a counting sort, O(pieces), before the next pick.
 *
 * The picker owns `have` and `priority` and tells this order about every change to them
 * (`moveClass` with the piece's class from before the change, or `markDirty`).
 */
import type { IRandom } from '../interfaces/random.js'
import type { Bitfield } from '../util/bitfield.js'
import { MAX_PIECE_PRIORITY } from './piece-priority.js'

/** Priority classes 0..6 (wanted), 7 (priority 0) and 8 (have). */
const CLASS_SKIP = 7
const CLASS_HAVE = 8
const CLASS_COUNT = 9
/** Initial availability span per class; doubled (with a rebuild) when a piece reaches it. */
const MIN_AVAILABILITY_SPAN = 16
/**
 * The order arrays until the first pick builds them: nothing reads or writes them while the order is
 * dirty, and a seeding torrent never picks (issue 13: 10 000 torrents held three unused arrays each).
 */
const NOT_BUILT = new Int32Array(0)

export class RarityOrder {
  /** Per-piece count of non-seed peers that have it. */
  readonly avail: Int32Array
  private order: Int32Array = NOT_BUILT
  private pos: Int32Array = NOT_BUILT
  private bucketStart: Int32Array = NOT_BUILT
  private span = MIN_AVAILABILITY_SPAN
  private dirty = true

  /** `have` and `priority` are the picker's own (read, never written here). */
  constructor (private readonly pieceCount: number, private readonly have: Bitfield, private readonly priority: Uint8Array) {
    this.avail = new Int32Array(pieceCount)
  }

  /** Many pieces changed class at once: rebuild before the next pick. */
  markDirty (): void {
    this.dirty = true
  }

  /**
   * Highest priority class first, then fewest peers; random among equals (the scan of a bucket
   * starts at a random offset). Returns the first piece `accept` takes, or -1.
   */
  pickRarest (random: IRandom, accept: (piece: number) => boolean): number {
    const end = CLASS_SKIP * this.span
    const starts = this.bucketStart
    for (let key = 0; key < end; key++) {
      const a = starts[key]!
      const len = starts[key + 1]! - a
      if (len === 0) continue
      const offset = Math.floor(random.next() * len)
      for (let i = 0; i < len; i++) {
        const piece = this.order[a + ((offset + i) % len)]!
        if (accept(piece)) return piece
      }
    }
    return -1
  }

  classOf (piece: number): number {
    if (this.have.get(piece)) return CLASS_HAVE
    const priority = this.priority[piece]!
    return priority === 0 ? CLASS_SKIP : MAX_PIECE_PRIORITY - priority
  }

  private keyOf (piece: number): number {
    return this.classOf(piece) * this.span + this.avail[piece]!
  }

  incAvail (piece: number): void {
    const oldAvail = this.avail[piece]!
    this.avail[piece] = oldAvail + 1
    if (this.dirty) return
    if (oldAvail + 1 >= this.span) {
      this.dirty = true
      return
    }
    this.stepUp(piece, this.classOf(piece) * this.span + oldAvail)
  }

  decAvail (piece: number): void {
    const oldAvail = this.avail[piece]!
    if (oldAvail <= 0) return
    this.avail[piece] = oldAvail - 1
    if (!this.dirty) this.stepDown(piece, this.classOf(piece) * this.span + oldAvail)
  }

  /** After `piece`'s class changed from `oldClass`: walk it to its new key, one bucket edge at a time. */
  moveClass (piece: number, oldClass: number): void {
    if (this.dirty) return
    let key = oldClass * this.span + this.avail[piece]!
    const to = this.keyOf(piece)
    while (key < to) this.stepUp(piece, key++)
    while (key > to) this.stepDown(piece, key--)
  }

  /** Moves `piece` from bucket `key` to the front of bucket `key + 1`. */
  private stepUp (piece: number, key: number): void {
    const last = this.bucketStart[key + 1]! - 1
    this.swap(this.pos[piece]!, last)
    this.bucketStart[key + 1]!--
  }

  /** Moves `piece` from bucket `key` to the back of bucket `key - 1`. */
  private stepDown (piece: number, key: number): void {
    const first = this.bucketStart[key]!
    this.swap(this.pos[piece]!, first)
    this.bucketStart[key]!++
  }

  private swap (i: number, j: number): void {
    if (i === j) return
    const a = this.order[i]!
    const b = this.order[j]!
    this.order[i] = b
    this.pos[b] = i
    this.order[j] = a
    this.pos[a] = j
  }

  /** Counting sort of all pieces by key; sizes the availability span to fit the current maximum. */
  ensureOrder (): void {
    if (!this.dirty) return
    if (this.order.length !== this.pieceCount) {
      this.order = new Int32Array(this.pieceCount)
      this.pos = new Int32Array(this.pieceCount)
    }
    let maxAvail = 0
    for (let piece = 0; piece < this.pieceCount; piece++) if (this.avail[piece]! > maxAvail) maxAvail = this.avail[piece]!
    let span = MIN_AVAILABILITY_SPAN
    while (span < maxAvail + 2) span *= 2
    this.span = span
    const keys = CLASS_COUNT * span
    const start = new Int32Array(keys + 1)
    for (let piece = 0; piece < this.pieceCount; piece++) start[this.keyOf(piece) + 1]!++
    for (let key = 1; key <= keys; key++) start[key]! += start[key - 1]!
    const fill = start.slice(0, keys)
    for (let piece = 0; piece < this.pieceCount; piece++) {
      const at = fill[this.keyOf(piece)]!++
      this.order[at] = piece
      this.pos[piece] = at
    }
    this.bucketStart = start
    this.dirty = false
  }

  /** Test hook (through `PiecePicker.checkInvariants`): returns a reason or null. */
  checkInvariants (): string | null {
    this.ensureOrder()
    for (let i = 0; i < this.pieceCount; i++) {
      const piece = this.order[i]!
      if (this.pos[piece] !== i) return `pos/order mismatch at ${i}`
      const key = this.keyOf(piece)
      if (i < this.bucketStart[key]! || i >= this.bucketStart[key + 1]!) return `piece ${piece} at ${i} outside bucket ${key}`
    }
    return null
  }
}
