import { describe, expect, it } from 'vitest'
import { buildMagnet, isFileSelected, magnetFromMetainfo, parseMagnet, parsePeerAddress, parseSelectOnly } from '../../../src/metainfo/magnet.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { toBase32 } from '../../../src/util/bytes.js'
import { fixture, hex } from './helpers.js'

const V1 = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a'
const V2 = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8)

function reason (uri: string): string {
  try {
    parseMagnet(uri)
  } catch (err) {
    expect(err).toMatchObject({ code: 'MAGNET_INVALID' })
    return (err as { details: { reason: string } }).details.reason
  }
  throw new Error(`parsed ${uri}`)
}

describe('parseMagnet', () => {
  it('parses a v1 magnet with every supported parameter', () => {
    const m = parseMagnet(`magnet:?xt=urn:btih:${V1.toUpperCase()}&dn=My+File%20%C3%A9&tr=http%3A%2F%2Fa%2Fannounce&tr.1=udp://b:80&tr=http%3A%2F%2Fa%2Fannounce` +
      '&ws=http%3A%2F%2Fws%2Ff&x.pe=10.0.0.1:6881&x.pe=%5B%3A%3A1%5D:51413&x.pe=host.example:1&so=0,2,4-6&xl=12345&foo=bar')
    expect(hex(m.infoHashV1!)).toBe(V1)
    expect(m.infoHashV2).toBeNull()
    expect(m.id).toBe(V1)
    expect(m.displayName).toBe('My File é')
    expect(m.trackers).toEqual(['http://a/announce', 'udp://b:80'])
    expect(m.webSeeds).toEqual(['http://ws/f'])
    expect(m.peers).toEqual([{ host: '10.0.0.1', port: 6881 }, { host: '::1', port: 51413 }, { host: 'host.example', port: 1 }])
    expect(m.selectOnly).toEqual([{ first: 0, last: 0 }, { first: 2, last: 2 }, { first: 4, last: 6 }])
    expect(m.exactLengthBytes).toBe(12345)
  })

  it('accepts base32 btih', () => {
    const bytes = Uint8Array.from(Buffer.from(V1, 'hex'))
    expect(parseMagnet(`magnet:?xt=urn:btih:${toBase32(bytes)}`).id).toBe(V1)
    expect(parseMagnet(`magnet:?xt=urn:btih:${toBase32(bytes).toLowerCase()}`).id).toBe(V1)
  })

  it('parses v2 (btmh) and hybrid magnets', () => {
    const v2 = parseMagnet(`magnet:?xt=urn:btmh:1220${V2}`)
    expect(v2.infoHashV1).toBeNull()
    expect(hex(v2.infoHashV2!)).toBe(V2)
    expect(v2.id).toBe(V2.slice(0, 40))
    const hybrid = parseMagnet(`MAGNET:?xt=urn:btmh:1220${V2}&xt=urn:btih:${V1}`)
    expect(hybrid.id).toBe(V1)
    expect(hex(hybrid.infoHashV2!)).toBe(V2)
    expect(parseMagnet(`magnet:?xt.1=urn:btih:${V1}&xt.2=urn:btmh:1220${V2}`).infoHashV2).not.toBeNull()
  })

  it('ignores other xt URNs when a BitTorrent one is present', () => {
    expect(parseMagnet(`magnet:?xt=urn:ed2k:abc&xt=urn:btih:${V1}`).id).toBe(V1)
  })

  it.each([
    ['http://example.com/?xt=urn:btih:' + V1, 'magnet:?'],
    ['magnet:?dn=x', 'no urn:btih'],
    ['magnet:?xt=urn:ed2k:abc', 'no urn:btih'],
    ['magnet:?xt=urn:btih:1234', '40 hex or 32 base32'],
    [`magnet:?xt=urn:btih:${'g'.repeat(40)}`, '40 hex or 32 base32'],
    [`magnet:?xt=urn:btih:${V1}&xt=urn:btih:${'0'.repeat(40)}`, 'two different urn:btih'],
    [`magnet:?xt=urn:btmh:1114${V2.slice(0, 40)}`, 'sha2-256 multihash'],
    [`magnet:?xt=urn:btmh:1220${V2.slice(2)}`, 'needs 32 bytes'],
    [`magnet:?xt=urn:btmh:zz`, 'not hex'],
    [`magnet:?xt=urn:btih:${V1}&dn=%E0%A4%A`, 'percent-encoding'],
    [`magnet:?xt=urn:btih:${V1}&x.pe=1.2.3.4`, 'host:port'],
    [`magnet:?xt=urn:btih:${V1}&x.pe=1.2.3.4:0`, 'out of range'],
    [`magnet:?xt=urn:btih:${V1}&x.pe=1.2.3.4:70000`, 'out of range'],
    [`magnet:?xt=urn:btih:${V1}&x.pe=::1:80`, 'IPv6 needs brackets'],
    [`magnet:?xt=urn:btih:${V1}&x.pe=[::1]80`, '[ipv6]:port'],
    [`magnet:?xt=urn:btih:${V1}&x.pe=[zz]:80`, 'bad IPv6'],
    [`magnet:?xt=urn:btih:${V1}&so=3-1`, 'reversed'],
    [`magnet:?xt=urn:btih:${V1}&so=a`, 'not a non-negative integer'],
    [`magnet:?xt=urn:btih:${V1}&so=`, 'empty'],
    [`magnet:?xt=urn:btih:${V1}&xl=-1`, 'not a non-negative integer'],
    [`magnet:?xt=urn:btih:${V1}&tr=${'x'.repeat(70_000)}`, 'longer than']
  ])('refuses %s', (uri, why) => {
    expect(reason(uri)).toContain(why)
  })
})

