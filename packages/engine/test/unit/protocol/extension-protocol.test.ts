import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import {
  decodeExtendedHandshake, encodeExtendedHandshake, ExtensionRegistry, type PeerExtension
} from '../../../src/protocol/extension-protocol.js'

function catchError (fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

function ext (name: string, localId: number, fields?: Map<string, number>): PeerExtension {
  return { name, localId, onMessage: () => {}, ...(fields === undefined ? {} : { handshakeFields: () => fields }) }
}

describe('extended handshake', () => {
  it('round-trips every field', () => {
    const payload = encodeExtendedHandshake({
      m: new Map([['ut_metadata', 2], ['ut_pex', 1]]),
      v: 'Lodestone 0.1.0',
      p: 6881,
      reqq: 250,
      yourip: Uint8Array.from([127, 0, 0, 1]),
      ipv4: Uint8Array.from([10, 0, 0, 1]),
      ipv6: new Uint8Array(16).fill(1),
      metadataSize: 31_337,
      extra: new Map([['upload_only', 1]])
    })
    const hs = decodeExtendedHandshake(payload)
    expect([...hs.m]).toEqual([['ut_metadata', 2], ['ut_pex', 1]])
    expect(hs.v).toBe('Lodestone 0.1.0')
    expect(hs.p).toBe(6881)
    expect(hs.reqq).toBe(250)
    expect([...hs.yourip!]).toEqual([127, 0, 0, 1])
    expect([...hs.ipv4!]).toEqual([10, 0, 0, 1])
    expect(hs.ipv6?.length).toBe(16)
    expect(hs.metadataSize).toBe(31_337)
    expect(hs.dict.get('upload_only')).toBe(1)
  })

  it('is canonical bencode with metadata_size under its BEP 9 name', () => {
    const payload = encodeExtendedHandshake({ m: new Map([['ut_metadata', 3]]), metadataSize: 5 })
    expect(new TextDecoder().decode(payload)).toBe('d1:md11:ut_metadatai3ee13:metadata_sizei5ee')
  })

  it('treats mistyped or out-of-range optional fields as absent, and drops disabled extensions', () => {
    const payload = bencodeEncode(new Map<string, unknown>([
      ['m', new Map<string, unknown>([['a', 0], ['b', 300], ['c', 'x'], ['d', 7]])],
      ['p', 70_000],
      ['reqq', -1],
      ['v', 5],
      ['yourip', Uint8Array.from([1, 2, 3])],
      ['metadata_size', 'big']
    ]) as never)
    const hs = decodeExtendedHandshake(payload)
    expect([...hs.m]).toEqual([['d', 7]])
    expect(hs.p).toBeUndefined()
    expect(hs.reqq).toBeUndefined()
    expect(hs.v).toBeUndefined()
    expect(hs.yourip).toBeUndefined()
    expect(hs.metadataSize).toBeUndefined()
  })

  it('BEP 10 e (encryption preference): sent as 1 or 0 when given, omitted otherwise, read as any non-zero integer', () => {
    const on = decodeExtendedHandshake(encodeExtendedHandshake({ m: new Map(), prefersEncryption: true }))
    expect(on.dict.get('e')).toBe(1)
    expect(on.prefersEncryption).toBe(true)
    const off = decodeExtendedHandshake(encodeExtendedHandshake({ m: new Map(), prefersEncryption: false }))
    expect(off.dict.get('e')).toBe(0)
    expect(off.prefersEncryption).toBe(false)
    const absent = decodeExtendedHandshake(encodeExtendedHandshake({ m: new Map() }))
    expect(absent.dict.has('e')).toBe(false)
    expect(absent.prefersEncryption).toBeUndefined()
    expect(decodeExtendedHandshake(new TextEncoder().encode('d1:ei2e1:md1:ai0eee')).prefersEncryption).toBe(true)
    // A mistyped value means absent, as for the other optional fields.
    expect(decodeExtendedHandshake(new TextEncoder().encode('d1:e1:x1:mdee')).prefersEncryption).toBeUndefined()
  })

  it('BEP 21 upload_only: sent as 1 or 0 when given, read as any non-zero integer', () => {
    const on = decodeExtendedHandshake(encodeExtendedHandshake({ m: new Map(), uploadOnly: true }))
    expect(on.uploadOnly).toBe(true)
    expect(on.dict.get('upload_only')).toBe(1)
    expect(decodeExtendedHandshake(encodeExtendedHandshake({ m: new Map(), uploadOnly: false })).uploadOnly).toBe(false)
    expect(decodeExtendedHandshake(encodeExtendedHandshake({ m: new Map() })).uploadOnly).toBeUndefined()
    expect(decodeExtendedHandshake(bencodeEncode({ m: {}, upload_only: 2 })).uploadOnly).toBe(true)
    expect(decodeExtendedHandshake(bencodeEncode({ m: {}, upload_only: 'yes' })).uploadOnly).toBeUndefined()
  })

  it('accepts unsorted keys (some clients send them)', () => {
    const hs = decodeExtendedHandshake(new TextEncoder().encode('d1:v3:abc1:md6:ut_pexi1eee'))
    expect(hs.v).toBe('abc')
    expect(hs.m.get('ut_pex')).toBe(1)
  })

  it('refuses garbage and non-dicts with PEER_PROTOCOL_VIOLATION', () => {
    for (const text of ['', 'i5e', 'l1:ae', 'd1:m', 'xyz', 'd1:mdee trailing']) {
      const error = catchError(() => decodeExtendedHandshake(new TextEncoder().encode(text)))
      expect(hasCode(error, 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    }
  })

  it('refuses deep nesting within its limits', () => {
    const deep = 'd1:x' + 'l'.repeat(20) + 'e'.repeat(20) + 'e'
    expect(hasCode(catchError(() => decodeExtendedHandshake(new TextEncoder().encode(deep))), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
  })
})

describe('ExtensionRegistry', () => {
  it('builds m from local ids and merges handshake fields', () => {
    const registry = new ExtensionRegistry([ext('ut_metadata', 2, new Map([['metadata_size', 10]])), ext('ut_pex', 1)])
    expect([...registry.localMap()]).toEqual([['ut_metadata', 2], ['ut_pex', 1]])
    expect([...registry.handshakeExtra()]).toEqual([['metadata_size', 10]])
    expect(registry.get(2)?.name).toBe('ut_metadata')
    expect(registry.named('ut_pex')?.localId).toBe(1)
    expect(registry.get(9)).toBeUndefined()
  })

  it('knows the ids the peer announced', () => {
    const registry = new ExtensionRegistry([ext('ut_pex', 1)])
    expect(registry.remoteId('ut_pex')).toBeUndefined()
    registry.setRemote(decodeExtendedHandshake(encodeExtendedHandshake({ m: new Map([['ut_pex', 9]]) })))
    expect(registry.remoteId('ut_pex')).toBe(9)
  })

  it('refuses duplicate names, duplicate ids and ids outside 1..255', () => {
    expect(hasCode(catchError(() => new ExtensionRegistry([ext('a', 1), ext('a', 2)])), 'SETTINGS_INVALID')).toBe(true)
    expect(hasCode(catchError(() => new ExtensionRegistry([ext('a', 1), ext('b', 1)])), 'SETTINGS_INVALID')).toBe(true)
    expect(hasCode(catchError(() => new ExtensionRegistry([ext('a', 0)])), 'SETTINGS_INVALID')).toBe(true)
    expect(hasCode(catchError(() => new ExtensionRegistry([ext('a', 256)])), 'SETTINGS_INVALID')).toBe(true)
  })
})
