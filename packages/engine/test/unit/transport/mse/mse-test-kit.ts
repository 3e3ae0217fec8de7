/** Drives two MSE handshakes against each other (and hand-made peers) for the unit tests. */
import { seededRandom, type IRandom } from '../../../../src/interfaces/random.js'
import { sha1 } from '../../../../src/hashing/sha1.js'
import { createDhKeyPair, dhSharedSecret } from '../../../../src/transport/mse/dh.js'
import {
  CRYPTO_PLAINTEXT, CRYPTO_RC4, MseHandshake, mseReq2Hash, type MseHandshakeResult
} from '../../../../src/transport/mse/mse-handshake.js'
import { MSE_RC4_DISCARD_BYTES, Rc4 } from '../../../../src/transport/mse/rc4.js'
import { toHex } from '../../../../src/util/bytes.js'

export const SKEY = new Uint8Array(20).map((_, i) => i * 11 + 1)
export const OTHER_SKEY = new Uint8Array(20).map((_, i) => 200 - i)
export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s)

export function concat (parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** A table lookup like the listen router's: HASH('req2', SKEY) → SKEY. */
export function skeyTable (skeys: readonly Uint8Array[]): (req2: Uint8Array) => Uint8Array | null {
  const table = new Map(skeys.map((k) => [toHex(mseReq2Hash(k)), k]))
  return (req2) => table.get(toHex(req2)) ?? null
}

/** Prefers RC4, like a responder with level 'both' that favours encryption. */
export function selectPreferRc4 (provide: number): number {
  if ((provide & CRYPTO_RC4) !== 0) return CRYPTO_RC4
  return provide & CRYPTO_PLAINTEXT
}

export interface PairOptions {
  random?: IRandom
  provide?: number
  select?: (provide: number) => number
  initialPayload?: Uint8Array
  maxPadBytes?: number
}

export function makePair (options: PairOptions = {}): { a: MseHandshake, b: MseHandshake } {
  const random = options.random ?? seededRandom(1)
  const ia = options.initialPayload ?? ascii('\x13BitTorrent protocol-and-the-rest-of-a-handshake-68-bytes-long....')
  const a = new MseHandshake({
    role: 'initiator', skey: SKEY, cryptoProvide: options.provide ?? (CRYPTO_PLAINTEXT | CRYPTO_RC4), takeInitialPayload: () => ia
  }, { random, ...(options.maxPadBytes !== undefined ? { maxPadBytes: options.maxPadBytes } : {}) })
  const b = new MseHandshake({
    role: 'responder', findSkey: skeyTable([OTHER_SKEY, SKEY]), selectCrypto: options.select ?? selectPreferRc4
  }, { random, ...(options.maxPadBytes !== undefined ? { maxPadBytes: options.maxPadBytes } : {}) })
  return { a, b }
}

/** Cuts `bytes` at the given fractional points (a sorted list of values in [0, 1)). */
export function split (bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((x, y) => x - y)
  const out: Uint8Array[] = []
  let at = 0
  for (const p of points) {
    if (p <= at) continue
    out.push(bytes.subarray(at, p))
    at = p
  }
  out.push(bytes.subarray(at))
  return out
}

export interface Exchange {
  a: MseHandshakeResult
  b: MseHandshakeResult
  /** What B decrypted of A's stream after the handshake (IA first, then ENCRYPT2 payload). */
  bReceived: Uint8Array
  /** What A decrypted of B's stream after the handshake. */
  aReceived: Uint8Array
}

/**
 * Runs a full exchange, delivering each flight cut at `cuts` (fresh copies, so the handshake
 * cannot rely on a chunk staying intact), with `bPayload` sent by B right behind step 4 and
 * `aPayload` sent by A once it is done. Throws what the handshakes throw.
 */
export function runExchange (pair: { a: MseHandshake, b: MseHandshake }, cuts: readonly number[], aPayload: Uint8Array, bPayload: Uint8Array): Exchange {
  const { a, b } = pair
  let toB: Uint8Array[] = [a.start()]
  let toA: Uint8Array[] = []
  const aTail: Uint8Array[] = []
  let bTail: Uint8Array[] = []
  const deliver = (target: MseHandshake, flights: Uint8Array[], tail: Uint8Array[]): Uint8Array[] => {
    const out: Uint8Array[] = []
    for (const chunk of split(concat(flights), cuts)) {
      const copy = chunk.slice()
      if (target.done) {
        tail.push(copy)
        continue
      }
      out.push(...target.receive(copy))
    }
    return out
  }
  for (let round = 0; round < 10 && !(a.done && b.done); round++) {
    toA = deliver(b, toB, bTail)
    if (b.done && bPayload.length > 0) {
      const payload = bPayload.slice()
      if (b.result!.method === 'rc4') b.result!.encryptor.process(payload)
      toA.push(payload)
    }
    toB = deliver(a, toA, aTail)
  }
  if (!(a.done && b.done)) throw new Error('handshake did not finish')
  const payload = aPayload.slice()
  if (a.result!.method === 'rc4') a.result!.encryptor.process(payload)
  bTail = [...bTail, ...split(payload, cuts)]
  const plain = (result: MseHandshakeResult, chunks: Uint8Array[]): Uint8Array => {
    const data = concat([result.remainder, ...chunks])
    if (result.method === 'rc4') result.decryptor.process(data)
    return data
  }
  return {
    a: a.result!,
    b: b.result!,
    bReceived: concat([b.result!.initialPayload, plain(b.result!, bTail)]),
    aReceived: plain(a.result!, aTail)
  }
}

/** Builds an initiator's steps 1 and 3 by hand, with any field value (for refusal tests). */
export function handMadeInitiator (random: IRandom, fields: {
  skey?: Uint8Array
  vc?: Uint8Array
  provide?: number
  padLength?: number
  padBytes?: number
  ia?: Uint8Array
  prePad?: number
}): { step1: Uint8Array, step3: (yb: Uint8Array) => Uint8Array } {
  const keys = createDhKeyPair(random)
  const step1 = concat([keys.publicKey, new Uint8Array(fields.prePad ?? 0)])
  return {
    step1,
    step3 (yb) {
      const s = dhSharedSecret(keys.privateKey, yb.subarray(0, 96))!
      const skey = fields.skey ?? SKEY
      const req2 = mseReq2Hash(skey)
      const req3 = sha1(ascii('req3'), s)
      const masked = req2.map((x, i) => x ^ req3[i]!)
      const padBytes = fields.padBytes ?? fields.padLength ?? 0
      const ia = fields.ia ?? new Uint8Array(0)
      const body = new Uint8Array(8 + 4 + 2 + padBytes + 2 + ia.length)
      body.set(fields.vc ?? new Uint8Array(8), 0)
      const view = new DataView(body.buffer)
      view.setUint32(8, fields.provide ?? CRYPTO_RC4)
      view.setUint16(12, fields.padLength ?? padBytes)
      view.setUint16(14 + padBytes, ia.length)
      body.set(ia, 16 + padBytes)
      new Rc4(sha1(ascii('keyA'), s, skey), MSE_RC4_DISCARD_BYTES).process(body)
      return concat([sha1(ascii('req1'), s), masked, body])
    }
  }
}
