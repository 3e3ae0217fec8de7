/**
 * Piece picker: decides which blocks to request from which peer (seed 001's PieceManager plus
 * seed 002's "synchronizer"). It owns the torrent's piece state; peers only report what they have
 * and what they delivered, and ask for work through {@link PiecePicker.pickBlocks}.
 *
 * Order of preference for one peer (the first that yields blocks wins, then the next fills the rest):
 * 1. time-critical pieces, earliest deadline first (streaming);
 * 2. pieces already started (finishing them frees memory and lets us serve them sooner);
 * 3. pieces the peer suggested (BEP 6: probably in its cache);
 * 4. new pieces: random until `randomFirstPieces` are verified (so we have something to trade
 *    quickly; the rarest piece is slow to get), then rarest-first by priority class, or index order
 *    in sequential mode;
 * 5. end-game: when every remaining block is already requested, duplicate requests (bounded per
 *    block) so one slow peer does not hold up the last piece.
 * While the peer chokes us only its allowed-fast pieces (BEP 6) are considered.
 *
 * Rarest-first without scanning every piece: {@link RarityOrder} keeps pieces sorted by priority
 * class and availability in buckets (libtorrent's layout), O(1) per HAVE. Ties within a bucket are
 * broken by starting the scan at a random offset ({@link IRandom}, so tests are deterministic).
 *
 * Memory: a few typed arrays of `pieceCount` entries (~13 bytes per piece) plus one
 * {@link PieceProgress} per piece in flight; never anything per block of the whole torrent.
 *
 * Everything here is synchronous and allocation-light: it runs on the hot path (STYLE.md §5).
 */
import { LodestoneError } from '../errors.js'
import type { IRandom } from '../interfaces/random.js'
import type { BlockRequest } from '../protocol/wire-messages.js'
import { Bitfield } from '../util/bitfield.js'
import { defaultPiecePickerSettings, validatePiecePickerSettings, type PiecePickerSettings } from './piece-picker-settings.js'
import { DEFAULT_PIECE_PRIORITY, checkPiecePriority } from './piece-priority.js'
import { BLOCK_LENGTH_BYTES, BlockState, PieceProgress, blockCountOf } from './piece-state.js'
import { RarityOrder } from './rarity-order.js'
import { SparseMap } from '../util/sparse-collections.js'

/** BEP 6 suggest / allowed-fast lists kept per peer; older entries are dropped beyond these. */
const MAX_SUGGESTED_PER_PEER = 32
const MAX_ALLOWED_FAST_PER_PEER = 64

/** The piece space the picker works over; `TorrentMetainfo` satisfies it. */
export interface PieceSpace {
  pieceCount: number
  pieceLengthBytes: number
  totalLengthBytes: number
}

export interface PiecePickerDeps {
  /** Tie-breaks and random-first picks. */
  random: IRandom
}

/** One block to request: BEP 3 `request` fields (the wire codec's type). */
export type { BlockRequest }

export interface PickOptions {
  /** The peer chokes us: only its allowed-fast pieces (BEP 6) may be requested. @default false */
  choked?: boolean
  /**
   * Pieces this pick may start (allowed-fast, suggested or new ones); blocks of started pieces,
   * time-critical pieces (a stream bounds those itself) and end-game duplicates are not counted.
   * The torrent's memory budget: a started piece holds a buffer until it is verified and written.
   * @default Infinity
   */
  maxNewPieces?: number
}

/** What {@link PiecePicker.blockReceived} decided about one block. */
export interface BlockReceivedResult<P> {
  /** True: store the data. False: late or duplicate (already received, piece done or reset): drop it. */
  accepted: boolean
  /** Other peers the block was also requested from (end-game): send them `cancel`. Already forgotten here. */
  cancel: P[]
  /** Every block of the piece is now received: hash it, then call pieceVerified or pieceFailed. */
  pieceComplete: boolean
}

/**
 * - `missing`: not started;
 * - `partial`: started, some blocks still free;
 * - `requested`: every block requested or received, some still outstanding;
 * - `downloaded`: every block received, waiting for the hash check;
 * - `verified`: we have it.
 */
