import { describe, expect, it } from 'vitest'
import { buildMagnet } from '../../src/metainfo/magnet.js'
import { parseTorrent } from '../../src/metainfo/parse-torrent.js'
import { SwarmWorld, SyncHasher, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

describe('swarm: magnet link (BEP 9)', () => {
  it('a magnet-only node fetches the metadata from a Lodestone seed and completes byte-identical', async () => {
    const world = new SwarmWorld(21)
    const data = payload(200_000, 5)
    const torrentBytes = makeTorrent('file.bin', data, 16_384)
    const meta = await parseTorrent(torrentBytes, { hasher: new SyncHasher() })
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'file.bin', data)
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)

    const leech = world.addNode('10.0.0.2')
    const magnet = buildMagnet({ infoHashV1: meta.infoHashV1, displayName: 'file.bin', peers: [{ host: '10.0.0.1', port: 6881 }] })
    const states: string[] = []
    leech.engine.on('torrent-added', ({ torrent }) => { torrent.on('state-changed', ({ to }) => states.push(to)) })
    const t = await leech.engine.addTorrent(magnet)
    expect(t.id).toBe(meta.id)
    expect(t.hasMetadata).toBe(false)
    expect(t.name).toBe('file.bin')
    expect(() => t.meta).toThrow(expect.objectContaining({ code: 'METADATA_PENDING' }))
    expect(t.stats().pieceCount).toBe(0)
    let metadataEvents = 0
    t.on('metadata', ({ meta: m }) => {
      metadataEvents++
      expect(m.id).toBe(meta.id)
    })
    const ok = await world.clock.runUntil(() => t.state === 'seeding', 120_000)
    expect(ok).toBe(true)
    expect(metadataEvents).toBe(1)
    expect(t.hasMetadata).toBe(true)
    expect(t.meta.pieceCount).toBe(meta.pieceCount)
    expect(states).toEqual(['starting', 'metadata', 'hashing', 'downloading', 'seeding'])
    expect(Buffer.compare(await readFile(leech.fs, 'file.bin'), data)).toBe(0)

    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('downloadMetadata returns a complete .torrent with the same info hash and leaves nothing open', async () => {
    const world = new SwarmWorld(22)
    // 2 MB in 1000-byte pieces: 2000 piece hashes → a 40 KB info dict, 3 metadata pieces. The
    // serving node has no data at all: metadata is served by any node that has the metainfo.
    const data = payload(2_000_000, 6)
    const torrentBytes = makeTorrent('big.bin', data, 1_000)
    const meta = await parseTorrent(torrentBytes, { hasher: new SyncHasher() })
    expect(meta.infoBytes.length).toBeGreaterThan(2 * 16_384)
    const seed = world.addNode('10.0.0.1')
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'downloading', 10_000)

    const other = world.addNode('10.0.0.3')
    const magnet = buildMagnet({ infoHashV1: meta.infoHashV1, trackers: ['http://127.0.0.1:1/announce'], peers: [{ host: '10.0.0.1', port: 6881 }] })
    let result: Uint8Array | null = null
    const pending = other.engine.downloadMetadata(magnet, { timeoutMs: 60_000 }).then((r) => { result = r })
    await world.clock.runUntil(() => result !== null, 60_000)
    await pending
    const parsed = await parseTorrent(result!, { hasher: new SyncHasher() })
    expect(parsed.id).toBe(meta.id)
    expect(parsed.announce).toEqual([['http://127.0.0.1:1/announce']])
    expect(other.engine.torrents).toHaveLength(0)
    expect(other.engine.stats().connections.connections).toBe(0)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('metadata phase: pause, resume, stop and start again; a peer added later serves it; nothing leaks', async () => {
    const world = new SwarmWorld(24)
    const data = payload(100_000, 8)
    const torrentBytes = makeTorrent('late.bin', data, 16_384)
    const meta = await parseTorrent(torrentBytes, { hasher: new SyncHasher() })
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'late.bin', data)
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)

    const leech = world.addNode('10.0.0.2')
    // x.pe points nowhere: the torrent waits in `metadata`.
    const t = await leech.engine.addTorrent(buildMagnet({ infoHashV1: meta.infoHashV1, peers: [{ host: '10.0.0.77', port: 6881 }] }))
    await world.clock.runUntil(() => t.state === 'metadata', 5_000)
    await world.clock.advanceAsync(3_000)
    expect(t.state).toBe('metadata')
    expect(t.stats()).toMatchObject({ state: 'metadata', progress: 0, pieceCount: 0 })
    expect(t.bitfield().length).toBe(0)
    expect(t.isComplete).toBe(false)
    await expect(t.recheck()).rejects.toMatchObject({ code: 'ILLEGAL_TRANSITION' })
    t.pause()
    expect(t.state).toBe('paused')
    t.resume()
    await world.clock.runUntil(() => t.state === 'metadata', 5_000)
    await t.stop()
    expect(t.state).toBe('stopped')
    // Only dials to the dead x.pe address may still be in flight (closed on arrival).
    const { connections, halfOpen } = leech.engine.stats().connections
    expect(connections).toBe(halfOpen)
    void t.start()
    await world.clock.runUntil(() => t.state === 'metadata', 5_000)
    t.addPeer('10.0.0.1:6881')
    const ok = await world.clock.runUntil(() => t.state === 'seeding', 120_000)
    expect(ok).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'late.bin'), data)).toBe(0)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('downloadMetadata stops with ABORTED when its signal fires, and with CLOSED when the engine closes', async () => {
    const world = new SwarmWorld(25)
    const node = world.addNode('10.0.0.5')
    const magnet = buildMagnet({ infoHashV1: new Uint8Array(20).fill(9), peers: [{ host: '10.0.0.9', port: 6881 }] })
    const controller = new AbortController()
    let aborted: unknown = null
    const first = node.engine.downloadMetadata(magnet, { signal: controller.signal }).catch((e: unknown) => { aborted = e })
    await world.clock.advanceAsync(1_000)
    controller.abort()
    await world.clock.runUntil(() => aborted !== null, 5_000)
    await first
    expect(aborted).toMatchObject({ code: 'ABORTED' })
    let closed: unknown = null
    const second = node.engine.downloadMetadata(magnet).catch((e: unknown) => { closed = e })
    await world.clock.advanceAsync(1_000)
    await world.close()
    await second
    expect(closed).toMatchObject({ code: 'CLOSED' })
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('downloadMetadata times out with METADATA_TIMEOUT when no peer has it', async () => {
    const world = new SwarmWorld(23)
    const node = world.addNode('10.0.0.4')
    const magnet = buildMagnet({ infoHashV1: new Uint8Array(20).fill(7), peers: [{ host: '10.0.0.9', port: 6881 }] })
    let error: unknown = null
    const pending = node.engine.downloadMetadata(magnet, { timeoutMs: 5_000 }).catch((e: unknown) => { error = e })
    await world.clock.runUntil(() => error !== null, 30_000)
    await pending
    expect(error).toMatchObject({ code: 'METADATA_TIMEOUT' })
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
