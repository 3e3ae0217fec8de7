/**
 * An engine with many torrents (issue 13, scale): what made 10 000 torrents slow, checked on 40.
 * - Adding n torrents at once writes one small `listed` key per torrent (and the listing marker once),
 *   never a list of every torrent (each write of which was O(n)).
 * - A restore writes nothing: the records it read are the state, until something changes; the
 *   torrents come back in the stored order with no piece hashed.
 * - Slot counts stay right when many torrents start, queue and leave at once.
 * - The per-second 'stats' event is built only while someone listens (alerts: only with the
 *   stats category on).
 * - Seeding torrents nobody is connected to hold no periodic tasks (rechoke, housekeeping); a peer
 *   connecting wakes its torrent's, and they sleep again once it has gone.
 */
import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../../adapters/memory/memory-filesystem.js'
import { MemorySessionStore } from '../../../adapters/memory/memory-session-store.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { createMemoryEngine } from '../../../presets/memory.js'
import { ALERT_CATEGORY_BITS } from '../../../src/session/alert-settings.js'
import type { BtEngine } from '../../../src/session/bt-engine.js'
import type { CoarseScheduler } from '../../../src/util/coarse-scheduler.js'
import type { PartialEngineSettings } from '../../../src/session/engine-settings.js'
import { ENGINE_LISTING_KEY, ENGINE_TORRENTS_KEY, listedKey, parseListedKey } from '../../../src/session/resume-data.js'
import { SwarmWorld, SyncHasher, makeTorrent, payload, writeFile } from '../../swarm/swarm-world.js'

const N = 40

/** Counts writes per key. */
class CountingStore extends MemorySessionStore {
  readonly writes = new Map<string, number>()
  override async set (key: string, value: Uint8Array): Promise<void> {
    this.writes.set(key, (this.writes.get(key) ?? 0) + 1)
    await super.set(key, value)
  }

  get totalWrites (): number { return [...this.writes.values()].reduce((a, b) => a + b, 0) }
}

class CountingHasher extends SyncHasher {
  pieces = 0
  override async digest (algorithm: 'sha1' | 'sha256', data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    const length = data instanceof Uint8Array ? data.length : data.reduce((n, d) => n + d.length, 0)
    if (length === 4096) this.pieces++
    return super.digest(algorithm, data)
  }
}

async function setUp (world: SwarmWorld): Promise<{ fs: MemoryFileSystem, torrents: Uint8Array[] }> {
  const fs = new MemoryFileSystem({ clock: world.clock })
  const torrents: Uint8Array[] = []
  for (let i = 0; i < N; i++) {
    const data = payload(4096, i + 1)
    await writeFile(fs, `t${i}.bin`, data)
    torrents.push(makeTorrent(`t${i}.bin`, data, 16_384))
  }
  return { fs, torrents }
}

function engineOn (world: SwarmWorld, fs: MemoryFileSystem, store: MemorySessionStore, hasher: SyncHasher, settings: PartialEngineSettings = {}): BtEngine {
  return createMemoryEngine({ socketFactory: world.network.host('10.0.0.1'), clock: world.clock, fs, hasher, sessionStore: store, random: seededRandom(5), settings })
}

