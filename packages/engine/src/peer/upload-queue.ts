/**
 * The remote peer's requests to us on one connection, served in request order.
 *
 * Bounds: queued requests never exceed `maxIncomingRequests` / `maxIncomingRequestBytes` (beyond
 * them a request is refused). A block is read from the owner only while the socket is writable,
 * and the blocks read but not yet sent stay under `maxUploadReadAheadBytes` (one block at least),
 * so a slow peer pins little memory. BEP 6: a refused or cancelled request is answered with a
 * reject when the fast extension is on; without it, dropping is all the protocol has.
 *
 * Reads by run: requests queued back to back for contiguous bytes of one piece (a peer asking for
 * a piece block by block, as every client does) are read with one `readBlock` call for the whole
 * run, up to `maxRequestLengthBytes` (the largest single request we would serve anyway, so a rate
 * limiter or the storage sees nothing new) and the read-ahead budget. Each block is then a view of
 * the run's data. With 8 peers asking for 16 KiB blocks of 128 KiB pieces this is one read call
 * (and one promise chain through the torrent and the storage) per 8 blocks instead of one each.
 *
 * Cached pieces first: before a read, queued requests for a piece the owner lists as just read into
 * memory (`cachedPieces`) move to the front of the queued requests, so they are read (and sent)
 * before older ones, which the protocol allows. Leechers asking a seed in random order each keep
 * ~190 pieces queued (libtorrent: 1 500 requests), so a piece one of them made us read is often
 * queued by others too: with 8 libtorrent leechers a piece is read from disk ~4 times instead of ~7.5.
 *
 * Buffer ownership: data returned by `readBlock` is handed to the socket; the owner must not
 * modify it afterwards. It may be a view of a larger buffer (a cached piece) that the owner
 * reuses once `releaseBlock` gave every view back: a run's data is released once every block of
 * it was dropped unsent, or sent with the socket having nothing queued since (the OS copied it).
 * Blocks waiting for the socket pin at most a few pieces (beyond, they are copied out), so a slow
 * peer asking for scattered blocks does not hold many whole pieces.
 */
import { LodestoneError, hasCode } from '../errors.js'
import { encodeReject, type BlockRequest } from '../protocol/wire-messages.js'
import { blockKey } from './block-key.js'
import type { PeerSettings } from './peer-settings.js'
import { pieceHeader } from './piece-header-slab.js'

interface UploadEntry {
  piece: number
  begin: number
  length: number
  /** 'removed': out of the queue (cancelled, refused or sent) while its run was being read. */
  state: 'queued' | 'reading' | 'ready' | 'removed'
  /** The block: a view of `run.data`, or (run null) a copy of its own. */
  data: Uint8Array | null
  run: ReadRun | null
}

/** What one `readBlock` call returned for a run of blocks, and how many of them still refer to it. */
interface ReadRun {
  readonly data: Uint8Array
  /** Blocks holding a view of `data`: waiting to be sent, or sent and not released yet. */
  refs: number
  /** Of `refs`, blocks already handed to the socket (released together once it has emptied). */
  sentRefs: number
}

/** What the queue needs from its connection. */
export interface UploadQueueHost {
  /** The connection's settings now (they may be replaced at run time). */
  settings: () => PeerSettings
  /** Reads a block for the peer; absent: we serve nothing. */
  readBlock: ((request: BlockRequest) => Promise<Uint8Array>) | undefined
  /**
   * Pieces a read would find in memory now (a read cache, reads under way); absent: none. Queued
   * requests for them are read first (see the module comment).
   */
  cachedPieces: (() => readonly number[]) | undefined
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
  /** A request was queued (three numbers, not a request object: this is once per block). */
  queued: (piece: number, begin: number, length: number) => void
  warning: (error: unknown) => void
  /** The owner judged a request illegal: the connection closes with this reason. */
  close: (reason: LodestoneError) => void
}

