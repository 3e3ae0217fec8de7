import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import { decodeExtendedHandshake, type ExtendedHandshake, type PeerExtensionContext } from '../../../src/protocol/extension-protocol.js'
import { createLtDontHaveExtension, decodeDontHave, encodeDontHave, LT_DONTHAVE, type LtDontHaveExtension } from '../../../src/protocol/lt-donthave.js'
import { PiecePicker } from '../../../src/torrent/piece-picker.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { Bitfield } from '../../../src/util/bitfield.js'

describe('BEP 54 lt_donthave codec', () => {
  it('is the piece index, 4 bytes big-endian', () => {
    expect([...encodeDontHave(0x01020304)]).toEqual([1, 2, 3, 4])
    expect(decodeDontHave(new Uint8Array([0, 0, 1, 0]))).toBe(256)
    // A view into a larger frame decodes from its own offset.
    const frame = new Uint8Array([9, 9, 0, 0, 0, 7, 9])
    expect(decodeDontHave(frame.subarray(2, 6))).toBe(7)
    for (const piece of [0, 1, 65_535, 2 ** 32 - 1]) expect(decodeDontHave(encodeDontHave(piece))).toBe(piece)
  })

  it('refuses a payload that is not 4 bytes with a typed error', () => {
    for (const n of [0, 3, 5]) {
      let caught: unknown
      try { decodeDontHave(new Uint8Array(n)) } catch (error) { caught = error }
      expect(hasCode(caught, 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    }
  })
})

describe('lt_donthave plug-in', () => {
  function setup (remoteId: number | undefined): { ext: LtDontHaveExtension, sent: Uint8Array[], received: number[] } {
    const sent: Uint8Array[] = []
    const received: number[] = []
    const handshake: ExtendedHandshake | null = null
    const context: PeerExtensionContext = {
      send: (payload) => { if (remoteId === undefined) return false; sent.push(payload.slice()); return true },
      remoteId,
      remoteHandshake: handshake,
      close: () => {},
      logger: undefined
    }
    let ext: LtDontHaveExtension | null = null
    const made = createLtDontHaveExtension({ dontHave: (piece) => { received.push(piece) } }, (e) => { ext = e })(context)
    expect(made).toBe(ext)
    return { ext: ext!, sent, received }
  }

  it('is advertised as lt_donthave and sends only to a peer that announced it', () => {
    const on = setup(9)
    expect(on.ext.name).toBe(LT_DONTHAVE)
    expect(on.ext.supported).toBe(true)
    expect(on.ext.send(5)).toBe(true)
    expect(on.sent.map((p) => [...p])).toEqual([[0, 0, 0, 5]])
    const off = setup(undefined)
    expect(off.ext.supported).toBe(false)
    expect(off.ext.send(5)).toBe(false)
    expect(off.sent).toEqual([])
  })

  it('hands received pieces to the sink', () => {
    const { ext, received } = setup(9)
    ext.onMessage(encodeDontHave(3))
    expect(received).toEqual([3])
    expect(() => { ext.onMessage(new Uint8Array(2)) }).toThrow()
  })

  it('reads a libtorrent-shaped m dict', () => {
    const hs = decodeExtendedHandshake(new TextEncoder().encode('d1:md11:lt_donthavei7e11:ut_metadatai2eee'))
    expect(hs.m.get(LT_DONTHAVE)).toBe(7)
  })
})

describe('PiecePicker.peerDontHave', () => {
  const make = (): PiecePicker<string> => new PiecePicker<string>({ pieceCount: 4, pieceLengthBytes: 16_384, totalLengthBytes: 65_536 }, { random: seededRandom(1) })

  it('drops the piece from the peer and from the availability counts', () => {
    const picker = make()
    const bf = new Bitfield(4)
    bf.set(1)
    bf.set(2)
    picker.peerBitfield('a', bf)
    picker.peerHave('b', 1)
    expect(picker.availability(1)).toBe(2)
    expect(picker.peerDontHave('a', 1)).toBe(true)
    expect(picker.availability(1)).toBe(1)
    expect(picker.peerDontHave('a', 1)).toBe(false)
    expect(picker.peerDontHave('a', 4)).toBe(false)
    expect(picker.peerDontHave('a', -1)).toBe(false)
    expect(picker.peerDontHave('b', 1)).toBe(true)
    expect(picker.availability(1)).toBe(0)
    expect(picker.isInteresting('b')).toBe(false)
    expect(picker.isInteresting('a')).toBe(true)
    expect(picker.checkInvariants()).toBeNull()
  })

  it('turns a seed into a peer with every other piece', () => {
    const picker = make()
    picker.peerHaveAll('s')
    expect(picker.availability(0)).toBe(1)
    expect(picker.peerDontHave('s', 2)).toBe(true)
    expect([0, 1, 2, 3].map((p) => picker.availability(p))).toEqual([1, 1, 0, 1])
    picker.markHave(0)
    picker.markHave(1)
    picker.markHave(3)
    expect(picker.isInteresting('s')).toBe(false)
    expect(picker.checkInvariants()).toBeNull()
  })
})
