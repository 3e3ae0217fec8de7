/**
 * One connection to one remote peer: handshake, wire messages, choke/interest state, the peer's
 * availability, our outstanding requests (seed 002's per-peer request coordinator) and the
 * peer's requests to us.
 *
 * What it decides and what it does not: it never chooses pieces, whom to unchoke, or whether a
 * block is needed. It keeps the per-peer protocol state exact, enforces the protocol, measures
 * (rates, latency, pipeline depth, snubbing, time-outs) and reports through typed events; the
 * torrent decides. Nothing here is shared with other peers (DESIGN rule 4).
 *
 * Invariants:
 * - state goes handshaking → active → closed (or handshaking → closed); nothing else.
 * - `outstanding` holds every request we sent and have neither received, cancelled, seen
 *   rejected nor dropped (choke without the fast extension). Map order is send order. Entries
 *   that timed out stay (a late block is still accepted) but no longer count toward the pipeline.
 * - The peer's queued requests never exceed `maxIncomingRequests` / `maxIncomingRequestBytes`. A
 *   block is read from the owner only while the socket is writable and the blocks read but not
 *   yet sent stay under `maxUploadReadAheadBytes` (one block at least), so a slow peer pins little memory.
 * - Remote input never throws out of this class: any parse or protocol error closes the
 *   connection with that error as the `'closed'` reason.
 *
 * Buffer ownership: payloads in events (`piece-received.data`, bitfields) are views into socket
 * chunks the connection owns and never writes to; listeners may keep them. Buffers passed in
 * (extension payloads) are copied into the frame; blocks returned by `readBlock` are handed to the
 * socket, so the caller must not modify them afterwards.
 */
import { LodestoneError, ProtocolError, hasCode, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { ITcpSocket } from '../interfaces/socket.js'
import {
  ExtensionRegistry, EXTENDED_HANDSHAKE_ID, decodeExtendedHandshake, encodeExtendedHandshake,
  type ExtendedHandshake, type PeerExtension, type PeerExtensionContext, type PeerExtensionFactory
} from '../protocol/extension-protocol.js'
import {
  HandshakeDecoder, encodeHandshake, type HandshakeFeatures, INFO_HASH_LENGTH_BYTES, PEER_ID_LENGTH_BYTES
} from '../protocol/handshake.js'
import { MessageParser } from '../protocol/message-parser.js'
import {
  BLOCK_LENGTH_BYTES, encodeAllowedFast, encodeBitfield, encodeCancel, encodeChoke, encodeExtended, encodeHave,
  encodeHaveAll, encodeHaveNone, encodeInterested, encodeKeepAlive, encodeNotInterested, encodePieceHeader, encodePort,
  encodeReject, encodeRequest, encodeSuggest, encodeUnchoke,
  type BlockRequest, type WireMessageHandler
} from '../protocol/wire-messages.js'
import { Bitfield } from '../util/bitfield.js'
import { bytesEqual } from '../util/bytes.js'
import { CoarseScheduler, type ScheduledTask } from '../util/coarse-scheduler.js'
import { clientNameFromPeerId } from './peer-id.js'
import type { PeerSettings } from './peer-settings.js'
import { RateMeter } from './rate-meter.js'
import { TypedEmitter } from '../util/typed-emitter.js'

/** Lifecycle of a connection. */
export type PeerConnectionState = 'handshaking' | 'active' | 'closed'

const TRANSITIONS: Record<PeerConnectionState, readonly PeerConnectionState[]> = {
  handshaking: ['active', 'closed'],
  active: ['closed'],
  closed: []
}

/** The version string we announce in the extended handshake (`v`). */
export const LODESTONE_CLIENT_NAME = 'Lodestone 0.1.0'

/** How often the connection checks its time-outs (on the coarse scheduler). */
const TICK_MS = 1_000
/** Latency is the smallest request→block time seen in the last one or two of these windows. */
const LATENCY_WINDOW_MS = 10_000
/** Timed-out requests are forgotten this many request time-outs (or two snub time-outs) after they were sent. */
const TIMED_OUT_RETENTION_FACTOR = 4

type Empty = Record<string, never>

/** Events, kebab-case past tense, one object payload each (STYLE.md §2). */
export interface PeerConnectionEvents {
  /** The peer's handshake is complete and valid; the connection is now active. */
  'handshake-received': { peerId: Uint8Array, clientName: string, features: HandshakeFeatures }
  /** The peer's BEP 10 handshake arrived (it may be sent again later). */
  'extended-handshake': { handshake: ExtendedHandshake }
  'choked': Empty
  'unchoked': Empty
  'interested': Empty
  'not-interested': Empty
  /** The peer announced a piece it did not have before. */
  'have': { piece: number }
  /** The peer's initial availability (only when the piece count is known; else read `bitfield` after `setPieceCount`). */
  'bitfield': { bitfield: Bitfield, source: 'bitfield' | 'have-all' | 'have-none' }
  /**
   * A block we requested. `data` is a view of socket memory that is valid only during the
   * listener call (the socket may reuse it for its next read): copy what you keep.
   */
  'piece-received': { piece: number, begin: number, data: Uint8Array }
  /** A block we did not request (or no longer had outstanding): counted as wasted, not trusted. */
  'wasted-received': { piece: number, begin: number, lengthBytes: number }
  /** The peer asked us for a block and it was queued (it is served through `readBlock`). */
  'request-received': BlockRequest
  /** Our outstanding requests that the peer will not answer: choke without BEP 6, or close. */
  'requests-dropped': { blocks: BlockRequest[], reason: 'choked' | 'closed' }
  /** Requests unanswered for `requestTimeoutMs`: the picker may give them to other peers. */
  'request-timed-out': { blocks: BlockRequest[] }
  /** BEP 6: the peer refused one of our requests. */
  'rejected': BlockRequest
  /** BEP 6: the peer suggests we download this piece. */
  'suggested': { piece: number }
  /** BEP 6: we may request this piece even while choked. */
  'allowed-fast': { piece: number }
  /** BEP 5: the peer's DHT port. */
  'port-received': { port: number }
  /** Nothing arrived for `snubTimeoutMs` while we waited for blocks; pipeline depth drops to 1. */
  'snubbed': Empty
  /** A block arrived from a snubbed peer. */
  'unsnubbed': Empty
  /** The socket drained after back-pressure: a good moment to send more requests. */
  'drained': Empty
  /** A problem that did not close the connection (a listener threw, a block read failed). */
  'warning': { error: unknown }
  /** Emitted once; `reason` is absent when we closed without one. */
  'closed': { reason?: LodestoneError }
}

export interface PeerConnectionDeps {
  socket: ITcpSocket
  clock: IClock
  logger?: Logger
  /** The engine's shared coarse scheduler; without one the connection makes its own (one timer). */
  scheduler?: CoarseScheduler
}

export interface PeerConnectionInit {
  /** 20 bytes: the torrent this connection belongs to. */
  infoHash: Uint8Array
  /** Our 20-byte peer id. */
  localPeerId: Uint8Array
  /** True when we dialled: we send our handshake at once. False: we answer after the peer's info hash. */
  outgoing: boolean
  /** Known unless the torrent is a magnet without metadata yet; then call `setPieceCount` later. */
  pieceCount?: number
  /**
   * What we have, read once right after the handshake to send BITFIELD / HAVE ALL / HAVE NONE
   * (BEP 3: it must be the first message). `null` or absent: we have nothing.
   */
  localBitfield?: () => Bitfield | null
  /**
   * Reads a block the peer asked for. Absent: we serve nothing (requests are rejected or dropped).
   * The returned buffer is handed to the socket: do not modify it afterwards. Rejecting with a
   * PEER_PROTOCOL_VIOLATION error closes the connection with it (the request was illegal, e.g. a
   * piece we never announced); any other rejection rejects the request (BEP 6) and emits 'warning'.
   */
  readBlock?: (request: BlockRequest) => Promise<Uint8Array>
  /** BEP 10 extensions (ut_metadata, ut_pex...), one instance per connection. */
  extensions?: readonly PeerExtensionFactory[]
  /** Set the DHT reserved bit (BEP 5). @default false */
  dht?: boolean
  /** Extended handshake `v`. @default LODESTONE_CLIENT_NAME */
  clientName?: string
  /** Extended handshake `p`: our TCP listen port. */
  listenPort?: number
  /** Extended handshake `ipv4` / `ipv6`: our own addresses, when known (4 / 16 bytes). */
  ipv4?: Uint8Array
  ipv6?: Uint8Array
}

/** Counters and rates for stats and the choker. */
export interface PeerConnectionStats {
  /** Payload of requested blocks received. */
  downloadedBytes: number
  /** Payload of blocks sent. */
  uploadedBytes: number
  /** Payload of blocks received that matched no outstanding request. */
  wastedBytes: number
  /** Every byte received / sent, protocol overhead included. */
  receivedBytes: number
  sentBytes: number
  downloadRateBytesPerSec: number
  uploadRateBytesPerSec: number
  /** Smallest recent request→block time; null before the first block. */
  latencyMs: number | null
  outstandingRequests: number
  uploadQueueBytes: number
  /** Peer requests we rejected or dropped (choked, queue full, invalid, read failed). */
  refusedRequests: number
}

interface Outstanding {
  piece: number
  begin: number
  length: number
  sentAtMs: number
  timedOut: boolean
}

interface UploadEntry {
  piece: number
  begin: number
  length: number
  state: 'queued' | 'reading' | 'ready'
  data: Uint8Array | null
}

/** Map key for a block: exact numbers while piece * 2^32 + begin stays below 2^53. */
function blockKey (piece: number, begin: number): number | string {
  return piece < 0x20_0000 ? piece * 0x1_0000_0000 + begin : `${piece}:${begin}`
}

function violation (reason: string): ProtocolError<'PEER_PROTOCOL_VIOLATION'> {
  return new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason }, { message: `protocol violation: ${reason}` })
}

