import { describe, expect, it } from 'vitest'
import { pieceHeader } from '../../../src/peer/piece-header-slab.js'
import { encodePieceHeader } from '../../../src/protocol/wire-messages.js'

describe('pieceHeader', () => {
  it('encodes each header as encodePieceHeader does, into views of a shared buffer', () => {
    const a = pieceHeader(3, 16_384, 16_384)
    const b = pieceHeader(0xffff_fffe, 0, 1)
    expect(a).toEqual(encodePieceHeader(3, 16_384, 16_384))
    expect(b).toEqual(encodePieceHeader(0xffff_fffe, 0, 1))
    expect(a.length).toBe(13)
    expect(b.buffer).toBe(a.buffer)
  })

  it('never writes over a header handed out, also once a slab is full', () => {
    const headers = Array.from({ length: 5_000 }, (_, i) => ({ i, header: pieceHeader(i, i * 16_384, 16_384) }))
    for (const { i, header } of headers) expect(header).toEqual(encodePieceHeader(i, i * 16_384, 16_384))
    // 5 000 headers take several slabs: later headers did not reuse an earlier slab's bytes.
    expect(new Set(headers.map((h) => h.header.buffer)).size).toBeGreaterThan(1)
  })

  it('refuses numbers that do not fit the message', () => {
    expect(() => pieceHeader(-1, 0, 16_384)).toThrow()
    expect(() => pieceHeader(0, 0, 2 ** 32)).toThrow()
  })
})
