import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import {
  encodeAllowedFast, encodeBitfield, encodeCancel, encodeChoke, encodeExtended, encodeHave, encodeHaveAll, encodeHaveNone,
  encodeInterested, encodeKeepAlive, encodeMessage, encodeNotInterested, encodePiece, encodePieceHeader, encodePort,
  encodeReject, encodeRequest, encodeSuggest, encodeUnchoke, PIECE_HEADER_LENGTH_BYTES
} from '../../../src/protocol/wire-messages.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('wire message encoders', () => {
  it('encode the BEP 3 messages byte for byte', () => {
    expect(hex(encodeKeepAlive())).toBe('00000000')
    expect(hex(encodeChoke())).toBe('0000000100')
    expect(hex(encodeUnchoke())).toBe('0000000101')
    expect(hex(encodeInterested())).toBe('0000000102')
    expect(hex(encodeNotInterested())).toBe('0000000103')
    expect(hex(encodeHave(0x01020304))).toBe('000000050401020304')
    expect(hex(encodeBitfield(Uint8Array.from([0xff, 0x80])))).toBe('0000000305ff80')
    expect(hex(encodeRequest(1, 0x4000, 0x4000))).toBe('0000000d06000000010000400000004000')
    expect(hex(encodeCancel(1, 0x4000, 0x4000))).toBe('0000000d08000000010000400000004000')
    expect(hex(encodePiece(2, 0, Uint8Array.from([0xaa, 0xbb])))).toBe('0000000b070000000200000000aabb')
  })

  it('encode BEP 5, 6 and 10 messages', () => {
    expect(hex(encodePort(6881))).toBe('00000003091ae1')
    expect(hex(encodeSuggest(7))).toBe('000000050d00000007')
    expect(hex(encodeHaveAll())).toBe('000000010e')
    expect(hex(encodeHaveNone())).toBe('000000010f')
    expect(hex(encodeReject(1, 2, 3))).toBe('0000000d10000000010000000200000003')
    expect(hex(encodeAllowedFast(9))).toBe('000000051100000009')
    expect(hex(encodeExtended(0, Uint8Array.from([0x64, 0x65])))).toBe('0000000414006465')
  })

  it('writes only the 13-byte header of a piece so the block is sent without a copy', () => {
    const header = encodePieceHeader(5, 16_384, 16_384)
    expect(header.length).toBe(PIECE_HEADER_LENGTH_BYTES)
    expect(hex(header)).toBe('00004009070000000500004000')
  })

  it('allocates a fresh buffer per message (the socket takes ownership)', () => {
    const a = encodeChoke()
    const b = encodeChoke()
    expect(a).not.toBe(b)
    expect(a.buffer).not.toBe(b.buffer)
    expect(encodeKeepAlive().buffer).not.toBe(encodeKeepAlive().buffer)
  })

  it('refuses out-of-range numbers with ARGUMENT_INVALID', () => {
    for (const fn of [() => encodeHave(-1), () => encodeHave(2 ** 32), () => encodeRequest(0, 1.5, 1), () => encodePort(70_000), () => encodeExtended(256, new Uint8Array(0))]) {
      let error: unknown
      try { fn() } catch (e) { error = e }
      expect(hasCode(error, 'ARGUMENT_INVALID')).toBe(true)
    }
  })

  it('encodeMessage matches the dedicated encoders', () => {
    expect(encodeMessage({ type: 'have', piece: 3 })).toEqual(encodeHave(3))
    expect(encodeMessage({ type: 'unknown', id: 99, payload: Uint8Array.from([1]) })).toEqual(Uint8Array.from([0, 0, 0, 2, 99, 1]))
  })
})
