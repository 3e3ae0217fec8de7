import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isLodestoneError } from '../../../src/errors.js'
import { HandshakeDecoder } from '../../../src/protocol/handshake.js'
import { createMessageCollector, MessageParser } from '../../../src/protocol/message-parser.js'
import { encodeMessage, type WireMessage } from '../../../src/protocol/wire-messages.js'

const SEED = Number(process.env.FC_SEED ?? 0x5eed02)
const params = { seed: SEED, numRuns: 300, verbose: 1 } as const
console.info(`wire parser property tests: seed ${SEED} (set FC_SEED to replay)`)

const u32 = fc.nat({ max: 0xffff_ffff })
const bytes = (maxLength: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength })

const arbMessage: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.constantFrom<WireMessage>(
    { type: 'keep-alive' }, { type: 'choke' }, { type: 'unchoke' }, { type: 'interested' }, { type: 'not-interested' },
    { type: 'have-all' }, { type: 'have-none' }
  ),
  u32.map((piece): WireMessage => ({ type: 'have', piece })),
  u32.map((piece): WireMessage => ({ type: 'suggest', piece })),
  u32.map((piece): WireMessage => ({ type: 'allowed-fast', piece })),
  bytes(64).map((b): WireMessage => ({ type: 'bitfield', bytes: b })),
  fc.tuple(u32, u32, u32).map(([piece, begin, length]): WireMessage => ({ type: 'request', piece, begin, length })),
  fc.tuple(u32, u32, u32).map(([piece, begin, length]): WireMessage => ({ type: 'cancel', piece, begin, length })),
  fc.tuple(u32, u32, u32).map(([piece, begin, length]): WireMessage => ({ type: 'reject', piece, begin, length })),
  fc.tuple(u32, u32, bytes(3000)).map(([piece, begin, data]): WireMessage => ({ type: 'piece', piece, begin, data })),
  fc.nat({ max: 0xffff }).map((port): WireMessage => ({ type: 'port', port })),
  fc.tuple(fc.nat({ max: 255 }), bytes(100)).map(([id, payload]): WireMessage => ({ type: 'extended', id, payload })),
  fc.tuple(fc.constantFrom(10, 11, 12, 18, 19, 21, 99, 255), bytes(20)).map(([id, payload]): WireMessage => ({ type: 'unknown', id, payload }))
)

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Cuts `data` at the given (sorted, deduplicated) positions. */
function split (data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let last = 0
  for (const p of points) {
    out.push(data.slice(last, p)) // copies: each chunk is its own buffer, like socket reads
    last = p
  }
  out.push(data.slice(last))
  return out
}

/** Comparable form: byte payloads as plain arrays. */
function normalize (m: WireMessage): unknown {
  return JSON.parse(JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v)))
}

const KNOWN_CODES = new Set(['PEER_MESSAGE_TOO_LARGE', 'PEER_PROTOCOL_VIOLATION'])

describe('wire parser properties', () => {
  it('any chunking of a valid stream gives the same messages', () => {
    fc.assert(fc.property(fc.array(arbMessage, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 40 }), (messages, cuts) => {
      const data = concat(messages.map(encodeMessage))
      const got: WireMessage[] = []
      const parser = new MessageParser(createMessageCollector((m) => got.push(m)))
      for (const chunk of split(data, cuts)) parser.push(chunk)
      expect(got.map(normalize)).toEqual(messages.map(normalize))
      expect(parser.bufferedBytes).toBe(0)
    }), params)
  })

  it('pushBorrowed: chunks lent in one reused buffer (scribbled over after each push) give the same messages', () => {
    fc.assert(fc.property(fc.array(arbMessage, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 40 }), fc.nat({ max: 8 }), (messages, cuts, offset) => {
      const data = concat(messages.map(encodeMessage))
      const got: WireMessage[] = []
      // Only PIECE payloads are lent to the handler: it copies them, as ITcpSocket.onBorrowedData receivers must.
      const parser = new MessageParser(createMessageCollector((m) => got.push(m.type === 'piece' ? { ...m, data: m.data.slice() } : m)))
      const lent = new Uint8Array(data.length + offset)
      for (const chunk of split(data, cuts)) {
        lent.set(chunk, offset)
        parser.pushBorrowed(lent.subarray(0, offset + chunk.length), offset)
        lent.fill(0xee)
      }
      expect(got.map(normalize)).toEqual(messages.map(normalize))
      expect(parser.bufferedBytes).toBe(0)
    }), params)
  })

  it('pushBorrowed refuses a length prefix above the limit as soon as its 4 bytes are in, whatever the split', () => {
    fc.assert(fc.property(fc.integer({ min: 13, max: 100_000 }), fc.integer({ min: 1, max: 50_000 }), fc.array(fc.nat(), { maxLength: 4 }), (limit, excess, cuts) => {
      const parser = new MessageParser(createMessageCollector(() => {}), { maxMessageLengthBytes: limit })
      const length = limit + excess
      const prefix = Uint8Array.from([length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff])
      let code: string | undefined
      try {
        for (const chunk of split(prefix, cuts)) parser.pushBorrowed(chunk)
      } catch (error) { code = (error as { code?: string }).code }
      expect(code).toBe('PEER_MESSAGE_TOO_LARGE')
    }), params)
  })

  it('random bytes give messages or a LodestoneError with a known code, never anything else', () => {
    fc.assert(fc.property(fc.array(bytes(64), { maxLength: 20 }), fc.nat({ max: 70_000 }), (chunks, limit) => {
      const parser = new MessageParser(createMessageCollector(() => {}), { maxMessageLengthBytes: limit })
      try {
        for (const chunk of chunks) parser.push(chunk)
      } catch (error) {
        expect(isLodestoneError(error)).toBe(true)
        expect(KNOWN_CODES.has((error as { code: string }).code)).toBe(true)
      }
    }), params)
  })

  it('never buffers more than one message: length prefixes above the limit fail before their body', () => {
    fc.assert(fc.property(fc.integer({ min: 13, max: 100_000 }), fc.integer({ min: 1, max: 50_000 }), (limit, excess) => {
      const parser = new MessageParser(createMessageCollector(() => {}), { maxMessageLengthBytes: limit })
      const length = limit + excess
      const prefix = Uint8Array.from([length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff, 7])
      let code: string | undefined
      try { parser.push(prefix) } catch (error) { code = (error as { code?: string }).code }
      expect(code).toBe('PEER_MESSAGE_TOO_LARGE')
    }), params)
  })

  it('the handshake decoder accepts any split and refuses any wrong protocol string with PEER_HANDSHAKE_FAILED', () => {
    fc.assert(fc.property(bytes(80), fc.array(fc.nat(), { maxLength: 10 }), (data, cuts) => {
      const decoder = new HandshakeDecoder()
      try {
        for (const chunk of split(data, cuts)) {
          let offset = 0
          while (offset < chunk.length && decoder.stage !== 'done') offset += decoder.push(chunk, offset)
        }
      } catch (error) {
        expect((error as { code?: string }).code).toBe('PEER_HANDSHAKE_FAILED')
      }
    }), params)
  })
})
