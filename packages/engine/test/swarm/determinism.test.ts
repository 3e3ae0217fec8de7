import { describe, expect, it } from 'vitest'
import type { Torrent } from '../../src/torrent/torrent.js'
import { SwarmWorld, makeTorrent, payload, writeFile } from './swarm-world.js'

/** Runs 1 seed + 3 leechers and returns every piece verification as "time leecher piece". */
async function trace (seed: number): Promise<string[]> {
  const world = new SwarmWorld(seed)
  const data = payload(640 * 1024, 5)
  const bytes = makeTorrent('d.bin', data, 32_768)
  const s = world.addNode('10.0.0.1', { uploadBytesPerSec: 300 * 1024 })
  await writeFile(s.fs, 'd.bin', data)
  const st = await s.engine.addTorrent(bytes)
  await world.clock.runUntil(() => st.state === 'seeding', 10_000)
  const events: string[] = []
  const addresses = ['10.0.1.1', '10.0.1.2', '10.0.1.3']
  const torrents: Torrent[] = []
  for (const address of addresses) {
    const node = world.addNode(address, { uploadBytesPerSec: 300 * 1024 })
    const t = await node.engine.addTorrent(bytes, { peers: ['10.0.0.1:6881', ...addresses.filter((a) => a !== address).map((a) => `${a}:6881`)] })
    t.on('piece-verified', ({ piece }) => events.push(`${world.clock.now().toFixed(3)} ${address} ${piece}`))
    torrents.push(t)
  }
  await world.clock.runUntil(() => torrents.every((t) => t.state === 'seeding'), 120_000)
  expect(torrents.every((t) => t.state === 'seeding')).toBe(true)
  await world.close()
  return events
}

describe('swarm determinism', () => {
  it('the same seed gives the same run, event for event; another seed gives another run', async () => {
    const a = await trace(77)
    const b = await trace(77)
    const c = await trace(78)
    expect(a.length).toBe(3 * 20)
    expect(b).toEqual(a)
    expect(c).not.toEqual(a)
  })
})
