import { describe, expect, it } from 'vitest'
import { bencodeDecode, bencodeEncode, type BencodeDict } from '../../../src/protocol/bencode.js'
import { parseInfoDictionary, parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { content, fixture, hex, sha1, sha256, v1Torrent } from './helpers.js'
import expected from './fixtures/lt-fixtures.json' with { type: 'json' }

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('parseTorrent on libtorrent-made torrents', () => {
  for (const version of ['v1', 'v2', 'hybrid'] as const) {
    it(`${version}: hashes, files, pieces and top-level fields`, async () => {
      const bytes = fixture(`lt-${version}.torrent`)
      const meta = await parseTorrent(bytes)
      const want = expected.torrents[version]
      expect(meta.version).toBe(version)
      expect(meta.infoHashV1 === null ? null : hex(meta.infoHashV1)).toBe(want.v1)
      expect(meta.infoHashV2 === null ? null : hex(meta.infoHashV2)).toBe(want.v2)
      expect(meta.id).toBe(want.v1 ?? want.v2.slice(0, 40))
      expect(hex(meta.infoHash)).toBe(meta.id)
      expect(meta.pieceCount).toBe(want.pieces)
      expect(meta.pieceLengthBytes).toBe(65536)
      expect(meta.name).toBe('payload')
      expect(meta.multiFile).toBe(true)
      expect(meta.comment).toBe('deterministic fixture')
      expect(meta.createdBy).toBe('fixture')
      expect(meta.announce).toEqual([['http://127.0.0.1:6969/announce']])
      expect(meta.private).toBe(false)
      const dataFiles = meta.files.filter((f) => !f.padding).map((f) => [f.path.join('/'), f.lengthBytes])
      expect(dataFiles.sort()).toEqual(expected.files.map(([p, n]) => [p, n]).sort())
      // Contiguous layout; v2 and hybrid files start on piece boundaries.
      let offset = 0
      for (const f of meta.files) {
        expect(f.offsetBytes).toBe(offset)
        offset += f.lengthBytes
        if (version !== 'v1' && !f.padding && f.lengthBytes > 0) expect(f.offsetBytes % meta.pieceLengthBytes).toBe(0)
      }
      expect(meta.totalLengthBytes).toBe(offset)
      expect(meta.pieceCount).toBe(Math.ceil(offset / meta.pieceLengthBytes))
      // infoBytes is the exact info dict: its hashes are the info hashes.
      if (meta.infoHashV1 !== null) expect(hex(sha1(meta.infoBytes))).toBe(hex(meta.infoHashV1))
      if (meta.infoHashV2 !== null) expect(hex(sha256(meta.infoBytes))).toBe(hex(meta.infoHashV2))
      // v1 piece hashes cover the piece space, padding as zeros.
      if (meta.pieceHashesV1 !== null) {
        const space = new Uint8Array(meta.totalLengthBytes)
        for (const f of meta.files) {
          if (f.padding) continue
          const spec = expected.files.find(([p]) => p === f.path.join('/'))!
          space.set(content(spec[1] as number, spec[2] as number), f.offsetBytes)
        }
        for (let p = 0; p < meta.pieceCount; p++) {
          const piece = space.subarray(p * meta.pieceLengthBytes, (p + 1) * meta.pieceLengthBytes)
          expect(hex(meta.pieceHashesV1.subarray(p * 20, p * 20 + 20))).toBe(hex(sha1(piece)))
        }
      }
      if (version !== 'v1') expect(meta.pieceLayers.size).toBe(2)
    })
  }

  it('a hybrid without piece layers (saved from BEP 9 metadata) loads; its v1 hashes still cover every piece', async () => {
    const top = bencodeDecode(fixture('lt-hybrid.torrent')) as BencodeDict
    top.delete('piece layers')
    const meta = await parseTorrent(bencodeEncode(top))
    expect(meta.version).toBe('hybrid')
    expect(hex(meta.infoHashV1!)).toBe(expected.torrents.hybrid.v1)
    expect(meta.pieceLayers.size).toBe(0)
    expect(meta.pieceHashesV1!.length).toBe(meta.pieceCount * 20)
  })

  it('pure v2 gets synthetic padding entries between files, none after the last', async () => {
    const meta = await parseTorrent(fixture('lt-v2.torrent'))
    const pads = meta.files.filter((f) => f.padding)
    expect(pads.length).toBeGreaterThan(0)
    for (const p of pads) {
      expect(p.attr).toBe('p')
      expect(p.lengthBytes).toBeGreaterThan(0)
      expect(p.lengthBytes).toBeLessThan(meta.pieceLengthBytes)
    }
    expect(meta.files.at(-1)!.padding).toBe(false)
    // BEP 52 order: depth-first in key byte order.
    expect(meta.files.filter((f) => !f.padding).map((f) => f.path.join('/'))).toEqual(['big.bin', 'dir/ü.txt', 'empty', 'one', 'small.bin'])
  })

  it('honours an aborted signal', async () => {
    const controller = new AbortController()
    controller.abort()
    await expect(parseTorrent(fixture('lt-v2.torrent'), { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' })
    await expect(parseInfoDictionary((await parseTorrent(fixture('lt-v1.torrent'))).infoBytes, { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' })
  })

  it('the result does not alias the input', async () => {
    const bytes = fixture('lt-v1.torrent')
    const meta = await parseTorrent(bytes)
    const before = hex(meta.infoBytes)
    bytes.fill(0)
    expect(hex(meta.infoBytes)).toBe(before)
  })

  it('parseInfoDictionary gives the same shape without top-level fields', async () => {
    for (const version of ['v1', 'v2', 'hybrid'] as const) {
      const full = await parseTorrent(fixture(`lt-${version}.torrent`))
      const bare = await parseInfoDictionary(full.infoBytes)
      expect(bare.id).toBe(full.id)
      expect(bare.files).toEqual(full.files)
      expect(bare.announce).toEqual([])
      expect(bare.pieceLayers.size).toBe(0)
      expect(bare.comment).toBeUndefined()
    }
  })
})

describe('parseTorrent fields', () => {
  it('single-file v1', async () => {
    const pieces = new Uint8Array(40)
    const meta = await parseTorrent(bencodeEncode({ info: { name: 'file.iso', length: 20000, 'piece length': 16384, pieces, private: 1, source: 'SRC' } }))
    expect(meta.multiFile).toBe(false)
    expect(meta.files).toEqual([{ path: ['file.iso'], lengthBytes: 20000, offsetBytes: 0, padding: false, attr: '' }])
    expect(meta.private).toBe(true)
    expect(meta.source).toBe('SRC')
    expect(meta.announce).toEqual([])
    expect(meta.urlList).toEqual([])
  })

  it('single-file v2: one file at the tree root', async () => {
    const data = content(20000, 0)
    const leaves = [sha256(data.subarray(0, 16384)), sha256(data.subarray(16384))]
    const root = sha256(Buffer.concat(leaves))
    const meta = await parseTorrent(bencodeEncode({ info: { name: 'f.bin', 'meta version': 2, 'piece length': 32768, 'file tree': { 'f.bin': { '': { length: 20000, 'pieces root': root } } } } }))
    expect(meta.version).toBe('v2')
    expect(meta.multiFile).toBe(false)
    expect(meta.files).toEqual([{ path: ['f.bin'], lengthBytes: 20000, offsetBytes: 0, padding: false, attr: '', piecesRoot: root }])
    expect(meta.pieceCount).toBe(1)
    expect(meta.infoHashV1).toBeNull()
    expect(hex(meta.infoHash)).toBe(hex(meta.infoHashV2!.subarray(0, 20)))
  })

  it('announce-list replaces announce (BEP 12); empty tiers and junk are dropped', async () => {
    const meta = await parseTorrent(v1Torrent({ extra: { 'announce-list': [['http://a/1', 'udp://b:1'], [], [1], ['http://c/']] } }))
    expect(meta.announce).toEqual([['http://a/1', 'udp://b:1'], ['http://c/']])
    const lone = await parseTorrent(v1Torrent({ extra: { 'announce-list': [] } }))
    expect(lone.announce).toEqual([['http://127.0.0.1:1/announce']])
  })

  it('url-list as a string or a list', async () => {
    expect((await parseTorrent(v1Torrent({ extra: { 'url-list': 'http://ws/' } }))).urlList).toEqual(['http://ws/'])
    expect((await parseTorrent(v1Torrent({ extra: { 'url-list': ['http://a/', '', 'http://b/'] } }))).urlList).toEqual(['http://a/', 'http://b/'])
  })

  it('ignores mistyped informational fields', async () => {
    const meta = await parseTorrent(v1Torrent({ extra: { comment: 5, 'created by': ['x'], 'creation date': 'yesterday', 'url-list': 3 } }))
    expect(meta.comment).toBeUndefined()
    expect(meta.createdBy).toBeUndefined()
    expect(meta.creationDate).toBeUndefined()
    expect(meta.urlList).toEqual([])
    const ok = await parseTorrent(v1Torrent({ extra: { comment: 'hé', 'created by': 'me', 'creation date': 1700000000 } }))
    expect([ok.comment, ok.createdBy, ok.creationDate]).toEqual(['hé', 'me', 1700000000])
  })

  it('prefers valid .utf-8 names and replaces invalid UTF-8', async () => {
    const latin1Name = new Uint8Array([0x63, 0x61, 0x66, 0xe9]) // "café" in latin1: invalid UTF-8
    const a = await parseTorrent(v1Torrent({ info: { name: latin1Name, 'name.utf-8': 'café' } }))
    expect(a.name).toBe('café')
    const b = await parseTorrent(v1Torrent({ info: { name: latin1Name } }))
    expect(b.name).toBe('caf\ufffd')
    const c = await parseTorrent(v1Torrent({
      info: { files: [{ length: 20005, path: [latin1Name], 'path.utf-8': ['café.txt'] }] }
    }))
    expect(c.files[0]!.path).toEqual(['café.txt'])
  })

  it('keeps BEP 47 pad files flagged as padding', async () => {
    const meta = await parseTorrent(v1Torrent({
      files: [],
      info: { pieces: new Uint8Array(40), files: [{ length: 100, path: ['a'] }, { length: 16284, path: ['.pad', '16284'], attr: 'p' }, { length: 5, path: ['b'], attr: 'x' }] }
    }))
    expect(meta.files.map((f) => [f.path.join('/'), f.offsetBytes, f.padding, f.attr])).toEqual([
      ['a', 0, false, ''], ['.pad/16284', 100, true, 'p'], ['b', 16384, false, 'x']
    ])
    expect(meta.pieceCount).toBe(2)
  })

  it('accepts unsorted keys and hashes the raw info bytes', async () => {
    const good = v1Torrent()
    const meta = await parseTorrent(good)
    // Swap the order of the top-level keys by hand: "info" before "announce".
    const top = bencodeDecode(good) as BencodeDict
    const infoBytes = meta.infoBytes
    const unsorted = Buffer.concat([enc('d4:info'), infoBytes, enc('8:announce3:urle')])
    const meta2 = await parseTorrent(new Uint8Array(unsorted))
    expect(meta2.id).toBe(meta.id)
    expect(top.has('announce')).toBe(true)
    // An info dict with unsorted keys keeps its own hash (not the canonical re-encoding's).
    const rawInfo = enc('d4:name1:x6:lengthi5e12:piece lengthi16384e6:pieces20:AAAAAAAAAAAAAAAAAAAAe')
    const sortedInfo = bencodeEncode(bencodeDecode(rawInfo, { strictKeyOrder: false }))
    expect(hex(sortedInfo)).not.toBe(hex(rawInfo))
    const meta3 = await parseTorrent(new Uint8Array(Buffer.concat([enc('d4:info'), rawInfo, enc('e')])))
    expect(hex(meta3.infoHash)).toBe(hex(sha1(rawInfo)))
  })
})
