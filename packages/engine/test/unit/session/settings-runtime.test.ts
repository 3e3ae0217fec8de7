/**
 * Settings changed at run time reach what they govern (DESIGN rule 9): global and per-torrent
 * rate limits, global and per-torrent connection limits; and every refusal names its key.
 * Virtual time (SwarmWorld + ManualClock), so rates are exact enough to compare at ±10 %.
 */
import { describe, expect, it } from 'vitest'
import { resolveTorrentSettings } from '../../../src/session/engine-settings.js'
import type { Torrent } from '../../../src/torrent/torrent.js'
import { hasCode } from '../../../src/errors.js'
import { SwarmWorld, makeTorrent, payload, writeFile } from '../../swarm/swarm-world.js'

const PIECE = 32_768
const KiB = 1024

function keyOf (fn: () => unknown): string | undefined {
  try { fn() } catch (err) { if (hasCode(err, 'SETTINGS_INVALID')) return err.details.key; throw err }
  return undefined
}

/** Average upload rate of `t` over `ms` of virtual time. */
async function uploadRate (world: SwarmWorld, t: Torrent, ms: number): Promise<number> {
  const before = t.stats().uploadedBytes
  await world.clock.runUntil(() => false, ms)
  return (t.stats().uploadedBytes - before) / (ms / 1000)
}

async function seedAndLeech (seed: number, seedSettings: Parameters<SwarmWorld['addNode']>[1] = {}, torrentSettings = {}) {
  const world = new SwarmWorld(seed)
  const data = payload(128 * PIECE, seed) // 4 MiB
  const bytes = makeTorrent('f.bin', data, PIECE)
  const seedNode = world.addNode('10.0.0.1', seedSettings)
  await writeFile(seedNode.fs, 'f.bin', data)
  const s = await seedNode.engine.addTorrent(bytes, { settings: torrentSettings })
  await world.clock.runUntil(() => s.state === 'seeding', 10_000)
  const leech = world.addNode('10.0.0.2')
  const t = await leech.engine.addTorrent(bytes, { peers: ['10.0.0.1:6881'] })
  return { world, seedNode, s, leech, t }
}

describe('settings: validation names the key', () => {
  it('for engine sections, per-torrent overrides and setRateLimits, and changes nothing on refusal', async () => {
    expect(keyOf(() => resolveTorrentSettings({ uploadRateBytesPerSec: -1 }))).toBe('torrent.uploadRateBytesPerSec')
    expect(keyOf(() => resolveTorrentSettings({ downloadRateBytesPerSec: 1.5 }))).toBe('torrent.downloadRateBytesPerSec')
    const { world, seedNode, s } = await seedAndLeech(51)
    expect(keyOf(() => { seedNode.engine.updateSettings({ rateLimit: { uploadRateBytesPerSec: -5 } }) })).toBe('rateLimit.uploadRateBytesPerSec')
    expect(keyOf(() => { seedNode.engine.updateSettings({ connection: { maxConnections: 0 } }) })).toBe('connection.maxConnections')
    expect(keyOf(() => { seedNode.engine.updateSettings({ rateLimit: { uploadRateBytesPerSec: 1000 }, connection: { maxHalfOpen: -1 } }) })).toBe('connection.maxHalfOpen')
    // The refused patch changed nothing, not even its valid part.
    expect(seedNode.engine.settings.rateLimit.uploadRateBytesPerSec).toBe(0)
    expect(keyOf(() => { s.setRateLimits({ downloadRateBytesPerSec: -1 }) })).toBe('torrent.downloadRateBytesPerSec')
    expect(keyOf(() => { s.setOverrides({ maxConnections: 0 }) })).toBe('torrent.maxConnections')
    expect(keyOf(() => { seedNode.engine.updateSettings({ alerts: { categoryMask: 4096 } }) })).toBe('alerts.categoryMask')
    await world.close()
  })
})

