/**
 * BEP 52 on the wire: a pure v2 torrent added from a `urn:btmh:` magnet fetches its metadata
 * (BEP 9, no piece layers), then its piece layers with hash requests (state fetching-hashes),
 * checks each against its file's pieces root, and downloads, verifying pieces by them.
 */
import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../adapters/memory/memory-filesystem.js'
import { MemorySessionStore } from '../../adapters/memory/memory-session-store.js'
import { createMemoryEngine } from '../../presets/memory.js'
import { seededRandom } from '../../src/interfaces/random.js'
import { buildTorrentFile } from '../../src/metainfo/build-torrent-file.js'
import { createTorrent } from '../../src/metainfo/create-torrent.js'
import { buildMagnet } from '../../src/metainfo/magnet.js'
import { parseTorrent } from '../../src/metainfo/parse-torrent.js'
import { resumeKeys } from '../../src/session/resume-data.js'
import { SwarmWorld, SyncHasher, payload, readFile, writeFile } from './swarm-world.js'

// 16 KiB pieces: c.bin has 521 pieces, so its layer comes in two requests (512 + a 16-hash tail with uncles).
const FILES: Array<[string, number]> = [['content/a.bin', 100_000], ['content/b.bin', 9_000], ['content/c.bin', 16_384 * 520 + 5]]