function badArgument (name: string, reason: string): LodestoneError<'ARGUMENT_INVALID'> {
  return new LodestoneError('ARGUMENT_INVALID', { name, reason })
}

/**
 * A peer connection. Construct it with a connected socket; it registers the socket callbacks
 * and (outgoing) sends our handshake at once. Subscribe to events right after construction:
 * socket data is delivered asynchronously, so no event fires before the constructor returns.
 *
 * @throws LodestoneError SETTINGS_INVALID (constructor) on bad extension ids; ARGUMENT_INVALID
 *   when `infoHash` / `localPeerId` are not 20 bytes.
 */
export class PeerConnection extends TypedEmitter<PeerConnectionEvents> {
  readonly outgoing: boolean
  readonly remoteAddress: string
  readonly remotePort: number

  private currentState: PeerConnectionState = 'handshaking'
  private readonly socket: ITcpSocket
  private readonly clock: IClock
  private readonly log: Logger | undefined
  private readonly scheduler: CoarseScheduler
  private readonly ownsScheduler: boolean
  private tickTask: ScheduledTask | null = null
  private settings: PeerSettings
  private readonly init: PeerConnectionInit

  private readonly handshakeDecoder = new HandshakeDecoder()
  private headerHandled = false
  private readonly parser: MessageParser
  private readonly extensions: ExtensionRegistry
  private remotePeerId: Uint8Array | null = null
  private remoteClientName: string | null = null
  private negotiated: HandshakeFeatures = { extensionProtocol: false, fastExtension: false, dht: false }

  // choke / interest
  private amChokingValue = true
  private amInterestedValue = false
  private peerChokingValue = true
  private peerInterestedValue = false

  // the peer's availability
  private pieceCountValue: number | null = null
  private peerBitfield: Bitfield | null = null
  private availabilityReceived = false
  /** Before the piece count is known: what the peer told us, validated in setPieceCount. */
  private pendingHaveAll = false
  private pendingBitfield: Uint8Array | null = null
  private pendingHaves: Uint8Array = new Uint8Array(0)
  private pendingMaxHave = -1
  private readonly peerAllowedFastSet = new Set<number>()
  private readonly localAllowedFastSet = new Set<number>()
  private readonly suggestedSet = new Set<number>()

  // our requests
  private readonly outstanding = new Map<number | string, Outstanding>()
  private liveOutstanding = 0
  private snubbedValue = false
  private waitingSinceMs: number
  private latencyCurMinMs = Infinity
  private latencyPrevMinMs = Infinity
  private latencyWindowStartMs: number

  // the peer's requests
  private readonly uploadQueue: UploadEntry[] = []
  /** Queued requests per block key (duplicate check without a scan of the queue). */
  private readonly uploadKeys = new Map<number | string, number>()
  /** Entries still 'queued': always the queue's tail (reads start in order), so the next read is found in O(1). */
  private queuedUploads = 0
  private uploadQueueBytesValue = 0
  /** Bytes of entries in 'reading' or 'ready' state. */
  private readAheadBytes = 0
  private writable = true

