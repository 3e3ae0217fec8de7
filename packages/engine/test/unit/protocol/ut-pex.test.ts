import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import { bencodeDecode, bencodeEncode, isBencodeDict } from '../../../src/protocol/bencode.js'
import {
  decodePexMessage, encodePexMessage, PEX_FLAG_REACHABLE, PEX_FLAG_SEED, PEX_MAX_MESSAGE_BYTES
} from '../../../src/protocol/ut-pex.js'
import { seededRandom } from '../../../src/interfaces/random.js'

function catchError (fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

describe('ut_pex codec (BEP 11)', () => {
  it('writes added / added.f / dropped and the IPv6 keys, per family', () => {
    const payload = encodePexMessage({
      added: [
        { address: { host: '10.0.0.1', port: 6881 }, flags: PEX_FLAG_SEED | PEX_FLAG_REACHABLE },
        { address: { host: '2001:db8::1', port: 51413 }, flags: PEX_FLAG_SEED },
        { address: { host: 'example.org', port: 1 }, flags: 0 }
      ],
      dropped: [{ host: '10.0.0.2', port: 1 }, { host: '::1', port: 2 }]
    })
    const dict = bencodeDecode(payload)
    if (!isBencodeDict(dict)) throw new Error('not a dict')
    expect(dict.get('added')).toEqual(bytes(10, 0, 0, 1, 0x1a, 0xe1))
    expect(dict.get('added.f')).toEqual(bytes(0x12))
    expect(dict.get('dropped')).toEqual(bytes(10, 0, 0, 2, 0, 1))
    expect((dict.get('added6') as Uint8Array).length).toBe(18)
    expect(dict.get('added6.f')).toEqual(bytes(0x02))
    expect((dict.get('dropped6') as Uint8Array)[15]).toBe(1)
  })

  it('round-trips both families with flags', () => {
    const message = {
      added: [
        { address: { host: '127.0.0.1', port: 1000 }, flags: 0x10 },
        { address: { host: '127.0.0.1', port: 1001 }, flags: 0x03 },
        { address: { host: '::1', port: 7 }, flags: 0x04 }
      ],
      dropped: [{ host: '192.168.1.1', port: 80 }, { host: 'fe80::1', port: 443 }]
    }
    const decoded = decodePexMessage(encodePexMessage(message), 100)
    expect(decoded.added).toEqual(message.added)
    expect(decoded.dropped).toEqual(message.dropped)
    expect(decoded.addedIgnored).toBe(0)
  })

  it('keeps flags aligned when an entry is undiallable, and defaults missing flags to 0', () => {
    const payload = bencodeEncode(new Map<string, Uint8Array>([
      ['added', bytes(0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 0, 9, 5, 6, 7, 8, 0, 10)],
      ['added.f', bytes(0x01, 0x02)]
    ]))
    const decoded = decodePexMessage(payload, 100)
    expect(decoded.added).toEqual([
      { address: { host: '1.2.3.4', port: 9 }, flags: 0x02 },
      { address: { host: '5.6.7.8', port: 10 }, flags: 0 }
    ])
  })

  it('reads at most maxPeers added and dropped entries and counts the rest', () => {
    const added = Array.from({ length: 300 }, (_, i) => ({ address: { host: `10.0.${i >> 8}.${i & 0xff}`, port: 1 + i }, flags: 0 }))
    const decoded = decodePexMessage(encodePexMessage({ added, dropped: added.map((p) => p.address) }), 50)
    expect(decoded.added).toHaveLength(50)
    expect(decoded.addedIgnored).toBe(250)
    expect(decoded.dropped).toHaveLength(50)
    expect(decoded.droppedIgnored).toBe(250)
    // The budget spans both families: IPv4 first.
    const mixed = decodePexMessage(encodePexMessage({ added: [...added.slice(0, 3), { address: { host: '::2', port: 3 }, flags: 0 }], dropped: [] }), 3)
    expect(mixed.added.map((p) => p.address.host)).toEqual(['10.0.0.0', '10.0.0.1', '10.0.0.2'])
    expect(mixed.addedIgnored).toBe(1)
  })

  it('refuses non-bencode, non-dict and oversized payloads with typed errors', () => {
    expect(hasCode(catchError(() => decodePexMessage(bytes(0x64, 0x31), 50)), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    expect(hasCode(catchError(() => decodePexMessage(bencodeEncode([1, 2]), 50)), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    const big = new Uint8Array(PEX_MAX_MESSAGE_BYTES + 1)
    expect(hasCode(catchError(() => decodePexMessage(big, 50)), 'PEER_MESSAGE_TOO_LARGE')).toBe(true)
  })

  it('ignores wrongly typed keys and unknown keys', () => {
    const payload = bencodeEncode(new Map<string, unknown>([['added', 5], ['dropped', bytes(1, 2, 3)], ['x', bytes(1)]]) as never)
    expect(decodePexMessage(payload, 50)).toEqual({ added: [], dropped: [], addedIgnored: 0, droppedIgnored: 0 })
  })

  it('on arbitrary bytes returns a message or throws a LodestoneError, nothing else', () => {
    const random = seededRandom(11)
    for (let i = 0; i < 1_000; i++) {
      let data: Uint8Array = new Uint8Array(1 + Math.floor(random.next() * 64))
      random.fill(data)
      if (i % 2 === 0) {
        // A well-formed dict with random compact strings and flags of random lengths.
        const value = (): Uint8Array => { const b = new Uint8Array(Math.floor(random.next() * 40)); random.fill(b); return b }
        data = bencodeEncode(new Map([['added', value()], ['added.f', value()], ['added6', value()], ['dropped', value()], ['dropped6', value()]]))
      }
      try {
        const out = decodePexMessage(data, 10)
        expect(out.added.length).toBeLessThanOrEqual(10)
      } catch (error) {
        expect(hasCode(error, 'PEER_PROTOCOL_VIOLATION')).toBe(true)
      }
    }
  })
})
