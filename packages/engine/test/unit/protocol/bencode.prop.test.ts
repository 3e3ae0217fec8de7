import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bencodeDecode, bencodeEncode, type BencodeValue } from '../../../src/protocol/bencode.js'
import { isLodestoneError } from '../../../src/errors.js'

const SEED = Number(process.env.FC_SEED ?? 0x10de57)
const params = { seed: SEED, numRuns: 400, verbose: 1 } as const
console.info(`bencode property tests: seed ${SEED} (set FC_SEED to replay)`)

const binaryKey = fc.uint8Array({ maxLength: 12 }).map((b) => String.fromCharCode(...b))

const { value: arbValue } = fc.letrec<{ value: BencodeValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.maxSafeInteger(),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.array(fc.tuple(binaryKey, tie('value')), { maxLength: 5 }).map((entries) => new Map(entries))
  )
}))

/** A canonical Map-tree comparison that treats Uint8Array views by content. */
function normalize (v: BencodeValue): unknown {
  if (typeof v === 'number') return v
  if (v instanceof Uint8Array) return Array.from(v)
  if (Array.isArray(v)) return v.map(normalize)
  return [...v.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, x]) => [k, normalize(x)])
}

describe('bencode properties', () => {
  it('decode(encode(v)) equals v', () => {
    fc.assert(fc.property(arbValue, (v) => {
      expect(normalize(bencodeDecode(bencodeEncode(v)))).toEqual(normalize(v))
    }), params)
  })

  it('encode(decode(bytes)) gives back canonical bytes', () => {
    fc.assert(fc.property(arbValue, (v) => {
      const bytes = bencodeEncode(v)
      expect(bencodeEncode(bencodeDecode(bytes))).toEqual(bytes)
    }), params)
  })

  const KNOWN = new Set(['BENCODE_INVALID', 'BENCODE_LIMIT'])
  function decodesOrTypedError (bytes: Uint8Array): void {
    try {
      const v = bencodeDecode(bytes, { maxDepth: 8, maxItems: 200 })
      // Whatever decodes is canonical, so it re-encodes to the same bytes.
      expect(bencodeEncode(v)).toEqual(bytes)
    } catch (err) {
      if (!isLodestoneError(err) || !KNOWN.has(err.code)) throw err
    }
  }

  it('arbitrary bytes decode to a value or throw a typed error', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodesOrTypedError), { ...params, numRuns: 2000 })
  })

  it('bencode-like text decodes to a value or throws a typed error', () => {
    const alphabet = fc.constantFrom(...'ilde0123456789:-'.split(''))
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 40 }), (chars) => {
      decodesOrTypedError(new TextEncoder().encode(chars.join('')))
    }), { ...params, numRuns: 2000 })
  })

  it('mutated valid encodings decode or throw a typed error', () => {
    fc.assert(fc.property(arbValue, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
      const bytes = bencodeEncode(v).slice()
      if (bytes.length > 0) bytes[at % bytes.length] = byte
      decodesOrTypedError(bytes)
      decodesOrTypedError(bytes.subarray(0, at % (bytes.length + 1)))
    }), params)
  })
})