  // accounting
  private readonly createdAtMs: number
  private lastReceivedAtMs: number
  private lastSentAtMs: number
  private readonly downloadMeter: RateMeter
  private readonly uploadMeter: RateMeter
  private wastedBytesValue = 0
  private receivedBytesValue = 0
  private sentBytesValue = 0
  private refusedRequestsValue = 0

  constructor (deps: PeerConnectionDeps, settings: PeerSettings, init: PeerConnectionInit) {
    super()
    if (init.infoHash.length !== INFO_HASH_LENGTH_BYTES) throw badArgument('infoHash', 'must be 20 bytes')
    if (init.localPeerId.length !== PEER_ID_LENGTH_BYTES) throw badArgument('localPeerId', 'must be 20 bytes')
    this.socket = deps.socket
    this.clock = deps.clock
    this.settings = settings
    this.init = init
    this.outgoing = init.outgoing
    this.remoteAddress = deps.socket.remoteAddress
    this.remotePort = deps.socket.remotePort
    this.log = deps.logger?.child('peer', `${this.remoteAddress}:${this.remotePort}`)
    this.onListenerError = (error, event) => {
      if (event === 'warning') this.log?.warn('warning listener threw', { error: String(error) })
      else this.emit('warning', { error })
    }
    const now = this.clock.now()
    this.createdAtMs = now
    this.lastReceivedAtMs = now
    this.lastSentAtMs = now
    this.waitingSinceMs = now
    this.latencyWindowStartMs = now
    const meterSettings = { windowMs: settings.rateWindowMs, bucketMs: Math.max(50, Math.floor(settings.rateWindowMs / 20)) }
    this.downloadMeter = new RateMeter(this.clock, meterSettings)
    this.uploadMeter = new RateMeter(this.clock, meterSettings)
    if (init.pieceCount !== undefined) this.setPieceCountInternal(init.pieceCount)

    this.parser = new MessageParser(this.createHandler(), { maxMessageLengthBytes: settings.maxMessageLengthBytes })
    this.extensions = new ExtensionRegistry()
    if (settings.enableExtensionProtocol) {
      for (const factory of init.extensions ?? []) {
        // The context needs the extension's name, which exists only once the factory returned.
        let created: PeerExtension | null = null
        created = factory(this.extensionContext(() => created))
        this.extensions.add(created)
      }
    }

    this.ownsScheduler = deps.scheduler === undefined
    this.scheduler = deps.scheduler ?? new CoarseScheduler({ clock: this.clock })
    this.tickTask = this.scheduler.every(TICK_MS, () => { this.tick() })

    // The socket may lend its read buffer (no allocation per read); the parser copies what it keeps.
    if (this.socket.onBorrowedData !== undefined) this.socket.onBorrowedData((chunk) => { this.onData(chunk, true) })
    else this.socket.onData((chunk) => { this.onData(chunk, false) })
    this.socket.onDrain(() => { this.onDrain() })
    this.socket.onClose((reason) => {
      this.close(reason ?? new LodestoneError('PEER_CLOSED', { reason: 'the connection was closed by the peer or the network' }))
    })
    if (this.outgoing) this.sendHandshake()
  }

  // --- state --------------------------------------------------------------------------------

  get state (): PeerConnectionState { return this.currentState }
  /** When the connection was created (the socket was already connected), on the deps clock. */
  get connectedAtMs (): number { return this.createdAtMs }
  /** The peer's 20-byte id, once its handshake arrived. */
  get peerId (): Uint8Array | null { return this.remotePeerId }
  /** "Transmission 3.00", from the peer id (or the extended handshake's `v` when the id is unknown). */
  get clientName (): string | null { return this.remoteClientName }
  /** Features both sides announced. */
  get features (): Readonly<HandshakeFeatures> { return this.negotiated }
  get amChoking (): boolean { return this.amChokingValue }
  get amInterested (): boolean { return this.amInterestedValue }
  get peerChoking (): boolean { return this.peerChokingValue }
  get peerInterested (): boolean { return this.peerInterestedValue }
  /** The peer's pieces; null while the piece count is unknown. */
  get bitfield (): Bitfield | null { return this.peerBitfield }
  get pieceCount (): number | null { return this.pieceCountValue }
  /** True when the peer has every piece (piece count known). */
  get isSeed (): boolean { return this.peerBitfield?.isComplete ?? false }
  /** BEP 6: pieces the peer lets us request while choked. */
  get allowedFast (): ReadonlySet<number> { return this.peerAllowedFastSet }
  /** BEP 6: pieces we let the peer request while we choke it. */
  get localAllowedFast (): ReadonlySet<number> { return this.localAllowedFastSet }
  /** BEP 6: pieces the peer suggested (most recent last, bounded). */
  get suggested (): ReadonlySet<number> { return this.suggestedSet }
  get snubbed (): boolean { return this.snubbedValue }
  /** The peer's BEP 10 handshake, once received. */
  get extendedHandshake (): ExtendedHandshake | null { return this.extensions.remoteHandshake }
  /** False while the socket is above its high-water mark (we wait for 'drained'). */
  get isWritable (): boolean { return this.writable }

  stats (): PeerConnectionStats {
    return {
      downloadedBytes: this.downloadMeter.totalBytes,
      uploadedBytes: this.uploadMeter.totalBytes,
      wastedBytes: this.wastedBytesValue,
      receivedBytes: this.receivedBytesValue,
      sentBytes: this.sentBytesValue,
      downloadRateBytesPerSec: this.downloadMeter.rateBytesPerSec(),
      uploadRateBytesPerSec: this.uploadMeter.rateBytesPerSec(),
      latencyMs: this.latencyMs,
      outstandingRequests: this.liveOutstanding,
      uploadQueueBytes: this.uploadQueueBytesValue,
      refusedRequests: this.refusedRequestsValue
    }
  }

  get downloadRateBytesPerSec (): number { return this.downloadMeter.rateBytesPerSec() }
  get uploadRateBytesPerSec (): number { return this.uploadMeter.rateBytesPerSec() }

  /** Smallest request→block time in the last 10–20 s: the round trip without queueing. */
  get latencyMs (): number | null {
    const min = Math.min(this.latencyCurMinMs, this.latencyPrevMinMs)
    return Number.isFinite(min) ? min : null
  }

  /**
   * Sets the piece count once metadata is known (magnet links), then validates what the peer
   * already announced against it. After this, read `bitfield`. A mismatch (bitfield of the wrong
   * size, spare bits set, a HAVE beyond the count) closes the connection; no event is emitted.
   * @throws LodestoneError ARGUMENT_INVALID when a different count was already set.
   */
  setPieceCount (pieceCount: number): void {
    if (this.currentState === 'closed') return
    try {
      this.setPieceCountInternal(pieceCount)
    } catch (error) {
      if (isArgumentError(error)) throw error
      this.fail(error)
    }
  }

