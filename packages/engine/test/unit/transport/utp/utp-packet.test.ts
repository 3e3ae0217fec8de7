import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  PARSE_BAD_EXTENSION, PARSE_BAD_TYPE, PARSE_BAD_VERSION, PARSE_OK, PARSE_TOO_SHORT, ST_DATA, ST_STATE, ST_SYN,
  UtpHeader, parseUtpHeader, seqDistance, seqLess, u32Less, writeUtpHeader
} from '../../../../src/transport/utp/utp-packet.js'

describe('uTP packet header', () => {
  it('round-trips every field, modulo its width', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 0xffff }), fc.nat(), fc.nat(), fc.nat(),
      fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }),
      (type, id, ts, diff, wnd, seq, ack) => {
        const buf = new Uint8Array(24)
        writeUtpHeader(buf, 2, type, 0, id, ts, diff, wnd, seq, ack)
        const h = new UtpHeader()
        expect(parseUtpHeader(buf.subarray(2), h)).toBe(PARSE_OK)
        expect([h.type, h.connectionId, h.timestampUs, h.timestampDiffUs, h.windowBytes, h.seqNr, h.ackNr])
          .toEqual([type, id, ts >>> 0, diff >>> 0, wnd >>> 0, seq, ack])
        expect(h.payloadOffset).toBe(20)
        expect(h.sackOffset).toBe(-1)
      }))
  })

  it('matches the BEP 29 byte layout', () => {
    const buf = new Uint8Array(20)
    writeUtpHeader(buf, 0, ST_SYN, 0, 0x1234, 0x01020304, 0x05060708, 0x0a0b0c0d, 0xabcd, 0x0102)
    expect([...buf]).toEqual([0x41, 0, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x0c, 0x0d, 0xab, 0xcd, 0x01, 0x02])
  })

  it('walks the extension chain: SACK found, unknown extensions skipped, payload after them', () => {
    const buf = new Uint8Array(20 + 6 + 10 + 3)
    writeUtpHeader(buf, 0, ST_STATE, 2, 1, 0, 0, 0, 0, 0)
    buf.set([1, 8, 0, 0, 0, 0, 0, 0, 0, 0], 20) // extension 2 (8 bytes), next = 1 (SACK)
    buf.set([0, 4, 0b101, 0, 0, 0x80], 30) // SACK, 4 bytes, last
    buf.set([7, 8, 9], 36)
    const h = new UtpHeader()
    expect(parseUtpHeader(buf, h)).toBe(PARSE_OK)
    expect(h.sackOffset).toBe(32)
    expect(h.sackBytes).toBe(4)
    expect(h.payloadOffset).toBe(36)
  })

  it('refuses short, wrong-version, unknown-type and broken-extension packets', () => {
    const h = new UtpHeader()
    expect(parseUtpHeader(new Uint8Array(19), h)).toBe(PARSE_TOO_SHORT)
    const buf = new Uint8Array(22)
    writeUtpHeader(buf, 0, ST_DATA, 0, 1, 0, 0, 0, 0, 0)
    buf[0] = 0x02
    expect(parseUtpHeader(buf, h)).toBe(PARSE_BAD_VERSION)
    buf[0] = 0x51
    expect(parseUtpHeader(buf, h)).toBe(PARSE_BAD_TYPE)
    buf[0] = 0x01
    buf[1] = 1
    buf[20] = 0
    buf[21] = 4 // says 4 bytes follow; none do
    expect(parseUtpHeader(buf, h)).toBe(PARSE_BAD_EXTENSION)
    buf[21] = 0
    expect(parseUtpHeader(buf, h)).toBe(PARSE_OK)
    expect(parseUtpHeader(buf.subarray(0, 21), h)).toBe(PARSE_BAD_EXTENSION)
  })

  it('never throws on arbitrary bytes', () => {
    const h = new UtpHeader()
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      const r = parseUtpHeader(bytes, h)
      expect(r).toBeGreaterThanOrEqual(0)
      if (r === PARSE_OK) expect(h.payloadOffset).toBeLessThanOrEqual(bytes.length)
    }), { numRuns: 20_000 })
  })

  it('compares sequence numbers across the 16-bit wrap and timestamps across the 32-bit wrap', () => {
    expect(seqLess(65_535, 0)).toBe(true)
    expect(seqLess(0, 65_535)).toBe(false)
    expect(seqLess(5, 5)).toBe(false)
    expect(seqLess(65_000, 100)).toBe(true)
    expect(seqDistance(65_530, 4)).toBe(10)
    expect(u32Less(0xffff_fff0, 5)).toBe(true)
    expect(u32Less(5, 0xffff_fff0)).toBe(false)
  })
})
