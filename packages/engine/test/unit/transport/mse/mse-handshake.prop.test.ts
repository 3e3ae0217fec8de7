import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../../src/errors.js'
import { seededRandom } from '../../../../src/interfaces/random.js'
import { CRYPTO_PLAINTEXT, CRYPTO_RC4, MseHandshake } from '../../../../src/transport/mse/mse-handshake.js'
import { toHex } from '../../../../src/util/bytes.js'
import { concat, makePair, runExchange, selectPreferRc4, SKEY, skeyTable, split } from './mse-test-kit.js'

const SEED = Number(process.env.FC_SEED ?? 0x3e5e16)
const params = { seed: SEED, numRuns: 150, verbose: 1 } as const
console.info(`MSE handshake property tests: seed ${SEED} (set FC_SEED to replay)`)

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: 40 })

/** True for the handshake's own typed failure; anything else thrown is a bug. */
function isCleanFailure (error: unknown): boolean {
  return hasCode(error, 'PEER_ENCRYPTION_FAILED')
}

describe('MseHandshake properties', () => {
  it('any split of a valid exchange, any pads, any offer, any IA: both sides finish and read each other exactly', () => {
    fc.assert(fc.property(
      cuts, fc.integer(), fc.constantFrom(CRYPTO_RC4, CRYPTO_PLAINTEXT, CRYPTO_RC4 | CRYPTO_PLAINTEXT),
      fc.boolean(), fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }),
      (at, seed, provide, preferPlain, ia, aPayload, bPayload) => {
        const select = preferPlain ? (p: number) => (p & CRYPTO_PLAINTEXT) !== 0 ? CRYPTO_PLAINTEXT : p & CRYPTO_RC4 : selectPreferRc4
        const x = runExchange(makePair({ random: seededRandom(seed), provide, select, initialPayload: ia }), at, aPayload, bPayload)
        expect(x.a.method).toBe(x.b.method)
        expect(toHex(x.bReceived)).toBe(toHex(concat([ia, aPayload])))
        expect(toHex(x.aReceived)).toBe(toHex(bPayload))
      }), params)
  })

  it('random bytes to the accepting side: it waits or fails with PEER_ENCRYPTION_FAILED, and fails once past Ya + 512 + 20', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 1_500 }), cuts, (bytes, at) => {
      const b = new MseHandshake({ role: 'responder', findSkey: skeyTable([SKEY]), selectCrypto: selectPreferRc4 }, { random: seededRandom(1) })
      let failed = false
      try {
        for (const chunk of split(bytes, at)) b.receive(chunk)
      } catch (error) {
        expect(isCleanFailure(error)).toBe(true)
        failed = true
      }
      expect(b.done).toBe(false)
      if (bytes.length >= 96 + 512 + 20) expect(failed).toBe(true)
    }), params)
  })

  it('random bytes to the dialling side after its Ya: it waits or fails cleanly, and fails once past Yb + 512 + 8', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 1_500 }), cuts, (bytes, at) => {
      const { a } = makePair()
      a.start()
      let failed = false
      try {
        for (const chunk of split(bytes, at)) a.receive(chunk)
      } catch (error) {
        expect(isCleanFailure(error)).toBe(true)
        failed = true
      }
      expect(a.done).toBe(false)
      if (bytes.length >= 96 + 512 + 8) expect(failed).toBe(true)
    }), params)
  })

  it('a valid exchange with one byte corrupted or cut short: finishes or fails cleanly, never anything else', () => {
    fc.assert(fc.property(fc.integer(), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), cuts, (seed, where, xor, toResponder, at) => {
      const { a, b } = makePair({ random: seededRandom(seed) })
      try {
        let toB = [a.start()]
        for (let round = 0; round < 3; round++) {
          const flight = concat(toB)
          if (toResponder && round === 1 && flight.length > 0) flight[where % flight.length] = flight[where % flight.length]! ^ xor
          const toA: Uint8Array[] = []
          for (const chunk of split(flight, at)) toA.push(...b.receive(chunk))
          let back = concat(toA)
          if (!toResponder && round === 1 && back.length > 0) back = back.subarray(0, where % back.length)
          toB = []
          for (const chunk of split(back, at)) toB.push(...a.receive(chunk))
        }
      } catch (error) {
        expect(isCleanFailure(error)).toBe(true)
      }
    }), params)
  })
})