  /**
   * Applies new settings from now on (time-outs, pipeline, queues). The message length limit and
   * the rate window keep their values from construction.
   */
  updateSettings (settings: PeerSettings): void {
    this.settings = settings
  }

  // --- sending ------------------------------------------------------------------------------
  // Every sending method throws ILLEGAL_TRANSITION during the handshake (a caller bug) and is a
  // no-op once closed (connections close under their owner's feet; checking first would race).

  /** Chokes the peer. Its queued requests are dropped (rejected with BEP 6), except allowed-fast ones. */
  choke (): void {
    if (!this.canSend('choke')) return
    if (this.amChokingValue) return
    this.amChokingValue = true
    this.send(encodeChoke())
    for (let i = this.uploadQueue.length - 1; i >= 0; i--) {
      const entry = this.uploadQueue[i]!
      if (this.localAllowedFastSet.has(entry.piece)) continue
      this.removeUpload(i)
      this.refuse(entry.piece, entry.begin, entry.length)
    }
  }

  unchoke (): void {
    if (!this.canSend('unchoke')) return
    if (!this.amChokingValue) return
    this.amChokingValue = false
    this.send(encodeUnchoke())
  }

  /** Sends INTERESTED when our interest changes (no duplicate messages). */
  interested (): void {
    if (!this.canSend('interested')) return
    if (this.amInterestedValue) return
    this.amInterestedValue = true
    this.send(encodeInterested())
  }

  notInterested (): void {
    if (!this.canSend('notInterested')) return
    if (!this.amInterestedValue) return
    this.amInterestedValue = false
    this.send(encodeNotInterested())
  }

  /** Announces a piece we now have. */
  have (piece: number): void {
    if (!this.canSend('have')) return
    this.send(encodeHave(piece))
  }

  /**
   * Requests a block. Returns false (nothing sent) when the peer chokes us and the piece is not
   * allowed-fast, or the block is already outstanding. Call up to `availableRequestSlots()` times.
   * @throws LodestoneError ARGUMENT_INVALID on a bad coordinate (a caller bug).
   */
  request (piece: number, begin: number, length: number): boolean {
    if (!this.canSend('request')) return false
    if (length <= 0 || (this.pieceCountValue !== null && piece >= this.pieceCountValue)) {
      throw badArgument('request', `invalid block ${piece}/${begin}/${length}`)
    }
    if (this.peerChokingValue && !(this.negotiated.fastExtension && this.peerAllowedFastSet.has(piece))) return false
    const key = blockKey(piece, begin)
    const existing = this.outstanding.get(key)
    if (existing !== undefined && !existing.timedOut) return false
    const message = encodeRequest(piece, begin, length) // validates before anything is recorded
    if (existing !== undefined) this.outstanding.delete(key)
    const now = this.clock.now()
    if (this.liveOutstanding === 0) this.waitingSinceMs = now
    this.outstanding.set(key, { piece, begin, length, sentAtMs: now, timedOut: false })
    this.liveOutstanding++
    this.send(message)
    return true
  }

  /** Cancels an outstanding request (end game). Returns false when it was not outstanding. */
  cancel (piece: number, begin: number, length: number): boolean {
    if (this.currentState !== 'active') return false
    const key = blockKey(piece, begin)
    const entry = this.outstanding.get(key)
    if (entry === undefined || entry.length !== length) return false
    this.removeOutstanding(key, entry)
    this.send(encodeCancel(piece, begin, length))
    return true
  }

  /** True when this block is requested and not yet answered (timed-out requests included). */
  isRequested (piece: number, begin: number): boolean {
    return this.outstanding.has(blockKey(piece, begin))
  }

  /** Our requests still counting toward the pipeline (timed-out ones excluded), oldest first. */
  outstandingRequests (): BlockRequest[] {
    const out: BlockRequest[] = []
    for (const r of this.outstanding.values()) if (!r.timedOut) out.push({ piece: r.piece, begin: r.begin, length: r.length })
    return out
  }

  get outstandingRequestCount (): number { return this.liveOutstanding }

  /**
   * How many requests should be in flight: bandwidth × (latency + `requestQueueTimeMs`) in
   * 16 KiB blocks, at least `minPipelineDepth`, at most `maxPipelineDepth` and the peer's `reqq`;
   * 1 while snubbed. The latency is the smallest request→block time (the round trip without our
   * own queueing): using the average would feed queueing delay back into the depth and grow it
   * without bound.
   */
  desiredPipelineDepth (): number {
    const reqq = this.extensions.remoteHandshake?.reqq
    const cap = Math.max(1, Math.min(this.settings.maxPipelineDepth, reqq ?? Infinity))
    if (this.snubbedValue) return 1
    const rate = this.downloadMeter.rateBytesPerSec()
    const horizonMs = (this.latencyMs ?? 0) + this.settings.requestQueueTimeMs
    const depth = Math.ceil(rate * horizonMs / 1000 / BLOCK_LENGTH_BYTES)
    return Math.min(cap, Math.max(this.settings.minPipelineDepth, depth))
  }

  /** `desiredPipelineDepth() - outstandingRequestCount`, never negative; 0 when requests cannot be sent. */
  availableRequestSlots (): number {
    if (this.currentState !== 'active') return 0
    if (this.peerChokingValue && this.peerAllowedFastSet.size === 0) return 0
    return Math.max(0, this.desiredPipelineDepth() - this.liveOutstanding)
  }

  /** BEP 6: lets the peer request `piece` while we choke it. Ignored without the fast extension. */
  allowFast (piece: number): void {
    if (!this.canSend('allowFast')) return
    if (!this.negotiated.fastExtension || this.localAllowedFastSet.has(piece)) return
    this.localAllowedFastSet.add(piece)
    this.send(encodeAllowedFast(piece))
  }

  /** BEP 6: suggests a piece to the peer. Ignored without the fast extension. */
  suggest (piece: number): void {
    if (!this.canSend('suggest')) return
    if (!this.negotiated.fastExtension) return
    this.send(encodeSuggest(piece))
  }

  /** BEP 5: tells the peer our DHT port. Ignored unless both sides set the DHT bit. */
  sendPort (port: number): void {
    if (!this.canSend('sendPort')) return
    if (!this.negotiated.dht) return
    this.send(encodePort(port))
  }

