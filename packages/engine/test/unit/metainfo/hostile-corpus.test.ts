// Hostile .torrent corpus: each case is built here from a valid torrent with one thing broken, and
// must be refused with the expected error code (and field, where the parser names one).
import { describe, expect, it } from 'vitest'
import { bencodeDecode, bencodeEncode, type BencodeDict, type BencodeEncodable, type BencodeValue } from '../../../src/protocol/bencode.js'
import { parseInfoDictionary, parseTorrent, type ParseTorrentOptions } from '../../../src/metainfo/parse-torrent.js'
import { isLodestoneError } from '../../../src/errors.js'
import { fixture, v1Torrent } from './helpers.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

async function refusal (bytes: Uint8Array, options?: ParseTorrentOptions): Promise<{ code: string, details: Record<string, unknown> }> {
  try {
    await parseTorrent(bytes, options)
  } catch (err) {
    if (isLodestoneError(err)) return { code: err.code, details: err.details }
    throw err
  }
  throw new Error('parsed a hostile torrent')
}

const files = (...entries: Array<[Array<string | Uint8Array>, number]>): Record<string, BencodeEncodable> => {
  const total = entries.reduce((s, [, n]) => s + n, 0)
  return { pieces: new Uint8Array(Math.ceil(total / 16384) * 20), files: entries.map(([path, length]) => ({ length, path })) }
}

/** Decodes a libtorrent fixture, lets `edit` change the tree, re-encodes. */
function editFixture (name: string, edit: (top: BencodeDict, info: BencodeDict) => void): Uint8Array {
  const top = bencodeDecode(fixture(name)) as BencodeDict
  const info = top.get('info') as BencodeDict
  edit(top, info)
  return bencodeEncode(top)
}

function treeFile (info: BencodeDict, ...path: string[]): BencodeDict {
  let node = info.get('file tree') as BencodeDict
  for (const p of path) node = node.get(p) as BencodeDict
  return node.get('') as BencodeDict
}

// Empty path components (dropped) and bytes after the top-level dict (ignored) load since issue 12:
// edge-corpus.test.ts covers them and what stays refused around them.
describe('hostile corpus: paths', () => {
  it.each<[string, Array<string | Uint8Array>]>([
    ['parent traversal', ['..', 'etc', 'passwd']],
    ['traversal at the end', ['a', '..']],
    ['dot component', ['.', 'x']],
    ['absolute (separator inside)', ['/etc/passwd']],
    ['backslash', ['a\\..\\b']],
    ['NUL', ['a\u0000b']],
    ['control character', ['a\nb']],
    ['DEL', ['a\u007fb']],
    ['drive prefix', ['C:', 'windows']],
    ['empty path list', []]
  ])('refuses %s', async (_, path) => {
    const r = await refusal(v1Torrent({ info: files([path, 10], [['ok'], 10]) }))
    expect(r.code).toBe('METAINFO_UNSAFE_PATH')
  })

  it.each(['..', '.', '', 'a/b', '/abs', 'x\u0000y', 'a\\b'])('refuses the torrent name %j', async (name) => {
    expect((await refusal(v1Torrent({ name }))).code).toBe('METAINFO_UNSAFE_PATH')
  })

  it('refuses duplicate paths and a path that is both a file and a directory', async () => {
    expect((await refusal(v1Torrent({ info: files([['a'], 1], [['a'], 2]) }))).details).toMatchObject({ reason: 'duplicate path' })
    expect((await refusal(v1Torrent({ info: files([['a'], 1], [['a', 'b'], 2]) }))).details).toMatchObject({ reason: 'path is both a file and a directory' })
    expect((await refusal(v1Torrent({ info: files([['a', 'b'], 1], [['a'], 2]) }))).details).toMatchObject({ reason: 'path is both a file and a directory' })
    // Two invalid-UTF-8 names that decode to the same replacement text collide too.
    expect((await refusal(v1Torrent({ info: files([[new Uint8Array([0xff])], 1], [[new Uint8Array([0xfe])], 2]) }))).code).toBe('METAINFO_UNSAFE_PATH')
  })

  it('refuses paths deeper than maxPathDepth', async () => {
    const deep = Array.from({ length: 20 }, (_, i) => `d${i}`)
    expect((await refusal(v1Torrent({ info: files([deep, 1]) }), { limits: { maxPathDepth: 10 } })).code).toBe('METAINFO_LIMIT')
  })
})

