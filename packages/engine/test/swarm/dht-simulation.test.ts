/**
 * A 1 000-node DHT in the memory network under the manual clock (issue 10): nodes join a few at
 * a time, each bootstrapping off a random earlier node; after a settling period every routing
 * table's closest nodes to its own id match the true closest (convergence), and get_peers from
 * random nodes finds a peer announced by another, within a bounded number of hops and queries.
 * Prints the hop and query distributions.
 */
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../src/interfaces/random.js'
import { compareDistance, idEquals } from '../../src/dht/node-id.js'
import { createDhtWorld, hostOf } from '../unit/dht/dht-test-kit.js'

const NODES = 1000
const LOOKUPS = 40

function distribution (values: number[]): string {
  const counts = new Map<number, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts].sort((a, b) => a[0] - b[0]).map(([v, n]) => `${v}:${n}`).join(' ')
}

describe('swarm: a 1 000-node DHT', () => {
  it('converges, and lookups from any node find an announced peer in a bounded number of hops', async () => {
    const started = performance.now()
    // The budget is CPU time (this file runs in its own worker process): other test files on the
    // same cores stretch the wall clock, not the work.
    const cpuStart = process.cpuUsage()
    const random = seededRandom(2026)
    const world = await createDhtWorld(7, { maxQueriesPerSec: 1000 })
    for (let i = 0; i < NODES; i++) {
      const bootstrap = i === 0 ? [] : [`${hostOf(Math.floor(random.next() * i))}:6881`]
      const node = await world.addNode({ bootstrapNodes: bootstrap })
      node.start()
      if (i % 50 === 49) await world.run(1_000)
    }
    // Bucket refreshes and verification pings fill the tables.
    await world.run(20 * 60_000)

    const ids = world.nodes.map((n) => n.id)
    let overlap = 0
    for (let i = 0; i < NODES; i += 10) {
      const own = ids[i]!
      const truth = ids.filter((_, j) => j !== i).sort((a, b) => compareDistance(own, a, b)).slice(0, 8)
      const known = world.nodes[i]!.saveState().nodes.map((n) => Uint8Array.from(Buffer.from(n.id, 'hex')))
      overlap += truth.filter((t) => known.some((k) => idEquals(k, t))).length / 8
    }
    const convergence = overlap / (NODES / 10)
    const sizes = world.nodes.map((n) => n.nodeCount)

    const infoHash = seededRandom(99).fill(new Uint8Array(20))
    const announcer = world.nodes[123]!
    const announced = await world.until(announcer.announce(infoHash, { port: 4242 }))
    const hops: number[] = []
    const queried: number[] = []
    let found = 0
    for (let k = 0; k < LOOKUPS; k++) {
      const node = world.nodes[Math.floor(random.next() * NODES)]!
      const result = await world.until(node.getPeers(infoHash))
      if (result.peers.some((p) => p.host === hostOf(123) && p.port === 4242)) found++
      hops.push(result.hops)
      queried.push(result.queried)
    }
    world.close()
    const wallSec = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuStart)
    const cpuSec = (cpu.user + cpu.system) / 1e6
    console.log(`1000-node DHT: convergence ${(convergence * 100).toFixed(1)}% of each node's 8 closest known; table sizes min ${Math.min(...sizes)} median ${sizes.sort((a, b) => a - b)[NODES / 2]} max ${Math.max(...sizes)}; ` +
      `announce reached ${announced.announcedTo}; ${found}/${LOOKUPS} lookups found the peer; hops ${distribution(hops)}; queries ${distribution(queried)}; ${wallSec.toFixed(1)} s wall, ${cpuSec.toFixed(1)} CPU-s`)
    expect(announced.announcedTo).toBe(8)
    expect(found).toBe(LOOKUPS)
    expect(convergence).toBeGreaterThan(0.9)
    expect(Math.max(...hops)).toBeLessThanOrEqual(6)
    expect(Math.max(...queried)).toBeLessThanOrEqual(64)
    expect(cpuSec).toBeLessThan(60)
  }, 300_000)
})
