import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../adapters/memory/memory-filesystem.js'
import { MemorySessionStore } from '../../adapters/memory/memory-session-store.js'
import { createMemoryEngine } from '../../presets/memory.js'
import type { PeerInfo } from '../../src/torrent/torrent.js'
import { seededRandom } from '../../src/interfaces/random.js'
import { SwarmWorld, makeTorrent, payload, writeFile, SyncHasher } from './swarm-world.js'

describe('swarm: peer sources', () => {
  it('records manual, incoming and resume (peers restored from the session store)', async () => {
    const world = new SwarmWorld(31)
    const data = payload(120_000, 9)
    const torrentBytes = makeTorrent('file.bin', data, 16_384)
    const seed = world.addNode('10.0.0.1', { uploadBytesPerSec: 30_000 })
    await writeFile(seed.fs, 'file.bin', data)
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)

    // A leecher with a session store: told of the seed by hand, then closed mid-download.
    const store = new MemorySessionStore()
    const host = world.network.host('10.0.0.2')
    const leechFs = new MemoryFileSystem({ clock: world.clock })
    const make = (): ReturnType<typeof createMemoryEngine> => createMemoryEngine({
      socketFactory: host, clock: world.clock, fs: leechFs, hasher: new SyncHasher(), random: seededRandom(5), sessionStore: store, settings: { listen: { port: 6881 } }
    })
    const first = make()
    const t1 = await first.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    const seen1: PeerInfo[] = []
    t1.on('peer-connected', ({ peer }) => { seen1.push(peer) })
    await world.clock.runUntil(() => seen1.length > 0 && seedTorrent.peers().length > 0, 10_000)
    expect(seen1[0]?.source).toBe('manual')
    expect(seedTorrent.peers()[0]?.source).toBe('incoming')
    await world.clock.advanceAsync(2_000)
    const closing = first.close()
    await world.clock.runUntil(() => false, 5_000)
    await closing

    const second = make()
    const seen2: PeerInfo[] = []
    second.on('torrent-added', ({ torrent }) => { torrent.on('peer-connected', ({ peer }) => { seen2.push(peer) }) })
    const restoring = second.restoreSession()
    await world.clock.runUntil(() => false, 2_000)
    const { restored } = await restoring
    expect(restored).toHaveLength(1)
    const t2 = restored[0]!
    if (t2.state === 'stopped') void t2.start()
    expect(await world.clock.runUntil(() => seen2.length > 0, 30_000)).toBe(true)
    expect(seen2[0]?.address).toBe('10.0.0.1:6881')
    expect(seen2[0]?.source).toBe('resume')
    const closing2 = second.close()
    await world.clock.runUntil(() => false, 5_000)
    await closing2
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
    expect(leechFs.openHandleCount).toBe(0)
  })
})
