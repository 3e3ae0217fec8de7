/**
 * BEP 9 `ut_metadata`: exchanging the info dictionary over the BEP 10 extension protocol.
 *
 * The metadata (the info dict's exact bytes) travels in 16 KiB pieces; the last one may be
 * shorter. Three messages, each a bencoded dict (`msg_type`, `piece`), the data message followed
 * by the raw piece bytes after the dict:
 *
 * ```
 * request  d8:msg_typei0e5:piecei3ee
 * data     d8:msg_typei1e5:piecei3e10:total_sizei34256ee<bytes>
 * reject   d8:msg_typei2e5:piecei3ee
 * ```
 *
 * This module is the codec and the per-connection plug-in. The plug-in serves our metadata when
 * we have it (`metadata_size` in our handshake, data answers; a reject otherwise, as BEP 9 asks)
 * and hands a peer's answers to a {@link UtMetadataSink} — the metadata fetcher — which decides
 * what to request. It checks every answer against the request it made, so the sink only sees
 * data for pieces it asked for, of the exact length the piece must have.
 *
 * Serving is bounded per connection: a peer needs each piece once, so it may ask for
 * `SERVE_BUDGET_FACTOR` times the piece count (plus slack); further requests are rejected.
 */
import { ProtocolError } from '../errors.js'
import { bencodeDecodePrefix, bencodeEncode, getInt, isBencodeDict, type BencodeEncodable } from './bencode.js'
import type { ExtendedHandshake, PeerExtension, PeerExtensionContext, PeerExtensionFactory } from './extension-protocol.js'

/** BEP 10 name of the extension. */
export const UT_METADATA = 'ut_metadata'
/** The id we receive ut_metadata under (libtorrent's choice; ut_pex uses 1). */
export const UT_METADATA_LOCAL_ID = 2
/** BEP 9: metadata pieces are 16 KiB, the last one may be shorter. */
export const METADATA_PIECE_BYTES = 16_384
/** A peer may request each piece this many times per connection (plus {@link SERVE_BUDGET_SLACK}). */
const SERVE_BUDGET_FACTOR = 4
const SERVE_BUDGET_SLACK = 16
/** Decoder limits for the message dict: three small integers (and unknown keys from newer peers). */
const MESSAGE_DECODE_LIMITS = { maxDepth: 4, maxItems: 64, maxStringBytes: 1_024, strictKeyOrder: false } as const

/** A decoded ut_metadata message. Unknown `msg_type`s are reported, never an error (BEP 9). */
export type UtMetadataMessage =
  | { type: 'request', piece: number }
  | { type: 'data', piece: number, totalSizeBytes: number, data: Uint8Array }
  | { type: 'reject', piece: number }
  | { type: 'unknown', msgType: number }

function violation (reason: string): ProtocolError<'PEER_PROTOCOL_VIOLATION'> {
  return new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason }, { message: `ut_metadata: ${reason}` })
}

/** Number of 16 KiB pieces of metadata of `sizeBytes`. */
export function metadataPieceCount (sizeBytes: number): number {
  return Math.ceil(sizeBytes / METADATA_PIECE_BYTES)
}

/** Length of piece `piece` of metadata of `sizeBytes` (0 when out of range). */
export function metadataPieceLength (sizeBytes: number, piece: number): number {
  const start = piece * METADATA_PIECE_BYTES
  if (piece < 0 || start >= sizeBytes) return 0
  return Math.min(METADATA_PIECE_BYTES, sizeBytes - start)
}

export function encodeMetadataRequest (piece: number): Uint8Array {
  return bencodeEncode({ msg_type: 0, piece })
}

export function encodeMetadataReject (piece: number): Uint8Array {
  return bencodeEncode({ msg_type: 2, piece })
}

/** The data message: the dict, then `data` (copied into one buffer). */
export function encodeMetadataData (piece: number, totalSizeBytes: number, data: Uint8Array): Uint8Array {
  const head = bencodeEncode({ msg_type: 1, piece, total_size: totalSizeBytes })
  const out = new Uint8Array(head.length + data.length)
  out.set(head, 0)
  out.set(data, head.length)
  return out
}

/**
 * Decodes a ut_metadata payload. `data` of a data message is a view into `payload`.
 * @throws ProtocolError PEER_PROTOCOL_VIOLATION when it is not a dict with integer `msg_type`
 *   and a non-negative integer `piece` (and `total_size` for data).
 */
export function decodeMetadataMessage (payload: Uint8Array): UtMetadataMessage {
  let decoded
  try {
    decoded = bencodeDecodePrefix(payload, { ...MESSAGE_DECODE_LIMITS, maxTotalBytes: payload.length })
  } catch (error) {
    throw new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: 'ut_metadata message is not valid bencode' }, { cause: error })
  }
  const dict = decoded.value
  if (!isBencodeDict(dict)) throw violation('message is not a dict')
  const msgType = getInt(dict, 'msg_type')
  if (msgType === undefined) throw violation('message without an integer msg_type')
  if (msgType !== 0 && msgType !== 1 && msgType !== 2) return { type: 'unknown', msgType }
  const piece = getInt(dict, 'piece')
  if (piece === undefined || piece < 0) throw violation('message without a valid piece index')
  if (msgType === 0) return { type: 'request', piece }
  if (msgType === 2) return { type: 'reject', piece }
  const totalSizeBytes = getInt(dict, 'total_size')
  if (totalSizeBytes === undefined || totalSizeBytes <= 0) throw violation('data message without a valid total_size')
  return { type: 'data', piece, totalSizeBytes, data: payload.subarray(decoded.lengthBytes) }
}