  /**
   * Sends an extended message under the id the peer gave extension `name`. Returns false when
   * the peer does not support it or the connection is not active. Copies `payload`.
   */
  sendExtended (name: string, payload: Uint8Array): boolean {
    if (this.currentState !== 'active' || !this.negotiated.extensionProtocol) return false
    const id = this.extensions.remoteId(name)
    if (id === undefined) return false
    this.send(encodeExtended(id, payload))
    return true
  }

  /** (Re)sends our extended handshake, e.g. after metadata arrived and `metadata_size` is known. */
  sendExtendedHandshake (): void {
    if (!this.canSend('sendExtendedHandshake')) return
    if (!this.negotiated.extensionProtocol) return
    const fields: Parameters<typeof encodeExtendedHandshake>[0] = {
      m: this.extensions.localMap(),
      v: this.init.clientName ?? LODESTONE_CLIENT_NAME,
      reqq: this.settings.maxIncomingRequests,
      extra: this.extensions.handshakeExtra()
    }
    if (this.init.listenPort !== undefined) fields.p = this.init.listenPort
    const yourip = ipToBytes(this.remoteAddress)
    if (yourip !== null) fields.yourip = yourip
    if (this.init.ipv4 !== undefined) fields.ipv4 = this.init.ipv4
    if (this.init.ipv6 !== undefined) fields.ipv6 = this.init.ipv6
    this.send(encodeExtended(EXTENDED_HANDSHAKE_ID, encodeExtendedHandshake(fields)))
  }

  /** Stops reading from the socket (e.g. the disk queue is full); `resumeReading` undoes it. */
  pauseReading (): void {
    if (this.currentState !== 'closed') this.socket.pause()
  }

  resumeReading (): void {
    if (this.currentState !== 'closed') this.socket.resume()
  }

  /**
   * Closes the connection: cancels its timers, closes the socket, reports outstanding requests
   * as 'requests-dropped' (reason 'closed'), then emits 'closed'. Idempotent.
   */
  close (reason?: LodestoneError): void {
    if (this.currentState === 'closed') return
    this.transition('closed')
    this.tickTask?.cancel()
    this.tickTask = null
    if (this.ownsScheduler) this.scheduler.close()
    this.parser.stop()
    const dropped = this.takeLiveOutstanding()
    this.outstanding.clear()
    this.uploadQueue.length = 0
    this.uploadKeys.clear()
    this.queuedUploads = 0
    this.uploadQueueBytesValue = 0
    this.readAheadBytes = 0
    for (const ext of this.extensions.all()) {
      try {
        ext.onClose?.()
      } catch (error) {
        this.emit('warning', { error })
      }
    }
    this.socket.close()
    if (reason !== undefined) this.log?.debug('closed', { code: reason.code, message: reason.message })
    if (dropped.length > 0) this.emit('requests-dropped', { blocks: dropped, reason: 'closed' })
    this.emit('closed', reason === undefined ? {} : { reason })
  }

  // --- internals: state ---------------------------------------------------------------------

  private transition (to: PeerConnectionState): void {
    if (!TRANSITIONS[this.currentState].includes(to)) {
      throw new LodestoneError('ILLEGAL_TRANSITION', { from: this.currentState, to })
    }
    this.currentState = to
  }

  /** Not narrowed by TypeScript: listeners called in between may have closed the connection. */
  private isActive (): boolean { return this.currentState === 'active' }

  /**
   * True when messages may be sent. Closed: false (connections close under the owner's feet, so
   * sending on a closed one is a no-op). Handshaking: throws, as that is always a caller bug.
   */
  private canSend (what: string): boolean {
    if (this.currentState === 'closed') return false
    if (this.currentState !== 'active') {
      throw new LodestoneError('ILLEGAL_TRANSITION', { from: this.currentState, to: what },
        { message: `peer connection is ${this.currentState}: cannot ${what}` })
    }
    return true
  }

  private fail (error: unknown): void {
    const reason = isLodestoneError(error)
      ? error
      : new LodestoneError('INTERNAL', { reason: error instanceof Error ? error.message : String(error) }, { cause: error })
    if (!isLodestoneError(error)) this.log?.error('unexpected error on peer connection', { error: String(error) })
    this.close(reason)
  }

  private send (data: Uint8Array): boolean {
    this.sentBytesValue += data.length
    this.lastSentAtMs = this.clock.now()
    const ok = this.socket.send(data)
    if (!ok) this.writable = false
    return ok
  }

  private sendHandshake (): void {
    const features: HandshakeFeatures = {
      extensionProtocol: this.settings.enableExtensionProtocol,
      fastExtension: this.settings.enableFastExtension,
      dht: this.init.dht ?? false
    }
    this.send(encodeHandshake({ infoHash: this.init.infoHash, peerId: this.init.localPeerId, features }))
  }

  // --- internals: receiving -----------------------------------------------------------------

  /** `borrowed`: `chunk` is valid only during this call (ITcpSocket.onBorrowedData). */
  private onData (chunk: Uint8Array, borrowed: boolean): void {
    if (this.currentState === 'closed') return
    this.receivedBytesValue += chunk.length
    this.lastReceivedAtMs = this.clock.now()
    try {
      let offset = 0
      if (this.currentState === 'handshaking') {
        // The handshake decoder keeps views: give it (and this chunk's messages) an owned copy.
        if (borrowed) {
          chunk = chunk.slice()
          borrowed = false
        }
        offset = this.readHandshake(chunk)
        if (!this.isActive()) return
      }
      if (borrowed) this.parser.pushBorrowed(chunk, offset)
      else this.parser.push(chunk, offset)
    } catch (error) {
      this.fail(error)
    }
  }

  /** Feeds handshake bytes; returns how many of `chunk` were handshake. */
  private readHandshake (chunk: Uint8Array): number {
    let offset = 0
    while (offset < chunk.length && this.handshakeDecoder.stage !== 'done') {
      offset += this.handshakeDecoder.push(chunk, offset)
      const header = this.handshakeDecoder.header
      if (header !== null && !this.headerHandled) {
        this.headerHandled = true
        if (!bytesEqual(header.infoHash, this.init.infoHash)) {
          throw new ProtocolError('PEER_HANDSHAKE_FAILED', { reason: 'info hash does not match this torrent' })
        }
        if (!this.outgoing) this.sendHandshake()
      }
    }
    const handshake = this.handshakeDecoder.handshake
    if (handshake !== null) this.onHandshake(handshake.peerId, handshake.features)
    return offset
  }

