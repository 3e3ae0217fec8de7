/**
 * BEP 52 hash messages: hash request (21), hashes (22), hash reject (23).
 *
 * All three start with the same 48-byte header — pieces root (32), base layer, index, length,
 * proof layers (u32 each) — and `hashes` appends the hashes: `length` hashes of the base layer
 * followed by the uncle hashes that prove them up to `proofLayers` layers above the base.
 *
 * The decoder checks only what the bytes can say on their own (sizes, bounds that keep a tree
 * walk small); whether a request fits a file's tree is for the side that owns the tree
 * (v2/merkle-proof.ts), and whether hashes answer our request for the side that asked.
 */
import { LodestoneError, ProtocolError } from '../errors.js'
import { MessageId } from './wire-messages.js'

/** Bytes of the common header after the message id. */
export const HASH_MESSAGE_HEADER_BYTES = 48
/** A v2 hash (SHA-256). */
const HASH_BYTES = 32
/**
 * Largest `length` accepted: BEP 52 asks for at most 512; libtorrent accepts up to 8192 (a base
 * layer of 8192 blocks is a 128 MiB piece), so we do too.
 */
export const MAX_HASH_REQUEST_LENGTH = 8192
/**
 * Largest `proofLayers`: a file of 2^53 bytes has 39 layers above its 16 KiB blocks, so anything
 * larger cannot name a real tree.
 */
export const MAX_PROOF_LAYERS = 64

/** What a hash request names: a range of one layer of one file's merkle tree, and how much proof. */
export interface HashRequest {
  /** The file's `pieces root` (32 bytes). */
  piecesRoot: Uint8Array
  /** Layer of the requested hashes, counted from the 16 KiB block layer (0) upwards. */
  baseLayer: number
  /** Offset, in hashes, of the first requested hash in the base layer (a multiple of `length`). */
  index: number
  /** Number of hashes requested (a power of two). */
  length: number
  /** How many layers above the base the proof reaches (uncle hashes from the subtree's root up). */
  proofLayers: number
}

/** A decoded BEP 52 message. `hashes` holds `length` base hashes, then the uncle hashes, 32 bytes each. */
export type HashMessage =
  | { type: 'hash-request', request: HashRequest }
  | { type: 'hashes', request: HashRequest, hashes: Uint8Array }
  | { type: 'hash-reject', request: HashRequest }

function putU32 (buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24
  buf[at + 1] = (value >>> 16) & 0xff
  buf[at + 2] = (value >>> 8) & 0xff
  buf[at + 3] = value & 0xff
}

function u32 (b: Uint8Array, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0
}

function checkRequest (request: HashRequest): void {
  const bad = (name: string, reason: string): LodestoneError<'ARGUMENT_INVALID'> => new LodestoneError('ARGUMENT_INVALID', { name, reason })
  if (request.piecesRoot.length !== HASH_BYTES) throw bad('piecesRoot', 'must be 32 bytes')
  for (const name of ['baseLayer', 'index', 'length', 'proofLayers'] as const) {
    const v = request[name]
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw bad(name, `${v} is not a 32-bit unsigned integer`)
  }
}

function encodeWithHeader (id: number, request: HashRequest, extraBytes: number): Uint8Array {
  checkRequest(request)
  const body = 1 + HASH_MESSAGE_HEADER_BYTES + extraBytes
  const buf = new Uint8Array(4 + body)
  putU32(buf, 0, body)
  buf[4] = id
  buf.set(request.piecesRoot, 5)
  putU32(buf, 37, request.baseLayer)
  putU32(buf, 41, request.index)
  putU32(buf, 45, request.length)
  putU32(buf, 49, request.proofLayers)
  return buf
}

/** @throws LodestoneError ARGUMENT_INVALID for a root that is not 32 bytes or a field that is not a u32 (caller bugs). */
export function encodeHashRequest (request: HashRequest): Uint8Array {
  return encodeWithHeader(MessageId.hashRequest, request, 0)
}

/** @throws LodestoneError ARGUMENT_INVALID as {@link encodeHashRequest}. */
export function encodeHashReject (request: HashRequest): Uint8Array {
  return encodeWithHeader(MessageId.hashReject, request, 0)
}

