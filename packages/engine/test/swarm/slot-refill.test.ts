import { describe, expect, it } from 'vitest'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

describe('swarm: a seed whose only upload slot is freed by a leaving peer', () => {
  it('unchokes the waiting leecher at once, not at the next rechoke', async () => {
    const world = new SwarmWorld(13)
    const data = payload(1024 * 1024, 5)
    const torrentBytes = makeTorrent('file.bin', data, 32_768)
    const noPex = { discovery: { pex: false } }
    // One slot, no optimistic one, and a rechoke far away: only a slot freed between rounds can serve B.
    const seed = world.addNode('10.0.0.1', {
      uploadBytesPerSec: 128 * 1024,
      settings: { ...noPex, choking: { uploadSlots: 1, optimisticSlots: 0, rechokeIntervalMs: 120_000 } }
    })
    await writeFile(seed.fs, 'file.bin', data)
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)

    const a = world.addNode('10.0.0.2', { settings: noPex })
    const ta = await a.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    expect(await world.clock.runUntil(() => ta.stats().downloadedBytes > 64 * 1024, 10_000)).toBe(true)
    const b = world.addNode('10.0.0.3', { settings: noPex })
    const tb = await b.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    // B is connected and interested, but A holds the slot.
    await world.clock.advanceAsync(3_000)
    expect(seedTorrent.peers().length).toBe(2)
    expect(tb.stats().downloadedBytes).toBe(0)

    // A leaves (its connection closes): B gets the slot within a second, and the whole file.
    await a.engine.removeTorrent(ta.id)
    const leftAt = world.clock.now()
    expect(await world.clock.runUntil(() => tb.stats().downloadedBytes > 0, 60_000)).toBe(true)
    expect(world.clock.now() - leftAt).toBeLessThan(1_000)
    expect(await world.clock.runUntil(() => tb.state === 'seeding', 60_000)).toBe(true)
    expect(Buffer.compare(await readFile(b.fs, 'file.bin'), data)).toBe(0)

    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
