/**
 * Resume data on the in-memory adapters (MemoryFileSystem, MemorySessionStore, ManualClock): the
 * same core code as on Node. A leecher closed half-way through is restored by a new engine over the
 * same files and store: it trusts the saved pieces (no piece hashed), finishes, and nothing
 * (timers, sockets, handles) is left behind — the periodic save timer included.
 */
import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../adapters/memory/memory-filesystem.js'
import { MemorySessionStore } from '../../adapters/memory/memory-session-store.js'
import { createMemoryEngine } from '../../presets/memory.js'
import type { BtEngine } from '../../src/session/bt-engine.js'
import { decodeBitfieldRecord, decodeProgressRecord, resumeKeys } from '../../src/session/resume-data.js'
import type { HashAlgorithm } from '../../src/interfaces/hasher.js'
import { seededRandom } from '../../src/interfaces/random.js'
import { buildMagnet } from '../../src/metainfo/magnet.js'
import { parseTorrent } from '../../src/metainfo/parse-torrent.js'
import { SwarmWorld, SyncHasher, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

class CountingHasher extends SyncHasher {
  pieceHashes = 0
  override async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    const n = data instanceof Uint8Array ? data.length : data.reduce((a, d) => a + d.length, 0)
    if (n >= 4096) this.pieceHashes++
    return super.digest(algorithm, data)
  }
}

