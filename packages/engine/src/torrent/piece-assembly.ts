/**
 * Piece assembly and verification for one torrent: received blocks are copied into piece buffers;
 * a complete piece is verified (one hasher job), written with one coalesced storage write, and only
 * then counted, announced and served. A piece that fails its check is dropped and its senders judged.
 *
 * Bounded memory: a piece holds a buffer from its first block until it is verified and written,
 * and the torrent starts no new piece while its started pieces would exceed
 * `download.maxUnverifiedBytes` (TorrentPeers.newPieceAllowance; blocks of started pieces are still
 * requested, so this cannot deadlock). Buffers of verified or failed pieces are pooled for reuse up
 * to the same budget, so in steady state no piece buffer becomes garbage: a dropped ArrayBuffer is
 * freed only by a full GC, and between those the dropped ones made up half the download's peak RSS
 * (bench/download/RESULTS.md, session 5). `awaitingBytes` counts the complete ones.
 *
 * Bans: a failed piece whose blocks all came from one host counts against that host; after
 * `hashFailuresBeforeBan` such failures it is banned. For pieces with several contributors the
 * failed piece's block hashes are remembered per sender; when the piece later verifies, every
 * host whose block differs from the good one is banned at once (it certainly sent bad data) —
 * honest co-contributors are never blamed.
 *
 * Ownership: the assembly owns the piece buffers and the pool; the picker (the torrent's) owns piece
 * state, storage owns the files. A buffer handed to storage is not touched again until the write
 * settled.
 */
import type { IClock } from '../interfaces/clock.js'
import type { ReceivedRange } from '../interfaces/socket.js'
import type { Logger } from '../interfaces/logger.js'
import type { IPieceHasher } from '../metainfo/create-piece-hasher.js'
import type { DownloadSettings } from '../session/engine-settings.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import { toHex } from '../util/bytes.js'
import type { PickerPeer } from './peer-session.js'
import type { PiecePicker } from './piece-picker.js'
import type { PieceVerifier } from './piece-verifier.js'
import { SparseMap, SparseSet } from '../util/sparse-collections.js'

/** Blocks are 16 KiB; senders are remembered per block. */
const BLOCK_BYTES = 16_384

/**
 * True when `view` is over shared memory. A page that is not cross-origin isolated has no
 * `SharedArrayBuffer` global at all (referencing it throws), so test for the global first:
 * shared memory is an optimisation where it exists, never a requirement.
 */
function isShared (view: Uint8Array): boolean {
  return typeof SharedArrayBuffer === 'function' && view.buffer instanceof SharedArrayBuffer
}

/** Reused by {@link copyBlock}; blocks are at most 16 KiB (the picker refuses other lengths). */
let alignScratch = new Uint8Array(BLOCK_BYTES)

/**
 * Copies a received block into its piece buffer. When the piece buffer is shared memory (the
 * hasher's zero-copy buffers) and the block's view is not 8-byte aligned — socket chunks put
 * blocks at arbitrary offsets — V8 copies byte by byte: measured 1.6 GB/s against 7 GB/s, the
 * largest cost of receiving. Going through an aligned scratch buffer keeps both copies fast (5 GB/s).
 */
function copyBlock (target: Uint8Array, block: Uint8Array, offset: number): void {
  if ((block.byteOffset & 7) === 0 || !isShared(target)) {
    target.set(block, offset)
    return
  }
  if (alignScratch.length < block.length) alignScratch = new Uint8Array(block.length)
  const scratch = alignScratch.subarray(0, block.length)
  scratch.set(block)
  target.set(scratch, offset)
}

/** The torrent's session counters (shared, mutated in place by the assembly and the peers). */
export interface TorrentCounters {
  downloadedBytes: number
  uploadedBytes: number
  wastedBytes: number
  hashFailures: number
}

/** What the assembly needs from its torrent. Getters are read on use (the picker exists once the metadata does). */
export interface PieceAssemblyHost {
  readonly clock: IClock
  readonly hasher: IPieceHasher
  readonly log: Logger | undefined
  readonly counters: TorrentCounters
  /** Full piece length (the last piece may be shorter). */
  pieceLengthBytes: () => number
  picker: () => PiecePicker<PickerPeer>
  verifier: () => PieceVerifier
  storage: () => TorrentContentStorage
  downloadSettings: () => DownloadSettings
  /** Bumped by stop/fail: work of an older generation gives up. */
  generation: () => number
  /** A piece was verified, written and marked had: announce it (HAVE, 'piece-verified', finished?). */
  pieceVerified: (piece: number, firstBlockAtMs: number) => void
  hashFailed: (piece: number, hosts: string[]) => void
  ban: (host: string, reason: string) => void
  /** Fatal (a write failed): the torrent goes to state `error`. */
  fail: (error: unknown) => void
  /** Budget was freed: every peer may request again. */
  refillAll: () => void
}

