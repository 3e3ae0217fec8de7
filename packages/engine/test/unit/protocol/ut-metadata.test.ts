import { describe, expect, it } from 'vitest'
import type { LodestoneError } from '../../../src/errors.js'
import { bencodeDecodePrefix } from '../../../src/protocol/bencode.js'
import {
  decodeExtendedHandshake, encodeExtendedHandshake, type PeerExtension, type PeerExtensionContext
} from '../../../src/protocol/extension-protocol.js'
import {
  METADATA_PIECE_BYTES, UT_METADATA, createUtMetadataExtension, decodeMetadataMessage, encodeMetadataData,
  encodeMetadataReject, encodeMetadataRequest, metadataPieceCount, metadataPieceLength,
  type UtMetadataPeer, type UtMetadataSink
} from '../../../src/protocol/ut-metadata.js'

const text = (b: Uint8Array): string => new TextDecoder('latin1').decode(b)
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

function fill (length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff
  return out
}

/** A fake connection around one ut_metadata instance. */
function setup (options: { metadata?: Uint8Array | null, remoteSize?: number, remoteHasExtension?: boolean } = {}): {
  ext: PeerExtension & UtMetadataPeer
  sent: Uint8Array[]
  closed: LodestoneError[]
  events: string[]
  handshake: () => void
} {
  const sent: Uint8Array[] = []
  const closed: LodestoneError[] = []
  const events: string[] = []
  let remoteId: number | undefined
  const ctx: PeerExtensionContext = {
    send: (payload) => {
      if (remoteId === undefined) return false
      sent.push(payload.slice())
      return true
    },
    get remoteId () { return remoteId },
    remoteHandshake: null,
    close: (reason) => { closed.push(reason) },
    logger: undefined
  }
  const sink: UtMetadataSink = {
    onPeerReady: (p) => { events.push(`ready:${p.metadataSizeBytes ?? 'none'}`) },
    onData: (_p, piece, data) => { events.push(`data:${piece}:${data.length}`) },
    onReject: (_p, piece) => { events.push(`reject:${piece}`) },
    onPeerClosed: () => { events.push('closed') }
  }
  const metadata = options.metadata ?? null
  const ext = createUtMetadataExtension({ metadata: () => metadata, sink })(ctx) as PeerExtension & UtMetadataPeer
  const handshake = (): void => {
    const has = options.remoteHasExtension ?? true
    remoteId = has ? 7 : undefined
    const hs = decodeExtendedHandshake(encodeExtendedHandshake({
      m: new Map(has ? [[UT_METADATA, 7]] : []),
      ...(options.remoteSize !== undefined ? { metadataSize: options.remoteSize } : {})
    }))
    ext.onHandshake?.(hs, hs.m.get(UT_METADATA))
  }
  return { ext, sent, closed, events, handshake }
}

describe('ut_metadata codec', () => {
  it('encodes the three BEP 9 messages', () => {
    expect(text(encodeMetadataRequest(3))).toBe('d8:msg_typei0e5:piecei3ee')
    expect(text(encodeMetadataReject(3))).toBe('d8:msg_typei2e5:piecei3ee')
    expect(text(encodeMetadataData(1, 20_000, enc('abc')))).toBe('d8:msg_typei1e5:piecei1e10:total_sizei20000eeabc')
  })

  it('decodes them back; data is a view of the bytes after the dict', () => {
    expect(decodeMetadataMessage(encodeMetadataRequest(5))).toEqual({ type: 'request', piece: 5 })
    expect(decodeMetadataMessage(encodeMetadataReject(0))).toEqual({ type: 'reject', piece: 0 })
    const msg = decodeMetadataMessage(encodeMetadataData(2, 40_000, fill(100)))
    expect(msg.type).toBe('data')
    if (msg.type !== 'data') return
    expect(msg.piece).toBe(2)
    expect(msg.totalSizeBytes).toBe(40_000)
    expect(msg.data).toEqual(fill(100))
  })

  it('reports unknown msg_types instead of failing (BEP 9: ignore them)', () => {
    expect(decodeMetadataMessage(enc('d8:msg_typei9e5:piecei0ee'))).toEqual({ type: 'unknown', msgType: 9 })
  })

  it.each([
    ['not bencode', 'xyz'],
    ['not a dict', 'li1ee'],
    ['no msg_type', 'd5:piecei0ee'],
    ['negative piece', 'd8:msg_typei0e5:piecei-1ee'],
    ['no piece', 'd8:msg_typei0ee'],
    ['data without total_size', 'd8:msg_typei1e5:piecei0eeabc'],
    ['deeply nested', 'd1:xlllllllleeeeeeee8:msg_typei0e5:piecei0ee']
  ])('refuses %s with PEER_PROTOCOL_VIOLATION', (_name, payload) => {
    expect(() => decodeMetadataMessage(enc(payload))).toThrow(expect.objectContaining({ code: 'PEER_PROTOCOL_VIOLATION' }))
  })

  it('piece arithmetic: 16 KiB pieces, the last shorter', () => {
    expect(metadataPieceCount(1)).toBe(1)
    expect(metadataPieceCount(METADATA_PIECE_BYTES)).toBe(1)
    expect(metadataPieceCount(METADATA_PIECE_BYTES + 1)).toBe(2)
    expect(metadataPieceLength(40_000, 0)).toBe(16_384)
    expect(metadataPieceLength(40_000, 2)).toBe(40_000 - 32_768)
    expect(metadataPieceLength(40_000, 3)).toBe(0)
    expect(metadataPieceLength(40_000, -1)).toBe(0)
  })
})