  private onHandshake (peerId: Uint8Array, remote: HandshakeFeatures): void {
    this.remotePeerId = peerId
    this.remoteClientName = clientNameFromPeerId(peerId)
    this.negotiated = {
      extensionProtocol: remote.extensionProtocol && this.settings.enableExtensionProtocol,
      fastExtension: remote.fastExtension && this.settings.enableFastExtension,
      dht: remote.dht && (this.init.dht ?? false)
    }
    this.transition('active')
    this.emit('handshake-received', { peerId, clientName: this.remoteClientName, features: { ...this.negotiated } })
    if (this.currentState !== 'active') return
    this.sendAvailability()
    if (this.negotiated.extensionProtocol) this.sendExtendedHandshake()
  }

  /** BEP 3 / BEP 6: our availability must be the first message after the handshake. */
  private sendAvailability (): void {
    const local = this.init.localBitfield?.() ?? null
    const fast = this.negotiated.fastExtension
    if (local === null || local.isEmpty) {
      if (fast) this.send(encodeHaveNone())
    } else if (local.isComplete && fast) {
      this.send(encodeHaveAll())
    } else {
      this.send(encodeBitfield(local.bytes))
    }
  }

  private createHandler (): WireMessageHandler {
    return {
      onKeepAlive: () => {},
      onChoke: () => { this.onChoke() },
      onUnchoke: () => {
        if (!this.peerChokingValue) return
        this.peerChokingValue = false
        this.emit('unchoked', {})
      },
      onInterested: () => {
        if (this.peerInterestedValue) return
        this.peerInterestedValue = true
        this.emit('interested', {})
      },
      onNotInterested: () => {
        if (!this.peerInterestedValue) return
        this.peerInterestedValue = false
        this.emit('not-interested', {})
      },
      onHave: (piece) => { this.onHave(piece) },
      onBitfield: (bytes) => { this.onBitfield(bytes) },
      onRequest: (piece, begin, length) => { this.onRequest(piece, begin, length) },
      onPiece: (piece, begin, data) => { this.onPiece(piece, begin, data) },
      onCancel: (piece, begin, length) => { this.onCancel(piece, begin, length) },
      onPort: (port) => {
        if (port > 0) this.emit('port-received', { port })
      },
      onSuggest: (piece) => {
        this.requireFast('suggest')
        if (!this.isValidPiece(piece)) return
        this.suggestedSet.delete(piece)
        this.suggestedSet.add(piece)
        if (this.suggestedSet.size > this.settings.maxSuggestedPieces) {
          const oldest = this.suggestedSet.values().next()
          if (oldest.done !== true) this.suggestedSet.delete(oldest.value)
        }
        this.emit('suggested', { piece })
      },
      onHaveAll: () => {
        this.requireFast('have all')
        this.onAvailability('have-all', null)
      },
      onHaveNone: () => {
        this.requireFast('have none')
        this.onAvailability('have-none', null)
      },
      onReject: (piece, begin, length) => { this.onReject(piece, begin, length) },
      onAllowedFast: (piece) => {
        this.requireFast('allowed fast')
        // BEP 6: allowed-fast for a piece we cannot know about yet (or do not have) is harmless; bound the set.
        if (!this.isValidPiece(piece) || this.peerAllowedFastSet.has(piece)) return
        if (this.peerAllowedFastSet.size >= this.settings.maxAllowedFastPieces) return
        this.peerAllowedFastSet.add(piece)
        this.emit('allowed-fast', { piece })
      },
      onExtended: (id, payload) => { this.onExtended(id, payload) },
      onUnknown: () => {}
    }
  }

  private requireFast (what: string): void {
    // BEP 6: a fast-extension message when the extension was not negotiated closes the connection.
    if (!this.negotiated.fastExtension) throw violation(`${what} message without the fast extension`)
  }

  private isValidPiece (piece: number): boolean {
    return this.pieceCountValue === null || piece < this.pieceCountValue
  }

  private onChoke (): void {
    if (this.peerChokingValue) return
    this.peerChokingValue = true
    // BEP 6: with the fast extension a choke no longer cancels requests; the peer rejects them.
    const dropped = this.negotiated.fastExtension ? [] : this.takeLiveOutstanding()
    if (!this.negotiated.fastExtension) this.outstanding.clear()
    this.emit('choked', {})
    if (dropped.length > 0) this.emit('requests-dropped', { blocks: dropped, reason: 'choked' })
  }