describe('an engine with many torrents', () => {
  it('a bulk add lists each torrent with one key, and a restore writes nothing and keeps the order', async () => {
    const world = new SwarmWorld(91)
    const { fs, torrents } = await setUp(world)
    const store = new CountingStore()
    const first = engineOn(world, fs, store, new SyncHasher())
    const added = await Promise.all(torrents.map(async (t) => first.addTorrent(t)))
    expect(await world.clock.runUntil(() => added.every((t) => t.state === 'seeding'), 10_000)).toBe(true)
    expect(store.writes.get(ENGINE_TORRENTS_KEY)).toBeUndefined()
    expect(store.writes.get(ENGINE_LISTING_KEY)).toBe(1)
    const listed = [...store.writes.keys()].map(parseListedKey).filter((e) => e !== null)
    expect(listed).toHaveLength(N)
    for (const e of listed) expect(store.writes.get(listedKey(e.id, e.seq))).toBe(1)
    const stored = listed.sort((a, b) => a.seq - b.seq).map((e) => e.id)
    expect(new Set(stored)).toEqual(new Set(added.map((t) => t.id)))
    await first.close()

    store.writes.clear()
    const hasher = new CountingHasher()
    const second = engineOn(world, fs, store, hasher)
    const hashing: string[] = []
    second.on('torrent-added', ({ torrent }) => { torrent.on('state-changed', ({ to }) => { if (to === 'hashing') hashing.push(torrent.id) }) })
    const { restored, failed } = await second.restoreSession()
    expect(failed).toEqual([])
    expect(second.torrents.map((t) => t.id)).toEqual(stored)
    expect(await world.clock.runUntil(() => restored.every((t) => t.state === 'seeding'), 10_000)).toBe(true)
    await world.clock.advanceAsync(2_000)
    await second.saveState()
    await second.close()
    expect(hashing).toEqual([])
    expect(hasher.pieces).toBe(0)
    expect(Object.fromEntries(store.writes)).toEqual({})
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a restored torrent that changes is saved again', async () => {
    const world = new SwarmWorld(92)
    const { fs, torrents } = await setUp(world)
    const store = new CountingStore()
    const first = engineOn(world, fs, store, new SyncHasher())
    const t = await first.addTorrent(torrents[0]!)
    expect(await world.clock.runUntil(() => t.state === 'seeding', 10_000)).toBe(true)
    await first.close()
    store.writes.clear()
    const second = engineOn(world, fs, store, new SyncHasher())
    const [r] = (await second.restoreSession()).restored
    expect(await world.clock.runUntil(() => r!.state === 'seeding', 10_000)).toBe(true)
    r!.pause()
    await world.clock.advanceAsync(100)
    expect(store.writes.get(`torrent:${t.id}:progress`)).toBe(1)
    await second.close()
    await world.close()
  })

  it('keeps slot counts right when many torrents start, queue and leave', async () => {
    const world = new SwarmWorld(93)
    const { fs, torrents } = await setUp(world)
    const engine = engineOn(world, fs, new MemorySessionStore(), new SyncHasher(), { queue: { maxActiveSeeds: 5 } })
    const added = await Promise.all(torrents.map(async (t) => engine.addTorrent(t)))
    const count = (state: string): number => added.filter((t) => t.state === state).length
    expect(await world.clock.runUntil(() => count('seeding') === 5 && count('queued') === N - 5, 10_000)).toBe(true)
    const seeding = added.filter((t) => t.state === 'seeding')
    await engine.removeTorrent(seeding[0]!.id)
    seeding[1]!.pause()
    await world.clock.advanceAsync(100)
    expect(engine.torrents.filter((t) => t.state === 'seeding')).toHaveLength(5)
    expect(engine.torrents.filter((t) => t.state === 'queued')).toHaveLength(N - 7)
    engine.updateSettings({ queue: { maxActiveSeeds: 0 } })
    await world.clock.advanceAsync(100)
    expect(engine.torrents.filter((t) => t.state === 'seeding')).toHaveLength(N - 2)
    await engine.close()
    await world.close()
  })

  it("builds the 'stats' event only for a listener: alerts subscribe while their stats category is on", async () => {
    const world = new SwarmWorld(94)
    const { fs, torrents } = await setUp(world)
    const engine = engineOn(world, fs, new MemorySessionStore(), new SyncHasher())
    await engine.addTorrent(torrents[0]!)
    expect(engine.hasListeners('stats')).toBe(false)
    engine.updateSettings({ alerts: { categoryMask: ALERT_CATEGORY_BITS.stats } })
    expect(engine.hasListeners('stats')).toBe(true)
    await world.clock.advanceAsync(2_500)
    expect(engine.alerts.popAlerts().filter((a) => a.type === 'stats').length).toBeGreaterThanOrEqual(2)
    engine.updateSettings({ alerts: { categoryMask: ALERT_CATEGORY_BITS.error } })
    expect(engine.hasListeners('stats')).toBe(false)
    await engine.close()
    await world.close()
  })

  it('seeding torrents nobody is connected to hold no periodic tasks; a peer wakes its torrent\'s until it leaves', async () => {
    const world = new SwarmWorld(95)
    const settings = { discovery: { trackers: false } }
    const seed = world.addNode('10.0.0.1', { settings })
    const torrents: Uint8Array[] = []
    for (let i = 0; i < N; i++) {
      const data = payload(4096, i + 1)
      await writeFile(seed.fs, `t${i}.bin`, data)
      torrents.push(makeTorrent(`t${i}.bin`, data, 16_384))
    }
    const tasks = (): number => (seed.engine as unknown as { scheduler: CoarseScheduler }).scheduler.size
    const added = await Promise.all(torrents.map(async (t) => seed.engine.addTorrent(t)))
    expect(await world.clock.runUntil(() => added.every((t) => t.state === 'seeding'), 10_000)).toBe(true)
    await world.clock.advanceAsync(3_000)
    const idle = tasks()
    expect(idle).toBeLessThan(5) // engine-wide ones only: each torrent had a rechoke and a housekeeping task

    const leech = world.addNode('10.0.0.2', { settings })
    const leeching = await leech.engine.addTorrent(torrents[7]!)
    leeching.addPeer('10.0.0.1:6881')
    expect(await world.clock.runUntil(() => added[7]!.peers().length === 1, 10_000)).toBe(true)
    expect(tasks()).toBeGreaterThanOrEqual(idle + 3) // the torrent's two, and the connection's own deadlines
    expect(await world.clock.runUntil(() => leeching.state === 'seeding', 30_000)).toBe(true)
    // Two seeds have nothing to trade: the connection closes, and the seed's tasks go back to sleep.
    expect(await world.clock.runUntil(() => added[7]!.peers().length === 0, 30_000)).toBe(true)
    await world.clock.advanceAsync(3_000)
    expect(tasks()).toBe(idle)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