/** A piece being assembled. */
interface PieceBuffer {
  data: Uint8Array
  /** Host that sent each block (for bans). */
  senders: Array<string | null>
  /**
   * Where each block's bytes are still kept by the transport that received them, when it keeps
   * them (ITcpSocket.receivedRange): storage can then have them written there. Null until a block
   * comes with one.
   */
  origins: Array<ReceivedRange | undefined> | null
  firstBlockAtMs: number
  /** Complete and handed to the verifier / disk. */
  busy: boolean
}

export class PieceAssembly {
  private readonly buffers = new SparseMap<number, PieceBuffer>()
  /**
   * Full-size piece buffers to reuse. Fresh memory costs a page fault per 4 KiB on first write,
   * which measured as the single largest cost of receiving blocks (≈ 1.2 GB/s vs ≈ 20 GB/s for a
   * copy into touched memory); bounded by POOL_MAX_BYTES and the unverified-bytes budget.
   */
  private readonly bufferPool: Uint8Array[] = []
  /** Failed pieces' block hashes per sender, for the smart ban: piece → block → host → sha1 hex. */
  private readonly suspectBlocks = new SparseMap<number, Map<number, Map<string, string>>>()
  private readonly hostFailures = new SparseMap<string, number>()
  private readonly pendingIo = new SparseSet<Promise<unknown>>()
  private awaiting = 0

  constructor (private readonly host: PieceAssemblyHost) {}

  /** Complete pieces waiting for the hasher or the disk, in bytes. */
  get awaitingBytes (): number { return this.awaiting }

  /** Pieces being assembled in memory (complete ones in flight included). */
  get inFlightPieces (): number { return this.buffers.size }

  /** Checks and writes in flight (stop and recheck wait for them before touching files). */
  pending (): Array<Promise<unknown>> { return [...this.pendingIo] }

  /**
   * Stores a block the picker accepted; `pieceComplete` (the picker's verdict) starts the check.
   * Copies `data` (the peer's socket memory is lent only for the call).
   */
  addBlock (piece: number, begin: number, data: Uint8Array, sender: string, pieceComplete: boolean, origin?: ReceivedRange): void {
    let buf = this.buffers.get(piece)
    if (buf === undefined) {
      const length = this.host.verifier().pieceLength(piece)
      buf = {
        data: this.takeBuffer(length),
        senders: new Array<string | null>(Math.ceil(length / BLOCK_BYTES)).fill(null),
        firstBlockAtMs: this.host.clock.now(),
        busy: false,
        origins: null
      }
      this.buffers.set(piece, buf)
    }
    copyBlock(buf.data, data, begin)
    buf.senders[begin / BLOCK_BYTES] = sender
    if (origin !== undefined || buf.origins !== null) {
      buf.origins ??= new Array<ReceivedRange | undefined>(buf.senders.length)
      buf.origins[begin / BLOCK_BYTES] = origin
    }
    if (pieceComplete) this.completePiece(piece, buf)
  }

  /** Leaving the swarm: blocks of unfinished pieces are dropped (their requests went with the peers). */
  dropUnfinished (): void {
    for (const [piece, buf] of this.buffers) {
      if (buf.busy) continue
      this.buffers.delete(piece)
      this.recycleBuffer(buf.data)
    }
  }

  /** Recheck: every piece starts over (writes in flight have settled). */
  clearBuffers (): void {
    this.buffers.clear()
  }

  /** Stopped: forget buffers, the pool, the budget and the smart-ban suspects. */
  reset (): void {
    this.buffers.clear()
    this.bufferPool.length = 0
    this.awaiting = 0
    this.suspectBlocks.clear()
  }

  /** A piece buffer: reused when one is idle, else from the hasher (shared memory it hashes in place). */
  private takeBuffer (length: number): Uint8Array {
    if (length === this.host.pieceLengthBytes()) {
      const pooled = this.bufferPool.pop()
      if (pooled !== undefined) return pooled
    }
    return this.host.hasher.allocate?.(length) ?? new Uint8Array(length)
  }

  /**
   * Returns a buffer nobody uses any more (verified and written, or failed). Its stale bytes are
   * harmless: a piece completes only once every block was written into it again.
   */
  private recycleBuffer (data: Uint8Array): void {
    if (data.length !== this.host.pieceLengthBytes()) return
    // Idle and live buffers together stay within the budget: more are only there after it shrank.
    const live = this.buffers.size * data.length
    if (live + (this.bufferPool.length + 1) * data.length > Math.max(this.host.downloadSettings().maxUnverifiedBytes, data.length)) return
    this.bufferPool.push(data)
  }