  private onHave (piece: number): void {
    if (this.pieceCountValue !== null) {
      if (piece >= this.pieceCountValue) throw violation(`have for piece ${piece} of ${this.pieceCountValue}`)
      if (this.peerBitfield!.set(piece)) this.emit('have', { piece })
      return
    }
    // Piece count unknown (magnet): remember the bit, bounded like a bitfield message would be.
    if (piece >= this.settings.maxMessageLengthBytes * 8) throw violation(`have for piece ${piece}: beyond any torrent we accept`)
    const byte = piece >> 3
    if (byte >= this.pendingHaves.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.pendingHaves.length * 2, 64))
      grown.set(this.pendingHaves)
      this.pendingHaves = grown
    }
    const mask = 0x80 >> (piece & 7)
    const before = this.pendingHaves[byte] ?? 0
    if ((before & mask) !== 0) return
    this.pendingHaves[byte] = before | mask
    if (piece > this.pendingMaxHave) this.pendingMaxHave = piece
    this.emit('have', { piece })
  }

  private onBitfield (bytes: Uint8Array): void {
    this.onAvailability('bitfield', bytes)
  }

  private onAvailability (source: 'bitfield' | 'have-all' | 'have-none', bytes: Uint8Array | null): void {
    // BEP 3 / BEP 6: exactly one of bitfield / have all / have none, before any other availability news.
    if (this.availabilityReceived) throw violation(`${source} after the peer's availability was already sent`)
    this.availabilityReceived = true
    if (this.pieceCountValue === null) {
      if (source === 'have-all') this.pendingHaveAll = true
      else if (bytes !== null) this.pendingBitfield = bytes
      return
    }
    const bitfield = this.peerBitfield!
    if (source === 'have-all') bitfield.setAll()
    else if (bytes !== null) this.mergeBitfield(bitfield, bytes)
    this.emit('bitfield', { bitfield, source })
  }

  /** Validates a BITFIELD payload against the piece count and ORs it into `target`. */
  private mergeBitfield (target: Bitfield, bytes: Uint8Array): void {
    const expected = Math.ceil(target.length / 8)
    if (bytes.length !== expected) throw violation(`bitfield of ${bytes.length} bytes, expected ${expected}`)
    const spare = expected * 8 - target.length
    if (spare > 0 && ((bytes[expected - 1] ?? 0) & ((1 << spare) - 1)) !== 0) throw violation('bitfield has spare bits set')
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] ?? 0
      if (b === 0) continue
      for (let bit = 0; bit < 8; bit++) if ((b & (0x80 >> bit)) !== 0) target.set(i * 8 + bit)
    }
  }

  private setPieceCountInternal (pieceCount: number): void {
    if (!Number.isInteger(pieceCount) || pieceCount < 0) throw badArgument('pieceCount', `${pieceCount} is not a count`)
    if (this.pieceCountValue !== null) {
      if (this.pieceCountValue === pieceCount) return
      throw badArgument('pieceCount', `already set to ${this.pieceCountValue}`)
    }
    this.pieceCountValue = pieceCount
    const bitfield = new Bitfield(pieceCount)
    this.peerBitfield = bitfield
    if (this.pendingHaveAll) bitfield.setAll()
    if (this.pendingBitfield !== null) this.mergeBitfield(bitfield, this.pendingBitfield)
    if (this.pendingMaxHave >= pieceCount) throw violation(`have for piece ${this.pendingMaxHave} of ${pieceCount}`)
    for (let byte = 0; byte < this.pendingHaves.length; byte++) {
      const b = this.pendingHaves[byte] ?? 0
      if (b === 0) continue
      for (let bit = 0; bit < 8; bit++) if ((b & (0x80 >> bit)) !== 0) bitfield.set(byte * 8 + bit)
    }
    this.pendingBitfield = null
    this.pendingHaves = new Uint8Array(0)
    for (const piece of [...this.peerAllowedFastSet]) if (piece >= pieceCount) this.peerAllowedFastSet.delete(piece)
    for (const piece of [...this.suggestedSet]) if (piece >= pieceCount) this.suggestedSet.delete(piece)
  }

  private onPiece (piece: number, begin: number, data: Uint8Array): void {
    const now = this.clock.now()
    // Any block shows the peer is sending: that ends a snub, even if the block itself is wasted.
    this.waitingSinceMs = now
    if (this.snubbedValue) {
      this.snubbedValue = false
      this.emit('unsnubbed', {})
    }
    const key = blockKey(piece, begin)
    const entry = this.outstanding.get(key)
    if (entry === undefined || entry.length !== data.length) {
      this.wastedBytesValue += data.length
      this.emit('wasted-received', { piece, begin, lengthBytes: data.length })
      return
    }
    this.removeOutstanding(key, entry)
    this.downloadMeter.add(data.length)
    // Timed-out requests would report queueing delay, not the round trip: leave them out.
    if (!entry.timedOut && now - entry.sentAtMs < this.latencyCurMinMs) this.latencyCurMinMs = now - entry.sentAtMs
    this.emit('piece-received', { piece, begin, data })
  }

  private onReject (piece: number, begin: number, length: number): void {
    this.requireFast('reject')
    const key = blockKey(piece, begin)
    const entry = this.outstanding.get(key)
    // A reject for a block we cancelled (or never asked for) is ignored: cancels race with replies.
    if (entry === undefined || entry.length !== length) return
    this.removeOutstanding(key, entry)
    this.emit('rejected', { piece, begin, length })
  }

  private onExtended (id: number, payload: Uint8Array): void {
    if (!this.negotiated.extensionProtocol) throw violation('extended message without the extension protocol')
    if (id === EXTENDED_HANDSHAKE_ID) {
      const handshake = decodeExtendedHandshake(payload)
      this.extensions.setRemote(handshake)
      if (handshake.v !== undefined && this.remoteClientName?.startsWith('Unknown') === true) this.remoteClientName = handshake.v
      this.emit('extended-handshake', { handshake })
      for (const ext of this.extensions.all()) {
        if (this.currentState !== 'active') return
        ext.onHandshake?.(handshake, handshake.m.get(ext.name))
      }
      return
    }
    // Unknown ids: an extension we did not announce (or withdrew). Ignore, as BEP 10 intends.
    this.extensions.get(id)?.onMessage(payload)
  }

  // --- internals: our requests --------------------------------------------------------------

  private removeOutstanding (key: number | string, entry: Outstanding): void {
    this.outstanding.delete(key)
    if (!entry.timedOut) this.liveOutstanding--
  }

  private takeLiveOutstanding (): BlockRequest[] {
    const out: BlockRequest[] = []
    for (const r of this.outstanding.values()) if (!r.timedOut) out.push({ piece: r.piece, begin: r.begin, length: r.length })
    this.liveOutstanding = 0
    return out
  }

  // --- internals: the peer's requests -------------------------------------------------------

  private onRequest (piece: number, begin: number, length: number): void {
    const valid = length > 0 && length <= this.settings.maxRequestLengthBytes && this.isValidPiece(piece) &&
      this.init.readBlock !== undefined
    const choked = this.amChokingValue && !this.localAllowedFastSet.has(piece)
    const full = this.uploadQueue.length >= this.settings.maxIncomingRequests ||
      this.uploadQueueBytesValue + length > this.settings.maxIncomingRequestBytes
    if (!valid || choked || full) {
      this.refuse(piece, begin, length)
      return
    }
    const key = blockKey(piece, begin)
    const sameKey = this.uploadKeys.get(key) ?? 0
    if (sameKey > 0) for (const e of this.uploadQueue) if (e.piece === piece && e.begin === begin && e.length === length) return
    this.uploadKeys.set(key, sameKey + 1)
    this.queuedUploads++
    this.uploadQueue.push({ piece, begin, length, state: 'queued', data: null })
    this.uploadQueueBytesValue += length
    this.emit('request-received', { piece, begin, length })
    this.pumpReads()
  }

  private onCancel (piece: number, begin: number, length: number): void {
    const index = this.uploadQueue.findIndex((e) => e.piece === piece && e.begin === begin && e.length === length)
    if (index < 0) return
    this.removeUpload(index)
    // BEP 6: a cancelled request is answered with the block or a reject; we send the reject.
    if (this.negotiated.fastExtension) this.send(encodeReject(piece, begin, length))
  }

  /** BEP 6: reject instead of silently dropping; without it, dropping is all the protocol has. */
  private refuse (piece: number, begin: number, length: number): void {
    this.refusedRequestsValue++
    if (this.negotiated.fastExtension && this.currentState === 'active') this.send(encodeReject(piece, begin, length))
  }

  private removeUpload (index: number): void {
    const entry = index === 0 ? this.uploadQueue.shift() : this.uploadQueue.splice(index, 1)[0]
    if (entry === undefined) return
    const key = blockKey(entry.piece, entry.begin)
    const sameKey = this.uploadKeys.get(key) ?? 0
    if (sameKey <= 1) this.uploadKeys.delete(key)
    else this.uploadKeys.set(key, sameKey - 1)
    if (entry.state === 'queued') this.queuedUploads--
    this.uploadQueueBytesValue -= entry.length
    if (entry.state !== 'queued') this.readAheadBytes -= entry.length
  }

  private pumpReads (): void {
    const readBlock = this.init.readBlock
    if (readBlock === undefined) return
    while (this.currentState === 'active' && this.writable) {
      const tail = this.uploadQueue[this.uploadQueue.length - this.queuedUploads]
      const entry = tail?.state === 'queued' ? tail : this.uploadQueue.find((e) => e.state === 'queued')
      if (entry === undefined) return
      if (this.readAheadBytes > 0 && this.readAheadBytes + entry.length > this.settings.maxUploadReadAheadBytes) return
      entry.state = 'reading'
      this.queuedUploads--
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
    if (this.currentState !== 'active') return
    if (!this.uploadQueue.includes(entry)) {
      this.pumpReads() // cancelled or choked while reading: drop the data
      return
    }
    if (data.length !== entry.length) {
      this.onBlockReadFailed(entry, new LodestoneError('INTERNAL', { reason: `readBlock returned ${data.length} bytes for a ${entry.length}-byte request` }))
      return
    }
    entry.state = 'ready'
    entry.data = data
    this.flushUploads()
    this.pumpReads()
  }

  private onBlockReadFailed (entry: UploadEntry, error: unknown): void {
    if (this.currentState !== 'active') return
    if (hasCode(error, 'PEER_PROTOCOL_VIOLATION')) {
      // The owner judged the request itself illegal (e.g. a piece we never announced).
      this.close(error)
      return
    }
    const index = this.uploadQueue.indexOf(entry)
    if (index >= 0) {
      this.removeUpload(index)
      this.refuse(entry.piece, entry.begin, entry.length)
      this.emit('warning', { error })
    }
    this.flushUploads()
    this.pumpReads()
  }

  /** Sends ready blocks in request order while the socket accepts them. */
  private flushUploads (): void {
    while (this.writable && this.currentState === 'active') {
      const head = this.uploadQueue[0]
      if (head?.state !== 'ready' || head.data === null) return
      const data = head.data
      head.data = null
      this.removeUpload(0)
      // Two sends, no copy: the header, then the block (the socket takes ownership of both).
      this.send(encodePieceHeader(head.piece, head.begin, data.length))
      this.send(data)
      this.uploadMeter.add(data.length)
    }
  }

  private onDrain (): void {
    if (this.currentState === 'closed' || this.writable) return
    this.writable = true
    this.flushUploads()
    this.pumpReads()
    if (this.writable) this.emit('drained', {})
  }

  // --- internals: timers --------------------------------------------------------------------

  private tick (): void {
    try {
      this.checkTimers()
    } catch (error) {
      this.fail(error)
    }
  }

  private checkTimers (): void {
    if (this.currentState === 'closed') return
    const now = this.clock.now()
    if (this.currentState === 'handshaking') {
      if (now - this.createdAtMs >= this.settings.handshakeTimeoutMs) {
        this.close(new LodestoneError('PEER_TIMEOUT', { what: 'handshake', timeoutMs: this.settings.handshakeTimeoutMs }))
      }
      return
    }
    if (now - this.lastReceivedAtMs >= this.settings.idleTimeoutMs) {
      this.close(new LodestoneError('PEER_TIMEOUT', { what: 'idle', timeoutMs: this.settings.idleTimeoutMs }))
      return
    }
    if (now - this.lastSentAtMs >= this.settings.keepAliveIntervalMs) this.send(encodeKeepAlive())
    if (now - this.latencyWindowStartMs >= LATENCY_WINDOW_MS) {
      this.latencyPrevMinMs = this.latencyCurMinMs
      this.latencyCurMinMs = Infinity
      this.latencyWindowStartMs = now
    }
    this.checkRequests(now)
  }

  private checkRequests (now: number): void {
    // Snub first: it depends on requests being outstanding, and the loop below forgets old ones.
    if (!this.snubbedValue && this.outstanding.size > 0 && now - this.waitingSinceMs >= this.settings.snubTimeoutMs) {
      this.snubbedValue = true
      this.emit('snubbed', {})
    }
    const timeoutMs = this.settings.requestTimeoutMs
    const retentionMs = Math.max(timeoutMs * TIMED_OUT_RETENTION_FACTOR, this.settings.snubTimeoutMs * 2)
    let timedOut: BlockRequest[] | null = null
    for (const [key, r] of this.outstanding) {
      if (r.timedOut) {
        if (now - r.sentAtMs >= retentionMs) this.outstanding.delete(key)
        continue
      }
      if (now - r.sentAtMs < timeoutMs) continue
      r.timedOut = true
      this.liveOutstanding--
      ;(timedOut ??= []).push({ piece: r.piece, begin: r.begin, length: r.length })
    }
    if (timedOut !== null && this.currentState === 'active') this.emit('request-timed-out', { blocks: timedOut })
  }

  private extensionContext (extension: () => PeerExtension | null): PeerExtensionContext {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const peer = this
    let logger: Logger | undefined
    return {
      send: (payload) => {
        const ext = extension()
        return ext !== null && peer.sendExtended(ext.name, payload)
      },
      get remoteId () {
        const ext = extension()
        return ext === null ? undefined : peer.extensions.remoteId(ext.name)
      },
      get remoteHandshake () { return peer.extensions.remoteHandshake },
      close: (reason) => { peer.close(reason) },
      get logger () {
        if (logger === undefined && peer.log !== undefined) logger = peer.log.child('extension', extension()?.name)
        return logger
      }
    }
  }
}

function isArgumentError (error: unknown): boolean {
  return isLodestoneError(error) && error.code === 'ARGUMENT_INVALID'
}

/** Compact bytes of an IP literal (IPv4-mapped IPv6 gives 4 bytes); null for names or garbage. */
export function ipToBytes (host: string): Uint8Array | null {
  const text = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (v4 !== null) {
    const parts = v4.slice(1).map(Number)
    return parts.every((p) => p <= 255) ? Uint8Array.from(parts) : null
  }
  if (!text.includes(':')) return null
  const mapped = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(text)
  if (mapped !== null) return ipToBytes(mapped[1]!)
  const halves = text.split('::')
  if (halves.length > 2) return null
  const head = halves[0] === '' ? [] : (halves[0] ?? '').split(':')
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] ?? '').split(':')) : []
  const missing = 8 - head.length - tail.length
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return null
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail]
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? ''
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null
    const v = parseInt(g, 16)
    out[i * 2] = v >> 8
    out[i * 2 + 1] = v & 0xff
  }
  return out
}
