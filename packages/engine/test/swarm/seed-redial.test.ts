/**
 * A seed re-dials a leecher it dialled when the leecher hangs up and restarts (issue 12): what
 * Transmission does with a magnet once it has the metadata. The leecher here removes its torrent
 * and adds it again (fresh known addresses, so it cannot dial back), at a download rate slow
 * enough to be mid-download; only the seed's re-dial can finish it.
 */
import { describe, expect, it } from 'vitest'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

describe('swarm: a seeding torrent re-dials a leecher that hung up', () => {
  it('after a good handshake: soon (reconnectDelayMs), and the leecher completes', async () => {
    const world = new SwarmWorld(9)
    const data = payload(600_000, 4)
    const torrentBytes = makeTorrent('file.bin', data, 32_768)
    const seed = world.addNode('10.0.0.1', { settings: { discovery: { trackers: false } } })
    await writeFile(seed.fs, 'file.bin', data)
    const leech = world.addNode('10.0.0.2', { downloadBytesPerSec: 100_000, settings: { discovery: { trackers: false } } })
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)

    let t = await leech.engine.addTorrent(torrentBytes)
    const connectedAt: number[] = []
    seedTorrent.on('peer-connected', () => { connectedAt.push(world.clock.now()) })
    seedTorrent.addPeer('10.0.0.2:6881')
    expect(await world.clock.runUntil(() => t.stats().havePieces >= 3, 60_000)).toBe(true)
    // The restart: the leecher's connection closes, its torrent comes back knowing no peer.
    await leech.engine.removeTorrent(t.id)
    const hungUpAt = world.clock.now()
    t = await leech.engine.addTorrent(torrentBytes)
    expect(t.knownPeerAddresses()).toEqual([])
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'file.bin'), data)).toBe(0)
    expect(connectedAt).toHaveLength(2)
    // Re-dialled within a few seconds, not after the 30 s failure back-off.
    expect(connectedAt[1]! - hungUpAt).toBeLessThan(5_000)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('two seeds do not re-dial each other', async () => {
    const world = new SwarmWorld(10)
    const data = payload(100_000, 5)
    const torrentBytes = makeTorrent('file.bin', data, 32_768)
    const a = world.addNode('10.0.0.1', { settings: { discovery: { trackers: false } } })
    const b = world.addNode('10.0.0.2', { settings: { discovery: { trackers: false } } })
    await writeFile(a.fs, 'file.bin', data)
    await writeFile(b.fs, 'file.bin', data)
    const ta = await a.engine.addTorrent(torrentBytes)
    const tb = await b.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => ta.state === 'seeding' && tb.state === 'seeding', 10_000)
    let connects = 0
    ta.on('peer-connected', () => { connects++ })
    ta.addPeer('10.0.0.2:6881')
    await world.clock.advanceAsync(60_000)
    expect(connects).toBe(1)
    expect(ta.peers()).toEqual([])
    await world.close()
  })
})
