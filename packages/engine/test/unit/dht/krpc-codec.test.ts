import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import { encodeCompactNodes } from '../../../src/dht/compact-nodes.js'
import { decodeKrpc, encodeError, encodeQuery, encodeResponse } from '../../../src/dht/krpc-codec.js'

const id = new Uint8Array(20).fill(0xab)
const t = Uint8Array.of(0, 7)

function throwsInvalid (bytes: Uint8Array): { query: boolean, transactionId: string | null } {
  try {
    decodeKrpc(bytes)
  } catch (error) {
    if (hasCode(error, 'DHT_MESSAGE_INVALID')) return error.details
    throw error
  }
  throw new Error('decoded')
}

describe('KRPC codec', () => {
  it('round-trips queries with BEP 32 want, BEP 43 ro and implied_port', () => {
    const q = decodeKrpc(encodeQuery(t, 'announce_peer', id, { info_hash: id, port: 6881, implied_port: 1, token: Uint8Array.of(1, 2, 3), want: ['n4', 'n6'] }, true))
    expect(q).toMatchObject({ kind: 'query', method: 'announce_peer', readOnly: true, impliedPort: true, port: 6881, want: { n4: true, n6: true } })
    if (q.kind !== 'query') throw new Error('kind')
    expect(q.token).toEqual(Uint8Array.of(1, 2, 3))
    expect(q.t).toEqual(t)
  })

  it('round-trips responses: nodes, nodes6, values, token, ip, samples', () => {
    const nodes = encodeCompactNodes([{ id, host: '1.2.3.4', port: 80 }], 4)
    const nodes6 = encodeCompactNodes([{ id, host: '2001:db8::1', port: 81 }], 6)
    const bytes = encodeResponse(t, id, { nodes, nodes6, token: Uint8Array.of(9), values: [{ host: '5.6.7.8', port: 99 }, { host: '::1', port: 100 }], samples: new Uint8Array(40), num: 2, interval: 60 }, { host: '9.9.9.9', port: 1 })
    const r = decodeKrpc(bytes)
    expect(r).toMatchObject({
      kind: 'response',
      nodes: [{ host: '1.2.3.4', port: 80 }],
      nodes6: [{ host: '2001:db8::1', port: 81 }],
      values: [{ host: '5.6.7.8', port: 99 }, { host: '::1', port: 100 }],
      ip: { host: '9.9.9.9', port: 1 },
      num: 2,
      interval: 60
    })
    if (r.kind !== 'response') throw new Error('kind')
    expect(r.samples).toHaveLength(2)
  })

  it('decodes errors', () => {
    expect(decodeKrpc(encodeError(t, 203, 'bad token'))).toMatchObject({ kind: 'error', code: 203, message: 'bad token' })
  })

  it('refuses oversize messages, bad ids, long transaction ids and tokens, and missing arguments', () => {
    expect(throwsInvalid(new Uint8Array(5000).fill(0x64)).transactionId).toBeNull()
    expect(throwsInvalid(bencodeEncode({ t, y: 'q', q: 'ping', a: { id: new Uint8Array(19) } }))).toEqual({ reason: 'bad id', transactionId: '0007', query: true })
    throwsInvalid(bencodeEncode({ t: new Uint8Array(17), y: 'q', q: 'ping', a: { id } }))
    throwsInvalid(bencodeEncode({ t, y: 'q', q: 'announce_peer', a: { id, info_hash: id, port: 1, token: new Uint8Array(65) } }))
    throwsInvalid(bencodeEncode({ t, y: 'q', q: 'announce_peer', a: { id, info_hash: id, port: 70000, token: t } }))
    throwsInvalid(bencodeEncode({ t, y: 'q', q: 'find_node', a: { id } }))
    throwsInvalid(bencodeEncode({ t, y: 'r', r: { id: new Uint8Array(21) } }))
    throwsInvalid(bencodeEncode({ t, y: 'x' }))
    throwsInvalid(new TextEncoder().encode('d1:t2:aa1:y1:q1:q4:ping1:ad2:id20:'))
    // Nesting deeper than KRPC needs.
    throwsInvalid(new TextEncoder().encode('d1:ad1:ald1:ald1:alleeeeeee'))
  })

  it('caps node and peer lists instead of refusing the answer', () => {
    const many = encodeCompactNodes(Array.from({ length: 100 }, (_, i) => ({ id, host: `1.2.3.${i + 1}`, port: 1 })), 4)
    const r = decodeKrpc(bencodeEncode({ t, y: 'r', r: { id, nodes: many } }), { maxMessageBytes: 8192, maxTransactionIdBytes: 16, maxTokenBytes: 64, maxNodesPerMessage: 16, maxValuesPerMessage: 10, maxSamplesPerMessage: 10 })
    if (r.kind !== 'response') throw new Error('kind')
    expect(r.nodes).toHaveLength(16)
  })
})
