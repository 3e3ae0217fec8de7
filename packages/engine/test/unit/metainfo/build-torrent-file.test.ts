import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { buildTorrentFile } from '../../../src/metainfo/build-torrent-file.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { bencodeDecode, bencodeEncode } from '../../../src/protocol/bencode.js'

const info = bencodeEncode({ length: 5, name: 'a.bin', 'piece length': 16_384, pieces: new Uint8Array(20).fill(3) })

describe('buildTorrentFile', () => {
  it('embeds the info dict byte for byte, with announce, announce-list and url-list in key order', async () => {
    const bytes = buildTorrentFile(info, { announce: [['http://a/announce'], ['udp://b:1']], urlList: ['http://w/'], createdBy: 'x', creationDate: 7 })
    const meta = await parseTorrent(bytes)
    expect(Buffer.compare(meta.infoBytes, info)).toBe(0)
    expect(Buffer.from(meta.infoHashV1!).toString('hex')).toBe(createHash('sha1').update(info).digest('hex'))
    expect(meta.announce).toEqual([['http://a/announce'], ['udp://b:1']])
    expect(meta.urlList).toEqual(['http://w/'])
    expect(meta.createdBy).toBe('x')
    expect(meta.creationDate).toBe(7)
    // Strict decoding (sorted keys) accepts it: the output is canonical bencode.
    expect(() => bencodeDecode(bytes)).not.toThrow()
    const top = bencodeDecode(bytes) as Map<string, unknown>
    expect([...top.keys()]).toEqual(['announce', 'announce-list', 'created by', 'creation date', 'info', 'url-list'])
  })

  it('leaves out empty fields', () => {
    const bytes = buildTorrentFile(info)
    const top = bencodeDecode(bytes) as Map<string, unknown>
    expect([...top.keys()]).toEqual(['info'])
  })
})
