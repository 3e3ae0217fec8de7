import { describe, expect, it } from 'vitest'
import { crc32c } from '../../../src/dht/crc32c.js'
import { canonicalPeerPriority } from '../../../src/peer/peer-priority.js'

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)))

describe('BEP 40 canonical peer priority', () => {
  it('matches the BEP test vectors, the same from either end', () => {
    const client = { ip: '123.213.32.10', port: 6881 }
    const far = { ip: '98.76.54.32', port: 6882 }
    const near = { ip: '123.213.32.234', port: 6883 }
    expect(canonicalPeerPriority(client, far)).toBe(0xec2d7224)
    expect(canonicalPeerPriority(far, client)).toBe(0xec2d7224)
    expect(canonicalPeerPriority(client, near)).toBe(0x99568189)
    expect(canonicalPeerPriority(near, client)).toBe(0x99568189)
  })

  it('IPv4: FF.FF.55.55 across /16s, FF.FF.FF.55 within a /16', () => {
    expect(canonicalPeerPriority({ ip: '10.1.200.255', port: 1 }, { ip: '10.2.3.4', port: 2 }))
      .toBe(crc32c(hex('0a0140550a020104')))
    expect(canonicalPeerPriority({ ip: '10.1.200.255', port: 1 }, { ip: '10.1.3.4', port: 2 }))
      .toBe(crc32c(hex('0a0103040a01c855')))
  })

  it('the same IP: the ports, 16-bit big-endian, smaller first', () => {
    expect(canonicalPeerPriority({ ip: '127.0.0.1', port: 6881 }, { ip: '127.0.0.1', port: 51413 }))
      .toBe(crc32c(hex('1ae1c8d5')))
    expect(canonicalPeerPriority({ ip: '127.0.0.1', port: 51413 }, { ip: '127.0.0.1', port: 6881 }))
      .toBe(crc32c(hex('1ae1c8d5')))
    expect(canonicalPeerPriority({ ip: '::1', port: 2 }, { ip: '::1', port: 1 })).toBe(crc32c(hex('00010002')))
  })

  it('IPv6: whole first 48 bits, one more byte for each further shared byte', () => {
    const a = '2001:db8:1:aaff::1'
    const b = '2001:db8:2:bbff::2'
    expect(canonicalPeerPriority({ ip: a, port: 1 }, { ip: b, port: 1 }))
      .toBe(crc32c(hex('20010db80001' + '0055' + '0000000000000001' + '20010db80002' + '1155' + '0000000000000000')))
    // Same /48: the 7th byte is whole too.
    const c = '2001:db8:1:bbff::2'
    expect(canonicalPeerPriority({ ip: a, port: 1 }, { ip: c, port: 1 }))
      .toBe(crc32c(hex('20010db80001' + 'aa55' + '0000000000000001' + '20010db80001' + 'bb55' + '0000000000000000')))
    // Same /56: 8 whole bytes.
    const d = '2001:db8:1:aa00::3'
    expect(canonicalPeerPriority({ ip: a, port: 1 }, { ip: d, port: 1 }))
      .toBe(crc32c(hex('20010db80001' + 'aa00' + '0000000000000001' + '20010db80001' + 'aaff' + '0000000000000001')))
  })

  it('null for something that is not an IP literal', () => {
    expect(canonicalPeerPriority({ ip: 'example.org', port: 1 }, { ip: '1.2.3.4', port: 1 })).toBeNull()
    expect(canonicalPeerPriority({ ip: new Uint8Array(5), port: 1 }, { ip: '1.2.3.4', port: 1 })).toBeNull()
  })
})
