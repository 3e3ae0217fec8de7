import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { bep42NodeId, commonPrefixBits, randomIdWithPrefix, randomNodeId } from '../../../src/dht/node-id.js'
import { RoutingTable } from '../../../src/dht/routing-table.js'
import type { NodeContact } from '../../../src/dht/compact-nodes.js'

const random = seededRandom(42)
let port = 1000
const contact = (id: Uint8Array, host = '10.0.0.1'): NodeContact => ({ id, host, port: port++ })

describe('RoutingTable', () => {
  it('splits only the bucket holding our id, keeping k per bucket', () => {
    const clock = new ManualClock()
    const own = randomNodeId(random)
    const table = new RoutingTable(own, clock)
    for (let i = 0; i < 2000; i++) table.heardFrom(contact(randomNodeId(random)))
    // Random ids: ~half share 0 bits, a quarter 1 bit...: 8 per depth down to where ids run out.
    expect(table.bucketCount).toBeGreaterThan(6)
    expect(table.bucketCount).toBeLessThan(14)
    const perDepth = new Map<number, number>()
    for (const e of table.entries()) {
      const depth = Math.min(commonPrefixBits(e.contact.id, own), table.bucketCount - 1)
      perDepth.set(depth, (perDepth.get(depth) ?? 0) + 1)
    }
    for (const n of perDepth.values()) expect(n).toBeLessThanOrEqual(8)
    expect(table.size).toBeLessThanOrEqual(8 * table.bucketCount)
    // Nodes near us all fit: deep buckets keep detail.
    const near = randomIdWithPrefix(own, 100, random)
    expect(table.heardFrom(contact(near))).toBe('added')
    expect(table.closest(own, 1)[0]?.id).toEqual(near)
  })

  it('files newcomers of a full bucket as replacements and promotes one when a node goes bad', () => {
    const clock = new ManualClock()
    const own = new Uint8Array(20)
    const table = new RoutingTable(own, clock, { badAfterFailures: 2 })
    // Far bucket (first bit 1): fill the first bucket after one split.
    const far = (): Uint8Array => { const id = randomNodeId(random); id[0] = (id[0] ?? 0) | 0x80; return id }
    const members = Array.from({ length: 8 }, () => contact(far()))
    for (const m of members) expect(table.heardFrom(m)).toBe('added')
    const waiting = contact(far())
    expect(table.heardFrom(waiting)).toBe('replacement')
    expect(table.get(waiting.id)).toBeUndefined()
    clock.advance(16 * 60_000)
    expect(table.pingCandidates().length).toBe(1)
    table.failed(members[0]!.id)
    expect(table.get(members[0]!.id)).toBeDefined()
    table.failed(members[0]!.id)
    expect(table.get(members[0]!.id)).toBeUndefined()
    expect(table.get(waiting.id)).toBeDefined()
  })

  it('keeps good / questionable / bad apart and leaves bad nodes out of answers', () => {
    const clock = new ManualClock()
    const table = new RoutingTable(randomNodeId(random), clock, { badAfterFailures: 2, dropAfterFailures: 9 })
    const a = contact(randomNodeId(random))
    table.heardFrom(a)
    const entry = table.get(a.id)!
    expect(table.status(entry)).toBe('good')
    clock.advance(15 * 60_000 + 1)
    expect(table.status(entry)).toBe('questionable')
    table.failed(a.id); table.failed(a.id)
    expect(table.status(entry)).toBe('bad')
    expect(table.closest(a.id, 8)).toHaveLength(0)
    table.heardFrom(a)
    expect(table.status(entry)).toBe('good')
  })

  it('refuses an id moving to another endpoint and our own id', () => {
    const clock = new ManualClock()
    const own = randomNodeId(random)
    const table = new RoutingTable(own, clock)
    const a = contact(randomNodeId(random))
    table.heardFrom(a)
    expect(table.heardFrom({ ...a, port: a.port + 1 })).toBe('refused')
    expect(table.heardFrom(contact(own))).toBe('refused')
  })

  it('enforces BEP 42 ids when asked, and prefers verified nodes in a full bucket', () => {
    const clock = new ManualClock()
    const strict = new RoutingTable(randomNodeId(random), clock, { enforceNodeId: true })
    expect(strict.heardFrom(contact(randomNodeId(random), '8.8.8.8'))).toBe('refused')
    expect(strict.heardFrom(contact(bep42NodeId('8.8.8.8', random), '8.8.8.8'))).toBe('added')
    expect(strict.heardFrom(contact(randomNodeId(random), '10.1.2.3'))).toBe('added')

    const own = new Uint8Array(20)
    const lax = new RoutingTable(own, clock)
    const farUnverified = (): NodeContact => { const id = randomNodeId(random); id[0] = (id[0] ?? 0) | 0x80; return contact(id, '9.9.9.9') }
    for (let i = 0; i < 8; i++) lax.heardFrom(farUnverified())
    clock.advance(16 * 60_000) // all questionable
    let verified = bep42NodeId('1.2.3.4', random)
    while (((verified[0] ?? 0) & 0x80) === 0) verified = bep42NodeId('1.2.3.4', random)
    expect(lax.heardFrom(contact(verified, '1.2.3.4'))).toBe('added')
  })
})
