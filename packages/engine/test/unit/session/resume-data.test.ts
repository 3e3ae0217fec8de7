import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ENGINE_TORRENTS_KEY, decodeBitfieldRecord, decodeMagnetRecord, decodePeersRecord, decodeProgressRecord, decodeTorrentList,
  encodeBitfieldRecord, encodeMagnetRecord, encodePeersRecord, encodeProgressRecord, encodeTorrentFile, encodeTorrentList, resumeKeys,
  type ProgressRecord
} from '../../../src/session/resume-data.js'
import { isLodestoneError } from '../../../src/errors.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import { Bitfield } from '../../../src/util/bitfield.js'
import { makeTorrent, payload } from '../../swarm/swarm-world.js'

const ID = 'ab'.repeat(20)
const KEY = resumeKeys(ID).bitfield

function code (fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (error) {
    return isLodestoneError(error) ? error.code : 'untyped'
  }
}

describe('resume data codec', () => {
  it('uses seed 004 key names', () => {
    expect(resumeKeys(ID.toUpperCase())).toEqual({
      metadata: `torrent:${ID}:metadata`, bitfield: `torrent:${ID}:bitfield`, progress: `torrent:${ID}:progress`, peers: `torrent:${ID}:peers`,
      magnet: `torrent:${ID}:magnet`
    })
  })

  it('round-trips every record', () => {
    const pieces = new Bitfield(13)
    for (const p of [0, 5, 12]) pieces.set(p)
    const bf = decodeBitfieldRecord(encodeBitfieldRecord({ pieces, files: [{ sizeBytes: 10, mtimeUs: 1_700_000_000_123_456 }, null], savedAtMs: 5 }), KEY, 13, 2)
    expect([...bf.pieces.ones()]).toEqual([0, 5, 12])
    expect(bf.files).toEqual([{ sizeBytes: 10, mtimeUs: 1_700_000_000_123_456 }, null])

    const progress: ProgressRecord = {
      uploadedBytes: 1, downloadedBytes: 2, addedAtMs: 3, completedAtMs: null, intent: 'paused', rootToken: '/dl', rootPath: '/dl',
      settings: { hashFailuresBeforeBan: 3, checkExistingData: false, maxConnections: 9 }, filePriorities: [0, 4, 7], savedAtMs: 4
    }
    expect(decodeProgressRecord(encodeProgressRecord(progress), 'k')).toEqual(progress)
    expect(decodeProgressRecord(encodeProgressRecord({ ...progress, completedAtMs: 9, rootToken: null, rootPath: null, filePriorities: null }), 'k'))
      .toMatchObject({ completedAtMs: 9, rootToken: null, rootPath: null, filePriorities: null })
    const renamed = { ...progress, renamedPaths: { 0: 'x/a2.bin', 2: 'x/deep/c.bin' } }
    expect(decodeProgressRecord(encodeProgressRecord(renamed), 'k')).toEqual(renamed)
    // A rename record that would leave the storage root is damage, not a path to use.
    for (const bad of ['../etc/passwd', 'x//y', '/abs', 'x/./y', 'a\\b']) {
      expect(() => decodeProgressRecord(encodeProgressRecord({ ...progress, renamedPaths: { 0: bad } }), 'k')).toThrow(/renamed\[0\]/)
    }
    expect(decodePeersRecord(encodePeersRecord({ peers: ['127.0.0.1:1', '[::1]:2'] }), 'k').peers).toEqual(['127.0.0.1:1', '[::1]:2'])
    expect(decodeTorrentList(encodeTorrentList([ID.toUpperCase()]))).toEqual([ID])
  })

  it('magnet record: round-trips the URI, refuses anything but a magnet link', () => {
    const uri = `magnet:?xt=urn:btih:${ID}&dn=x%20y`
    expect(decodeMagnetRecord(encodeMagnetRecord({ uri }), 'k')).toEqual({ uri })
    expect(code(() => decodeMagnetRecord(bencodeEncode({ v: 1, uri: 'http://x' }), 'k'))).toBe('RESUME_DATA_INVALID')
    expect(code(() => decodeMagnetRecord(bencodeEncode({ v: 1 }), 'k'))).toBe('RESUME_DATA_INVALID')
    expect(code(() => decodeMagnetRecord(bencodeEncode({ v: 2, uri }), 'k'))).toBe('RESUME_DATA_INVALID')
  })

  it('refuses damaged records with RESUME_DATA_INVALID naming the key', () => {
    const pieces = new Bitfield(13)
    const good = encodeBitfieldRecord({ pieces, files: [null], savedAtMs: 1 })
    expect(code(() => decodeBitfieldRecord(good, KEY, 14, 1))).toBe('RESUME_DATA_INVALID') // other torrent shape
    expect(code(() => decodeBitfieldRecord(good, KEY, 13, 2))).toBe('RESUME_DATA_INVALID')
    expect(code(() => decodeBitfieldRecord(good.subarray(1), KEY, 13, 1))).toBe('RESUME_DATA_INVALID')
    // A bit past the last piece, a future version, a wrong type.
    expect(code(() => decodeBitfieldRecord(bencodeEncode({ v: 1, pieces: 13, bits: new Uint8Array([0, 1]), files: [[]], savedAt: 0 }), KEY, 13, 1))).toBe('RESUME_DATA_INVALID')
    expect(code(() => decodeBitfieldRecord(bencodeEncode({ v: 2, pieces: 13, bits: new Uint8Array(2), files: [[]], savedAt: 0 }), KEY, 13, 1))).toBe('RESUME_DATA_INVALID')
    expect(code(() => decodeProgressRecord(bencodeEncode({ v: 1, uploaded: 'x' }), 'k'))).toBe('RESUME_DATA_INVALID')
    expect(code(() => decodeTorrentList(bencodeEncode({ v: 1, ids: ['nothex'] })))).toBe('RESUME_DATA_INVALID')
    try {
      decodeBitfieldRecord(new Uint8Array([1, 2, 3]), KEY, 13, 1)
    } catch (error) {
      expect((error as { details: { key: string } }).details.key).toBe(KEY)
    }
    expect(ENGINE_TORRENTS_KEY).toBe('engine:torrents')
  })

  it('never throws anything but RESUME_DATA_INVALID on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      for (const decode of [
        () => decodeBitfieldRecord(bytes, KEY, 13, 2),
        () => decodeProgressRecord(bytes, 'k'),
        () => decodePeersRecord(bytes, 'k'),
        () => decodeMagnetRecord(bytes, 'k'),
        () => decodeTorrentList(bytes)
      ]) {
        const c = code(decode)
        if (c !== undefined && c !== 'RESUME_DATA_INVALID') return false
      }
      return true
    }), { numRuns: 2000 })
  })

  it('rebuilds a .torrent from parsed metainfo with the same info hash and trackers', async () => {
    const original = await parseTorrent(makeTorrent('x.bin', payload(70_000, 3), 16_384))
    const rebuilt = await parseTorrent(encodeTorrentFile({ ...original, announce: [['http://a/announce', 'http://b/announce'], ['udp://c:1']], comment: 'hi' }))
    expect(rebuilt.id).toBe(original.id)
    expect(rebuilt.announce).toEqual([['http://a/announce', 'http://b/announce'], ['udp://c:1']])
    expect(rebuilt.comment).toBe('hi')
  })
})
