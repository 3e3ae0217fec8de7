import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import {
  decodeReserved, encodeHandshake, encodeReserved, HANDSHAKE_HEADER_LENGTH_BYTES, HANDSHAKE_LENGTH_BYTES, HandshakeDecoder
} from '../../../src/protocol/handshake.js'

const infoHash = Uint8Array.from({ length: 20 }, (_, i) => 0xa0 + i)
const peerId = Uint8Array.from('-LS0100-123456789012', (c) => c.charCodeAt(0))

function catchError (fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('handshake encoding', () => {
  it('lays out pstr, reserved bits, info hash and peer id', () => {
    const bytes = encodeHandshake({ infoHash, peerId, features: { extensionProtocol: true, fastExtension: true, dht: true } })
    expect(bytes.length).toBe(HANDSHAKE_LENGTH_BYTES)
    expect(bytes[0]).toBe(19)
    expect(new TextDecoder().decode(bytes.subarray(1, 20))).toBe('BitTorrent protocol')
    expect([...bytes.subarray(20, 28)]).toEqual([0, 0, 0, 0, 0, 0x10, 0, 0x05])
    expect(bytes.subarray(28, 48)).toEqual(infoHash)
    expect(bytes.subarray(48, 68)).toEqual(peerId)
  })

  it('sets each reserved bit independently', () => {
    expect([...encodeReserved({ extensionProtocol: false, fastExtension: true, dht: false })]).toEqual([0, 0, 0, 0, 0, 0, 0, 0x04])
    expect([...encodeReserved({ extensionProtocol: false, fastExtension: false, dht: true })]).toEqual([0, 0, 0, 0, 0, 0, 0, 0x01])
    expect([...encodeReserved({ extensionProtocol: true, fastExtension: false, dht: false })]).toEqual([0, 0, 0, 0, 0, 0x10, 0, 0])
    expect(decodeReserved(Uint8Array.from([0xff, 0, 0, 0, 0, 0xef, 0, 0xea]))).toEqual({ extensionProtocol: false, fastExtension: false, dht: false, v2: false })
    expect(decodeReserved(Uint8Array.from([0, 0, 0, 0, 0, 0x10, 0, 0x05]))).toEqual({ extensionProtocol: true, fastExtension: true, dht: true, v2: false })
  })

  it('carries the BEP 52 v2 bit (byte 7, 0x10) on its own', () => {
    expect([...encodeReserved({ extensionProtocol: false, fastExtension: false, dht: false, v2: true })]).toEqual([0, 0, 0, 0, 0, 0, 0, 0x10])
    expect([...encodeReserved({ extensionProtocol: true, fastExtension: true, dht: true, v2: true })]).toEqual([0, 0, 0, 0, 0, 0x10, 0, 0x15])
    expect(decodeReserved(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x10]))).toEqual({ extensionProtocol: false, fastExtension: false, dht: false, v2: true })
    // libtorrent 2.0's handshake for a v2 torrent: extensions, fast, DHT and v2.
    expect(decodeReserved(Uint8Array.from([0, 0, 0, 0, 0, 0x10, 0, 0x15])).v2).toBe(true)
  })

  it('refuses ids of the wrong length', () => {
    expect(hasCode(catchError(() => encodeHandshake({ infoHash: new Uint8Array(19), peerId, features: decodeReserved(new Uint8Array(8)) })), 'ARGUMENT_INVALID')).toBe(true)
    expect(hasCode(catchError(() => encodeHandshake({ infoHash, peerId: new Uint8Array(21), features: decodeReserved(new Uint8Array(8)) })), 'ARGUMENT_INVALID')).toBe(true)
  })
})

describe('HandshakeDecoder', () => {
  const bytes = encodeHandshake({ infoHash, peerId, features: { extensionProtocol: true, fastExtension: false, dht: false } })

  it('stops after the header so the info hash can be routed before the peer id is read', () => {
    const withTail = new Uint8Array([...bytes, 0, 0, 0, 1, 2])
    const decoder = new HandshakeDecoder()
    expect(decoder.push(withTail)).toBe(HANDSHAKE_HEADER_LENGTH_BYTES)
    expect(decoder.stage).toBe('peer-id')
    expect(decoder.header?.infoHash).toEqual(infoHash)
    expect(decoder.header?.features.extensionProtocol).toBe(true)
    expect(decoder.handshake).toBeNull()
    expect(decoder.push(withTail, HANDSHAKE_HEADER_LENGTH_BYTES)).toBe(20)
    expect(decoder.stage).toBe('done')
    expect(decoder.handshake?.peerId).toEqual(peerId)
    expect(decoder.push(withTail, HANDSHAKE_LENGTH_BYTES)).toBe(0)
  })

  it('gives the same result for every split point', () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const decoder = new HandshakeDecoder()
      for (const part of [bytes.subarray(0, cut), bytes.subarray(cut)]) {
        let offset = 0
        while (offset < part.length) offset += decoder.push(part, offset)
      }
      expect(decoder.handshake?.infoHash).toEqual(infoHash)
      expect(decoder.handshake?.peerId).toEqual(peerId)
    }
  })

  it('works byte by byte and copies out of the input', () => {
    const decoder = new HandshakeDecoder()
    const input = bytes.slice()
    for (let i = 0; i < input.length; i++) expect(decoder.push(input.subarray(i, i + 1))).toBe(1)
    input.fill(0)
    expect(decoder.handshake?.peerId).toEqual(peerId)
    expect(decoder.handshake?.reserved[5]).toBe(0x10)
  })

  it('refuses a wrong pstr length on the first byte', () => {
    const decoder = new HandshakeDecoder()
    const error = catchError(() => decoder.push(Uint8Array.from([18])))
    expect(hasCode(error, 'PEER_HANDSHAKE_FAILED')).toBe(true)
  })

  it('refuses a wrong protocol string as soon as the bad byte arrives', () => {
    const bad = bytes.slice()
    bad[5] = 'X'.charCodeAt(0)
    const decoder = new HandshakeDecoder()
    expect(decoder.push(bad.subarray(0, 5))).toBe(5)
    expect(hasCode(catchError(() => decoder.push(bad.subarray(5, 6))), 'PEER_HANDSHAKE_FAILED')).toBe(true)
  })

  it('refuses an HTTP request', () => {
    const decoder = new HandshakeDecoder()
    expect(hasCode(catchError(() => decoder.push(new TextEncoder().encode('GET / HTTP/1.1\r\n'))), 'PEER_HANDSHAKE_FAILED')).toBe(true)
  })
})