export type PieceStatus = 'missing' | 'partial' | 'requested' | 'downloaded' | 'verified'

interface PeerEntry {
  /** Pieces the peer has (null: none known yet, or a seed). */
  has: Bitfield | null
  /** Sent a have-all or a full bitfield: counted in `seedCount`, not per piece. */
  seed: boolean
  /** Pieces the peer has that we want (priority > 0, not have); meaningless for seeds. */
  wanted: number
  /** Our outstanding requests to this peer, as block ids (`piece × maxBlocksPerPiece + block`). */
  readonly requests: Set<number>
  readonly allowedFast: number[]
  readonly suggested: number[]
}

/**
 * Piece and block state of one torrent, and the choice of what to request next.
 *
 * `P` is the caller's peer key: any value with identity (the PeerConnection itself, or an id).
 * Peers are registered on first mention; {@link removePeer} forgets one.
 */
export class PiecePicker<P = unknown> {
  private readonly settings: PiecePickerSettings
  readonly pieceCount: number
  private readonly pieceLengthBytes: number
  private readonly lastPieceLengthBytes: number
  /** Blocks in a full piece; block ids are `piece × maxBlocksPerPiece + block`. */
  private readonly maxBlocksPerPiece: number

  private readonly have: Bitfield
  private readonly priority: Uint8Array
  private seedCount = 0
  /** Pieces with priority > 0 that we do not have. */
  private wantedRemaining: number

  private readonly partials = new SparseMap<number, PieceProgress<P>>()
  private readonly peers = new SparseMap<P, PeerEntry>()
  /** Time-critical pieces, earliest deadline first. */
  private deadlines: Array<{ piece: number, deadlineMs: number }> = []
  /** No piece below this index is missing (sequential mode's starting point). */
  private sequentialCursor = 0

  /** Wanted pieces by priority class and availability (see rarity-order.ts). */
  private readonly rarity: RarityOrder

