import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  canonicalIp, decodeCompactPeers, encodeCompactPeers, formatIpv6, ipFamily, parseIp
} from '../../../src/tracker/compact-peers.js'

const SEED = Number(process.env.FC_SEED ?? 0x7eac)
const params = { seed: SEED, numRuns: 300, verbose: 1 } as const

describe('compact peers (BEP 23 / BEP 7)', () => {
  it('decodes IPv4 entries big-endian and skips a trailing partial entry', () => {
    const bytes = Uint8Array.of(10, 0, 0, 1, 0x1a, 0xe1, 192, 168, 1, 200, 0xff, 0xff, 1, 2, 3)
    expect(decodeCompactPeers(bytes, 4)).toEqual([
      { host: '10.0.0.1', port: 6881 },
      { host: '192.168.1.200', port: 65535 }
    ])
  })

  it('skips entries that cannot be dialled (port 0, unspecified address)', () => {
    const bytes = Uint8Array.of(1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 80, 5, 6, 7, 8, 0, 80)
    expect(decodeCompactPeers(bytes, 4)).toEqual([{ host: '5.6.7.8', port: 80 }])
  })

  it('decodes IPv6 entries in RFC 5952 form and IPv4-mapped ones as IPv4', () => {
    const v6 = new Uint8Array(36)
    v6.set([0x20, 0x01, 0x0d, 0xb8], 0)
    v6[15] = 1
    v6.set([0x1a, 0xe1], 16)
    v6.set([0xff, 0xff, 127, 0, 0, 1], 18 + 10)
    v6.set([0, 99], 34)
    expect(decodeCompactPeers(v6, 6)).toEqual([
      { host: '2001:db8::1', port: 6881 },
      { host: '127.0.0.1', port: 99 }
    ])
  })

  it('formats IPv6 per RFC 5952 (longest zero run, first on ties, no single-group compression)', () => {
    const g = (...groups: number[]): Uint8Array => {
      const out = new Uint8Array(16)
      groups.forEach((x, i) => { out[2 * i] = x >> 8; out[2 * i + 1] = x & 0xff })
      return out
    }
    expect(formatIpv6(g(0, 0, 0, 0, 0, 0, 0, 1))).toBe('::1')
    expect(formatIpv6(g(0, 0, 0, 0, 0, 0, 0, 0))).toBe('::')
    expect(formatIpv6(g(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1))).toBe('2001:db8:0:1:1:1:1:1')
    expect(formatIpv6(g(0x2001, 0, 0, 1, 0, 0, 0, 1))).toBe('2001:0:0:1::1')
    expect(formatIpv6(g(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1))).toBe('2001:db8::1:0:0:1')
    expect(formatIpv6(g(0xfe80, 0, 0, 0, 0, 0, 0, 0))).toBe('fe80::')
  })

  it('parses only IP literals', () => {
    expect(parseIp('1.2.3.4')).toEqual(Uint8Array.of(1, 2, 3, 4))
    expect(ipFamily('::1')).toBe(6)
    expect(ipFamily('[::1]')).toBe(6)
    expect(canonicalIp('0:0:0:0:0:0:0:1')).toBe('::1')
    expect(canonicalIp('::ffff:10.1.2.3')).toBe('10.1.2.3')
    expect(canonicalIp('2001:DB8::A')).toBe('2001:db8::a')
    for (const bad of ['', 'example.com', '1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9',
      'localhost', '::g', '1.2.3.4 ', '12345::', ':::']) {
      expect(parseIp(bad), bad).toBeNull()
    }
  })

  it('encode then decode gives back the peers (both families)', () => {
    const v4 = fc.record({ host: fc.ipV4(), port: fc.integer({ min: 1, max: 65535 }) })
      .filter((p) => p.host !== '0.0.0.0')
      .map((p) => ({ host: canonicalIp(p.host) ?? p.host, port: p.port }))
    const v6 = fc.record({ host: fc.ipV6(), port: fc.integer({ min: 1, max: 65535 }) })
      .map((p) => ({ host: canonicalIp(p.host) ?? '', port: p.port }))
      .filter((p) => p.host.includes(':') && p.host !== '::')
    fc.assert(fc.property(fc.array(v4, { maxLength: 20 }), fc.array(v6, { maxLength: 20 }), (a, b) => {
      expect(decodeCompactPeers(encodeCompactPeers(a, 4), 4)).toEqual(a)
      expect(decodeCompactPeers(encodeCompactPeers(b, 6), 6)).toEqual(b)
    }), params)
  })

  it('decoding arbitrary bytes never throws and yields floor(len / size) entries at most', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      expect(decodeCompactPeers(bytes, 4).length).toBeLessThanOrEqual(Math.floor(bytes.length / 6))
      expect(decodeCompactPeers(bytes, 6).length).toBeLessThanOrEqual(Math.floor(bytes.length / 18))
    }), params)
  })

  it('encoding leaves out names and the other family, and maps IPv4 into IPv6 when asked', () => {
    const peers = [{ host: 'example.com', port: 1 }, { host: '::1', port: 2 }, { host: '9.9.9.9', port: 3 }]
    expect(decodeCompactPeers(encodeCompactPeers(peers, 4), 4)).toEqual([{ host: '9.9.9.9', port: 3 }])
    expect(decodeCompactPeers(encodeCompactPeers(peers, 6), 6)).toEqual([{ host: '::1', port: 2 }, { host: '9.9.9.9', port: 3 }])
  })
})
