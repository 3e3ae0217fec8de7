import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import { createMessageCollector, MessageParser, parseMessages } from '../../../src/protocol/message-parser.js'
import { encodeMessage, encodePiece, encodeRequest, type WireMessage } from '../../../src/protocol/wire-messages.js'

function catchError (fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

const ALL: WireMessage[] = [
  { type: 'keep-alive' },
  { type: 'choke' },
  { type: 'unchoke' },
  { type: 'interested' },
  { type: 'not-interested' },
  { type: 'have', piece: 0xfffffffe },
  { type: 'bitfield', bytes: Uint8Array.from([0xf0, 0x0f]) },
  { type: 'request', piece: 1, begin: 16_384, length: 16_384 },
  { type: 'piece', piece: 1, begin: 0, data: Uint8Array.from([1, 2, 3]) },
  { type: 'cancel', piece: 1, begin: 16_384, length: 16_384 },
  { type: 'port', port: 6881 },
  { type: 'suggest', piece: 4 },
  { type: 'have-all' },
  { type: 'have-none' },
  { type: 'reject', piece: 2, begin: 0, length: 16_384 },
  { type: 'allowed-fast', piece: 5 },
  { type: 'extended', id: 3, payload: Uint8Array.from([0x64, 0x65]) },
  { type: 'unknown', id: 200, payload: Uint8Array.from([9, 9]) }
]

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function stream (messages: WireMessage[]): Uint8Array {
  return concat(messages.map(encodeMessage))
}

describe('MessageParser', () => {
  it('decodes every message type', () => {
    expect(parseMessages(stream(ALL))).toEqual(ALL)
  })

  it('delivers PIECE blocks as views of the chunk when the message lies inside it', () => {
    const block = Uint8Array.from({ length: 16_384 }, (_, i) => i & 0xff)
    const chunk = concat([encodeMessage({ type: 'choke' }), encodePiece(7, 0, block), encodeRequest(1, 2, 3)])
    const got: WireMessage[] = []
    new MessageParser(createMessageCollector((m) => got.push(m))).push(chunk)
    const piece = got[1]
    expect(piece?.type).toBe('piece')
    if (piece?.type !== 'piece') return
    expect(piece.data).toEqual(block)
    expect(piece.data.buffer).toBe(chunk.buffer)
    expect(got.map((m) => m.type)).toEqual(['choke', 'piece', 'request'])
  })

  it('delivers a view again once a straddling message has been copied out', () => {
    const a = encodePiece(1, 0, new Uint8Array(100).fill(1))
    const b = encodePiece(2, 0, new Uint8Array(100).fill(2))
    const c = encodePiece(3, 0, new Uint8Array(100).fill(3))
    const second = concat([a.subarray(50), b, c])
    const got: WireMessage[] = []
    const parser = new MessageParser(createMessageCollector((m) => got.push(m)))
    parser.push(a.subarray(0, 50))
    expect(got).toEqual([])
    expect(parser.bufferedBytes).toBe(50)
    parser.push(second)
    expect(got.map((m) => (m.type === 'piece' ? m.piece : -1))).toEqual([1, 2, 3])
    const [first, mid, last] = got
    expect(first?.type === 'piece' && first.data.buffer !== second.buffer).toBe(true) // straddled: copied
    expect(mid?.type === 'piece' && mid.data.buffer === second.buffer).toBe(true) // in one chunk: a view
    expect(last?.type === 'piece' && last.data.buffer === second.buffer).toBe(true)
    expect(parser.bufferedBytes).toBe(0)
  })

  it('reassembles a large message fed one byte at a time', () => {
    const block = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff)
    const bytes = concat([encodePiece(9, 32, block), encodeMessage({ type: 'have', piece: 3 })])
    const got: WireMessage[] = []
    const parser = new MessageParser(createMessageCollector((m) => got.push(m)))
    for (let i = 0; i < bytes.length; i++) parser.push(bytes.subarray(i, i + 1))
    expect(got).toEqual([{ type: 'piece', piece: 9, begin: 32, data: block }, { type: 'have', piece: 3 }])
  })

  it('refuses a length above the limit as soon as the prefix is in, before buffering the body', () => {
    const parser = new MessageParser(createMessageCollector(() => {}), { maxMessageLengthBytes: 1000 })
    parser.push(Uint8Array.from([0, 0]))
    const error = catchError(() => parser.push(Uint8Array.from([0x03, 0xe9])))
    expect(hasCode(error, 'PEER_MESSAGE_TOO_LARGE')).toBe(true)
    expect(error).toMatchObject({ name: 'ProtocolError', details: { lengthBytes: 1001, limitBytes: 1000 } })
    expect(parser.isStopped).toBe(true)
    expect(parser.bufferedBytes).toBe(0)
  })

  it('accepts a message exactly at the limit', () => {
    const bytes = encodeMessage({ type: 'bitfield', bytes: new Uint8Array(999) })
    expect(parseMessages(bytes, { maxMessageLengthBytes: 1000 })).toHaveLength(1)
  })

  it('has a 1 MiB default limit', () => {
    const header = Uint8Array.from([0, 0x10, 0, 1, 5])
    expect(hasCode(catchError(() => parseMessages(header)), 'PEER_MESSAGE_TOO_LARGE')).toBe(true)
  })

  it.each([
    ['choke', 0, 2], ['unchoke', 1, 1], ['interested', 2, 4], ['not interested', 3, 1], ['have', 4, 3], ['have', 4, 5],
    ['request', 6, 11], ['cancel', 8, 13], ['port', 9, 1], ['suggest', 13, 2], ['have all', 14, 1], ['have none', 15, 2],
    ['reject', 16, 8], ['allowed fast', 17, 0]
  ])('refuses a %s message (id %i) with %i payload bytes', (_name, id, payloadBytes) => {
    const body = new Uint8Array(1 + payloadBytes)
    body[0] = id
    const bytes = concat([Uint8Array.from([0, 0, 0, body.length]), body])
    expect(hasCode(catchError(() => parseMessages(bytes)), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
  })

  it('refuses a piece shorter than its header and an extended message without an id', () => {
    expect(hasCode(catchError(() => parseMessages(Uint8Array.from([0, 0, 0, 5, 7, 0, 0, 0, 1]))), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
    expect(hasCode(catchError(() => parseMessages(Uint8Array.from([0, 0, 0, 1, 20]))), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
  })

  it('ignores input after an error', () => {
    let count = 0
    const parser = new MessageParser(createMessageCollector(() => { count++ }))
    expect(() => { parser.push(Uint8Array.from([0, 0, 0, 2, 0, 0])) }).toThrow()
    parser.push(encodeMessage({ type: 'choke' }))
    expect(count).toBe(0)
  })

  it('stops mid-chunk when the handler calls stop()', () => {
    const got: string[] = []
    const parser: MessageParser = new MessageParser(createMessageCollector((m) => {
      got.push(m.type)
      if (m.type === 'unchoke') parser.stop()
    }))
    parser.push(stream([{ type: 'choke' }, { type: 'unchoke' }, { type: 'interested' }]))
    parser.push(stream([{ type: 'choke' }]))
    expect(got).toEqual(['choke', 'unchoke'])
  })

  it('lets a handler exception propagate and stops', () => {
    const parser = new MessageParser(createMessageCollector(() => { throw new Error('boom') }))
    expect(() => { parser.push(stream([{ type: 'choke' }, { type: 'unchoke' }])) }).toThrow('boom')
    expect(parser.isStopped).toBe(true)
  })

  it('keeps no more than the incomplete tail buffered', () => {
    const parser = new MessageParser(createMessageCollector(() => {}))
    const bytes = stream([{ type: 'have', piece: 1 }, { type: 'have', piece: 2 }])
    parser.push(bytes.subarray(0, 12))
    expect(parser.bufferedBytes).toBe(3)
    parser.push(bytes.subarray(12))
    expect(parser.bufferedBytes).toBe(0)
  })

  it('names where a message that straddled chunks began (joinedStart), owned or borrowed chunks alike, only during its handler', () => {
    const block = Uint8Array.from({ length: 16_384 }, (_, i) => (i * 3) & 0xff)
    const whole = concat([encodeMessage({ type: 'unchoke' }), encodePiece(2, 16_384, block), encodeMessage({ type: 'choke' })])
    // Cut inside the block, inside the body's index/begin fields, and inside the length prefix
    // (then the whole body lies in the second chunk: no copy, nothing joined).
    for (const cut of [5 + 13 + 100, 5 + 4 + 3, 5 + 2]) {
      for (const borrowed of [false, true]) {
        const first = whole.slice(0, cut)
        const second = whole.slice(cut)
        const seen: Array<{ type: string, start: Uint8Array | null }> = []
        const parser: MessageParser = new MessageParser(createMessageCollector((m) => { seen.push({ type: m.type, start: parser.joinedStart }) }))
        if (borrowed) { parser.pushBorrowed(first); parser.pushBorrowed(second) } else { parser.push(first); parser.push(second) }
        expect(seen.map((x) => x.type)).toEqual(['unchoke', 'piece', 'choke'])
        expect(seen[0]!.start).toBeNull()
        expect(seen[2]!.start).toBeNull()
        expect(parser.joinedStart).toBeNull()
        if (cut < 9) { expect(seen[1]!.start).toBeNull(); continue }
        // The body (id byte first) starts after the unchoke and the length prefix: offset 9 of the first chunk.
        const start = seen[1]!.start!
        expect(start.buffer).toBe(first.buffer)
        expect(start.byteOffset).toBe(9)
      }
    }
  })

  it('reports bytes left over by parseMessages', () => {
    expect(hasCode(catchError(() => parseMessages(Uint8Array.from([0, 0, 0, 1]))), 'PEER_PROTOCOL_VIOLATION')).toBe(true)
  })
})
