/**
 * `Torrent.reannounce()` (issue 14, Transmission's torrent-reannounce): a seeding torrent announces
 * to its tracker again at once, long before the tracker's `interval`; a tracker's `min interval`
 * defers it (libtorrent's force_reannounce without ignore_min_interval), and a torrent out of the
 * swarm announces nothing.
 */
import { describe, expect, it } from 'vitest'
import type { HttpResponse, IHttpClient } from '../../src/interfaces/http-client.js'
import { bencodeEncode } from '../../src/protocol/bencode.js'
import { SwarmWorld, makeTorrent, payload, writeFile } from './swarm-world.js'

/** An HTTP tracker with a 30-minute interval and an optional `min interval`; records each announce's time. */
class FakeTracker implements IHttpClient {
  readonly announces: Array<{ url: string, atMs: number }> = []
  constructor (private readonly world: SwarmWorld, private readonly minIntervalSec: number | null) {}
  async get (url: string): Promise<HttpResponse> {
    this.announces.push({ url, atMs: this.world.clock.now() })
    const body = bencodeEncode({ interval: 1800, ...(this.minIntervalSec !== null ? { 'min interval': this.minIntervalSec } : {}), peers: new Uint8Array(0) })
    return { status: 200, headers: {}, body }
  }
}

async function seeding (world: SwarmWorld, tracker: FakeTracker): Promise<{ reannounce: () => void, pause: () => void, requested: () => number }> {
  const data = payload(40_000, 3)
  const node = world.addNode('10.0.0.1', { httpClient: tracker })
  await writeFile(node.fs, 'r.bin', data)
  const t = await node.engine.addTorrent(makeTorrent('r.bin', data, 16_384))
  let requested = 0
  t.on('reannounce-requested', () => { requested++ })
  expect(await world.clock.runUntil(() => t.state === 'seeding' && tracker.announces.length === 1, 10_000)).toBe(true)
  expect(tracker.announces[0]!.url).toContain('event=started')
  return { reannounce: () => { t.reannounce() }, pause: () => { t.pause() }, requested: () => requested }
}

describe('swarm: reannounce', () => {
  it('announces again at once, before the interval, without an event', async () => {
    const world = new SwarmWorld(41)
    const tracker = new FakeTracker(world, null)
    const t = await seeding(world, tracker)
    await world.clock.advanceAsync(5_000)
    expect(tracker.announces).toHaveLength(1)
    const atMs = world.clock.now()
    t.reannounce()
    expect(await world.clock.runUntil(() => tracker.announces.length === 2, 5_000)).toBe(true)
    expect(tracker.announces[1]!.atMs - atMs).toBeLessThan(1_000)
    expect(tracker.announces[1]!.url).not.toContain('event=')
    expect(t.requested()).toBe(1)
    await world.close()
  })

  it('waits for the tracker\'s min interval, and does nothing while paused', async () => {
    const world = new SwarmWorld(42)
    const tracker = new FakeTracker(world, 300)
    const t = await seeding(world, tracker)
    const firstMs = tracker.announces[0]!.atMs
    t.reannounce()
    await world.clock.advanceAsync(10_000)
    expect(tracker.announces).toHaveLength(1)
    expect(await world.clock.runUntil(() => tracker.announces.length === 2, 400_000)).toBe(true)
    const gapMs = tracker.announces[1]!.atMs - firstMs
    expect(gapMs).toBeGreaterThanOrEqual(300_000)
    expect(gapMs).toBeLessThan(310_000)
    t.pause()
    const count = tracker.announces.length // pausing sent `stopped`
    const requested = t.requested()
    t.reannounce()
    await world.clock.advanceAsync(400_000)
    expect(tracker.announces).toHaveLength(count)
    expect(t.requested()).toBe(requested)
    await world.close()
  })
})
