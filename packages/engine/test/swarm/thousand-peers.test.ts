/**
 * Issue 13's scale target: an in-memory swarm of 1 000 full engines completes in CI in ≤ 60 s, as a
 * real swarm would run it: peer exchange on and a payload of several pieces. One seed and 999
 * leechers on the memory network (20 ms latency, 512 KiB/s uplink per host) under the manual clock.
 * Each peer, as it joins, is told of up to 3 random peers that joined before it (a tracker's small
 * answer), and learns the rest of the swarm through ut_pex (BEP 11). MSE and uTP are off (their own
 * tests cover them; MSE's Diffie-Hellman would be most of the CPU).
 *
 * What it guards (bench/scale/RESULTS.md, session 6): with PEX on, the first PEX round used to mesh
 * every peer toward its 50-connection limit at once — refusals at full torrents and BEP 40 evictions
 * whose freed slots dialled and evicted again — and the swarm never finished (200 peers with 1 MiB:
 * 20 395 connections in 2.6 virtual seconds, not done after 130 CPU-s). PEX-learned peers are now
 * dialled behind the others at `connection.pexDialsPerSecond`, and BEP 40 spares connections in their
 * first seconds. The test asserts the outcome (every leecher verified every piece once and holds the
 * exact bytes), that churn stays bounded (connections, evictions), and a CPU-time budget of this
 * worker (other test files on the same cores stretch the wall clock, not the work).
 *
 * The payload is 64 KiB in 4 pieces: the cost at 1 000 peers is per connection and per message
 * (~9 700 peer-connected events, 22.6 CPU-s at load 15); 128 KiB took 32 CPU-s and 256 KiB 54,
 * too much for the suite. bench/scale/swarm.mjs runs this scenario and larger payloads:
 *   node bench/scale/swarm.mjs --peers 1000 --size-kib 64 --piece-kib 16 --known 3 --seed-known 0 --pex 1
 */
import { describe, expect, it } from 'vitest'
import { hasCode } from '../../src/errors.js'
import { seededRandom } from '../../src/interfaces/random.js'
import type { Torrent } from '../../src/torrent/torrent.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

const PEERS = 1000
const KNOWN = 3
const PAYLOAD_BYTES = 64 * 1024
const PIECE_BYTES = 16 * 1024
const CPU_BUDGET_SEC = 45
/** Measured ~9 700 (each connection counts at both ends); before the fix the 32 KiB swarm made 24 399. */
const MAX_CONNECTED_EVENTS = 16_000
/** Measured 0: every connection here is younger than the eviction grace. */
const MAX_EVICTIONS = 100

describe('swarm: 1 000 peers with peer exchange', () => {
  it('every leecher verifies every piece and ends byte-identical, with bounded churn and CPU', async () => {
    const cpuStart = process.cpuUsage()
    const wallStart = performance.now()
    const world = new SwarmWorld(1000, { latencyMs: 20 })
    const data = payload(PAYLOAD_BYTES, 1000)
    const pieceCount = PAYLOAD_BYTES / PIECE_BYTES
    const torrentBytes = makeTorrent('swarm.bin', data, PIECE_BYTES)
    const random = seededRandom(1001)
    const address = (i: number): string => `10.1.${i >> 8}.${(i & 255) + 1}`
    const torrents: Torrent[] = []
    /** Pieces each leecher verified, by piece index: each exactly once (no hash failure, no repeat). */
    const verified: number[][] = []
    let seeding = 0
    let connected = 0
    let evictions = 0
    for (let i = 0; i < PEERS; i++) {
      const node = world.addNode(address(i), {
        uploadBytesPerSec: 512 * 1024,
        settings: { discovery: { pex: true, trackers: false }, encryption: { mode: 'disable' }, transport: { utp: false } }
      })
      if (i === 0) await writeFile(node.fs, 'swarm.bin', data)
      const known = new Set(Array.from({ length: Math.min(KNOWN, i) }, () => `${address(Math.floor(random.next() * i))}:6881`))
      const t = await node.engine.addTorrent(torrentBytes, { peers: [...known] })
      const pieces = new Array<number>(pieceCount).fill(0)
      verified.push(pieces)
      t.on('piece-verified', ({ piece }) => { pieces[piece]!++ })
      t.on('state-changed', ({ to }) => { if (to === 'seeding') seeding++ })
      t.on('peer-connected', () => { connected++ })
      t.on('peer-disconnected', ({ reason }) => { if (hasCode(reason, 'PEER_CLOSED') && reason.details.reason.includes('BEP 40')) evictions++ })
      torrents.push(t)
    }
    // A swarm that churns instead of finishing fails at the CPU budget, not at the wall-clock time-out.
    let calls = 0
    const overBudget = (): boolean => {
      if (++calls % 2_000 !== 0) return false
      const used = process.cpuUsage(cpuStart)
      return (used.user + used.system) / 1e6 > CPU_BUDGET_SEC
    }
    const done = await world.clock.runUntil(() => seeding === PEERS || overBudget(), 600_000) && seeding === PEERS
    const virtualSec = world.clock.now() / 1000
    const cpu = process.cpuUsage(cpuStart)
    const cpuSec = (cpu.user + cpu.system) / 1e6
    expect(done, `${seeding}/${PEERS} seeding after ${virtualSec.toFixed(2)} s virtual and ${cpuSec.toFixed(1)} CPU-s, ${connected} peer-connected events`).toBe(true)
    expect(torrents.every((t) => t.state === 'seeding')).toBe(true)
    // The seed checked its own data; every leecher verified each piece exactly once.
    for (const pieces of verified.slice(1)) expect(pieces).toEqual(new Array<number>(pieceCount).fill(1))
    for (const node of world.nodes.slice(1)) expect(Buffer.compare(await readFile(node.fs, 'swarm.bin'), data)).toBe(0)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
    const total = process.cpuUsage(cpuStart)
    console.log(`${PEERS} peers, ${pieceCount} pieces, PEX on: ${seeding} seeding after ${virtualSec.toFixed(2)} s virtual, ` +
      `${connected} peer-connected events, ${evictions} BEP 40 evictions; ${cpuSec.toFixed(1)} CPU-s to complete, ` +
      `${((total.user + total.system) / 1e6).toFixed(1)} CPU-s with checks and close, ${((performance.now() - wallStart) / 1000).toFixed(1)} s wall`)
    expect(connected).toBeLessThan(MAX_CONNECTED_EVENTS)
    expect(evictions).toBeLessThan(MAX_EVICTIONS)
    expect(cpuSec).toBeLessThan(CPU_BUDGET_SEC)
  }, 300_000)
})
