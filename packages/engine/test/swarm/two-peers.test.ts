import { describe, expect, it } from 'vitest'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

describe('swarm: one seed, one leecher', () => {
  it('downloads a torrent byte-identical and leaves nothing open', async () => {
    const world = new SwarmWorld(7)
    const data = payload(300_000, 3)
    const torrentBytes = makeTorrent('file.bin', data, 32_768)
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'file.bin', data)
    const leech = world.addNode('10.0.0.2')

    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)
    expect(seedTorrent.state).toBe('seeding')

    const states: string[] = []
    // 'torrent-added' fires before the torrent starts: every state change is seen.
    leech.engine.on('torrent-added', ({ torrent }) => { torrent.on('state-changed', ({ to }) => states.push(to)) })
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    let completed = 0
    t.on('completed', () => { completed++ })
    const ok = await world.clock.runUntil(() => t.state === 'seeding', 120_000)
    expect(ok).toBe(true)
    expect(completed).toBe(1)
    expect(states).toEqual(['starting', 'hashing', 'downloading', 'seeding'])
    expect(Buffer.compare(await readFile(leech.fs, 'file.bin'), data)).toBe(0)
    const stats = t.stats()
    expect(stats.progress).toBe(1)
    expect(stats.downloadedBytes).toBeGreaterThanOrEqual(data.length)
    expect(seedTorrent.stats().uploadedBytes).toBeGreaterThanOrEqual(data.length)

    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