/**
 * Runs with sent blocks remembered for release. Older ones are forgotten unreleased (their piece
 * buffer is then never reused, only garbage collected), so a socket that never empties pins little.
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
  /** Queued (not yet reading) requests per piece, to find those of a cached piece without a scan. */
  private readonly queuedPerPiece = new Map<number, number>()
  private queuedBytes = 0
  /** Bytes of entries in 'reading' or 'ready' state. */
  private readAheadBytes = 0
  private refusedCount = 0
  /** Runs with blocks handed to the socket and not released yet (the most recent few; older ones are forgotten). */
  private sent: ReadRun[] = []
  /** Set by {@link holdReads}: new requests do not start reads yet. */
  private readsHeld = false

  constructor (private readonly host: UploadQueueHost) {}

  /** Bytes of requests queued (read or not). */
  get bytes (): number { return this.queuedBytes }
  /** Requests we rejected or dropped (choked, queue full, invalid, read failed). */
  get refused (): number { return this.refusedCount }

  /**
   * Requests that arrive until {@link releaseReads} are queued without starting reads, so requests
   * parsed from one socket chunk are read as runs rather than the first alone. Not nested.
   */
  holdReads (): void {
    this.readsHeld = true
  }

  /** Starts the reads held back since {@link holdReads}. */
  releaseReads (): void {
    if (!this.readsHeld) return
    this.readsHeld = false
    this.pumpReads()
  }

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
    this.queuedPerPiece.set(piece, (this.queuedPerPiece.get(piece) ?? 0) + 1)
    this.entries.push({ piece, begin, length, state: 'queued', data: null, run: null })
    this.queuedBytes += length
    this.host.queued(piece, begin, length)
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
    for (const e of this.entries) this.dropData(e)
    if (this.host.bufferedBytes() === 0) this.releaseSent()
    this.sent = []
    this.entries.length = 0
    this.keys.clear()
    this.queuedCount = 0
    this.queuedPerPiece.clear()
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
    this.dropData(entry)
    if (entry.state === 'queued') {
      this.queuedCount--
      this.unqueued(entry.piece, 1)
    }
    this.queuedBytes -= entry.length
    if (entry.state !== 'queued') this.readAheadBytes -= entry.length
    entry.state = 'removed'
  }

  /** The entry no longer holds its block (dropped unsent): its run may be released. */
  private dropData (entry: UploadEntry): void {
    if (entry.data === null) return
    entry.data = null
    if (entry.run !== null) this.unref(entry.run, 1)
    entry.run = null
  }

  private pumpReads (): void {
    const readBlock = this.host.readBlock
    if (readBlock === undefined || this.readsHeld) return
    while (this.host.isActive() && this.host.isWritable()) {
      let at = this.entries.length - this.queuedCount
      if (this.entries[at]?.state !== 'queued') at = this.entries.findIndex((e) => e.state === 'queued')
      let first = this.entries[at]
      if (first === undefined) return
      const settings = this.host.settings()
      const budget = settings.maxUploadReadAheadBytes - this.readAheadBytes
      if (this.readAheadBytes > 0 && first.length > budget) return
      first = this.cachedFirst(at)
      // The run: later queued requests for the bytes right after, in the same piece.
      const run = [first]
      let end = first.begin + first.length
      let total = first.length
      const limit = Math.max(first.length, Math.min(settings.maxRequestLengthBytes, budget))
      for (let i = at + 1; i < this.entries.length; i++) {
        const e = this.entries[i]!
        if (e.state !== 'queued' || e.piece !== first.piece || e.begin !== end || total + e.length > limit) break
        run.push(e)
        end += e.length
        total += e.length
      }
      for (const e of run) e.state = 'reading'
      this.queuedCount -= run.length
      this.unqueued(first.piece, run.length)
      this.readAheadBytes += total
      let promise: Promise<Uint8Array>
      try {
        promise = readBlock({ piece: first.piece, begin: first.begin, length: total })
      } catch (error) {
        // A synchronous throw is handled like a rejection, and as late, so the loop stays simple.
        queueMicrotask(() => { this.onRunReadFailed(run, error) })
        continue
      }
      promise.then((data) => { this.onRunRead(run, total, data) }, (error: unknown) => { this.onRunReadFailed(run, error) })
    }
  }

  /**
   * Moves the queued requests for a piece the owner holds in memory to `at`, the front of the
   * queued tail, so they are read next (at most one piece per call: each read is one run).
   */
  private cachedFirst (at: number): UploadEntry {
    const next = this.entries[at]!
    const cachedPieces = this.host.cachedPieces
    if (cachedPieces === undefined || this.queuedPerPiece.size === 1) return next
    const pieces = cachedPieces()
    let piece = -1
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!
      if (p === next.piece) return next // the next read is one already
      if (piece < 0 && p >= 0 && this.queuedPerPiece.has(p)) piece = p
    }
    if (piece < 0) return next
    // The piece's requests are back to back in the queue (a peer asks for a piece block by block):
    // move that group; any other requests for the piece keep their place.
    let from = at + 1
    while (this.entries[from]!.piece !== piece) from++
    let to = from + 1
    while (to < this.entries.length && this.entries[to]!.piece === piece) to++
    const moved = this.entries.splice(from, to - from)
    this.entries.splice(at, 0, ...moved)
    return moved[0]!
  }

  /** `n` queued requests for `piece` started reading or left the queue. */
  private unqueued (piece: number, n: number): void {
    const left = (this.queuedPerPiece.get(piece) ?? 0) - n
    if (left > 0) this.queuedPerPiece.set(piece, left)
    else this.queuedPerPiece.delete(piece)
  }

  private onRunRead (entries: UploadEntry[], total: number, data: Uint8Array): void {
    if (!this.host.isActive()) return
    if (data.length !== total) {
      this.host.releaseBlock?.(data)
      this.onRunReadFailed(entries, new LodestoneError('INTERNAL', { reason: `readBlock returned ${data.length} bytes for a ${total}-byte request` }))
      return
    }
    const run: ReadRun = { data, refs: 0, sentRefs: 0 }
    let offset = 0
    for (const entry of entries) {
      const view = entries.length === 1 ? data : data.subarray(offset, offset + entry.length)
      offset += entry.length
      if (entry.state !== 'reading') continue // cancelled or choked while reading: its block is dropped
      entry.state = 'ready'
      entry.data = view
      entry.run = run
      run.refs++
    }
    if (run.refs === 0) {
      this.host.releaseBlock?.(data)
      this.pumpReads()
      return
    }
    this.flush()
    if (data.buffer.byteLength > data.length && run.refs > run.sentRefs && this.waitingPieceBuffers() > MAX_WAITING_PIECE_BUFFERS) {
      // Its blocks wait for the socket, and waiting blocks already pin enough pieces: keep copies.
      for (const entry of entries) {
        if (entry.run !== run || entry.state !== 'ready' || entry.data === null) continue
        entry.data = entry.data.slice()
        entry.run = null
        this.unref(run, 1)
      }
    }
    this.pumpReads()
  }

  private onRunReadFailed (entries: UploadEntry[], error: unknown): void {
    if (!this.host.isActive()) return
    if (hasCode(error, 'PEER_PROTOCOL_VIOLATION')) {
      // The owner judged the request itself illegal (e.g. a piece we never announced).
      this.host.close(error)
      return
    }
    let warned = false
    for (const entry of entries) {
      if (entry.state !== 'reading') continue
      const index = this.entries.indexOf(entry)
      if (index < 0) continue
      this.remove(index)
      this.refuse(entry.piece, entry.begin, entry.length)
      if (!warned) this.host.warning(error)
      warned = true
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
      const { data, run } = head
      head.data = null
      head.run = null
      this.remove(0)
      // Two sends, no copy: the header, then the block (the socket never modifies either).
      this.host.send(pieceHeader(head.piece, head.begin, data.length))
      this.host.send(data)
      this.host.sentBlock(data.length)
      if (run === null) continue
      // Released once the socket has emptied (the OS then holds its own copy).
      if (run.sentRefs++ === 0) {
        this.sent.push(run)
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
    for (const run of this.sent) {
      const n = run.sentRefs
      run.sentRefs = 0
      this.unref(run, n)
    }
    this.sent = []
  }

  /** `n` blocks of the run no longer refer to its data; the last one releases it. */
  private unref (run: ReadRun, n: number): void {
    run.refs -= n
    if (run.refs === 0) this.host.releaseBlock?.(run.data)
  }
}
