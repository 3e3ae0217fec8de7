/**
 * An in-memory swarm of 30 full engines (issue 13's scale target is 1 000 in ≤ 60 s; this is the
 * size that fits a CI budget today — bench/scale/swarm.mjs measures larger ones and RESULTS.md has
 * the curve). One seed and 29 leechers on the memory network under the manual clock, each leecher
 * told of the seed and a few random others, PEX on, so the swarm meshes the way a real one does:
 * connections refused at the per-torrent limit, BEP 40 evictions, simultaneous dials, seeds
 * meeting seeds. Every leecher must end byte-identical, within a CPU-time budget.
 *
 * The budget is CPU time of this worker process (as dht-simulation.test.ts does): other test files
 * on the same cores stretch the wall clock, not the work. At load 18, 30 peers cost 6.1 CPU-s
 * (1 463 peer-connected events) before the duplicate-dial and choker fixes of 6dbde03 and 4.7 CPU-s
 * (1 071) after; the budget leaves room for a loaded CI machine.
 */
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../src/interfaces/random.js'
import type { Torrent } from '../../src/torrent/torrent.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

const PEERS = 30
const CPU_BUDGET_SEC = 10

describe('swarm: 30 peers meshing through PEX', () => {
  it('every leecher completes byte-identical within the CPU budget', async () => {
    const cpuStart = process.cpuUsage()
    const world = new SwarmWorld(1313, { latencyMs: 20 })
    const data = payload(1024 * 1024, 13)
    const torrentBytes = makeTorrent('swarm.bin', data, 64 * 1024)
    const random = seededRandom(77)
    const address = (i: number): string => `10.0.${i >> 8}.${(i & 255) + 1}`
    const torrents: Torrent[] = []
    let seeding = 0
    let connected = 0
    for (let i = 0; i < PEERS; i++) {
      // Plain TCP: MSE's Diffie-Hellman and uTP have their own tests; this one is about the swarm.
      const node = world.addNode(address(i), {
        uploadBytesPerSec: 512 * 1024,
        settings: { discovery: { pex: true, trackers: false }, encryption: { mode: 'disable' }, transport: { utp: false } }
      })
      if (i === 0) await writeFile(node.fs, 'swarm.bin', data)
      const known = i === 0 ? [] : [`${address(0)}:6881`, ...Array.from({ length: Math.min(16, i - 1) }, () => `${address(1 + Math.floor(random.next() * (i - 1)))}:6881`)]
      const t = await node.engine.addTorrent(torrentBytes, { peers: known })
      t.on('state-changed', ({ to }) => { if (to === 'seeding') seeding++ })
      t.on('peer-connected', () => { connected++ })
      torrents.push(t)
    }
    const done = await world.clock.runUntil(() => seeding === PEERS, 600_000)
    const cpu = process.cpuUsage(cpuStart)
    const cpuSec = (cpu.user + cpu.system) / 1e6
    console.log(`${PEERS} peers: ${seeding} seeding after ${(world.clock.now() / 1000).toFixed(1)} s virtual, ${connected} peer-connected events, ${cpuSec.toFixed(1)} CPU-s`)
    expect(done).toBe(true)
    expect(torrents.every((t) => t.state === 'seeding')).toBe(true)
    for (const node of world.nodes.slice(1)) expect(Buffer.compare(await readFile(node.fs, 'swarm.bin'), data)).toBe(0)
    expect(cpuSec).toBeLessThan(CPU_BUDGET_SEC)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  }, 300_000)
})
