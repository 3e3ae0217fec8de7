/**
 * What the daemon keeps of its TCP sockets' received streams, so a client can have received bytes
 * written to a file by naming where they arrived (FILE_WRITE_RECV, bridge-protocol.ts) instead of
 * sending them back.
 *
 * - Every TCP_RECV payload a session sends is appended here under its socket id, at the stream
 *   offset the client counts too (the sum of that socket's earlier TCP_RECV payload lengths).
 * - Bounded: above `capBytes` (counting what each payload pins, e.g. a whole pooled read buffer)
 *   the oldest payloads of any socket are dropped. Nothing waits for the client: a client that is
 *   slow to write simply finds its range gone (RECV_NOT_HELD) and sends the bytes itself. Why not
 *   hold until the client commits: one block of a slow peer's piece would pin every stream's data
 *   behind it, and a client that never commits would stall every socket.
 * - A write pins the payloads it reads until it settles; a pinned payload dropped meanwhile is let
 *   go (its `release` runs) only after that.
 * - A new socket with the same id starts a new stream: what was held under the id is dropped.
 */

interface HeldChunk {
  id: number
  /** Stream offset of `bytes[0]`. */
  start: number
  bytes: Uint8Array
  costBytes: number
  release: (() => void) | undefined
  pins: number
  dropped: boolean
}

interface HeldStream {
  /** Stream offset of the next payload. */
  next: number
  /** Held payloads in stream order, from `head`. */
  chunks: HeldChunk[]
  head: number
}

/** Pinned payload views covering a range; give back with {@link ReceivedStreamStore.unpin}. */
export interface HeldRange { parts: Uint8Array[], chunks: HeldChunk[] }

export class ReceivedStreamStore {
  private readonly streams = new Map<number, HeldStream>()
  /** Every held payload in arrival order (across sockets), from `head`. */
  private order: HeldChunk[] = []
  private head = 0
  private held = 0

  constructor (readonly capBytes: number) {}

  /** Bytes held (as counted against the cap). */
  get heldBytes (): number { return this.held }

  /** Socket `id` starts a new stream at offset 0; anything held under the id is dropped. */
  open (id: number): void {
    const old = this.streams.get(id)
    if (old !== undefined) for (let i = old.head; i < old.chunks.length; i++) this.drop(old.chunks[i]!)
    this.streams.set(id, { next: 0, chunks: [], head: 0 })
  }

  /**
   * `bytes` went to the client as socket `id`'s next TCP_RECV payload. `costBytes`: the memory
   * holding it pins (at least `bytes.length`); `release` runs once the store lets go of it.
   */
  append (id: number, bytes: Uint8Array, costBytes = bytes.length, release?: () => void): void {
    let stream = this.streams.get(id)
    if (stream === undefined) { stream = { next: 0, chunks: [], head: 0 }; this.streams.set(id, stream) }
    const chunk: HeldChunk = { id, start: stream.next, bytes, costBytes: Math.max(costBytes, bytes.length), release, pins: 0, dropped: false }
    stream.next += bytes.length
    if (chunk.costBytes > this.capBytes) { release?.(); return }
    stream.chunks.push(chunk)
    this.order.push(chunk)
    this.held += chunk.costBytes
    while (this.held > this.capBytes) this.evictOldest()
  }

  /**
   * Views of `length` bytes at `offset` of socket `id`'s stream, pinned; null (nothing pinned)
   * when any of it is not held.
   */
  take (id: number, offset: number, length: number, into: HeldRange = { parts: [], chunks: [] }): HeldRange | null {
    const stream = this.streams.get(id)
    if (stream === undefined || length <= 0) return null
    const { chunks } = stream
    // Binary search: the last held chunk starting at or before `offset`.
    let lo = stream.head
    let hi = chunks.length - 1
    if (lo > hi || chunks[lo]!.start > offset) return null
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (chunks[mid]!.start <= offset) lo = mid
      else hi = mid - 1
    }
    const parts: Uint8Array[] = []
    const taken: HeldChunk[] = []
    let at = offset
    const end = offset + length
    for (let i = lo; i < chunks.length && at < end; i++) {
      const c = chunks[i]!
      if (c.start !== at && i !== lo) return null
      const from = at - c.start
      if (from >= c.bytes.length) return null
      const to = Math.min(c.bytes.length, end - c.start)
      parts.push(c.bytes.subarray(from, to))
      taken.push(c)
      at = c.start + to
    }
    if (at !== end) return null
    for (const c of taken) c.pins++
    into.parts.push(...parts)
    into.chunks.push(...taken)
    return into
  }

  /** Ends a write's hold on the payloads of `range`. */
  unpin (range: HeldRange): void {
    for (const c of range.chunks) {
      c.pins--
      if (c.pins === 0 && c.dropped) c.release?.()
    }
    range.chunks.length = 0
  }

  /** Drops everything (the session closed). */
  clear (): void {
    for (let i = this.head; i < this.order.length; i++) this.drop(this.order[i]!)
    this.order = []
    this.head = 0
    this.streams.clear()
    this.held = 0
  }

  private evictOldest (): void {
    const chunk = this.order[this.head]
    if (chunk === undefined) { this.held = 0; return }
    this.order[this.head] = undefined as unknown as HeldChunk
    this.head++
    if (this.head > 1024 && this.head * 2 > this.order.length) { this.order = this.order.slice(this.head); this.head = 0 }
    const stream = this.streams.get(chunk.id)
    if (stream !== undefined && stream.chunks[stream.head] === chunk) {
      stream.chunks[stream.head] = undefined as unknown as HeldChunk
      stream.head++
      if (stream.head > 64 && stream.head * 2 > stream.chunks.length) { stream.chunks = stream.chunks.slice(stream.head); stream.head = 0 }
    }
    this.drop(chunk)
  }

  /** Lets go of `chunk` (now, or when its last write settles). */
  private drop (chunk: HeldChunk): void {
    if (chunk.dropped) return
    chunk.dropped = true
    this.held -= chunk.costBytes
    if (chunk.pins === 0) chunk.release?.()
  }
}
