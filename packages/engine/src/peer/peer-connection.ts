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
 * Parts beside this file: {@link PeerAvailability} (what the peer has), {@link RequestBook} (our
 * outstanding requests: latency, snubbing, time-outs) and {@link UploadQueue} (the peer's requests,
 * bounded in count, bytes and read-ahead).
 *
 * Invariants:
 * - state goes handshaking → active → closed (or handshaking → closed); nothing else.
 * - Remote input never throws out of this class: any parse or protocol error closes the
 *   connection with that error as the `'closed'` reason.
 *
 * Buffer ownership: payloads in events (`piece-received.data`, bitfields) are views into socket
 * chunks the connection owns and never writes to; listeners may keep them. Buffers passed in
 * (extension payloads) are copied into the frame; blocks returned by `readBlock` are handed to the
 * socket, so the caller must not modify them afterwards.
 */
import { LodestoneError, ProtocolError, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { ITcpSocket } from '../interfaces/socket.js'
import {
  ExtensionRegistry, EXTENDED_HANDSHAKE_ID, decodeExtendedHandshake,
  type ExtendedHandshake, type PeerExtension
} from '../protocol/extension-protocol.js'
import {
  HandshakeDecoder, encodeHandshake, type HandshakeFeatures, INFO_HASH_LENGTH_BYTES, PEER_ID_LENGTH_BYTES
} from '../protocol/handshake.js'
import { MessageParser } from '../protocol/message-parser.js'
import { decodeHashMessage, encodeHashMessage, isHashMessageId, type HashMessage } from '../protocol/hash-messages.js'
import {
  BLOCK_LENGTH_BYTES, encodeAllowedFast, encodeBitfield, encodeCancel, encodeChoke, encodeExtended, encodeHave,
  encodeHaveAll, encodeHaveNone, encodeInterested, encodeKeepAlive, encodeNotInterested, encodePort,
  encodeRequest, encodeSuggest, encodeUnchoke,
  type BlockRequest, type WireMessageHandler
} from '../protocol/wire-messages.js'
import type { Bitfield } from '../util/bitfield.js'
import { bytesEqual } from '../util/bytes.js'
import { CoarseScheduler, type ScheduledTask } from '../util/coarse-scheduler.js'
import { clientNameFromPeerId } from './peer-id.js'
import type { PeerSettings } from './peer-settings.js'
import { RateMeter } from './rate-meter.js'
import { TypedEmitter } from '../util/typed-emitter.js'
import { encodeOurExtendedHandshake } from './our-extended-handshake.js'
import { PeerAvailability } from './peer-availability.js'
import { pieceOrigin } from './piece-origin.js'
import { type PeerConnectionDeps, type PeerConnectionEvents, type PeerConnectionInit, type PeerConnectionState, type PeerConnectionStats } from './peer-connection-types.js'
import { badArgument, isArgumentError, violation } from './peer-errors.js'
import { createExtensionContext, type ExtensionContextHost } from './extension-context.js'
import { ReadGate } from './read-gate.js'
import { RequestBook } from './request-book.js'
import { UploadQueue } from './upload-queue.js'

export { LODESTONE_CLIENT_NAME, type PeerConnectionDeps, type PeerConnectionEvents, type PeerConnectionInit, type PeerConnectionState, type PeerConnectionStats } from './peer-connection-types.js'
export { ipToBytes } from '../util/ip-bytes.js'

const TRANSITIONS: Record<PeerConnectionState, readonly PeerConnectionState[]> = { handshaking: ['active', 'closed'], active: ['closed'], closed: [] }

/** How often the connection checks its time-outs (on the coarse scheduler). */
const TICK_MS = 1_000

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
  private readonly availability = new PeerAvailability(() => this.settings.maxMessageLengthBytes * 8)
  private readonly peerAllowedFastSet = new Set<number>()
  private readonly localAllowedFastSet = new Set<number>()
  private readonly suggestedSet = new Set<number>()

  // our requests
  private readonly requestBook: RequestBook

  // the peer's requests
  private readonly uploads: UploadQueue
  private writable = true
  private readonly readGate: ReadGate

  // accounting
  private readonly createdAtMs: number
  private readonly handshakeStartedAtMs: number
  private lastReceivedAtMs: number
  private lastSentAtMs: number
  private readonly downloadMeter: RateMeter
  private readonly uploadMeter: RateMeter
  private wastedBytesValue = 0
  private receivedBytesValue = 0
  private sentBytesValue = 0

  constructor (deps: PeerConnectionDeps, settings: PeerSettings, init: PeerConnectionInit) {
    super()
    if (init.infoHash.length !== INFO_HASH_LENGTH_BYTES) throw badArgument('infoHash', 'must be 20 bytes')
    if (init.localPeerId.length !== PEER_ID_LENGTH_BYTES) throw badArgument('localPeerId', 'must be 20 bytes')
    this.socket = deps.socket
    this.readGate = new ReadGate(deps.socket)
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
    this.handshakeStartedAtMs = Math.min(now, init.handshakeStartedAtMs ?? now)
    this.lastReceivedAtMs = now
    this.lastSentAtMs = now
    this.requestBook = new RequestBook(now)
    const meterSettings = { windowMs: settings.rateWindowMs, bucketMs: Math.max(50, Math.floor(settings.rateWindowMs / 20)) }
    this.downloadMeter = new RateMeter(this.clock, meterSettings)
    this.uploadMeter = new RateMeter(this.clock, meterSettings)
    this.uploads = new UploadQueue({
      settings: () => this.settings,
      readBlock: init.readBlock,
      releaseBlock: init.releaseBlock,
      cachedPieces: init.cachedPieces,
      bufferedBytes: () => this.socket.bufferedBytes,
      isActive: () => this.currentState === 'active',
      isWritable: () => this.writable,
      fastExtension: () => this.negotiated.fastExtension,
      send: (data) => { this.send(data) },
      sentBlock: (lengthBytes) => { this.uploadMeter.add(lengthBytes) },
      queued: (piece, begin, length) => { if (this.hasListeners('request-received')) this.emit('request-received', { piece, begin, length }) },
      warning: (error) => { this.emit('warning', { error }) },
      close: (reason) => { this.close(reason) }
    })
    if (init.pieceCount !== undefined) this.setPieceCountInternal(init.pieceCount)

    this.parser = new MessageParser(this.createHandler(), { maxMessageLengthBytes: settings.maxMessageLengthBytes })
    this.extensions = new ExtensionRegistry()
    if (settings.enableExtensionProtocol) {
      const contextHost: ExtensionContextHost = {
        registry: this.extensions,
        log: this.log,
        sendExtended: (name, payload) => this.sendExtended(name, payload),
        close: (reason) => { this.close(reason) }
      }
      for (const factory of init.extensions ?? []) {
        // The context needs the extension's name, which exists only once the factory returned.
        let created: PeerExtension | null = null
        created = factory(createExtensionContext(contextHost, () => created))
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
  get bitfield (): Bitfield | null { return this.availability.bitfield }
  get pieceCount (): number | null { return this.availability.pieceCount }
  /** True when the peer has every piece (piece count known). */
  get isSeed (): boolean { return this.availability.bitfield?.isComplete ?? false }
  /** BEP 6: pieces the peer lets us request while choked. */
  get allowedFast (): ReadonlySet<number> { return this.peerAllowedFastSet }
  /** BEP 6: pieces we let the peer request while we choke it. */
  get localAllowedFast (): ReadonlySet<number> { return this.localAllowedFastSet }
  /** BEP 6: pieces the peer suggested (most recent last, bounded). */
  get suggested (): ReadonlySet<number> { return this.suggestedSet }
  get snubbed (): boolean { return this.requestBook.snubbed }
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
      outstandingRequests: this.requestBook.liveCount,
      uploadQueueBytes: this.uploads.bytes,
      refusedRequests: this.uploads.refused,
      sendQueuePauses: this.readGate.sendQueuePauses
    }
  }

  get downloadRateBytesPerSec (): number { return this.downloadMeter.rateBytesPerSec() }
  get uploadRateBytesPerSec (): number { return this.uploadMeter.rateBytesPerSec() }

  /** Smallest request→block time in the last 10–20 s: the round trip without queueing. */
  get latencyMs (): number | null {
    return this.requestBook.latencyMs
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
    this.uploads.refuseAllExcept((piece) => this.localAllowedFastSet.has(piece))
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
    if (length <= 0 || !this.availability.isValidPiece(piece)) {
      throw badArgument('request', `invalid block ${piece}/${begin}/${length}`)
    }
    if (this.peerChokingValue && !(this.negotiated.fastExtension && this.peerAllowedFastSet.has(piece))) return false
    if (!this.requestBook.canRequest(piece, begin)) return false
    const message = encodeRequest(piece, begin, length) // validates before anything is recorded
    this.requestBook.add(piece, begin, length, this.clock.now())
    this.send(message)
    return true
  }

  /** Cancels an outstanding request (end game). Returns false when it was not outstanding. */
  cancel (piece: number, begin: number, length: number): boolean {
    if (this.currentState !== 'active') return false
    if (!this.requestBook.remove(piece, begin, length)) return false
    this.send(encodeCancel(piece, begin, length))
    return true
  }

  /** True when this block is requested and not yet answered (timed-out requests included). */
  isRequested (piece: number, begin: number): boolean {
    return this.requestBook.has(piece, begin)
  }

  /** Our requests still counting toward the pipeline (timed-out ones excluded), oldest first. */
  outstandingRequests (): BlockRequest[] {
    return this.requestBook.requests()
  }

  get outstandingRequestCount (): number { return this.requestBook.liveCount }

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
    if (this.requestBook.snubbed) return 1
    const rate = this.downloadMeter.rateBytesPerSec()
    const horizonMs = (this.latencyMs ?? 0) + this.settings.requestQueueTimeMs
    const depth = Math.ceil(rate * horizonMs / 1000 / BLOCK_LENGTH_BYTES)
    return Math.min(cap, Math.max(this.settings.minPipelineDepth, depth))
  }

  /** `desiredPipelineDepth() - outstandingRequestCount`, never negative; 0 when requests cannot be sent. */
  availableRequestSlots (): number {
    if (this.currentState !== 'active') return 0
    if (this.peerChokingValue && this.peerAllowedFastSet.size === 0) return 0
    return Math.max(0, this.desiredPipelineDepth() - this.requestBook.liveCount)
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

  /** BEP 52: sends a hash request, hashes or hash reject. False when the connection is closed. */
  sendHashMessage (message: HashMessage): boolean {
    if (!this.canSend('sendHashMessage')) return false
    this.send(encodeHashMessage(message))
    return true
  }

  /** (Re)sends our extended handshake, e.g. after metadata arrived and `metadata_size` is known. */
  sendExtendedHandshake (): void {
    if (!this.canSend('sendExtendedHandshake')) return
    if (!this.negotiated.extensionProtocol) return
    this.send(encodeExtended(EXTENDED_HANDSHAKE_ID, encodeOurExtendedHandshake(this.init, this.extensions, this.settings, this.remoteAddress)))
  }

  /** Stops reading from the socket (e.g. the disk queue is full); `resumeReading` undoes it. */
  pauseReading (): void {
    if (this.currentState !== 'closed') this.readGate.pauseByOwner()
  }

  resumeReading (): void {
    if (this.currentState !== 'closed') this.readGate.resumeByOwner()
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
    const dropped = this.requestBook.dropAll()
    this.uploads.clear()
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
    if (!ok) {
      this.writable = false
      this.readGate.sendRefused(this.settings.maxSendQueueBytes, this.lastSentAtMs) // backpressure on every reply path
    }
    return ok
  }

  private sendHandshake (): void {
    const features: HandshakeFeatures = {
      extensionProtocol: this.settings.enableExtensionProtocol,
      fastExtension: this.settings.enableFastExtension,
      dht: this.init.dht ?? false, v2: this.init.v2 ?? false
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
      // Reads for the chunk's requests start once all of them are queued: back-to-back requests are read as one run.
      this.uploads.holdReads()
      if (borrowed) this.parser.pushBorrowed(chunk, offset)
      else this.parser.push(chunk, offset)
    } catch (error) {
      this.fail(error)
    } finally {
      this.uploads.releaseReads()
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
      dht: remote.dht && (this.init.dht ?? false), v2: remote.v2 === true && (this.init.v2 ?? false)
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
      onBitfield: (bytes) => { this.onAvailability('bitfield', bytes) },
      onRequest: (piece, begin, length) => { this.onRequest(piece, begin, length) },
      onPiece: (piece, begin, data) => { this.onPiece(piece, begin, data) },
      onCancel: (piece, begin, length) => { this.uploads.cancel(piece, begin, length) },
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
      onUnknown: (id, payload) => { if (this.init.v2 === true && isHashMessageId(id)) this.emit('hash-message-received', decodeHashMessage(id, payload)) }
    }
  }

  private requireFast (what: string): void {
    // BEP 6: a fast-extension message when the extension was not negotiated closes the connection.
    if (!this.negotiated.fastExtension) throw violation(`${what} message without the fast extension`)
  }

  private isValidPiece (piece: number): boolean {
    return this.availability.isValidPiece(piece)
  }

  private onChoke (): void {
    if (this.peerChokingValue) return
    this.peerChokingValue = true
    // BEP 6: with the fast extension a choke no longer cancels requests; the peer rejects them.
    const dropped = this.negotiated.fastExtension ? [] : this.requestBook.dropAll()
    this.emit('choked', {})
    if (dropped.length > 0) this.emit('requests-dropped', { blocks: dropped, reason: 'choked' })
  }

  private onHave (piece: number): void {
    if (this.availability.have(piece)) this.emit('have', { piece })
  }

  private onAvailability (source: 'bitfield' | 'have-all' | 'have-none', bytes: Uint8Array | null): void {
    if (this.availability.announced) {
      for (const piece of this.availability.reannounce(source, bytes)) this.emit('have', { piece })
      return
    }
    const bitfield = this.availability.announce(source, bytes)
    if (bitfield !== null) this.emit('bitfield', { bitfield, source })
  }

  private setPieceCountInternal (pieceCount: number): void {
    this.availability.setPieceCount(pieceCount)
    for (const piece of [...this.peerAllowedFastSet]) if (piece >= pieceCount) this.peerAllowedFastSet.delete(piece)
    for (const piece of [...this.suggestedSet]) if (piece >= pieceCount) this.suggestedSet.delete(piece)
  }

  private onPiece (piece: number, begin: number, data: Uint8Array): void {
    const now = this.clock.now()
    // Any block shows the peer is sending: that ends a snub, even if the block itself is wasted.
    if (this.requestBook.blockArrived(now)) this.emit('unsnubbed', {})
    if (!this.requestBook.received(piece, begin, data.length, now)) {
      this.wastedBytesValue += data.length
      this.emit('wasted-received', { piece, begin, lengthBytes: data.length })
      return
    }
    this.downloadMeter.add(data.length)
    this.emit('piece-received', { piece, begin, data, origin: pieceOrigin(this.socket, data, this.parser.joinedStart) })
  }

  private onReject (piece: number, begin: number, length: number): void {
    this.requireFast('reject')
    // A reject for a block we cancelled (or never asked for) is ignored: cancels race with replies.
    if (!this.requestBook.remove(piece, begin, length)) return
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

  // --- internals: the peer's requests -------------------------------------------------------

  private onRequest (piece: number, begin: number, length: number): void {
    const valid = length > 0 && length <= this.settings.maxRequestLengthBytes && this.isValidPiece(piece) &&
      this.init.readBlock !== undefined
    const choked = this.amChokingValue && !this.localAllowedFastSet.has(piece)
    this.uploads.request(piece, begin, length, valid && !choked)
  }

  private onDrain (): void {
    if (this.currentState === 'closed') return
    this.readGate.drained()
    if (this.writable) return
    this.writable = true
    this.uploads.resume()
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
      if (now - this.handshakeStartedAtMs >= this.settings.handshakeTimeoutMs) {
        this.close(new LodestoneError('PEER_TIMEOUT', { what: 'handshake', timeoutMs: this.settings.handshakeTimeoutMs }))
      }
      return
    }
    if (this.readGate.sendStalledForMs(now) >= this.settings.sendStallTimeoutMs) {
      this.close(new LodestoneError('PEER_TIMEOUT', { what: 'send', timeoutMs: this.settings.sendStallTimeoutMs }))
      return
    }
    if (now - this.lastReceivedAtMs >= this.settings.idleTimeoutMs) {
      this.close(new LodestoneError('PEER_TIMEOUT', { what: 'idle', timeoutMs: this.settings.idleTimeoutMs }))
      return
    }
    if (now - this.lastSentAtMs >= this.settings.keepAliveIntervalMs) this.send(encodeKeepAlive())
    this.requestBook.rotateLatency(now)
    this.checkRequests(now)
  }

  private checkRequests (now: number): void {
    // Snub first: it depends on requests being outstanding, and expiring forgets old ones.
    if (this.requestBook.checkSnub(now, this.settings.snubTimeoutMs)) this.emit('snubbed', {})
    const timedOut = this.requestBook.expire(now, this.settings.requestTimeoutMs, this.settings.snubTimeoutMs)
    if (timedOut !== null && this.currentState === 'active') this.emit('request-timed-out', { blocks: timedOut })
  }
}
