/**
 * Which torrents a restore brings back (torrent-listing.ts): one `listed` key per torrent.
 * - A store in the former format (one `engine:torrents` list record) restores every listed torrent in
 *   the list's order, and the restore migrates it: listed keys, then the list deleted.
 * - Crash consistency: the store's writes are journaled while torrents are added and removed, and while
 *   a former-format store is migrated; a restore from every prefix of that journal (a kill after any
 *   write: each write is atomic, and the packed store keeps their order) brings back a consistent set —
 *   nothing fails, a torrent never comes back once its removal was listed, membership only grows along
 *   an add and only shrinks along a remove, and the records of torrents not restored are deleted.
 */
import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../../adapters/memory/memory-filesystem.js'
import { MemorySessionStore } from '../../../adapters/memory/memory-session-store.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { createMemoryEngine } from '../../../presets/memory.js'
import type { BtEngine } from '../../../src/session/bt-engine.js'
import { ENGINE_LISTING_KEY, ENGINE_TORRENTS_KEY, encodeTorrentList, parseListedKey } from '../../../src/session/resume-data.js'
import { SwarmWorld, SyncHasher, makeTorrent, payload, writeFile } from '../../swarm/swarm-world.js'

/** Remembers every write, in order, after `record()`. */
class JournalStore extends MemorySessionStore {
  journal: Array<[string, Uint8Array | null]> | null = null
  override async set (key: string, value: Uint8Array): Promise<void> {
    this.journal?.push([key, new Uint8Array(value)])
    await super.set(key, value)
  }

  override async delete (key: string): Promise<void> {
    this.journal?.push([key, null])
    await super.delete(key)
  }

  async snapshot (): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>()
    for (const key of await this.keys()) out.set(key, (await this.get(key))!)
    return out
  }
}

/** The store as a kill after the first `n` journaled writes left it. */
async function storeAt (base: ReadonlyMap<string, Uint8Array>, journal: ReadonlyArray<[string, Uint8Array | null]>, n: number): Promise<MemorySessionStore> {
  const store = new MemorySessionStore()
  for (const [key, value] of base) await store.set(key, value)
  for (const [key, value] of journal.slice(0, n)) {
    if (value === null) await store.delete(key)
    else await store.set(key, value)
  }
  return store
}

async function setUp (world: SwarmWorld, n: number): Promise<{ fs: MemoryFileSystem, torrents: Uint8Array[] }> {
  const fs = new MemoryFileSystem({ clock: world.clock })
  const torrents: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const data = payload(4096, i + 1)
    await writeFile(fs, `t${i}.bin`, data)
    torrents.push(makeTorrent(`t${i}.bin`, data, 16_384))
  }
  return { fs, torrents }
}

function engineOn (world: SwarmWorld, fs: MemoryFileSystem, store: MemorySessionStore): BtEngine {
  return createMemoryEngine({ socketFactory: world.network.host('10.0.0.1'), clock: world.clock, fs, hasher: new SyncHasher(), sessionStore: store, random: seededRandom(5) })
}

/** Restores an engine from `store`; the ids it restored (all seeding), then closes it. */
async function restoredIds (world: SwarmWorld, fs: MemoryFileSystem, store: MemorySessionStore, label: string): Promise<string[]> {
  const engine = engineOn(world, fs, store)
  const { restored, failed } = await engine.restoreSession()
  expect(failed.map((f) => `${f.id}: ${f.error.message}`), label).toEqual([])
  // Settled: seeding, or (a kill after a save taken mid-check: its bitfield names no piece yet, and
  // the file's stamp matches) downloading what the record does not claim.
  const settled = (): boolean => restored.every((t) => t.state === 'seeding' || t.state === 'downloading')
  expect(await world.clock.runUntil(settled, 10_000), `${label}: ${restored.map((t) => t.state).join(' ')}`).toBe(true)
  const ids = engine.torrents.map((t) => t.id)
  await engine.close()
  return ids
}

/** Ids with any record in `store`. */
async function idsWithRecords (store: MemorySessionStore): Promise<Set<string>> {
  return new Set((await store.keys('torrent:')).map((k) => k.split(':')[1]!))
}

