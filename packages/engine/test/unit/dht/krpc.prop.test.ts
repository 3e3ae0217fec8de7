/**
 * ≥ 100 000 random and mutated datagrams into a live DhtNode: nothing escapes the handler, every
 * bad datagram is counted, and the node still works afterwards.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/interfaces/random.js'
import type { UdpRemote } from '../../../src/interfaces/socket.js'
import { encodeCompactNodes } from '../../../src/dht/compact-nodes.js'
import { DhtNode } from '../../../src/dht/dht-node.js'
import { decodeKrpc, encodeError, encodeQuery, encodeResponse } from '../../../src/dht/krpc-codec.js'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { isLodestoneError } from '../../../src/errors.js'

const id = new Uint8Array(20).fill(3)
const seeds: Uint8Array[] = [
  encodeQuery(Uint8Array.of(1, 2), 'ping', id, {}, false),
  encodeQuery(Uint8Array.of(1, 2), 'find_node', id, { target: id, want: ['n4', 'n6'] }, false),
  encodeQuery(Uint8Array.of(1, 2), 'get_peers', id, { info_hash: id }, true),
  encodeQuery(Uint8Array.of(1, 2), 'announce_peer', id, { info_hash: id, port: 1, implied_port: 1, token: Uint8Array.of(1, 2, 3, 4) }, false),
  encodeQuery(Uint8Array.of(1, 2), 'sample_infohashes', id, { target: id }, false),
  encodeResponse(Uint8Array.of(0, 1), id, { nodes: encodeCompactNodes([{ id, host: '1.2.3.4', port: 5 }], 4), values: [{ host: '1.1.1.1', port: 2 }], token: Uint8Array.of(1) }, { host: '2.2.2.2', port: 3 }),
  encodeError(Uint8Array.of(0, 1), 201, 'x')
]

function mutate (base: Uint8Array, edits: Array<[number, number, number]>): Uint8Array {
  let out = Uint8Array.from(base)
  for (const [kind, at, value] of edits) {
    const i = out.length === 0 ? 0 : at % out.length
    if (kind === 0) out[i] = value
    else if (kind === 1) out = Uint8Array.from([...out.subarray(0, i), value, ...out.subarray(i)])
    else if (kind === 2) out = Uint8Array.from([...out.subarray(0, i), ...out.subarray(i + 1)])
    else out = out.subarray(0, i)
  }
  return out
}

describe('KRPC under hostile input', () => {
  it('the decoder only ever throws DHT_MESSAGE_INVALID (fast-check)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try { decodeKrpc(bytes) } catch (error) { return isLodestoneError(error) && error.code === 'DHT_MESSAGE_INVALID' }
      return true
    }), { numRuns: 5_000, seed: 10 })
  })

  it('100 000 random and mutated datagrams never throw out of the node handler', () => {
    const clock = new ManualClock()
    let handler: ((data: Uint8Array, remote: UdpRemote) => void) | undefined
    let sent = 0
    const node = new DhtNode({
      socket: { port: 6881, send: () => { sent++ }, onMessage: (cb) => { handler = cb }, close: () => {} },
      clock,
      random: seededRandom(5)
    }, { bootstrapNodes: [], incomingQueriesPerSourceBurst: 1e9, incomingQueriesPerSourcePerSec: 1e9, maxRepliesPerSec: 1e9 })
    node.start()
    const random = seededRandom(77)
    const byte = (): number => Math.floor(random.next() * 256)
    const printable = [0x64, 0x65, 0x69, 0x6c, 0x3a, 0x30, 0x31, 0x32, 0x34, 0x39, 0x2d, 0x71, 0x72, 0x79, 0x74]
    let inputs = 0
    let escaped = 0
    for (let i = 0; i < 100_000; i++) {
      let data: Uint8Array
      if (i % 4 === 0) {
        data = Uint8Array.from({ length: Math.floor(random.next() * 120) }, byte)
        data[0] = 0x64
      } else {
        const base = seeds[i % seeds.length]!
        const edits: Array<[number, number, number]> = []
        const n = 1 + Math.floor(random.next() * 4)
        for (let e = 0; e < n; e++) edits.push([Math.floor(random.next() * 4), Math.floor(random.next() * 1000), random.next() < 0.5 ? printable[Math.floor(random.next() * printable.length)]! : byte()])
        data = mutate(base, edits)
      }
      const remote = { address: `10.0.${(i >> 8) & 0xff}.${i & 0xff}`, port: 1 + (i % 60000) }
      try { handler?.(data, remote) } catch { escaped++ }
      inputs++
      if (i % 1000 === 0) clock.advance(50)
    }
    expect(inputs).toBeGreaterThanOrEqual(100_000)
    expect(escaped).toBe(0)
    const stats = node.stats()
    expect(stats.malformed).toBeGreaterThan(2_000)
    expect(stats.queriesIn).toBeGreaterThan(1_000)
    // At most one datagram out per query answered plus a bounded number of verification pings.
    expect(sent).toBeLessThanOrEqual(stats.repliesOut + stats.queriesOut)
    expect(stats.queriesOut).toBeLessThanOrEqual(512)
    node.close()
  })
})