describe('swarm: v2 magnet (BEP 52 hash requests)', () => {
  it('a urn:btmh: magnet fetches metadata, then piece layers over the wire, then the data byte-identical', async () => {
    const world = new SwarmWorld(52)
    const seed = world.addNode('10.0.0.1')
    for (const [i, [path, length]] of FILES.entries()) await writeFile(seed.fs, path, payload(length, i + 1))
    const created = await createTorrent('content', { kind: 'v2', pieceLengthBytes: 16_384 }, { fs: seed.fs, hasher: new SyncHasher() })
    const meta = await parseTorrent(created.torrent)
    expect(meta.version).toBe('v2')
    const s = await seed.engine.addTorrent(created.torrent)
    await world.clock.runUntil(() => s.state === 'seeding', 30_000)
    expect(s.state).toBe('seeding')

    const leech = world.addNode('10.0.0.2')
    const magnet = buildMagnet({ infoHashV2: meta.infoHashV2, peers: [{ host: '10.0.0.1', port: 6881 }] })
    expect(magnet).toContain('xt=urn:btmh:1220')
    expect(magnet).not.toContain('urn:btih:')
    const t = await leech.engine.addTorrent(magnet)
    const states: string[] = []
    t.on('state-changed', ({ to }) => { states.push(to) })
    expect(await world.clock.runUntil(() => t.state === 'seeding', 300_000)).toBe(true)
    expect(states).toContain('fetching-hashes')
    expect(states.indexOf('fetching-hashes')).toBeLessThan(states.indexOf('downloading'))
    // The fetched layers are the creator's, byte for byte (a.bin and c.bin are larger than a piece).
    const got = t.meta.pieceLayers
    expect([...got.keys()].sort()).toEqual([...meta.pieceLayers.keys()].sort())
    for (const [root, layer] of meta.pieceLayers) expect(Buffer.compare(got.get(root)!, layer), root).toBe(0)
    for (const [i, [path, length]] of FILES.entries()) {
      expect(Buffer.compare(await readFile(leech.fs, path), payload(length, i + 1)), path).toBe(0)
    }
    expect(t.stats().hashFailures).toBe(0)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a hybrid from a magnet does not wait for piece layers: it verifies by its v1 hashes', async () => {
    const world = new SwarmWorld(55)
    const seed = world.addNode('10.0.0.1')
    for (const [i, [path, length]] of FILES.entries()) await writeFile(seed.fs, path, payload(length, i + 1))
    const created = await createTorrent('content', { kind: 'hybrid', pieceLengthBytes: 16_384 }, { fs: seed.fs, hasher: new SyncHasher() })
    const meta = await parseTorrent(created.torrent)
    const s = await seed.engine.addTorrent(created.torrent)
    await world.clock.runUntil(() => s.state === 'seeding', 30_000)
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(buildMagnet({ infoHashV1: meta.infoHashV1, peers: [{ host: '10.0.0.1', port: 6881 }] }))
    const states: string[] = []
    t.on('state-changed', ({ to }) => { states.push(to) })
    expect(await world.clock.runUntil(() => t.state === 'seeding', 300_000)).toBe(true)
    expect(states).not.toContain('fetching-hashes')
    expect(t.meta.pieceLayers.size).toBe(0)
    for (const [i, [path, length]] of FILES.entries()) {
      expect(Buffer.compare(await readFile(leech.fs, path), payload(length, i + 1)), path).toBe(0)
    }
    await world.close()
  })

  it('keeps the fetched layers in its resume data: a restored engine downloads without fetching them again', async () => {
    const world = new SwarmWorld(53, { latencyMs: 5 })
    const seed = world.addNode('10.0.0.1')
    for (const [i, [path, length]] of FILES.entries()) await writeFile(seed.fs, path, payload(length, i + 1))
    const created = await createTorrent('content', { kind: 'v2', pieceLengthBytes: 16_384 }, { fs: seed.fs, hasher: new SyncHasher() })
    const meta = await parseTorrent(created.torrent)
    const s = await seed.engine.addTorrent(created.torrent)
    await world.clock.runUntil(() => s.state === 'seeding', 30_000)

    const fs = new MemoryFileSystem({ clock: world.clock })
    const store = new MemorySessionStore()
    const make = (address: string, downloadBytesPerSec?: number) => createMemoryEngine({
      socketFactory: world.network.host(address, downloadBytesPerSec !== undefined ? { downloadBytesPerSec } : {}),
      clock: world.clock,
      fs,
      hasher: new SyncHasher(),
      sessionStore: store,
      random: seededRandom(4),
      settings: { session: { saveIntervalMs: 5_000, bitfieldSaveDelayMs: 500 } }
    })
    const first = make('10.0.0.2', 400_000)
    const t = await first.addTorrent(buildMagnet({ infoHashV2: meta.infoHashV2, peers: [{ host: '10.0.0.1', port: 6881 }] }))
    await world.clock.runUntil(() => t.state === 'downloading' && t.stats().havePieces > 20, 120_000)
    expect(t.state).toBe('downloading')
    await world.clock.advanceAsync(600)
    await first.close()
    // What is stored parses as a complete v2 torrent: its piece layers are in it.
    const stored = (await store.get(resumeKeys(meta.id).metadata))!
    const reloaded = await parseTorrent(stored)
    expect([...reloaded.pieceLayers.keys()].sort()).toEqual([...meta.pieceLayers.keys()].sort())

    const second = make('10.0.0.3')
    const { restored } = await second.restoreSession()
    const r = restored[0]!
    const states: string[] = []
    r.on('state-changed', ({ to }) => { states.push(to) })
    expect(await world.clock.runUntil(() => r.isComplete, 300_000)).toBe(true)
    expect(states).not.toContain('fetching-hashes')
    for (const [i, [path, length]] of FILES.entries()) {
      expect(Buffer.compare(await readFile(fs, path), payload(length, i + 1)), path).toBe(0)
    }
    await second.close()
    await world.close()
  })

  it('resume data of a v2 magnet saved before its layers arrived loads only when the caller fetches them', async () => {
    const world = new SwarmWorld(54)
    const seed = world.addNode('10.0.0.1')
    for (const [i, [path, length]] of FILES.entries()) await writeFile(seed.fs, path, payload(length, i + 1))
    const created = await createTorrent('content', { kind: 'v2', pieceLengthBytes: 16_384 }, { fs: seed.fs, hasher: new SyncHasher() })
    const meta = await parseTorrent(created.torrent)
    const bare = buildTorrentFile(meta.infoBytes)
    await expect(parseTorrent(bare)).rejects.toMatchObject({ code: 'METAINFO_INCONSISTENT' })
    const partial = await parseTorrent(bare, { allowMissingPieceLayers: true })
    expect(partial.id).toBe(meta.id)
    expect(partial.pieceLayers.size).toBe(0)
    await world.close()
  })
})