/** One peer's ut_metadata side, as the fetcher sees it. */
export interface UtMetadataPeer {
  /** The size the peer announced (`metadata_size`), or undefined when it announced none. */
  readonly metadataSizeBytes: number | undefined
  /** Requests a piece. False when the peer cannot be asked (no ut_metadata, closed, already requested). */
  request (piece: number): boolean
  /** Pieces requested and not yet answered. */
  readonly outstanding: ReadonlySet<number>
  /** Forgets an outstanding request (timed out); a late answer is then ignored. */
  forget (piece: number): void
  /** Closes the connection with `reason`. */
  close (reason: ProtocolError): void
}

/** Receives what peers say about the metadata. Throwing a LodestoneError closes that peer with it. */
export interface UtMetadataSink {
  /** The peer's handshake arrived (again) and it supports ut_metadata (its size may be undefined). */
  onPeerReady (peer: UtMetadataPeer): void
  /** A piece we requested, of the exact length it must have. `data` is a view the sink may keep. */
  onData (peer: UtMetadataPeer, piece: number, data: Uint8Array): void
  onReject (peer: UtMetadataPeer, piece: number): void
  onPeerClosed (peer: UtMetadataPeer): void
}

export interface UtMetadataOptions {
  /** The info dict's exact bytes when we have them (read on each use), else null. */
  metadata: () => Uint8Array | null
  /** Where answers to our requests go (magnets); absent: we only serve. */
  sink?: UtMetadataSink
}

/** Per-connection instance. */
class UtMetadataExtension implements PeerExtension, UtMetadataPeer {
  readonly name = UT_METADATA
  readonly localId = UT_METADATA_LOCAL_ID
  metadataSizeBytes: number | undefined = undefined
  readonly outstanding = new Set<number>()
  private served = 0
  private ready = false

  constructor (private readonly ctx: PeerExtensionContext, private readonly options: UtMetadataOptions) {}

  handshakeFields (): ReadonlyMap<string, BencodeEncodable> {
    const metadata = this.options.metadata()
    // BEP 9: metadata_size only when we have the metadata.
    return metadata === null ? new Map() : new Map([['metadata_size', metadata.length]])
  }

  onHandshake (handshake: ExtendedHandshake, remoteId: number | undefined): void {
    this.metadataSizeBytes = handshake.metadataSize !== undefined && handshake.metadataSize > 0 ? handshake.metadataSize : undefined
    if (remoteId === undefined) return
    this.ready = true
    this.options.sink?.onPeerReady(this)
  }

  onMessage (payload: Uint8Array): void {
    const msg = decodeMetadataMessage(payload)
    switch (msg.type) {
      case 'request': this.serve(msg.piece); break
      case 'data': this.onData(msg.piece, msg.totalSizeBytes, msg.data); break
      case 'reject':
        if (!this.outstanding.delete(msg.piece)) return
        this.options.sink?.onReject(this, msg.piece)
        break
      case 'unknown': break // BEP 9: ignore unknown message types
    }
  }

  onClose (): void {
    this.outstanding.clear()
    if (this.ready) this.options.sink?.onPeerClosed(this)
    this.ready = false
  }

  request (piece: number): boolean {
    if (this.ctx.remoteId === undefined || this.outstanding.has(piece)) return false
    if (!this.ctx.send(encodeMetadataRequest(piece))) return false
    this.outstanding.add(piece)
    return true
  }

  forget (piece: number): void { this.outstanding.delete(piece) }

  close (reason: ProtocolError): void { this.ctx.close(reason) }

  private serve (piece: number): void {
    const metadata = this.options.metadata()
    const length = metadata === null ? 0 : metadataPieceLength(metadata.length, piece)
    const budget = metadata === null ? 0 : metadataPieceCount(metadata.length) * SERVE_BUDGET_FACTOR + SERVE_BUDGET_SLACK
    if (metadata === null || length === 0 || this.served >= budget) {
      this.ctx.send(encodeMetadataReject(piece))
      return
    }
    this.served++
    const start = piece * METADATA_PIECE_BYTES
    this.ctx.send(encodeMetadataData(piece, metadata.length, metadata.subarray(start, start + length)))
  }

  private onData (piece: number, totalSizeBytes: number, data: Uint8Array): void {
    // Unrequested (or timed-out) pieces are ignored: cheap to drop, and never trusted.
    if (!this.outstanding.has(piece)) return
    const size = this.metadataSizeBytes
    if (size !== undefined && totalSizeBytes !== size) {
      throw violation(`total_size ${totalSizeBytes} differs from the metadata_size ${size} the peer announced`)
    }
    if (size === undefined) this.metadataSizeBytes = totalSizeBytes
    const expected = metadataPieceLength(totalSizeBytes, piece)
    if (expected === 0) throw violation(`piece ${piece} is beyond total_size ${totalSizeBytes}`)
    if (data.length !== expected) throw violation(`piece ${piece} has ${data.length} bytes, expected ${expected}`)
    this.outstanding.delete(piece)
    this.options.sink?.onData(this, piece, data)
  }
}

/** The ut_metadata plug-in for {@link PeerConnectionInit.extensions}. */
export function createUtMetadataExtension (options: UtMetadataOptions): PeerExtensionFactory {
  return (ctx) => new UtMetadataExtension(ctx, options)
}