describe('hostile corpus: lengths and pieces', () => {
  it.each<[string, Record<string, BencodeEncodable | undefined>, string, string]>([
    ['negative file length', files([['a'], -5], [['b'], 10]), 'METAINFO_INVALID', 'info.files.0.length'],
    ['string file length', { files: [{ length: '10', path: ['a'] }] }, 'METAINFO_INVALID', 'info.files.0.length'],
    ['absurd length with too few pieces', { pieces: new Uint8Array(20), files: [{ length: 2 ** 50, path: ['a'] }] }, 'METAINFO_INCONSISTENT', 'info.pieces'],
    ['pieces not a multiple of 20', { pieces: new Uint8Array(19) }, 'METAINFO_INVALID', 'info.pieces'],
    ['one piece hash too many', { pieces: new Uint8Array(60) }, 'METAINFO_INCONSISTENT', 'info.pieces'],
    ['missing pieces', { pieces: undefined }, 'METAINFO_INVALID', 'info.pieces'],
    ['zero piece length', { 'piece length': 0 }, 'METAINFO_INVALID', 'info.piece length'],
    ['negative piece length', { 'piece length': -16384 }, 'METAINFO_INVALID', 'info.piece length'],
    ['missing name', { name: undefined }, 'METAINFO_INVALID', 'info.name'],
    ['both length and files', { length: 5 }, 'METAINFO_INVALID', 'info'],
    ['empty file list', { files: [] }, 'METAINFO_INVALID', 'info.files'],
    ['file entry not a dict', { files: [5] }, 'METAINFO_INVALID', 'info.files.0'],
    ['path component not a string', { files: [{ length: 1, path: [1] }] }, 'METAINFO_INVALID', 'info.files.0.path.0'],
    ['no data at all', { pieces: new Uint8Array(0), files: [{ length: 0, path: ['a'] }] }, 'METAINFO_INVALID', 'info']
  ])('refuses %s', async (_, info, code, field) => {
    const r = await refusal(v1Torrent({ info }))
    expect(r.code).toBe(code)
    expect(r.details.field).toBe(field)
  })

  it('refuses a length of 2^60 at the decoder (beyond 2^53)', async () => {
    const bytes = enc('d4:infod6:lengthi1152921504606846976e4:name1:a12:piece lengthi16384e6:pieces0:ee')
    expect((await refusal(bytes)).code).toBe('BENCODE_LIMIT')
  })

  it('refuses lengths whose sum exceeds 2^53', async () => {
    const big = { length: 2 ** 52, path: ['a'] }
    const r = await refusal(v1Torrent({ info: { pieces: new Uint8Array(20), files: [big, { ...big, path: ['b'] }, { ...big, path: ['c'] }] } }))
    expect(r.code).toBe('METAINFO_INCONSISTENT')
  })

  it('refuses a piece length above maxPieceLengthBytes', async () => {
    expect((await refusal(v1Torrent({ info: { 'piece length': 2 ** 40 } }))).code).toBe('METAINFO_LIMIT')
  })

  it('refuses more files than maxFileCount', async () => {
    const many = Array.from({ length: 11 }, (_, i): [string[], number] => [[`f${i}`], 1])
    expect((await refusal(v1Torrent({ info: files(...many) }), { limits: { maxFileCount: 10 } })).code).toBe('METAINFO_LIMIT')
  })
})

describe('hostile corpus: structure', () => {
  it.each<[string, Uint8Array, string]>([
    ['deep nesting', enc('d4:info' + 'l'.repeat(10_000) + 'e'.repeat(10_000) + 'e'), 'BENCODE_LIMIT'],
    ['not bencode', enc('<html>'), 'BENCODE_INVALID'],
    ['truncated', v1Torrent().subarray(0, 50), 'BENCODE_INVALID'],
    ['top level is a list', enc('le'), 'METAINFO_INVALID'],
    ['no info', enc('d8:announce3:urle'), 'METAINFO_INVALID'],
    ['info is a list', enc('d4:infolee'), 'METAINFO_INVALID'],
    ['empty input', new Uint8Array(0), 'BENCODE_INVALID']
  ])('refuses %s', async (_, bytes, code) => {
    expect((await refusal(bytes)).code).toBe(code)
  })

  it('refuses a torrent above maxTorrentBytes', async () => {
    expect((await refusal(v1Torrent(), { limits: { maxTorrentBytes: 100 } })).code).toBe('BENCODE_LIMIT')
  })

  it('parseInfoDictionary refuses a non-dict', async () => {
    await expect(parseInfoDictionary(enc('i1e'))).rejects.toMatchObject({ code: 'METAINFO_INVALID' })
  })
})

