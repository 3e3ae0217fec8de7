import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../../src/errors.js'
import { seededRandom } from '../../../../src/interfaces/random.js'
import { sha1 } from '../../../../src/hashing/sha1.js'
import {
  CRYPTO_PLAINTEXT, CRYPTO_RC4, MseHandshake, type MseFailureReason
} from '../../../../src/transport/mse/mse-handshake.js'
import { MSE_RC4_DISCARD_BYTES, Rc4 } from '../../../../src/transport/mse/rc4.js'
import { dhSharedSecret, createDhKeyPair } from '../../../../src/transport/mse/dh.js'
import { toHex } from '../../../../src/util/bytes.js'
import {
  ascii, concat, handMadeInitiator, makePair, OTHER_SKEY, runExchange, selectPreferRc4, SKEY, skeyTable
} from './mse-test-kit.js'

function failureOf (fn: () => unknown): MseFailureReason | 'no error' | 'untyped' {
  try {
    fn()
    return 'no error'
  } catch (error) {
    return hasCode(error, 'PEER_ENCRYPTION_FAILED') ? error.details.reason as MseFailureReason : 'untyped'
  }
}

const A_PAYLOAD = ascii('after the handshake, from A: interested, requests...')
const B_PAYLOAD = ascii('B: its BitTorrent handshake, bitfield, unchoke')

function responder (select: (provide: number) => number = selectPreferRc4, skeys = [SKEY]): MseHandshake {
  return new MseHandshake({ role: 'responder', findSkey: skeyTable(skeys), selectCrypto: select }, { random: seededRandom(9) })
}

