/**
 * Super-seeding (BEP 16) in virtual time: one seed, four leechers that know each other. A
 * super-seed says it has nothing and offers one piece per peer at a time, so the seed's upload
 * stays near one copy of the payload while the leechers trade; a normal seed uploads much more
 * when its upload is as fast as theirs. Both runs must end byte-identical everywhere.
 */
import { describe, expect, it } from 'vitest'
import type { Torrent } from '../../src/torrent/torrent.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile, type SwarmNode } from './swarm-world.js'

async function run (superSeeding: boolean): Promise<{ ratio: number, seconds: number }> {
  const world = new SwarmWorld(21)
  const data = payload(1024 * 1024, 8)
  const torrentBytes = makeTorrent('file.bin', data, 32_768)
  const settings = { discovery: { trackers: false } }
  const seed = world.addNode('10.0.0.1', { settings, uploadBytesPerSec: 400_000 })
  await writeFile(seed.fs, 'file.bin', data)
  const st = await seed.engine.addTorrent(torrentBytes, { settings: { superSeeding } })
  await world.clock.runUntil(() => st.state === 'seeding', 10_000)
  const leechers: Array<{ node: SwarmNode, t: Torrent }> = []
  const startedAt = world.clock.now()
  for (let i = 0; i < 4; i++) {
    const node = world.addNode(`10.0.1.${i + 1}`, { settings, uploadBytesPerSec: 400_000 })
    const others = ['10.0.0.1:6881', ...leechers.map((l) => `${l.node.address}:6881`)]
    leechers.push({ node, t: await node.engine.addTorrent(torrentBytes, { peers: others }) })
  }
  const done = await world.clock.runUntil(() => leechers.every((l) => l.t.state === 'seeding'), 600_000)
  expect(done).toBe(true)
  for (const l of leechers) expect(Buffer.compare(await readFile(l.node.fs, 'file.bin'), data)).toBe(0)
  const ratio = st.stats().uploadedBytes / data.length
  const seconds = (world.clock.now() - startedAt) / 1000
  await world.close()
  expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  return { ratio, seconds }
}

describe('swarm: super-seeding (BEP 16)', () => {
  it('a super-seed uploads about one copy; a normal seed more', async () => {
    const normal = await run(false)
    const superSeed = await run(true)
    expect(superSeed.ratio).toBeGreaterThanOrEqual(1)
    expect(superSeed.ratio).toBeLessThan(1.5)
    expect(normal.ratio).toBeGreaterThan(superSeed.ratio + 0.5)
    console.log(`seed upload / payload, 1 MiB, 4 leechers (virtual time): normal ${normal.ratio.toFixed(2)} in ${normal.seconds.toFixed(1)} s, super-seeding ${superSeed.ratio.toFixed(2)} in ${superSeed.seconds.toFixed(1)} s`)
  })
})
