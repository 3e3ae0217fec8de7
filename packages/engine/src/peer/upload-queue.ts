/**
 * The remote peer's requests to us on one connection, served in request order.
 *
 * Bounds: queued requests never exceed `maxIncomingRequests` / `maxIncomingRequestBytes` (beyond
 * them a request is refused). A block is read from the owner only while the socket is writable,
 * and the blocks read but not yet sent stay under `maxUploadReadAheadBytes` (one block at least),
 * so a slow peer pins little memory. BEP 6: a refused or cancelled request is answered with a
 * reject when the fast extension is on; without it, dropping is all the protocol has.
 *
 * Buffer ownership: a block returned by `readBlock` is handed to the socket; the owner must not
 * modify it afterwards. Blocks may be views of a larger buffer (a cached piece) that the owner
 * reuses once `releaseBlock` gave every view back: a block is released when it is dropped unsent,
 * or once the socket has nothing queued after it was sent (the OS copied it). Blocks waiting for
 * the socket pin at most a few pieces (beyond, they are copied out), so a slow peer asking for
 * scattered blocks does not hold many whole pieces.
 */
import { LodestoneError, hasCode } from '../errors.js'
import { encodePieceHeader, encodeReject, type BlockRequest } from '../protocol/wire-messages.js'
import { blockKey } from './block-key.js'
import type { PeerSettings } from './peer-settings.js'

interface UploadEntry {
  piece: number
  begin: number
  length: number
  state: 'queued' | 'reading' | 'ready'
  data: Uint8Array | null
}

/** What the queue needs from its connection. */
export interface UploadQueueHost {
  /** The connection's settings now (they may be replaced at run time). */
  settings: () => PeerSettings
  /** Reads a block for the peer; absent: we serve nothing. */
  readBlock: ((request: BlockRequest) => Promise<Uint8Array>) | undefined
  /** A block from `readBlock` is no longer referenced (optional: blocks are then left to the GC). */
  releaseBlock: ((data: Uint8Array) => void) | undefined
  /** Bytes the socket holds, not yet handed to the OS. */
  bufferedBytes: () => number
  /** True while the connection is active. */
  isActive: () => boolean
  /** True while the socket accepts more (below its high-water mark). */
  isWritable: () => boolean
  /** Both sides negotiated BEP 6. */
  fastExtension: () => boolean
  send: (data: Uint8Array) => void
  /** A block's payload went to the socket (upload accounting). */
  sentBlock: (lengthBytes: number) => void
  /** A request was queued. */
  queued: (request: BlockRequest) => void
  warning: (error: unknown) => void
  /** The owner judged a request illegal: the connection closes with this reason. */
  close: (reason: LodestoneError) => void
}

/**
 * Sent blocks remembered for release. Older ones are forgotten unreleased (their piece buffer is
 * then never reused, only garbage collected), so a socket that never empties pins little.
 */
const MAX_UNRELEASED_SENT = 8

/**
 * Pieces that blocks waiting for the socket may pin; further waiting blocks are copied out. A peer
 * asking in order waits on one or two pieces; one asking for a block of each of many pieces
 * would otherwise hold all of them.
 */
const MAX_WAITING_PIECE_BUFFERS = 4

export class UploadQueue {
  private readonly entries: UploadEntry[] = []
  /** Queued requests per block key (duplicate check without a scan of the queue). */
  private readonly keys = new Map<number | string, number>()
  /** Entries still 'queued': always the queue's tail (reads start in order), so the next read is found in O(1). */
  private queuedCount = 0
  private queuedBytes = 0
  /** Bytes of entries in 'reading' or 'ready' state. */
  private readAheadBytes = 0
  private refusedCount = 0
  /** Blocks handed to the socket and not released yet (the most recent few; older ones are forgotten). */
  private sent: Uint8Array[] = []

  constructor (private readonly host: UploadQueueHost) {}

  /** Bytes of requests queued (read or not). */
  get bytes (): number { return this.queuedBytes }
  /** Requests we rejected or dropped (choked, queue full, invalid, read failed). */
  get refused (): number { return this.refusedCount }

  /** A REQUEST arrived; `allowed` is false when it is invalid or the peer is choked for that piece. */
  request (piece: number, begin: number, length: number, allowed: boolean): void {
    const settings = this.host.settings()
    const full = this.entries.length >= settings.maxIncomingRequests ||
      this.queuedBytes + length > settings.maxIncomingRequestBytes
    if (!allowed || full) {
      this.refuse(piece, begin, length)
      return
    }
    const key = blockKey(piece, begin)
    const sameKey = this.keys.get(key) ?? 0
    if (sameKey > 0) for (const e of this.entries) if (e.piece === piece && e.begin === begin && e.length === length) return
    this.keys.set(key, sameKey + 1)
    this.queuedCount++
    this.entries.push({ piece, begin, length, state: 'queued', data: null })
    this.queuedBytes += length
    this.host.queued({ piece, begin, length })
    this.pumpReads()
  }

  /** A CANCEL arrived. */
  cancel (piece: number, begin: number, length: number): void {
    const index = this.entries.findIndex((e) => e.piece === piece && e.begin === begin && e.length === length)
    if (index < 0) return
    this.remove(index)
    // BEP 6: a cancelled request is answered with the block or a reject; we send the reject.
    if (this.host.fastExtension()) this.host.send(encodeReject(piece, begin, length))
  }