describe('MseHandshake', () => {
  it('completes with RC4 when both offer it; each side reads the other stream exactly, IA first', () => {
    const ia = ascii('\x13BitTorrent protocol........')
    const x = runExchange(makePair({ initialPayload: ia }), [], A_PAYLOAD, B_PAYLOAD)
    expect(x.a.method).toBe('rc4')
    expect(x.b.method).toBe('rc4')
    expect(toHex(x.b.skey)).toBe(toHex(SKEY))
    expect(toHex(x.b.initialPayload)).toBe(toHex(ia))
    expect(toHex(x.bReceived)).toBe(toHex(concat([ia, A_PAYLOAD])))
    expect(toHex(x.aReceived)).toBe(toHex(B_PAYLOAD))
  })

  it('selects plaintext when the responder prefers it: header obfuscation only, payload in the clear', () => {
    const x = runExchange(makePair({ select: (p) => (p & CRYPTO_PLAINTEXT) !== 0 ? CRYPTO_PLAINTEXT : p & CRYPTO_RC4 }), [], A_PAYLOAD, B_PAYLOAD)
    expect(x.a.method).toBe('plaintext')
    expect(x.b.method).toBe('plaintext')
    expect(toHex(x.aReceived)).toBe(toHex(B_PAYLOAD))
    expect(toHex(x.bReceived.subarray(x.b.initialPayload.length))).toBe(toHex(A_PAYLOAD))
  })

  it('an RC4-only offer gets RC4 even from a responder that prefers plaintext', () => {
    const x = runExchange(makePair({ provide: CRYPTO_RC4, select: (p) => (p & CRYPTO_PLAINTEXT) !== 0 ? CRYPTO_PLAINTEXT : p & CRYPTO_RC4 }), [], A_PAYLOAD, B_PAYLOAD)
    expect(x.a.method).toBe('rc4')
  })

  it('works with zero-length pads and an empty IA', () => {
    const x = runExchange(makePair({ maxPadBytes: 0, initialPayload: new Uint8Array(0) }), [], A_PAYLOAD, B_PAYLOAD)
    expect(x.b.initialPayload.length).toBe(0)
    expect(toHex(x.bReceived)).toBe(toHex(A_PAYLOAD))
  })

  it('works with the largest pads (512) and a 65 535-byte IA, delivered a byte at a time', () => {
    const random = seededRandom(3)
    const ia = random.fill(new Uint8Array(65_535))
    const always512 = { next: () => 0.999_999, fill: (b: Uint8Array) => random.fill(b) }
    const cuts = Array.from({ length: 400 }, (_, i) => i / 400)
    const x = runExchange(makePair({ random: always512, initialPayload: ia }), cuts, A_PAYLOAD, B_PAYLOAD)
    expect(toHex(sha1(x.b.initialPayload))).toBe(toHex(sha1(ia)))
    expect(toHex(x.aReceived)).toBe(toHex(B_PAYLOAD))
  })

  it('puts the pads and the sync markers where the spec says: Ya is 96 bytes, pads 0-512', () => {
    const { a } = makePair({ random: { next: () => 0.999_999, fill: (b) => b.fill(0x5a) } })
    expect(a.start().length).toBe(96 + 512)
  })

  describe('refusals (each a PEER_ENCRYPTION_FAILED with its reason)', () => {
    it('a degenerate DH key', () => {
      const b = responder()
      expect(failureOf(() => b.receive(new Uint8Array(96)))).toBe('bad-dh-key')
      const { a } = makePair()
      a.start()
      expect(failureOf(() => a.receive(new Uint8Array(96).fill(0xff)))).toBe('bad-dh-key')
    })

    it('no req1 within 512 pad bytes (the accepting side)', () => {
      const b = responder()
      b.receive(createDhKeyPair(seededRandom(5)).publicKey)
      expect(failureOf(() => b.receive(new Uint8Array(531).fill(1)))).toBe('no error')
      expect(failureOf(() => b.receive(new Uint8Array(1).fill(1)))).toBe('no-req1')
      // Dead for good: more input is ignored.
      expect(b.receive(new Uint8Array(10))).toEqual([])
    })

    it('no VC within 512 pad bytes (the dialling side)', () => {
      const { a } = makePair()
      a.start()
      a.receive(createDhKeyPair(seededRandom(5)).publicKey)
      expect(failureOf(() => a.receive(new Uint8Array(519).fill(1)))).toBe('no error')
      expect(failureOf(() => a.receive(new Uint8Array(1).fill(1)))).toBe('no-vc')
    })

    const againstResponder = (fields: Parameters<typeof handMadeInitiator>[1], select = selectPreferRc4, skeys = [SKEY]): string => {
      const b = responder(select, skeys)
      const peer = handMadeInitiator(seededRandom(11), fields)
      const yb = concat(b.receive(peer.step1))
      return failureOf(() => b.receive(peer.step3(yb)))
    }

    it('an SKEY that is none of our torrents', () => {
      expect(againstResponder({ skey: OTHER_SKEY })).toBe('unknown-skey')
      expect(againstResponder({ skey: OTHER_SKEY }, selectPreferRc4, [OTHER_SKEY])).toBe('no error')
    })

    it('a non-zero verification constant', () => {
      expect(againstResponder({ vc: new Uint8Array(8).fill(1) })).toBe('no-vc')
    })

    it('a pad length over 512', () => {
      expect(againstResponder({ padLength: 513, padBytes: 0 })).toBe('pad-too-long')
      expect(againstResponder({ padLength: 512 })).toBe('no error')
    })

    it('nothing acceptable offered', () => {
      expect(againstResponder({ provide: CRYPTO_PLAINTEXT }, (p) => p & CRYPTO_RC4)).toBe('crypto-refused')
      expect(againstResponder({ provide: 0 })).toBe('crypto-refused')
      expect(againstResponder({ provide: 0x0c })).toBe('crypto-refused')
    })

    it('a crypto_select we did not provide, or more than one bit, or a pad over 512 (the dialling side)', () => {
      // Forge B with a real handshake object but a crafted step 4.
      const forged = (select: number, pad: number): string => {
        const random = seededRandom(13)
        const a = new MseHandshake({ role: 'initiator', skey: SKEY, cryptoProvide: CRYPTO_RC4, takeInitialPayload: () => new Uint8Array(0) }, { random })
        const ya = a.start().subarray(0, 96)
        const keys = createDhKeyPair(random)
        a.receive(keys.publicKey)
        const s = dhSharedSecret(keys.privateKey, ya)!
        const step4 = new Uint8Array(8 + 6)
        const view = new DataView(step4.buffer)
        view.setUint32(8, select)
        view.setUint16(12, pad)
        new Rc4(sha1(ascii('keyB'), s, SKEY), MSE_RC4_DISCARD_BYTES).process(step4)
        return failureOf(() => a.receive(step4))
      }
      expect(forged(CRYPTO_RC4, 0)).toBe('no error')
      expect(forged(CRYPTO_PLAINTEXT, 0)).toBe('bad-crypto-select')
      expect(forged(CRYPTO_PLAINTEXT | CRYPTO_RC4, 0)).toBe('bad-crypto-select')
      expect(forged(CRYPTO_RC4, 513)).toBe('pad-too-long')
    })
  })
})
