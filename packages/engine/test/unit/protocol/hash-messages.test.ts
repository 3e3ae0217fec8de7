import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import {
  decodeHashMessage, encodeHashes, encodeHashMessage, encodeHashReject, encodeHashRequest, isHashMessageId,
  MAX_HASH_REQUEST_LENGTH, MAX_PROOF_LAYERS, type HashRequest
} from '../../../src/protocol/hash-messages.js'
import { createMessageCollector, MessageParser } from '../../../src/protocol/message-parser.js'
import { MessageId, type WireMessage } from '../../../src/protocol/wire-messages.js'

const root = Uint8Array.from({ length: 32 }, (_, i) => i + 1)
const request: HashRequest = { piecesRoot: root, baseLayer: 2, index: 512, length: 128, proofLayers: 9 }

function catchError (fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

function hashBytes (count: number, seed = 7): Uint8Array {
  return Uint8Array.from({ length: count * 32 }, (_, i) => (i * seed + 3) & 0xff)
}

/** Runs encoded bytes through the real wire parser and returns the (unknown-id) message body. */
function throughParser (bytes: Uint8Array): { id: number, payload: Uint8Array } {
  const out: WireMessage[] = []
  new MessageParser(createMessageCollector((m) => out.push(m))).push(bytes)
  const m = out[0]
  if (out.length !== 1 || m?.type !== 'unknown') throw new Error(`expected one unknown-id message, got ${JSON.stringify(out)}`)
  return { id: m.id, payload: m.payload }
}

describe('BEP 52 hash messages', () => {
  it('lays out a hash request: length, id 21, root, base, index, length, proof layers', () => {
    const bytes = encodeHashRequest(request)
    expect(bytes.length).toBe(4 + 1 + 48)
    expect([...bytes.subarray(0, 5)]).toEqual([0, 0, 0, 49, 21])
    expect(bytes.subarray(5, 37)).toEqual(root)
    expect([...bytes.subarray(37, 53)]).toEqual([0, 0, 0, 2, 0, 0, 2, 0, 0, 0, 0, 128, 0, 0, 0, 9])
    expect(encodeHashReject(request)[4]).toBe(23)
  })

  it('round-trips request, hashes and reject through the wire parser', () => {
    const hashes = hashBytes(request.length + 1)
    for (const message of [
      { type: 'hash-request', request },
      { type: 'hashes', request, hashes },
      { type: 'hash-reject', request }
    ] as const) {
      const { id, payload } = throughParser(encodeHashMessage(message))
      expect(isHashMessageId(id)).toBe(true)
      expect(decodeHashMessage(id, payload)).toEqual(message)
    }
  })

  it('copies what it decodes (the payload may be a borrowed socket buffer)', () => {
    const bytes = encodeHashes(request, hashBytes(128))
    const decoded = decodeHashMessage(MessageId.hashes, bytes.subarray(5))
    bytes.fill(0)
    if (decoded.type !== 'hashes') throw new Error('expected hashes')
    expect(decoded.request.piecesRoot).toEqual(root)
    expect(decoded.hashes).toEqual(hashBytes(128))
  })

  it('refuses malformed messages with PEER_PROTOCOL_VIOLATION', () => {
    const payload = encodeHashRequest(request).subarray(5)
    const cases: Array<[number, Uint8Array]> = [
      [MessageId.hashRequest, payload.subarray(0, 47)],
      [MessageId.hashRequest, Uint8Array.from([...payload, 0])],
      [MessageId.hashReject, payload.subarray(0, 40)],
      [MessageId.hashes, Uint8Array.from([...payload, ...hashBytes(128), 1])], // not whole hashes
      [MessageId.hashes, Uint8Array.from([...payload, ...hashBytes(127)])], // fewer than length
      [MessageId.hashes, Uint8Array.from([...payload, ...hashBytes(128 + 11)])], // more than length + proof layers + 1
      [MessageId.hashRequest, encodeHashRequest({ ...request, length: 0 }).subarray(5)],
      [MessageId.hashRequest, encodeHashRequest({ ...request, length: MAX_HASH_REQUEST_LENGTH + 1 }).subarray(5)],
      [MessageId.hashRequest, encodeHashRequest({ ...request, proofLayers: MAX_PROOF_LAYERS + 1 }).subarray(5)],
      [MessageId.piece, payload]
    ]
    for (const [id, bytes] of cases) {
      expect(hasCode(catchError(() => decodeHashMessage(id, bytes)), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    }
  })

  it('accepts the most a request may carry: length + proof layers + 1 hashes', () => {
    const hashes = hashBytes(128 + 10)
    const m = decodeHashMessage(MessageId.hashes, encodeHashes(request, hashes).subarray(5))
    expect(m.type === 'hashes' ? m.hashes.length : 0).toBe(138 * 32)
  })

  it('refuses caller bugs with ARGUMENT_INVALID', () => {
    expect(hasCode(catchError(() => encodeHashRequest({ ...request, piecesRoot: new Uint8Array(20) })), 'ARGUMENT_INVALID')).toBe(true)
    expect(hasCode(catchError(() => encodeHashRequest({ ...request, index: -1 })), 'ARGUMENT_INVALID')).toBe(true)
    expect(hasCode(catchError(() => encodeHashRequest({ ...request, length: 2 ** 32 })), 'ARGUMENT_INVALID')).toBe(true)
    expect(hasCode(catchError(() => encodeHashes(request, new Uint8Array(33))), 'ARGUMENT_INVALID')).toBe(true)
  })
})