describe('settings: rate limits at run time (virtual time)', () => {
  it('a global upload limit changed at run time takes effect', async () => {
    const { world, seedNode, s, t } = await seedAndLeech(52, { settings: { rateLimit: { uploadRateBytesPerSec: 64 * KiB } } })
    await world.clock.runUntil(() => false, 3_000)
    const first = await uploadRate(world, s, 8_000)
    expect(first / (64 * KiB)).toBeGreaterThan(0.9)
    expect(first / (64 * KiB)).toBeLessThan(1.1)
    seedNode.engine.updateSettings({ rateLimit: { uploadRateBytesPerSec: 128 * KiB } })
    await world.clock.runUntil(() => false, 2_000)
    const second = await uploadRate(world, s, 8_000)
    expect(second / (128 * KiB)).toBeGreaterThan(0.9)
    expect(second / (128 * KiB)).toBeLessThan(1.1)
    // Lifting it lets the rest through at once.
    seedNode.engine.updateSettings({ rateLimit: { uploadRateBytesPerSec: 0 } })
    expect(await world.clock.runUntil(() => t.state === 'seeding', 5_000)).toBe(true)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a per-torrent upload limit from addTorrent settings, changed by setOverrides and setRateLimits, takes effect', async () => {
    const { world, s, t } = await seedAndLeech(53, {}, { uploadRateBytesPerSec: 64 * KiB })
    await world.clock.runUntil(() => false, 3_000)
    const first = await uploadRate(world, s, 8_000)
    expect(first / (64 * KiB)).toBeGreaterThan(0.9)
    expect(first / (64 * KiB)).toBeLessThan(1.1)
    s.setOverrides({ uploadRateBytesPerSec: 32 * KiB })
    await world.clock.runUntil(() => false, 2_000)
    const second = await uploadRate(world, s, 8_000)
    expect(second / (32 * KiB)).toBeGreaterThan(0.9)
    expect(second / (32 * KiB)).toBeLessThan(1.1)
    s.setRateLimits({ uploadRateBytesPerSec: 0 })
    expect(await world.clock.runUntil(() => t.state === 'seeding', 5_000)).toBe(true)
    await world.close()
  })
})

describe('settings: connection limits at run time', () => {
  it('raising the global and the per-torrent connection caps lets more peers connect', async () => {
    const world = new SwarmWorld(54)
    const data = payload(64 * PIECE, 54)
    const bytes = makeTorrent('f.bin', data, PIECE)
    const hosts = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']
    for (const host of hosts) {
      const node = world.addNode(host, { settings: { rateLimit: { uploadRateBytesPerSec: 4 * KiB } } })
      await writeFile(node.fs, 'f.bin', data)
      const seeded = await node.engine.addTorrent(bytes)
      await world.clock.runUntil(() => seeded.state === 'seeding', 10_000)
    }
    const leech = world.addNode('10.0.1.1', { settings: { connection: { maxConnections: 1 } } })
    const t = await leech.engine.addTorrent(bytes, { peers: hosts.map((h) => `${h}:6881`), settings: { maxConnections: 2 } })
    await world.clock.runUntil(() => false, 5_000)
    expect(t.stats().peers).toBe(1)
    // Global cap raised: the torrent's own cap (2) now binds.
    leech.engine.updateSettings({ connection: { maxConnections: 100 } })
    await world.clock.runUntil(() => false, 5_000)
    expect(t.stats().peers).toBe(2)
    // Per-torrent cap lifted at run time: up to the engine's per-torrent default.
    t.setOverrides({})
    await world.clock.runUntil(() => false, 5_000)
    expect(t.stats().peers).toBe(4)
    // And the engine's per-torrent default itself.
    const leech2 = world.addNode('10.0.1.2', { settings: { connection: { maxConnectionsPerTorrent: 1 } } })
    const t2 = await leech2.engine.addTorrent(bytes, { peers: hosts.map((h) => `${h}:6881`) })
    await world.clock.runUntil(() => false, 5_000)
    expect(t2.stats().peers).toBe(1)
    leech2.engine.updateSettings({ connection: { maxConnectionsPerTorrent: 3 } })
    await world.clock.runUntil(() => false, 5_000)
    expect(t2.stats().peers).toBe(3)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})

describe('settings: storage.maxOpenFiles is one budget for the whole engine', () => {
  it('bounds the open files of every torrent together, and a lower value applies at once', async () => {
    const world = new SwarmWorld(57)
    const seedNode = world.addNode('10.0.0.1', { settings: { storage: { maxOpenFiles: 8 } } })
    const leech = world.addNode('10.0.0.2')
    const files = [0, 1, 2].map((i) => ({ name: `s${i}.bin`, data: payload(4 * PIECE, 570 + i) }))
    const seeds: Torrent[] = []
    const leeches: Torrent[] = []
    for (const f of files) {
      await writeFile(seedNode.fs, f.name, f.data)
      const bytes = makeTorrent(f.name, f.data, PIECE)
      seeds.push(await seedNode.engine.addTorrent(bytes))
      await world.clock.runUntil(() => seeds.at(-1)?.state === 'seeding', 10_000)
      leeches.push(await leech.engine.addTorrent(bytes, { peers: ['10.0.0.1:6881'] }))
    }
    expect(await world.clock.runUntil(() => leeches.every((t) => t.state === 'seeding'), 30_000)).toBe(true)
    // Serving reads left one handle per seeding torrent open: within the budget of 8.
    expect(seedNode.fs.openHandleCount).toBe(3)
    // A stopped torrent keeps none of the budget.
    await seeds[2]!.stop()
    expect(seedNode.fs.openHandleCount).toBe(2)
    seedNode.engine.updateSettings({ storage: { maxOpenFiles: 1 } })
    await world.clock.runUntil(() => false, 100)
    expect(seedNode.fs.openHandleCount).toBe(1)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