describe('session resume in memory', () => {
  it('a leecher closed mid-download is restored without hashing and completes; no timers left', async () => {
    const world = new SwarmWorld(11, { latencyMs: 5 })
    // The last piece is short but above CountingHasher's 4 KiB floor, so every piece hash is counted.
    const data = payload(320 * 1024 + 5_000, 5)
    const torrent = makeTorrent('m.bin', data, 16 * 1024)
    const meta = await parseTorrent(torrent)
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'm.bin', data)
    const s = await seed.engine.addTorrent(torrent)
    await world.clock.runUntil(() => s.state === 'seeding', 10_000)

    const fs = new MemoryFileSystem({ clock: world.clock })
    const store = new MemorySessionStore()
    // The first leecher is throttled so it can be closed half-way; the second is not.
    const make = (address: string, hasher: CountingHasher, downloadBytesPerSec?: number): BtEngine => createMemoryEngine({
      socketFactory: world.network.host(address, downloadBytesPerSec !== undefined ? { downloadBytesPerSec } : {}),
      clock: world.clock,
      fs,
      hasher,
      sessionStore: store,
      random: seededRandom(3),
      settings: { session: { saveIntervalMs: 5_000, bitfieldSaveDelayMs: 500 } }
    })

    const first = make('10.0.0.2', new CountingHasher(), 100_000)
    const t = await first.addTorrent(torrent, { peers: ['10.0.0.1:6881'] })
    await world.clock.runUntil(() => t.stats().havePieces >= meta.pieceCount / 2, 60_000)
    // A debounced save lands without any explicit call.
    await world.clock.advanceAsync(600)
    const key = resumeKeys(meta.id)
    const saved = decodeBitfieldRecord((await store.get(key.bitfield))!, key.bitfield, meta.pieceCount, meta.files.length)
    expect(saved.pieces.count).toBeGreaterThan(0)
    await first.close()
    const have = t.stats().havePieces
    expect(have).toBeLessThan(meta.pieceCount)
    const progress = decodeProgressRecord((await store.get(key.progress))!, key.progress)
    expect(progress.intent).toBe('running')
    expect(progress.downloadedBytes).toBeGreaterThan(0)

    const hasher = new CountingHasher()
    const second = make('10.0.0.3', hasher)
    const { restored } = await second.restoreSession()
    const r = restored[0]!
    await world.clock.runUntil(() => r.state === 'downloading' || r.state === 'seeding', 10_000)
    expect(hasher.pieceHashes).toBe(0)
    expect(r.stats().havePieces).toBe(have)
    expect(r.knownPeerAddresses()).toContain('10.0.0.1:6881')
    await world.clock.runUntil(() => r.isComplete, 60_000)
    expect(hasher.pieceHashes).toBe(meta.pieceCount - have)
    expect(await readFile(fs, 'm.bin')).toEqual(data)
    await world.clock.advanceAsync(1_000)
    const finalProgress = decodeProgressRecord((await store.get(key.progress))!, key.progress)
    expect(finalProgress.completedAtMs).not.toBeNull()
    // Totals carry over across the restart.
    expect(finalProgress.downloadedBytes).toBeGreaterThanOrEqual(data.length)

    await second.close()
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
    expect(fs.openHandleCount).toBe(0)
  })

  it('a magnet still fetching its metadata is saved as its URI and restored in state metadata; it goes on fetching and completes', async () => {
    const world = new SwarmWorld(12, { latencyMs: 5 })
    const data = payload(200_000, 7)
    const torrent = makeTorrent('g.bin', data, 16 * 1024)
    const meta = await parseTorrent(torrent)
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'g.bin', data)
    const s = await seed.engine.addTorrent(torrent)
    await world.clock.runUntil(() => s.state === 'seeding', 10_000)

    const fs = new MemoryFileSystem({ clock: world.clock })
    const store = new MemorySessionStore()
    const make = (address: string): BtEngine => createMemoryEngine({
      socketFactory: world.network.host(address),
      clock: world.clock,
      fs,
      hasher: new SyncHasher(),
      sessionStore: store,
      random: seededRandom(4),
      settings: { session: { saveIntervalMs: 5_000, bitfieldSaveDelayMs: 500 } }
    })
    // No peer and no tracker: the magnet stays in the metadata phase.
    const magnet = buildMagnet({ infoHashV1: meta.infoHashV1, displayName: 'g.bin' })
    const first = make('10.0.0.2')
    const t = await first.addTorrent(magnet)
    await world.clock.runUntil(() => t.state === 'metadata', 5_000)
    expect(t.state).toBe('metadata')
    await first.close()
    const key = resumeKeys(meta.id)
    expect(await store.get(key.magnet)).not.toBeNull()
    expect(await store.get(key.metadata)).toBeNull()
    expect(decodeProgressRecord((await store.get(key.progress))!, key.progress).intent).toBe('running')

    const second = make('10.0.0.3')
    const { restored, failed } = await second.restoreSession()
    expect(failed).toEqual([])
    const r = restored[0]!
    expect(r.id).toBe(meta.id)
    expect(r.name).toBe('g.bin')
    await world.clock.runUntil(() => r.state === 'metadata', 5_000)
    expect(r.state).toBe('metadata')
    expect(r.hasMetadata).toBe(false)
    // It is still fetching: a peer that has the metadata serves it, then the data.
    r.addPeer('10.0.0.1:6881')
    expect(await world.clock.runUntil(() => r.state === 'seeding', 120_000)).toBe(true)
    expect(await readFile(fs, 'g.bin')).toEqual(data)
    await world.clock.advanceAsync(1_000)
    // Now a torrent like any other: its .torrent is stored and the magnet record is gone.
    expect(await store.get(key.metadata)).not.toBeNull()
    expect(await store.get(key.magnet)).toBeNull()
    await second.close()

    // Paused while fetching metadata: restored paused (no connections), resumed it fetches again.
    await store.delete(key.metadata)
    await store.delete(key.bitfield)
    const third = make('10.0.0.4')
    const m = await third.addTorrent(magnet)
    await world.clock.runUntil(() => m.state === 'metadata', 5_000)
    m.pause()
    await third.close()
    expect(await store.get(key.magnet)).not.toBeNull()
    const fourth = make('10.0.0.5')
    const p = (await fourth.restoreSession()).restored[0]!
    await world.clock.runUntil(() => p.state === 'paused', 5_000)
    expect(p.state).toBe('paused')
    p.addPeer('10.0.0.1:6881')
    await world.clock.advanceAsync(2_000)
    expect(p.hasMetadata).toBe(false)
    p.resume()
    expect(await world.clock.runUntil(() => p.state === 'seeding', 120_000)).toBe(true)

    await fourth.close()
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
    expect(fs.openHandleCount).toBe(0)
  })
})
