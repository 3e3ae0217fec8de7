import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isLodestoneError } from '../../../src/errors.js'
import { decodeHashMessage, encodeHashMessage, MAX_HASH_REQUEST_LENGTH, MAX_PROOF_LAYERS, type HashMessage, type HashRequest } from '../../../src/protocol/hash-messages.js'
import { MessageId } from '../../../src/protocol/wire-messages.js'

const arbRequest: fc.Arbitrary<HashRequest> = fc.record({
  piecesRoot: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  baseLayer: fc.nat({ max: 0xffff_ffff }),
  index: fc.nat({ max: 0xffff_ffff }),
  length: fc.integer({ min: 1, max: MAX_HASH_REQUEST_LENGTH }),
  proofLayers: fc.nat({ max: MAX_PROOF_LAYERS })
})

const arbMessage: fc.Arbitrary<HashMessage> = arbRequest.chain((request) => fc.oneof(
  fc.constant<HashMessage>({ type: 'hash-request', request }),
  fc.constant<HashMessage>({ type: 'hash-reject', request }),
  // Small lengths only for hashes, so the property stays cheap.
  fc.nat({ max: request.proofLayers + 1 }).chain((extra) => fc.uint8Array({ minLength: (Math.min(request.length, 16) + extra) * 32, maxLength: (Math.min(request.length, 16) + extra) * 32 })
    .map((hashes): HashMessage => ({ type: 'hashes', request: { ...request, length: Math.min(request.length, 16) }, hashes })))
))

describe('BEP 52 hash messages (properties)', () => {
  it('decode(encode(m)) is m', () => {
    fc.assert(fc.property(arbMessage, (message) => {
      const bytes = encodeHashMessage(message)
      expect(decodeHashMessage(bytes[4] ?? 0, bytes.subarray(5))).toEqual(message)
    }))
  })

  it('any payload either decodes or throws a LodestoneError, never anything else', () => {
    const ids = fc.constantFrom(MessageId.hashRequest, MessageId.hashes, MessageId.hashReject)
    fc.assert(fc.property(ids, fc.uint8Array({ maxLength: 400 }), (id, payload) => {
      try {
        const m = decodeHashMessage(id, payload)
        expect(m.request.piecesRoot.length).toBe(32)
      } catch (error) {
        expect(isLodestoneError(error)).toBe(true)
      }
    }))
  })
})