  private completePiece (piece: number, buf: PieceBuffer): void {
    buf.busy = true
    const length = buf.data.length
    this.awaiting += length
    const gen = this.host.generation()
    const io = this.verifyAndStore(piece, buf, gen).catch((error: unknown) => {
      if (gen === this.host.generation()) this.host.fail(error)
    }).finally(() => {
      this.awaiting -= length
      this.pendingIo.delete(io)
      if (gen === this.host.generation()) this.host.refillAll()
    })
    this.pendingIo.add(io)
  }

  private async verifyAndStore (piece: number, buf: PieceBuffer, gen: number): Promise<void> {
    const storage = this.host.storage()
    // Checked and written where the received bytes are held, when they all are (the io-daemon
    // bridge): the page neither hashes nor sends them. Else checked here, then written.
    const sha1 = buf.origins !== null && !buf.origins.includes(undefined) ? this.host.verifier().sha1Only(piece) : null
    const held = sha1 !== null ? await storage.writeVerifiedPiece(piece, buf.origins!, sha1) : 'unavailable'
    if (gen !== this.host.generation()) return
    if (held === 'mismatch') {
      await this.onHashFailed(piece, buf, 'failed')
      return
    }
    if (held === 'unavailable') {
      const check = await this.host.verifier().verify(piece, buf.data)
      if (gen !== this.host.generation()) return
      if (check !== 'ok') {
        await this.onHashFailed(piece, buf, check)
        return
      }
      await storage.writePiece(piece, buf.data, buf.origins ?? undefined)
      if (gen !== this.host.generation()) return
    }
    this.buffers.delete(piece)
    const picker = this.host.picker()
    if (!storage.isPieceStored(piece)) {
      // Skipped while in flight: its skipped file's bytes were dropped, so it is not had.
      this.recycleBuffer(buf.data)
      picker.pieceFailed(piece)
      return
    }
    const suspects = this.suspectBlocks.get(piece)
    if (suspects !== undefined) {
      this.suspectBlocks.delete(piece)
      await this.smartBan(buf.data, suspects)
    }
    this.recycleBuffer(buf.data)
    picker.pieceVerified(piece)
    // Done downloading: idle buffers would only sit there while the torrent seeds.
    if (picker.isFinished) this.bufferPool.length = 0
    this.host.pieceVerified(piece, buf.firstBlockAtMs)
  }

  private async onHashFailed (piece: number, buf: PieceBuffer, check: 'failed' | 'unverifiable'): Promise<void> {
    const { counters } = this.host
    counters.hashFailures++
    counters.wastedBytes += buf.data.length
    const hosts = [...new Set(buf.senders.filter((h): h is string => h !== null))]
    this.host.log?.warn('piece failed its hash check', { piece, hosts, check })
    // Remember what each sender sent, block by block, before the buffer is dropped.
    if (hosts.length > 1) {
      const blocks = this.suspectBlocks.get(piece) ?? new Map<number, Map<string, string>>()
      for (let b = 0; b < buf.senders.length; b++) {
        const host = buf.senders[b]
        if (host === null || host === undefined) continue
        const digest = await this.host.hasher.digest('sha1', buf.data.subarray(b * BLOCK_BYTES, (b + 1) * BLOCK_BYTES))
        const perHost = blocks.get(b) ?? new Map<string, string>()
        perHost.set(host, toHex(digest))
        blocks.set(b, perHost)
      }
      this.suspectBlocks.set(piece, blocks)
    }
    this.buffers.delete(piece)
    this.recycleBuffer(buf.data)
    this.host.picker().pieceFailed(piece)
    this.host.hashFailed(piece, hosts)
    if (hosts.length === 1) {
      const host = hosts[0]!
      const n = (this.hostFailures.get(host) ?? 0) + 1
      this.hostFailures.set(host, n)
      if (n >= this.host.downloadSettings().hashFailuresBeforeBan) this.host.ban(host, `sole sender of ${n} pieces that failed their hash check`)
    }
  }

  /** A once-failed piece verified: ban every host whose remembered block differs from the good one. */
  private async smartBan (good: Uint8Array, suspects: Map<number, Map<string, string>>): Promise<void> {
    for (const [block, perHost] of suspects) {
      const digest = toHex(await this.host.hasher.digest('sha1', good.subarray(block * BLOCK_BYTES, (block + 1) * BLOCK_BYTES)))
      for (const [host, sent] of perHost) {
        if (sent !== digest) this.host.ban(host, 'sent a block that differs from the verified piece')
      }
    }
  }
}