describe('the torrent listing', () => {
  it('restores a store in the former format (one list record) in its order, and migrates it', async () => {
    const world = new SwarmWorld(71)
    const { fs, torrents } = await setUp(world, 5)
    const store = new JournalStore()
    const first = engineOn(world, fs, store)
    const added = await Promise.all(torrents.map(async (t) => first.addTorrent(t)))
    expect(await world.clock.runUntil(() => added.every((t) => t.state === 'seeding'), 10_000)).toBe(true)
    await first.close()
    // The store as the former format wrote it: the same records, one list naming every torrent, no listed keys.
    const order = added.map((t) => t.id).reverse()
    for (const key of await store.keys()) if (key === ENGINE_LISTING_KEY || parseListedKey(key) !== null) await store.delete(key)
    await store.set(ENGINE_TORRENTS_KEY, encodeTorrentList(order))
    const former = await store.snapshot()

    store.journal = []
    expect(await restoredIds(world, fs, store, 'migrating restore')).toEqual(order)
    expect(await store.get(ENGINE_TORRENTS_KEY)).toBeNull()
    expect(await store.get(ENGINE_LISTING_KEY)).not.toBeNull()
    const listed = (await store.keys('torrent:')).map(parseListedKey).filter((e) => e !== null)
    expect(listed.sort((a, b) => a.seq - b.seq).map((e) => e.id)).toEqual(order)
    expect(await restoredIds(world, fs, store, 'restore after migration')).toEqual(order)

    // A kill after any write of the migration: every torrent, in the list's order.
    const journal = store.journal
    expect(journal.length).toBeGreaterThan(order.length)
    for (let n = 0; n <= journal.length; n++) {
      const crashed = await storeAt(former, journal, n)
      expect(await restoredIds(world, fs, crashed, `killed after ${n} writes`)).toEqual(order)
    }
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a kill after any write while torrents are added and removed restores a consistent set, and deletes the leftovers', async () => {
    const world = new SwarmWorld(72)
    const { fs, torrents } = await setUp(world, 6)
    const store = new JournalStore()
    const engine = engineOn(world, fs, store)
    const kept = await Promise.all(torrents.slice(0, 3).map(async (t) => engine.addTorrent(t)))
    expect(await world.clock.runUntil(() => kept.every((t) => t.state === 'seeding'), 10_000)).toBe(true)
    await engine.saveState()
    const base = await store.snapshot()
    store.journal = []
    // Two adds at once, a remove while they are stored, then one more add.
    const adding = [engine.addTorrent(torrents[3]!), engine.addTorrent(torrents[4]!)]
    const removed = kept[1]!.id
    await engine.removeTorrent(removed)
    const added = [...await Promise.all(adding), await engine.addTorrent(torrents[5]!)]
    expect(await world.clock.runUntil(() => added.every((t) => t.state === 'seeding'), 10_000)).toBe(true)
    await engine.close()
    const journal = store.journal
    const everyId = [...kept, ...added].map((t) => t.id)

    let previous = new Set(kept.map((t) => t.id))
    for (let n = 0; n <= journal.length; n++) {
      const label = `killed after ${n} of ${journal.length} writes`
      const crashed = await storeAt(base, journal, n)
      const ids = await restoredIds(world, fs, crashed, label)
      const now = new Set(ids)
      for (const id of ids) expect(everyId, label).toContain(id)
      for (const t of kept) if (t.id !== removed) expect(now.has(t.id), `${label}: kept ${t.id}`).toBe(true)
      // Monotone: an added torrent once back stays back; the removed one once gone stays gone.
      for (const id of previous) if (id !== removed) expect(now.has(id), `${label}: ${id} came back before, not now`).toBe(true)
      if (!previous.has(removed)) expect(now.has(removed), `${label}: the removed torrent came back`).toBe(false)
      // Records of torrents not restored were deleted by the restore.
      expect([...await idsWithRecords(crashed)].filter((id) => !now.has(id)), label).toEqual([])
      previous = now
    }
    expect(previous).toEqual(new Set(everyId.filter((id) => id !== removed)))
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
