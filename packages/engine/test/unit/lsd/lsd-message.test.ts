import { describe, expect, it } from 'vitest'
import { encodeLsdMessage, LSD_GROUP_V4, LSD_GROUP_V6, parseLsdMessage } from '../../../src/lsd/lsd-message.js'

const hash = 'ab'.repeat(20)
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('BEP 14 messages', () => {
  it('round-trips an announce (IPv4 and IPv6 host lines)', () => {
    const v4 = encodeLsdMessage(LSD_GROUP_V4, 6881, [hash, 'CD'.repeat(20)], 'c00k1e')
    expect(new TextDecoder().decode(v4)).toContain('Host: 239.192.152.143:6771\r\n')
    expect(parseLsdMessage(v4)).toEqual({ port: 6881, infoHashes: [hash, 'cd'.repeat(20)], cookie: 'c00k1e' })
    expect(new TextDecoder().decode(encodeLsdMessage(LSD_GROUP_V6, 1, [hash], 'x'))).toContain('Host: [ff15::efc0:988f]:6771')
  })

  it('reads what libtorrent sends (bare LF accepted, header names in any case)', () => {
    expect(parseLsdMessage(text(`BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\nInfohash: ${hash.toUpperCase()}\r\ncookie: 1a2b\r\n\r\n\r\n`)))
      .toEqual({ port: 51413, infoHashes: [hash], cookie: '1a2b' })
    expect(parseLsdMessage(text(`BT-SEARCH * HTTP/1.1\nPORT: 7\ninfohash: ${hash}\n\n`))).toEqual({ port: 7, infoHashes: [hash], cookie: null })
  })

  it('refuses anything else, within bounds', () => {
    for (const bad of [
      `M-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: ${hash}\r\n\r\n`,
      `BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: ${hash}\r\n\r\n`,
      `BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\nInfohash: ${hash}\r\n\r\n`,
      `BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: xyz\r\n\r\n`,
      'BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n'
    ]) expect(parseLsdMessage(text(bad))).toBeNull()
    expect(parseLsdMessage(new Uint8Array(2000).fill(0x41))).toBeNull()
    expect(parseLsdMessage(Uint8Array.of(0xff, 0xfe, 0x00))).toBeNull()
    const many = `BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n${Array.from({ length: 20 }, () => `Infohash: ${hash}`).join('\r\n')}\r\n\r\n`
    expect(parseLsdMessage(text(many))?.infoHashes.length).toBe(16)
  })
})