describe('buildMagnet / magnetFromMetainfo', () => {
  it('round-trips through parseMagnet', () => {
    const input = {
      infoHashV1: Uint8Array.from(Buffer.from(V1, 'hex')),
      infoHashV2: Uint8Array.from(Buffer.from(V2, 'hex')),
      displayName: 'a b&c=d/é',
      trackers: ['http://t/a?x=1&y=2', 'udp://u:1'],
      webSeeds: ['http://w/'],
      peers: [{ host: '::1', port: 5 }, { host: '127.0.0.1', port: 6 }],
      selectOnly: [{ first: 0, last: 0 }, { first: 3, last: 9 }],
      exactLengthBytes: 99
    }
    const uri = buildMagnet(input)
    expect(uri.startsWith(`magnet:?xt=urn:btih:${V1}&xt=urn:btmh:1220${V2}&`)).toBe(true)
    const back = parseMagnet(uri)
    expect(hex(back.infoHashV1!)).toBe(V1)
    expect(hex(back.infoHashV2!)).toBe(V2)
    expect(back.displayName).toBe(input.displayName)
    expect(back.trackers).toEqual(input.trackers)
    expect(back.webSeeds).toEqual(input.webSeeds)
    expect(back.peers).toEqual(input.peers)
    expect(back.selectOnly).toEqual(input.selectOnly)
    expect(back.exactLengthBytes).toBe(99)
  })

  it('refuses missing or wrong-size hashes', () => {
    expect(() => buildMagnet({})).toThrow(expect.objectContaining({ code: 'MAGNET_INVALID' }))
    expect(() => buildMagnet({ infoHashV1: new Uint8Array(19) })).toThrow(expect.objectContaining({ code: 'MAGNET_INVALID' }))
    expect(() => buildMagnet({ infoHashV2: new Uint8Array(20) })).toThrow(expect.objectContaining({ code: 'MAGNET_INVALID' }))
  })

  it('magnetFromMetainfo carries the torrent identity', async () => {
    for (const version of ['v1', 'v2', 'hybrid']) {
      const meta = await parseTorrent(fixture(`lt-${version}.torrent`))
      const link = magnetFromMetainfo(meta)
      expect(link.id).toBe(meta.id)
      expect(link.trackers).toEqual(['http://127.0.0.1:6969/announce'])
      const back = parseMagnet(buildMagnet(link))
      expect(back.id).toBe(meta.id)
      expect(back.displayName).toBe('payload')
      expect(back.infoHashV2 === null).toBe(meta.infoHashV2 === null)
    }
  })
})

describe('helpers', () => {
  it('parsePeerAddress, parseSelectOnly, isFileSelected', () => {
    expect(parsePeerAddress('[2001:db8::1]:443')).toEqual({ host: '2001:db8::1', port: 443 })
    expect(parseSelectOnly('1,5-7')).toEqual([{ first: 1, last: 1 }, { first: 5, last: 7 }])
    const so = parseSelectOnly('1,5-7')
    expect([0, 1, 2, 5, 6, 7, 8].map((i) => isFileSelected(so, i))).toEqual([false, true, false, true, true, true, false])
    expect(isFileSelected(undefined, 42)).toBe(true)
  })
})