  /** We choked the peer: its requests are refused, except for pieces `keep` spares (allowed-fast). */
  refuseAllExcept (keep: (piece: number) => boolean): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i]!
      if (keep(entry.piece)) continue
      this.remove(i)
      this.refuse(entry.piece, entry.begin, entry.length)
    }
  }

  /** The socket drained: send what is ready, read what is next. */
  resume (): void {
    this.flush()
    this.pumpReads()
  }

  /** The connection closed: everything is forgotten (what the socket may still flush is not released). */
  clear (): void {
    for (const e of this.entries) if (e.data !== null) this.release(e.data)
    if (this.host.bufferedBytes() === 0) this.releaseSent()
    this.sent = []
    this.entries.length = 0
    this.keys.clear()
    this.queuedCount = 0
    this.queuedBytes = 0
    this.readAheadBytes = 0
  }

  /** BEP 6: reject instead of silently dropping; without it, dropping is all the protocol has. */
  private refuse (piece: number, begin: number, length: number): void {
    this.refusedCount++
    if (this.host.fastExtension() && this.host.isActive()) this.host.send(encodeReject(piece, begin, length))
  }

  private remove (index: number): void {
    const entry = index === 0 ? this.entries.shift() : this.entries.splice(index, 1)[0]
    if (entry === undefined) return
    const key = blockKey(entry.piece, entry.begin)
    const sameKey = this.keys.get(key) ?? 0
    if (sameKey <= 1) this.keys.delete(key)
    else this.keys.set(key, sameKey - 1)
    if (entry.data !== null) this.release(entry.data)
    entry.data = null
    if (entry.state === 'queued') this.queuedCount--
    this.queuedBytes -= entry.length
    if (entry.state !== 'queued') this.readAheadBytes -= entry.length
  }

  private pumpReads (): void {
    const readBlock = this.host.readBlock
    if (readBlock === undefined) return
    while (this.host.isActive() && this.host.isWritable()) {
      const tail = this.entries[this.entries.length - this.queuedCount]
      const entry = tail?.state === 'queued' ? tail : this.entries.find((e) => e.state === 'queued')
      if (entry === undefined) return
      if (this.readAheadBytes > 0 && this.readAheadBytes + entry.length > this.host.settings().maxUploadReadAheadBytes) return
      entry.state = 'reading'
      this.queuedCount--
      this.readAheadBytes += entry.length
      let promise: Promise<Uint8Array>
      try {
        promise = readBlock({ piece: entry.piece, begin: entry.begin, length: entry.length })
      } catch (error) {
        // A synchronous throw is handled like a rejection, and as late, so the loop stays simple.
        queueMicrotask(() => { this.onBlockReadFailed(entry, error) })
        continue
      }
      promise.then((data) => { this.onBlockRead(entry, data) }, (error: unknown) => { this.onBlockReadFailed(entry, error) })
    }
  }

  private onBlockRead (entry: UploadEntry, data: Uint8Array): void {
    if (!this.host.isActive()) return
    if (!this.entries.includes(entry)) {
      this.release(data)
      this.pumpReads() // cancelled or choked while reading: drop the data
      return
    }
    if (data.length !== entry.length) {
      this.onBlockReadFailed(entry, new LodestoneError('INTERNAL', { reason: `readBlock returned ${data.length} bytes for a ${entry.length}-byte request` }))
      return
    }
    entry.state = 'ready'
    entry.data = data
    this.flush()
    if (entry.data !== null && data.buffer.byteLength > data.length && this.waitingPieceBuffers() > MAX_WAITING_PIECE_BUFFERS) {
      // It waits for the socket, and waiting blocks already pin enough pieces: keep a copy of it.
      entry.data = data.slice()
      this.release(data)
    }
    this.pumpReads()
  }

  private onBlockReadFailed (entry: UploadEntry, error: unknown): void {
    if (!this.host.isActive()) return
    if (hasCode(error, 'PEER_PROTOCOL_VIOLATION')) {
      // The owner judged the request itself illegal (e.g. a piece we never announced).
      this.host.close(error)
      return
    }
    const index = this.entries.indexOf(entry)
    if (index >= 0) {
      this.remove(index)
      this.refuse(entry.piece, entry.begin, entry.length)
      this.host.warning(error)
    }
    this.flush()
    this.pumpReads()
  }

  /** Sends ready blocks in request order while the socket accepts them. */
  private flush (): void {
    if (this.sent.length > 0 && this.host.bufferedBytes() === 0) this.releaseSent()
    while (this.host.isWritable() && this.host.isActive()) {
      const head = this.entries[0]
      if (head?.state !== 'ready' || head.data === null) return
      const data = head.data
      head.data = null
      this.remove(0)
      // Two sends, no copy: the header, then the block (the socket never modifies either).
      this.host.send(encodePieceHeader(head.piece, head.begin, data.length))
      this.host.send(data)
      this.host.sentBlock(data.length)
      if (this.host.releaseBlock !== undefined && data.buffer.byteLength > data.length) {
        this.sent.push(data)
        if (this.sent.length > MAX_UNRELEASED_SENT) this.sent.shift()
      }
    }
  }

  /** Distinct buffers that the blocks read and not yet sent are views of (they are at the queue's head). */
  private waitingPieceBuffers (): number {
    const buffers = new Set<ArrayBufferLike>()
    for (const e of this.entries) {
      if (e.state === 'queued') break
      if (e.data !== null && e.data.buffer.byteLength > e.data.length) buffers.add(e.data.buffer)
    }
    return buffers.size
  }

  private releaseSent (): void {
    for (const data of this.sent) this.release(data)
    this.sent = []
  }

  private release (data: Uint8Array): void {
    this.host.releaseBlock?.(data)
  }
}