  /**
   * @param space piece count and lengths (a `TorrentMetainfo` works).
   * @param options.have pieces already verified (resume data or a recheck).
   * @throws LodestoneError ARGUMENT_INVALID when the piece space is inconsistent; SETTINGS_INVALID for bad settings.
   */
  constructor (
    space: PieceSpace,
    private readonly deps: PiecePickerDeps,
    settings: Partial<PiecePickerSettings> = {},
    options: { have?: Bitfield | Uint8Array } = {}
  ) {
    const { pieceCount, pieceLengthBytes, totalLengthBytes } = space
    const lastLength = totalLengthBytes - (pieceCount - 1) * pieceLengthBytes
    if (!Number.isSafeInteger(pieceCount) || pieceCount < 0 || !Number.isSafeInteger(pieceLengthBytes) || pieceLengthBytes <= 0 ||
      (pieceCount > 0 && (lastLength <= 0 || lastLength > pieceLengthBytes)) || (pieceCount === 0 && totalLengthBytes !== 0)) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'space', reason: `inconsistent piece space ${pieceCount} × ${pieceLengthBytes} for ${totalLengthBytes} bytes` })
    }
    this.settings = validatePiecePickerSettings({ ...defaultPiecePickerSettings, ...settings })
    this.pieceCount = pieceCount
    this.pieceLengthBytes = pieceLengthBytes
    this.lastPieceLengthBytes = pieceCount > 0 ? lastLength : 0
    this.maxBlocksPerPiece = blockCountOf(pieceLengthBytes)
    const have = options.have
    this.have = have === undefined ? new Bitfield(pieceCount) : new Bitfield(pieceCount, have instanceof Bitfield ? have.bytes : have)
    this.priority = new Uint8Array(pieceCount).fill(DEFAULT_PIECE_PRIORITY)
    this.rarity = new RarityOrder(pieceCount, this.have, this.priority)
    this.wantedRemaining = pieceCount - this.have.count
  }

  // ---------------------------------------------------------------- settings, layout

  /** Changes settings at run time (e.g. switching sequential mode on for streaming). */
  updateSettings (patch: Partial<PiecePickerSettings>): void {
    Object.assign(this.settings, validatePiecePickerSettings({ ...this.settings, ...patch }))
  }

  /** Length in bytes of `piece` (the last one may be short). */
  pieceLength (piece: number): number {
    return piece === this.pieceCount - 1 ? this.lastPieceLengthBytes : this.pieceLengthBytes
  }

  // ---------------------------------------------------------------- our pieces

  hasPiece (piece: number): boolean {
    return this.have.get(piece)
  }

  /** A copy of our bitfield (for BITFIELD messages and resume data). */
  bitfield (): Bitfield {
    return this.have.clone()
  }

  get haveCount (): number {
    return this.have.count
  }

  /** Every piece verified: we are a seed. */
  get isComplete (): boolean {
    return this.have.isComplete
  }

  /** Every wanted piece (priority > 0) verified: the download is finished, maybe partially. */
  get isFinished (): boolean {
    return this.wantedRemaining === 0
  }

  /** Pieces with priority > 0 still missing. */
  get remainingPieceCount (): number {
    return this.wantedRemaining
  }

  /** Pieces started but not yet verified (each holds a {@link PieceProgress}). */
  get inFlightPieceCount (): number {
    return this.partials.size
  }

  /**
   * Started pieces being worked on: some block requested, or every block in (waiting for the
   * check). A started piece with free blocks and none requested waits for a peer that has it
   * (started pieces come first in every pick); it is not counted, so that pieces no connected
   * peer can finish (their senders left) never use up the torrent's memory budget and stall it.
   */
  get activePieceCount (): number {
    let n = 0
    for (const prog of this.partials.values()) if (prog.requestedCount > 0 || prog.freeCount === 0) n++
    return n
  }

  pieceStatus (piece: number): PieceStatus {
    if (this.have.get(piece)) return 'verified'
    const prog = this.partials.get(piece)
    if (prog === undefined) return 'missing'
    if (prog.isComplete) return 'downloaded'
    return prog.freeCount > 0 ? 'partial' : 'requested'
  }

  /** True when every remaining wanted block is requested: duplicates are allowed now. */
  get isEndGame (): boolean {
    if (this.wantedRemaining === 0) return false
    let wantedInFlight = 0
    for (const [piece, prog] of this.partials) {
      if (this.priority[piece] === 0) continue
      if (prog.freeCount > 0) return false
      wantedInFlight++
    }
    return wantedInFlight === this.wantedRemaining
  }

  /**
   * Marks a piece verified (hash check passed). Returns the peers that delivered its blocks, so the
   * torrent can credit them. Outstanding duplicate requests for it are forgotten: their data will
   * come back as not accepted.
   */
  pieceVerified (piece: number): P[] {
    this.checkPiece(piece)
    const contributors = this.dropProgress(piece)
    this.setHave(piece)
    return contributors
  }

  /**
   * The piece failed its hash check (or could not be written): all its blocks become missing again.
   * Returns the peers that delivered blocks of it, so the torrent can ban repeat offenders.
   */
  pieceFailed (piece: number): P[] {
    this.checkPiece(piece)
    return this.dropProgress(piece)
  }

  /** Marks a piece as had without download (resume, recheck, or data found on disk). */
  markHave (piece: number): void {
    this.pieceVerified(piece)
  }

  /** Marks a had piece missing again (recheck found it corrupt, file deleted). */
  markMissing (piece: number): void {
    this.checkPiece(piece)
    if (!this.have.get(piece)) return
    const oldClass = this.rarity.classOf(piece)
    this.have.set(piece, false)
    this.rarity.moveClass(piece, oldClass)
    if (piece < this.sequentialCursor) this.sequentialCursor = piece
    if (this.priority[piece] !== 0) this.adjustWanted(piece, +1)
  }

  // ---------------------------------------------------------------- priorities and deadlines

  getPiecePriority (piece: number): number {
    this.checkPiece(piece)
    return this.priority[piece]!
  }

  /**
   * Sets one piece's priority (0 = skip .. 7 = top). Requests already out for a piece set to 0 stay
   * valid; no new ones are made.
   * @throws LodestoneError ARGUMENT_INVALID for a priority outside 0..7.
   */
  setPiecePriority (piece: number, priority: number): void {
    this.checkPiece(piece)
    checkPiecePriority(priority)
    const old = this.priority[piece]!
    if (old === priority) return
    const oldClass = this.rarity.classOf(piece)
    this.priority[piece] = priority
    this.rarity.moveClass(piece, oldClass)
    if (this.have.get(piece)) return
    if (old === 0) this.adjustWanted(piece, +1)
    else if (priority === 0) this.adjustWanted(piece, -1)
  }

  /**
   * Sets every piece's priority at once (how file priorities land: the torrent maps them onto
   * pieces, a piece taking the highest priority of the files it touches). O(pieces × peers).
   * @throws LodestoneError ARGUMENT_INVALID for a wrong length or a priority outside 0..7.
   */
  setPiecePriorities (priorities: ArrayLike<number>): void {
    if (priorities.length !== this.pieceCount) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'priorities', reason: `${priorities.length} priorities for ${this.pieceCount} pieces` })
    }
    for (let i = 0; i < priorities.length; i++) checkPiecePriority(priorities[i]!)
    this.priority.set(priorities)
    this.rarity.markDirty()
    this.recountWanted()
  }

  /**
   * Makes a piece time-critical: it is picked before anything else, earliest deadline first
   * (streaming). Pieces with priority 0 are still never picked. Cleared when the piece is verified.
   * @param deadlineMs any monotonic time; only the order between deadlines matters here.
   */
  setPieceDeadline (piece: number, deadlineMs: number): void {
    this.checkPiece(piece)
    if (this.have.get(piece)) return
    this.deadlines = this.deadlines.filter((d) => d.piece !== piece)
    const at = this.deadlines.findIndex((d) => d.deadlineMs > deadlineMs)
    const entry = { piece, deadlineMs }
    if (at < 0) this.deadlines.push(entry)
    else this.deadlines.splice(at, 0, entry)
  }

  clearPieceDeadline (piece: number): void {
    this.deadlines = this.deadlines.filter((d) => d.piece !== piece)
  }

  clearDeadlines (): void {
    this.deadlines = []
  }

  // ---------------------------------------------------------------- peers' pieces

  /**
   * The peer's BITFIELD (BEP 3). A full bitfield counts it as a seed. A second call replaces the first.
   * @throws LodestoneError ARGUMENT_INVALID when a Bitfield of the wrong length is given.
   */
  peerBitfield (peer: P, bits: Bitfield | Uint8Array): void {
    if (bits instanceof Bitfield && bits.length !== this.pieceCount) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'bits', reason: `bitfield of ${bits.length} bits for ${this.pieceCount} pieces` })
    }
    const e = this.entry(peer)
    this.forgetAvailability(e)
    const has = new Bitfield(this.pieceCount, bits instanceof Bitfield ? bits.bytes : bits)
    if (has.isComplete && this.pieceCount > 0) {
      e.seed = true
      this.seedCount++
      return
    }
    e.has = has
    forEachSetBit(has.bytes, this.pieceCount, (piece) => {
      this.rarity.incAvail(piece)
      if (this.isWanted(piece)) e.wanted++
    })
  }

  /** The peer's HAVE. Returns false when it was already known (or `piece` is out of range). */
  peerHave (peer: P, piece: number): boolean {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) return false
    const e = this.entry(peer)
    if (e.seed) return false
    e.has ??= new Bitfield(this.pieceCount)
    if (!e.has.set(piece)) return false
    this.rarity.incAvail(piece)
    if (this.isWanted(piece)) e.wanted++
    return true
  }

  /**
   * BEP 54 DONTHAVE: the peer lost `piece`. A seed becomes a peer with every other piece. Returns
   * false when the peer did not have it (or `piece` is out of range).
   */
  peerDontHave (peer: P, piece: number): boolean {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) return false
    const e = this.entry(peer)
    if (e.seed) {
      const rest = new Bitfield(this.pieceCount)
      rest.setAll()
      rest.set(piece, false)
      this.peerBitfield(peer, rest)
      return true
    }
    if (e.has === null || !e.has.set(piece, false)) return false
    this.rarity.decAvail(piece)
    if (this.isWanted(piece)) e.wanted--
    return true
  }

  /** BEP 6 HAVE ALL: the peer is a seed. */
  peerHaveAll (peer: P): void {
    const e = this.entry(peer)
    if (e.seed) return
    this.forgetAvailability(e)
    e.seed = true
    this.seedCount++
  }

  /** BEP 6 HAVE NONE (also resets whatever was known). */
  peerHaveNone (peer: P): void {
    this.forgetAvailability(this.entry(peer))
  }

  /** BEP 6 SUGGEST PIECE: prefer this piece when starting a new one for this peer. */
  peerSuggest (peer: P, piece: number): void {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) return
    pushBounded(this.entry(peer).suggested, piece, MAX_SUGGESTED_PER_PEER)
  }

  /** BEP 6 ALLOWED FAST: this piece may be requested from the peer while it chokes us. */
  peerAllowedFast (peer: P, piece: number): void {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) return
    pushBounded(this.entry(peer).allowedFast, piece, MAX_ALLOWED_FAST_PER_PEER)
  }

  /** The peer left: its pieces no longer count and its outstanding requests become pickable again. */
  removePeer (peer: P): void {
    const e = this.peers.get(peer)
    if (e === undefined) return
    this.cancelPeerRequests(peer)
    this.forgetAvailability(e)
    this.peers.delete(peer)
  }

  /** How many connected peers have `piece` (seeds included). */
  availability (piece: number): number {
    return (this.rarity.avail[piece] ?? 0) + this.seedCount
  }

  /** True when the peer has a piece we want: we should be (or stay) interested. */
  isInteresting (peer: P): boolean {
    const e = this.peers.get(peer)
    if (e === undefined) return false
    return e.seed ? this.wantedRemaining > 0 : e.wanted > 0
  }

  /** Requests we have out to this peer, per the picker's books. */
  peerRequestCount (peer: P): number {
    return this.peers.get(peer)?.requests.size ?? 0
  }

  // ---------------------------------------------------------------- requests

  /**
   * Up to `count` blocks to request from `peer` now, recorded as requested from it. Returns fewer
   * (maybe none) when the peer has nothing more we need; call again when its pipeline drains.
   */
  pickBlocks (peer: P, count: number, options: PickOptions = {}): BlockRequest[] {
    const out: BlockRequest[] = []
    if (count <= 0 || this.wantedRemaining === 0) return out
    const e = this.entry(peer)
    if (!e.seed && e.has === null) return out
    this.rarity.ensureOrder()

    let newPieces = options.maxNewPieces ?? Infinity
    if (options.choked === true) {
      for (const piece of e.allowedFast) {
        if (out.length >= count) break
        if (!this.isWanted(piece) || !this.peerHas(e, piece)) continue
        if (!this.partials.has(piece)) {
          if (newPieces <= 0) continue
          newPieces--
        }
        this.takeFree(this.progressOf(piece), peer, e, out, count)
      }
      return out
    }

    for (const { piece } of this.deadlines) {
      if (out.length >= count) return out
      if (this.isWanted(piece) && this.peerHas(e, piece)) this.takeFree(this.progressOf(piece), peer, e, out, count)
    }

    for (const [piece, prog] of this.partials) {
      if (out.length >= count) return out
      if (prog.freeCount > 0 && this.priority[piece] !== 0 && this.peerHas(e, piece)) this.takeFree(prog, peer, e, out, count)
    }

    while (e.suggested.length > 0 && out.length < count && newPieces > 0) {
      const piece = e.suggested.shift()!
      if (this.isNewCandidate(e, piece)) {
        newPieces--
        this.takeFree(this.progressOf(piece), peer, e, out, count)
      }
    }

    while (out.length < count && newPieces > 0) {
      const piece = this.selectNewPiece(e)
      if (piece < 0) break
      newPieces--
      this.takeFree(this.progressOf(piece), peer, e, out, count)
    }

    if (out.length < count && this.isEndGame) this.takeDuplicates(peer, e, out, count)
    return out
  }

  /**
   * Web seeds (BEP 19): one contiguous run of blocks of at most `maxBytes` (at least one piece),
   * recorded as requested from `peer`, so one HTTP range request serves it. Whole pieces first —
   * a time-critical one, else a new piece by the usual order (rarest-first: what the peers lack),
   * extended forward over the following new pieces — so a web seed never splits a piece with the
   * peers. With no new piece left, the free blocks of a started piece; in end-game, blocks still
   * outstanding at others (the first copy to arrive wins, as with peers). Empty: nothing to do.
   */
  pickRun (peer: P, maxBytes: number): BlockRequest[] {
    const out: BlockRequest[] = []
    if (this.wantedRemaining === 0) return out
    const e = this.entry(peer)
    if (!e.seed && e.has === null) return out
    this.rarity.ensureOrder()
    let start = -1
    for (const { piece } of this.deadlines) {
      if (this.isNewCandidate(e, piece)) { start = piece; break }
    }
    if (start < 0) start = this.selectNewPiece(e)
    if (start >= 0) {
      let bytes = 0
      for (let piece = start; piece < this.pieceCount && (piece === start || (bytes + this.pieceLength(piece) <= maxBytes && this.isNewCandidate(e, piece))); piece++) {
        bytes += this.pieceLength(piece)
        this.takeFree(this.progressOf(piece), peer, e, out, Infinity)
      }
      return out
    }
    const endGame = this.isEndGame
    for (const [piece, prog] of this.partials) {
      if (this.priority[piece] === 0 || !this.peerHas(e, piece)) continue
      // The first run of blocks this peer may take: free ones, or in end-game requested ones
      // below the per-block bound that it has not asked for yet.
      for (let block = 0; block < prog.blockCount; block++) {
        const state = prog.stateOf(block)
        const ok = state === BlockState.free ||
          (endGame && state === BlockState.requested && !prog.isRequestedBy(block, peer) && prog.requesterCount(block) < this.settings.endGameMaxRequestsPerBlock)
        if (ok) this.request(prog, block, peer, e, out)
        else if (out.length > 0) break
      }
      if (out.length > 0) return out
    }
    return out
  }

  /**
   * A block arrived from `peer`. Accepted when its piece is in flight and the block is not received
   * yet, whoever it was requested from (a late answer to a timed-out request is still good data).
   * Lengths and offsets that do not match a block are refused.
   */
  blockReceived (peer: P, piece: number, begin: number, lengthBytes?: number): BlockReceivedResult<P> {
    const e = this.peers.get(peer)
    const prog = this.partials.get(piece)
    const block = begin / BLOCK_LENGTH_BYTES
    const valid = Number.isInteger(block) && block >= 0 && block < this.maxBlocksPerPiece && Number.isInteger(piece) && piece >= 0 && piece < this.pieceCount
    if (valid) e?.requests.delete(piece * this.maxBlocksPerPiece + block)
    if (!valid || prog === undefined || block >= prog.blockCount || (lengthBytes !== undefined && lengthBytes !== prog.blockLength(block)) ||
      prog.stateOf(block) === BlockState.received) {
      if (valid && prog !== undefined && block < prog.blockCount) prog.release(block, peer)
      return { accepted: false, cancel: [], pieceComplete: false }
    }
    const cancel = prog.receive(block, peer)
    const id = piece * this.maxBlocksPerPiece + block
    for (const other of cancel) this.peers.get(other)?.requests.delete(id)
    return { accepted: true, cancel, pieceComplete: prog.isComplete }
  }

  /**
   * A request to `peer` will not be answered (time-out, BEP 6 reject, choke without the fast
   * extension): the block becomes pickable again unless another peer has it requested.
   * Returns true when the block became free.
   */
  blockRequestFailed (peer: P, piece: number, begin: number): boolean {
    const block = begin / BLOCK_LENGTH_BYTES
    if (!Number.isInteger(block) || block < 0 || block >= this.maxBlocksPerPiece) return false
    this.peers.get(peer)?.requests.delete(piece * this.maxBlocksPerPiece + block)
    const prog = this.partials.get(piece)
    if (prog === undefined || block >= prog.blockCount) return false
    return prog.release(block, peer)
  }

  /**
   * Forgets every request out to `peer` (it choked us without the fast extension, or it is being
   * dropped) and returns them, e.g. to send `cancel`s. The blocks become pickable again.
   */
  cancelPeerRequests (peer: P): BlockRequest[] {
    const e = this.peers.get(peer)
    if (e === undefined || e.requests.size === 0) return []
    const out: BlockRequest[] = []
    for (const id of e.requests) {
      const piece = Math.floor(id / this.maxBlocksPerPiece)
      const block = id - piece * this.maxBlocksPerPiece
      const prog = this.partials.get(piece)
      if (prog === undefined) continue
      prog.release(block, peer)
      out.push({ piece, begin: block * BLOCK_LENGTH_BYTES, length: prog.blockLength(block) })
    }
    e.requests.clear()
    return out
  }

  // ---------------------------------------------------------------- internals: picking

  private selectNewPiece (e: PeerEntry): number {
    if (this.settings.sequential) return this.selectSequential(e)
    if (this.have.count < this.settings.randomFirstPieces) {
      const piece = this.selectRandom(e)
      if (piece >= 0) return piece
    }
    return this.selectRarest(e)
  }

  /** Lowest-index wanted piece the peer has. */
  private selectSequential (e: PeerEntry): number {
    while (this.sequentialCursor < this.pieceCount && this.have.get(this.sequentialCursor)) this.sequentialCursor++
    for (let piece = this.sequentialCursor; piece < this.pieceCount; piece++) {
      if (this.isNewCandidate(e, piece)) return piece
    }
    return -1
  }

  /** A wanted, unstarted piece the peer has, from a random starting point. */
  private selectRandom (e: PeerEntry): number {
    const n = this.pieceCount
    const start = Math.floor(this.deps.random.next() * n)
    for (let i = 0; i < n; i++) {
      const piece = start + i < n ? start + i : start + i - n
      if (this.isNewCandidate(e, piece)) return piece
    }
    return -1
  }

  /** Highest priority class first, then fewest peers; random among equals. */
  private selectRarest (e: PeerEntry): number {
    return this.rarity.pickRarest(this.deps.random, (piece) => !this.partials.has(piece) && this.peerHas(e, piece))
  }

  /** End-game: blocks requested from others (fewest requesters first), never twice from one peer. */
  private takeDuplicates (peer: P, e: PeerEntry, out: BlockRequest[], count: number): void {
    const max = this.settings.endGameMaxRequestsPerBlock
    for (let level = 1; level < max; level++) {
      for (const [piece, prog] of this.partials) {
        if (this.priority[piece] === 0 || prog.requestedCount === 0 || !this.peerHas(e, piece)) continue
        for (let block = 0; block < prog.blockCount; block++) {
          if (out.length >= count) return
          if (prog.requesterCount(block) !== level || prog.isRequestedBy(block, peer)) continue
          this.request(prog, block, peer, e, out)
        }
      }
    }
  }

  private takeFree (prog: PieceProgress<P>, peer: P, e: PeerEntry, out: BlockRequest[], count: number): void {
    if (prog.freeCount === 0) return
    for (let block = 0; block < prog.blockCount && out.length < count; block++) {
      if (prog.stateOf(block) === BlockState.free) this.request(prog, block, peer, e, out)
    }
  }

  private request (prog: PieceProgress<P>, block: number, peer: P, e: PeerEntry, out: BlockRequest[]): void {
    prog.request(block, peer)
    e.requests.add(prog.piece * this.maxBlocksPerPiece + block)
    out.push({ piece: prog.piece, begin: block * BLOCK_LENGTH_BYTES, length: prog.blockLength(block) })
  }

  private progressOf (piece: number): PieceProgress<P> {
    let prog = this.partials.get(piece)
    if (prog === undefined) {
      prog = new PieceProgress<P>(piece, this.pieceLength(piece))
      this.partials.set(piece, prog)
    }
    return prog
  }

  private isNewCandidate (e: PeerEntry, piece: number): boolean {
    return this.isWanted(piece) && !this.partials.has(piece) && this.peerHas(e, piece)
  }

  private isWanted (piece: number): boolean {
    return this.priority[piece] !== 0 && !this.have.get(piece)
  }

  private peerHas (e: PeerEntry, piece: number): boolean {
    return e.seed || (e.has !== null && e.has.get(piece))
  }

  // ---------------------------------------------------------------- internals: state

  private entry (peer: P): PeerEntry {
    let e = this.peers.get(peer)
    if (e === undefined) {
      e = { has: null, seed: false, wanted: 0, requests: new Set(), allowedFast: [], suggested: [] }
      this.peers.set(peer, e)
    }
    return e
  }

  /** Removes the peer's pieces from the availability counts. */
  private forgetAvailability (e: PeerEntry): void {
    if (e.seed) {
      e.seed = false
      this.seedCount--
    }
    if (e.has !== null) forEachSetBit(e.has.bytes, this.pieceCount, (piece) => { this.rarity.decAvail(piece) })
    e.has = null
    e.wanted = 0
  }

  private dropProgress (piece: number): P[] {
    const prog = this.partials.get(piece)
    if (prog === undefined) return []
    for (const [block, peer] of prog.outstanding()) this.peers.get(peer)?.requests.delete(piece * this.maxBlocksPerPiece + block)
    this.partials.delete(piece)
    return prog.contributors()
  }

  private setHave (piece: number): void {
    if (this.have.get(piece)) return
    const oldClass = this.rarity.classOf(piece)
    const wasWanted = this.priority[piece] !== 0
    this.have.set(piece)
    this.rarity.moveClass(piece, oldClass)
    if (wasWanted) this.adjustWanted(piece, -1)
    if (this.deadlines.length > 0) this.clearPieceDeadline(piece)
  }

  /** `piece` became wanted (+1) or unwanted (-1): update the totals and each peer's interest count. */
  private adjustWanted (piece: number, delta: 1 | -1): void {
    this.wantedRemaining += delta
    for (const e of this.peers.values()) {
      if (e.has !== null && e.has.get(piece)) e.wanted += delta
    }
  }

  private recountWanted (): void {
    let wanted = 0
    for (let piece = 0; piece < this.pieceCount; piece++) if (this.isWanted(piece)) wanted++
    this.wantedRemaining = wanted
    for (const e of this.peers.values()) {
      e.wanted = 0
      if (e.has !== null) forEachSetBit(e.has.bytes, this.pieceCount, (piece) => { if (this.isWanted(piece)) e.wanted++ })
    }
  }

  /** Test hook: verifies the rarity order invariants; returns a reason or null. */
  checkInvariants (): string | null {
    return this.rarity.checkInvariants()
  }

  private checkPiece (piece: number): void {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'piece', reason: `piece ${piece} outside 0..${this.pieceCount - 1}` })
    }
  }
}

function pushBounded (list: number[], value: number, max: number): void {
  if (list.includes(value)) return
  list.push(value)
  if (list.length > max) list.shift()
}

/** Calls `fn` for each set bit below `length`, skipping zero bytes (fast for sparse bitfields). */
function forEachSetBit (bytes: Uint8Array, length: number, fn: (index: number) => void): void {
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!
    if (byte === 0) continue
    for (let bit = 0; bit < 8; bit++) {
      if ((byte & (0x80 >> bit)) === 0) continue
      const index = i * 8 + bit
      if (index < length) fn(index)
    }
  }
}