/**
 * `hashes`: the base hashes then the uncle hashes, concatenated (copied into the message).
 * @throws LodestoneError ARGUMENT_INVALID as {@link encodeHashRequest}, or when `hashes` is not whole 32-byte hashes.
 */
export function encodeHashes (request: HashRequest, hashes: Uint8Array): Uint8Array {
  if (hashes.length % HASH_BYTES !== 0) throw new LodestoneError('ARGUMENT_INVALID', { name: 'hashes', reason: `${hashes.length} bytes is not a whole number of 32-byte hashes` })
  const buf = encodeWithHeader(MessageId.hashes, request, hashes.length)
  buf.set(hashes, 5 + HASH_MESSAGE_HEADER_BYTES)
  return buf
}

/** True for the message ids of BEP 52's hash messages (21, 22, 23). */
export function isHashMessageId (id: number): boolean {
  return id === MessageId.hashRequest || id === MessageId.hashes || id === MessageId.hashReject
}

function violation (reason: string): ProtocolError<'PEER_PROTOCOL_VIOLATION'> {
  return new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason }, { message: `protocol violation: ${reason}` })
}

/**
 * Decodes the payload (after the id byte) of message `id` (21, 22 or 23). The result holds copies,
 * so `payload` may be a borrowed view.
 * @throws ProtocolError PEER_PROTOCOL_VIOLATION on a wrong size, a `length` of 0 or above
 *   {@link MAX_HASH_REQUEST_LENGTH}, `proofLayers` above {@link MAX_PROOF_LAYERS}, a `hashes`
 *   message with fewer than `length` hashes or more than `length + proofLayers + 1`, or an id
 *   that is not a hash message.
 */
export function decodeHashMessage (id: number, payload: Uint8Array): HashMessage {
  const name = id === MessageId.hashRequest ? 'hash request' : id === MessageId.hashes ? 'hashes' : id === MessageId.hashReject ? 'hash reject' : null
  if (name === null) throw violation(`message id ${id} is not a BEP 52 hash message`)
  if (payload.length < HASH_MESSAGE_HEADER_BYTES || (id !== MessageId.hashes && payload.length !== HASH_MESSAGE_HEADER_BYTES)) {
    throw violation(`${name} message has ${payload.length} payload bytes, expected ${id === MessageId.hashes ? 'at least ' : ''}${HASH_MESSAGE_HEADER_BYTES}`)
  }
  const request: HashRequest = {
    piecesRoot: payload.slice(0, HASH_BYTES),
    baseLayer: u32(payload, 32),
    index: u32(payload, 36),
    length: u32(payload, 40),
    proofLayers: u32(payload, 44)
  }
  if (request.length === 0 || request.length > MAX_HASH_REQUEST_LENGTH) throw violation(`${name} length ${request.length} is not in 1..${MAX_HASH_REQUEST_LENGTH}`)
  if (request.proofLayers > MAX_PROOF_LAYERS) throw violation(`${name} proof layers ${request.proofLayers} is above ${MAX_PROOF_LAYERS}`)
  if (id === MessageId.hashRequest) return { type: 'hash-request', request }
  if (id === MessageId.hashReject) return { type: 'hash-reject', request }
  const hashBytes = payload.length - HASH_MESSAGE_HEADER_BYTES
  if (hashBytes % HASH_BYTES !== 0) throw violation(`hashes message carries ${hashBytes} bytes, not whole 32-byte hashes`)
  const count = hashBytes / HASH_BYTES
  if (count < request.length || count > request.length + request.proofLayers + 1) {
    throw violation(`hashes message carries ${count} hashes for length ${request.length} and ${request.proofLayers} proof layers`)
  }
  return { type: 'hashes', request, hashes: payload.slice(HASH_MESSAGE_HEADER_BYTES) }
}

/** Encodes any {@link HashMessage} (tests and tools). */
export function encodeHashMessage (message: HashMessage): Uint8Array {
  switch (message.type) {
    case 'hash-request': return encodeHashRequest(message.request)
    case 'hashes': return encodeHashes(message.request, message.hashes)
    case 'hash-reject': return encodeHashReject(message.request)
  }
}