describe('hostile corpus: v2 and hybrid', () => {
  const bigRoot = (info: BencodeDict): Uint8Array => treeFile(info, 'big.bin').get('pieces root') as Uint8Array
  const layerKey = (info: BencodeDict): string => String.fromCharCode(...bigRoot(info))

  it.each<[string, string, (top: BencodeDict, info: BencodeDict) => void, string]>([
    ['missing piece layer', 'lt-v2.torrent', (top, info) => { (top.get('piece layers') as BencodeDict).delete(layerKey(info)) }, 'METAINFO_INCONSISTENT'],
    ['no piece layers at all', 'lt-v2.torrent', (top) => { top.delete('piece layers') }, 'METAINFO_INCONSISTENT'],
    ['piece layer one hash short', 'lt-v2.torrent', (top, info) => {
      const layers = top.get('piece layers') as BencodeDict
      layers.set(layerKey(info), (layers.get(layerKey(info)) as Uint8Array).subarray(32))
    }, 'METAINFO_INCONSISTENT'],
    ['piece layer not matching its root', 'lt-v2.torrent', (top, info) => {
      const layers = top.get('piece layers') as BencodeDict
      const layer = (layers.get(layerKey(info)) as Uint8Array).slice()
      layer[0] = layer[0]! ^ 1
      layers.set(layerKey(info), layer)
    }, 'METAINFO_INCONSISTENT'],
    ['non power-of-two piece length', 'lt-v2.torrent', (_, info) => { info.set('piece length', 49152) }, 'METAINFO_INVALID'],
    ['piece length below 16 KiB', 'lt-v2.torrent', (_, info) => { info.set('piece length', 8192) }, 'METAINFO_INVALID'],
    ['file tree with an empty name', 'lt-v2.torrent', (_, info) => {
      (info.get('file tree') as BencodeDict).set('', new Map<string, BencodeValue>([['length', 1]]))
    }, 'METAINFO_UNSAFE_PATH'],
    ['file tree with ".."', 'lt-v2.torrent', (_, info) => {
      const tree = info.get('file tree') as BencodeDict
      tree.set('..', tree.get('one')!)
    }, 'METAINFO_UNSAFE_PATH'],
    ['file tree name with a slash', 'lt-v2.torrent', (_, info) => {
      const tree = info.get('file tree') as BencodeDict
      tree.set('x/y', tree.get('one')!)
    }, 'METAINFO_UNSAFE_PATH'],
    ['empty directory', 'lt-v2.torrent', (_, info) => { (info.get('file tree') as BencodeDict).set('zzz', new Map()) }, 'METAINFO_INVALID'],
    ['file entry with extra keys', 'lt-v2.torrent', (_, info) => {
      ((info.get('file tree') as BencodeDict).get('one') as BencodeDict).set('x', 1)
    }, 'METAINFO_INVALID'],
    ['pieces root of 31 bytes', 'lt-v2.torrent', (_, info) => { treeFile(info, 'one').set('pieces root', new Uint8Array(31)) }, 'METAINFO_INVALID'],
    ['missing pieces root', 'lt-v2.torrent', (_, info) => { treeFile(info, 'one').delete('pieces root') }, 'METAINFO_INVALID'],
    ['negative v2 length', 'lt-v2.torrent', (_, info) => { treeFile(info, 'one').set('length', -1) }, 'METAINFO_INVALID'],
    ['file tree not a dict', 'lt-v2.torrent', (_, info) => { info.set('file tree', []) }, 'METAINFO_INVALID'],
    ['empty file tree', 'lt-v2.torrent', (_, info) => { info.set('file tree', new Map()) }, 'METAINFO_INVALID'],
    ['meta version 3', 'lt-v2.torrent', (_, info) => { info.set('meta version', 3) }, 'METAINFO_UNSUPPORTED'],
    ['hybrid: v1 path differs', 'lt-hybrid.torrent', (_, info) => {
      const list = info.get('files') as BencodeDict[]
      list[0]!.set('path', [new TextEncoder().encode('other.bin')])
    }, 'METAINFO_INCONSISTENT'],
    ['hybrid: v1 length differs', 'lt-hybrid.torrent', (_, info) => {
      const list = info.get('files') as BencodeDict[]
      const f = list.find((e) => e.get('attr') === undefined && (e.get('length') as number) > 0)!
      f.set('length', (f.get('length') as number) - 1)
    }, 'METAINFO_INCONSISTENT'],
    ['hybrid: a pad file removed', 'lt-hybrid.torrent', (_, info) => {
      const list = info.get('files') as BencodeDict[]
      const i = list.findIndex((e) => e.get('attr') !== undefined)
      list.splice(i, 1)
    }, 'METAINFO_INCONSISTENT'],
    ['hybrid: a v2 file missing', 'lt-hybrid.torrent', (_, info) => { (info.get('file tree') as BencodeDict).delete('one') }, 'METAINFO_INCONSISTENT']
  ])('refuses %s', async (_, name, edit, code) => {
    expect((await refusal(editFixture(name, edit))).code).toBe(code)
  })

  it('a valid fixture passes the same round trip (the edits above are what breaks them)', async () => {
    await expect(parseTorrent(editFixture('lt-v2.torrent', () => {}))).resolves.toBeDefined()
    await expect(parseTorrent(editFixture('lt-hybrid.torrent', () => {}))).resolves.toBeDefined()
  })
})
