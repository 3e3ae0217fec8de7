import { describe, expect, it } from 'vitest'
import { parseIpv6Groups } from '../../../src/util/ipv6-groups.js'
import { parseIp } from '../../../src/tracker/compact-peers.js'
import { parseIpAddress } from '../../../src/ip-filter/ip-filter.js'

const strictV4 = (t: string): number | null => (/^\d{1,3}(\.\d{1,3}){3}$/.test(t) && t.split('.').every((p) => Number(p) <= 255)
  ? t.split('.').reduce((v, p) => v * 256 + Number(p), 0)
  : null)

describe('parseIpv6Groups', () => {
  it.each<[string, number[] | null]>([
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['1:2:3:4:5:6:7:8', [1, 2, 3, 4, 5, 6, 7, 8]],
    ['fe80::abcd:1', [0xfe80, 0, 0, 0, 0, 0, 0xabcd, 1]],
    ['::ffff:1.2.3.4', [0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]],
    ['64:ff9b::255.254.0.1', [0x64, 0xff9b, 0, 0, 0, 0, 0xfffe, 0x0001]],
    ['1::2::3', null],
    ['1:2:3:4:5:6:7:8:9', null],
    ['1:2:3:4:5:6:7', null],
    ['12345::', null],
    ['::ffff:256.1.1.1', null],
    ['::g', null],
    [':', null]
  ])('%s', (text, groups) => {
    expect(parseIpv6Groups(text, strictV4)).toEqual(groups)
  })

  it('the compact-peer codec and the IP filter read the same addresses', () => {
    for (const text of ['::1', '2001:db8::8:800:200c:417a', '::ffff:10.0.0.1', '[fe80::1]']) {
      const bytes = parseIp(text)!
      let fromBytes = 0n
      for (const b of bytes) fromBytes = (fromBytes << 8n) | BigInt(b)
      expect(parseIpAddress(text)).toEqual({ family: 6, value: fromBytes })
    }
  })
})
