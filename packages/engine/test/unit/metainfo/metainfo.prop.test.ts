// Property tests: hostile bytes and strings make the parsers return a value or throw a
// LodestoneError with a known code, never anything else; magnet build/parse round-trips.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bencodeDecode, bencodeEncode, type BencodeDict, type BencodeValue } from '../../../src/protocol/bencode.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { buildMagnet, parseMagnet } from '../../../src/metainfo/magnet.js'
import { isLodestoneError } from '../../../src/errors.js'
import { isSafePath } from '../../../src/metainfo/path-safety.js'
import { fixture, hex } from './helpers.js'

const SEED = Number(process.env.FC_SEED ?? 0x70a7)
const params = { seed: SEED, numRuns: 300, verbose: 1 } as const
console.info(`metainfo property tests: seed ${SEED} (set FC_SEED to replay)`)

const TORRENT_CODES = new Set([
  'BENCODE_INVALID', 'BENCODE_LIMIT', 'METAINFO_INVALID', 'METAINFO_INCONSISTENT', 'METAINFO_UNSAFE_PATH',
  'METAINFO_UNSUPPORTED', 'METAINFO_LIMIT'
])
const valid = ['lt-v1.torrent', 'lt-v2.torrent', 'lt-hybrid.torrent'].map(fixture)

async function parsesOrTypedError (bytes: Uint8Array): Promise<void> {
  try {
    const meta = await parseTorrent(bytes)
    // Whatever is accepted is safe and self-consistent.
    for (const f of meta.files) if (!f.padding) expect(isSafePath(f.path)).toBe(true)
    expect(meta.files.reduce((s, f) => s + f.lengthBytes, 0)).toBe(meta.totalLengthBytes)
    expect(meta.pieceCount).toBe(Math.ceil(meta.totalLengthBytes / meta.pieceLengthBytes))
  } catch (err) {
    if (!isLodestoneError(err) || !TORRENT_CODES.has(err.code)) throw err
  }
}

/** All paths to nodes in a decoded tree, for structural mutation. */
function nodePaths (v: BencodeValue, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out = [prefix]
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...nodePaths(x, [...prefix, i])))
  else if (v instanceof Map) for (const [k, x] of v) out.push(...nodePaths(x, [...prefix, k]))
  return out
}

function replaceAt (root: BencodeValue, path: ReadonlyArray<string | number>, value: BencodeValue | undefined): BencodeValue {
  if (path.length === 0) return value ?? root
  let node = root
  for (const step of path.slice(0, -1)) node = (node instanceof Map ? node.get(step as string) : (node as BencodeValue[])[step as number])!
  const last = path[path.length - 1]!
  if (node instanceof Map) {
    if (value === undefined) node.delete(last as string)
    else node.set(last as string, value)
  } else if (Array.isArray(node)) {
    if (value === undefined) node.splice(last as number, 1)
    else node[last as number] = value
  }
  return root
}

const smallValue: fc.Arbitrary<BencodeValue> = fc.oneof(
  fc.integer({ min: -2, max: 2 ** 20 }),
  fc.constantFrom(0, -1, 2 ** 40, 16384, 2 ** 53 - 1),
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom('..', '', '.', 'a/b', 'x', '\u0000').map((s) => new TextEncoder().encode(s)),
  fc.constant([] as BencodeValue[]),
  fc.constant(new Map() as BencodeDict)
)

describe('parseTorrent properties', () => {
  it('byte-level mutations of valid torrents parse or throw a typed error', async () => {
    await fc.assert(fc.asyncProperty(fc.nat(2), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), async (which, flips, cut) => {
      const bytes = valid[which]!.slice()
      for (const [at, b] of flips) bytes[at % bytes.length] = b
      await parsesOrTypedError(bytes)
      await parsesOrTypedError(bytes.subarray(0, cut % (bytes.length + 1)))
    }), params)
  })

  it('structural mutations of valid torrents parse or throw a typed error', async () => {
    await fc.assert(fc.asyncProperty(fc.nat(2), fc.nat(), fc.option(smallValue, { nil: undefined }), async (which, pick, replacement) => {
      const tree = bencodeDecode(valid[which]!)
      const paths = nodePaths(tree)
      const path = paths[pick % paths.length]!
      await parsesOrTypedError(bencodeEncode(replaceAt(tree, path, replacement)))
    }), params)
  })

  it('arbitrary bytes parse or throw a typed error', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), parsesOrTypedError), params)
  })
})

describe('magnet properties', () => {
  const hash = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n })
  const text = fc.string({ unit: 'grapheme', maxLength: 20 })

  it('buildMagnet then parseMagnet gives back the fields', () => {
    fc.assert(fc.property(fc.option(hash(20), { nil: null }), hash(32), text, fc.array(fc.webUrl(), { maxLength: 3 }), fc.nat(), (v1, v2, dn, trackers, xl) => {
      const back = parseMagnet(buildMagnet({ infoHashV1: v1, infoHashV2: v2, displayName: dn, trackers, exactLengthBytes: xl }))
      expect(back.infoHashV1 === null ? null : hex(back.infoHashV1)).toBe(v1 === null ? null : hex(v1))
      expect(hex(back.infoHashV2!)).toBe(hex(v2))
      expect(back.displayName).toBe(dn)
      expect(back.trackers).toEqual([...new Set(trackers.map((t) => t.trim()).filter((t) => t.length > 0))])
      expect(back.exactLengthBytes).toBe(xl)
    }), params)
  })

  function parsesOrMagnetInvalid (uri: string): void {
    try {
      const m = parseMagnet(uri)
      expect(m.infoHash.length).toBe(20)
    } catch (err) {
      if (!isLodestoneError(err) || err.code !== 'MAGNET_INVALID') throw err
    }
  }

  it('arbitrary strings parse or throw MAGNET_INVALID', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => parsesOrMagnetInvalid(`magnet:?${s}`)), { ...params, numRuns: 1000 })
  })

  it('mutated valid magnets parse or throw MAGNET_INVALID', () => {
    const base = 'magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&xt=urn:btmh:1220' + 'ab'.repeat(32) +
      '&dn=x%20y&tr=udp%3A%2F%2Ft%3A1&x.pe=[::1]:5&x.pe=1.2.3.4:5&so=0,2-3&xl=5&ws=http%3A%2F%2Fw'
    const chars = fc.constantFrom(...'%&=:[]-,.0123456789abcdefxz+#?'.split(''))
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(), chars, fc.boolean()), { minLength: 1, maxLength: 5 }), (edits) => {
      let s = base
      for (const [at, c, insert] of edits) {
        const i = at % s.length
        s = s.slice(0, i) + c + s.slice(insert ? i : i + 1)
      }
      parsesOrMagnetInvalid(s)
    }), { ...params, numRuns: 1000 })
  })
})
