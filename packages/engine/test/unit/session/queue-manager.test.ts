/**
 * The engine's queue: admission on start and resume, pausing or stopping a queued torrent,
 * removal freeing a slot, settings validation.
 */
import { describe, expect, it } from 'vitest'
import { resolveSettings, resolveTorrentSettings } from '../../../src/session/engine-settings.js'
import { SwarmWorld, makeTorrent, payload } from '../../swarm/swarm-world.js'

describe('QueueManager (through the engine)', () => {
  it('queues beyond maxActiveDownloads; a queued torrent pauses to stopped, stops, and a removal frees its slot', async () => {
    const world = new SwarmWorld(71)
    const node = world.addNode('10.0.0.1', { settings: { queue: { maxActiveDownloads: 1 } } })
    const torrents = [1, 2, 3].map((i) => makeTorrent(`t${i}.bin`, payload(50_000, i), 16_384))
    const t1 = await node.engine.addTorrent(torrents[0]!)
    const t2 = await node.engine.addTorrent(torrents[1]!)
    const t3 = await node.engine.addTorrent(torrents[2]!)
    await world.clock.runUntil(() => t1.state === 'downloading', 5_000)
    expect([t1.state, t2.state, t3.state]).toEqual(['downloading', 'queued', 'queued'])
    t2.resume() // already waiting: nothing happens
    expect(t2.state).toBe('queued')
    t2.pause() // never started: back to stopped, out of the queue
    expect(t2.state).toBe('stopped')
    await node.engine.removeTorrent(t1.id)
    await world.clock.runUntil(() => t3.state === 'downloading', 5_000)
    expect([t2.state, t3.state]).toEqual(['stopped', 'downloading'])
    await t2.start()
    expect(t2.state).toBe('queued')
    await t2.stop()
    expect(t2.state).toBe('stopped')
    // A download paused and resumed while the slot is taken waits in the queue again.
    t3.pause()
    await t2.start()
    await world.clock.runUntil(() => t2.state === 'downloading', 5_000)
    t3.resume()
    expect(t3.state).toBe('queued')
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('validates queue settings and per-torrent overrides, naming the key', () => {
    expect(resolveSettings({ queue: { seedRatioLimit: 1.5, maxActiveSeeds: 3 } }).queue).toEqual({ maxActiveDownloads: 0, maxActiveSeeds: 3, seedRatioLimit: 1.5, seedTimeLimitSec: 0 })
    expect(() => resolveSettings({ queue: { maxActiveSeeds: 1.5 } })).toThrow(/queue.maxActiveSeeds/)
    expect(() => resolveSettings({ queue: { seedRatioLimit: -1 } })).toThrow(/queue.seedRatioLimit/)
    expect(resolveTorrentSettings({ sequential: true, seedRatioLimit: 2, seedTimeLimitSec: 60 })).toEqual({ sequential: true, seedRatioLimit: 2, seedTimeLimitSec: 60 })
    expect(() => resolveTorrentSettings({ sequential: 1 as unknown as boolean })).toThrow(/torrent.sequential/)
    expect(() => resolveTorrentSettings({ seedTimeLimitSec: -5 })).toThrow(/queue.seedTimeLimitSec/)
  })
})