describe('ut_metadata extension: serving', () => {
  it('announces metadata_size only when it has the metadata', () => {
    expect([...setup({ metadata: fill(100) }).ext.handshakeFields!()]).toEqual([['metadata_size', 100]])
    expect([...setup({ metadata: null }).ext.handshakeFields!()]).toEqual([])
  })

  it('answers requests with the right slice and total_size', () => {
    const metadata = fill(40_000)
    const { ext, sent, handshake } = setup({ metadata })
    handshake()
    ext.onMessage(encodeMetadataRequest(2))
    ext.onMessage(encodeMetadataRequest(0))
    expect(sent).toHaveLength(2)
    const m2 = decodeMetadataMessage(sent[0]!)
    expect(m2).toMatchObject({ type: 'data', piece: 2, totalSizeBytes: 40_000 })
    if (m2.type === 'data') expect(Buffer.compare(m2.data, metadata.subarray(32_768))).toBe(0)
    const m0 = decodeMetadataMessage(sent[1]!)
    if (m0.type === 'data') expect(Buffer.compare(m0.data, metadata.subarray(0, 16_384))).toBe(0)
  })

  it('rejects requests beyond the metadata, and every request when it has none', () => {
    const a = setup({ metadata: fill(1000) })
    a.handshake()
    a.ext.onMessage(encodeMetadataRequest(1))
    expect(decodeMetadataMessage(a.sent[0]!)).toEqual({ type: 'reject', piece: 1 })
    const b = setup({ metadata: null })
    b.handshake()
    b.ext.onMessage(encodeMetadataRequest(0))
    expect(decodeMetadataMessage(b.sent[0]!)).toEqual({ type: 'reject', piece: 0 })
  })

  it('bounds what one connection may fetch: past the budget, requests are rejected', () => {
    const { ext, sent, handshake } = setup({ metadata: fill(100) })
    handshake()
    for (let i = 0; i < 100; i++) ext.onMessage(encodeMetadataRequest(0))
    const kinds = sent.map((m) => decodeMetadataMessage(m).type)
    expect(kinds.filter((k) => k === 'data').length).toBe(4 + 16)
    expect(kinds.filter((k) => k === 'reject').length).toBe(100 - 20)
  })
})

describe('ut_metadata extension: fetching', () => {
  it('reports ready with the peer\'s size, and passes requested pieces of the exact length', () => {
    const { ext, sent, events, handshake } = setup({ remoteSize: 20_000 })
    handshake()
    expect(events).toEqual(['ready:20000'])
    expect(ext.request(1)).toBe(true)
    expect(ext.request(1)).toBe(false) // already outstanding
    expect(text(sent[0]!)).toBe('d8:msg_typei0e5:piecei1ee')
    ext.onMessage(encodeMetadataData(1, 20_000, fill(20_000 - 16_384)))
    expect(events).toEqual(['ready:20000', 'data:1:3616'])
    expect(ext.outstanding.size).toBe(0)
  })

  it('cannot request from a peer without ut_metadata', () => {
    const { ext, events, handshake } = setup({ remoteHasExtension: false })
    handshake()
    expect(events).toEqual([])
    expect(ext.request(0)).toBe(false)
  })

  it('ignores pieces it did not request', () => {
    const { ext, events, handshake } = setup({ remoteSize: 100 })
    handshake()
    ext.onMessage(encodeMetadataData(0, 100, fill(100)))
    expect(events).toEqual(['ready:100'])
  })

  it('closes on a total_size that differs from the announced metadata_size', () => {
    const { ext, handshake } = setup({ remoteSize: 100 })
    handshake()
    ext.request(0)
    expect(() => { ext.onMessage(encodeMetadataData(0, 200, fill(100))) }).toThrow(expect.objectContaining({ code: 'PEER_PROTOCOL_VIOLATION' }))
  })

  it('closes on an oversized or short piece', () => {
    const a = setup({ remoteSize: 40_000 })
    a.handshake()
    a.ext.request(0)
    expect(() => { a.ext.onMessage(encodeMetadataData(0, 40_000, fill(16_385))) }).toThrow(/16385 bytes, expected 16384/)
    const b = setup({ remoteSize: 40_000 })
    b.handshake()
    b.ext.request(2)
    expect(() => { b.ext.onMessage(encodeMetadataData(2, 40_000, fill(100))) }).toThrow(/expected 7232/)
  })

  it('closes on a requested piece index beyond the size (a peer that lies about the size)', () => {
    const { ext, handshake } = setup({ remoteSize: 100 })
    handshake()
    ext.request(5)
    expect(() => { ext.onMessage(encodeMetadataData(5, 100, fill(10))) }).toThrow(expect.objectContaining({ code: 'PEER_PROTOCOL_VIOLATION' }))
  })

  it('passes rejects of outstanding requests only; forgets pieces on close', () => {
    const { ext, events, handshake } = setup({ remoteSize: 100 })
    handshake()
    ext.onMessage(encodeMetadataReject(0)) // not requested: ignored
    ext.request(0)
    ext.onMessage(encodeMetadataReject(0))
    ext.request(0)
    ext.onClose?.()
    expect(events).toEqual(['ready:100', 'reject:0', 'closed'])
    expect(ext.outstanding.size).toBe(0)
  })

  it('the data message dict ends where the piece starts', () => {
    const payload = encodeMetadataData(0, 5, enc('de5:x'))
    expect(bencodeDecodePrefix(payload).lengthBytes).toBe(payload.length - 5)
    const msg = decodeMetadataMessage(payload)
    if (msg.type === 'data') expect(text(msg.data)).toBe('de5:x')
  })
})
