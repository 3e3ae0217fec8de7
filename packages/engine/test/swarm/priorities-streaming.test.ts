/**
 * Issue 5 in a swarm (in-memory network, ManualClock): selective download, streaming while
 * downloading, sequential order, queueing limits, seed limits, and moving storage mid-download.
 */
import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../adapters/memory/memory-filesystem.js'
import { BtEngine } from '../../src/session/bt-engine.js'
import { resolveSettings, testingSettings } from '../../src/session/engine-settings.js'
import { seededRandom } from '../../src/interfaces/random.js'
import type { IFileSystem } from '../../src/interfaces/filesystem.js'
import { createTorrent } from '../../src/metainfo/create-torrent.js'
import { buildMagnet } from '../../src/metainfo/magnet.js'
import { parseTorrent } from '../../src/metainfo/parse-torrent.js'
import { StorageRootManager } from '../../src/storage/storage-root-manager.js'
import { PART_FILE_DIRECTORY } from '../../src/storage/torrent-content-storage.js'
import type { Torrent } from '../../src/torrent/torrent.js'
import { CorruptingFileSystem, SwarmWorld, SyncHasher, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

const PIECE = 32_768
/** a: pieces 0–3, b: pieces 3–5 (piece 4 is b's alone), c: pieces 5–8. */
const FILES: Array<[string, number]> = [['set/a.bin', 100_000], ['set/b.bin', 70_000], ['set/c.bin', 130_000]]

async function seedMultiFile (world: SwarmWorld): Promise<{ torrent: Uint8Array }> {
  const seed = world.addNode('10.0.0.1', { uploadBytesPerSec: 200_000 })
  for (const [i, [path, length]] of FILES.entries()) await writeFile(seed.fs, path, payload(length, i + 1))
  const created = await createTorrent('set', { kind: 'v1', pieceLengthBytes: PIECE }, { fs: seed.fs, hasher: new SyncHasher() })
  const s = await seed.engine.addTorrent(created.torrent)
  await world.clock.runUntil(() => s.state === 'seeding', 10_000)
  expect(s.state).toBe('seeding')
  return { torrent: created.torrent }
}

/** Reads a whole web stream while the clock runs. */
async function drain (world: SwarmWorld, stream: ReadableStream<Uint8Array>, maxMs: number, onDone?: () => void): Promise<Uint8Array> {
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let done = false
  let failure: unknown = null
  void (async () => {
    try {
      for (;;) {
        const r = await reader.read()
        if (r.done) break
        chunks.push(r.value)
      }
      onDone?.()
    } catch (error) {
      failure = error
    }
    done = true
  })()
  await world.clock.runUntil(() => done, maxMs)
  if (failure !== null) throw failure as Error
  expect(done).toBe(true)
  return new Uint8Array(Buffer.concat(chunks))
}

describe('swarm: file priorities', () => {
  it('selective download: a skipped file is never created, shared pieces keep its bytes in the part file, the rest completes', async () => {
    const world = new SwarmWorld(51)
    const { torrent } = await seedMultiFile(world)
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(torrent, { peers: ['10.0.0.1:6881'], selectOnly: [0, 2] })
    let completed = 0
    t.on('completed', () => { completed++ })
    expect(t.files.map((f) => f.priority)).toEqual([4, 0, 4])
    expect(t.getPiecePriority(4)).toBe(0) // b's own piece
    expect(t.getPiecePriority(3)).toBe(4) // shared by a and b
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    expect(completed).toBe(1)
    expect(t.bitfield().get(4)).toBe(false)
    expect(t.isComplete).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'set/a.bin'), payload(100_000, 1))).toBe(0)
    expect(Buffer.compare(await readFile(leech.fs, 'set/c.bin'), payload(130_000, 3))).toBe(0)
    expect(await leech.fs.exists('set/b.bin')).toBe(false)
    expect(leech.fs.listFiles().sort()).toEqual([`${PART_FILE_DIRECTORY}/${t.id}.parts`, 'set/a.bin', 'set/c.bin'])
    // Two shared pieces → two part-file slots at most.
    expect((await leech.fs.stat(`${PART_FILE_DIRECTORY}/${t.id}.parts`)).size).toBeLessThanOrEqual(2 * PIECE)
    const files = t.files
    expect(files[0]!.verifiedBytes).toBe(100_000)
    expect(files[1]!.verifiedBytes).toBeLessThan(70_000)
    expect(files[2]!.progress).toBe(1)

    // Wanting b later: back to downloading, b is created with the bytes kept in the part file, done again.
    await t.setFilePriority(1, 6)
    expect(t.state).toBe('downloading')
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    expect(completed).toBe(2)
    expect(Buffer.compare(await readFile(leech.fs, 'set/b.bin'), payload(70_000, 2))).toBe(0)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a magnet\'s so= (BEP 53) selects the files once the metadata is known', async () => {
    const world = new SwarmWorld(59)
    const { torrent } = await seedMultiFile(world)
    const meta = await parseTorrent(torrent)
    const leech = world.addNode('10.0.0.2')
    const magnet = buildMagnet({ infoHashV1: meta.infoHashV1, peers: [{ host: '10.0.0.1', port: 6881 }], selectOnly: [{ first: 2, last: 2 }] })
    const t = await leech.engine.addTorrent(magnet)
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    expect(t.files.map((f) => f.priority)).toEqual([0, 0, 4])
    expect(Buffer.compare(await readFile(leech.fs, 'set/c.bin'), payload(130_000, 3))).toBe(0)
    expect(await leech.fs.exists('set/a.bin')).toBe(false)
    expect(await leech.fs.exists('set/b.bin')).toBe(false)
    await world.close()
  })

  it('progress and wantedBytes count only the wanted pieces when a file is skipped; progress reaches 1 when they are done', async () => {
    const world = new SwarmWorld(53)
    const { torrent } = await seedMultiFile(world)
    const meta = await parseTorrent(torrent)
    const total = FILES.reduce((n, [, length]) => n + length, 0)
    const leech = world.addNode('10.0.0.2', { downloadBytesPerSec: 60_000 })
    const t = await leech.engine.addTorrent(torrent, { peers: ['10.0.0.1:6881'], selectOnly: [0, 2] })
    const pieceBytes = (p: number): number => (p === meta.pieceCount - 1 ? total - p * PIECE : PIECE)
    // Only piece 4 (b's alone) is skipped.
    const wanted = total - pieceBytes(4)
    expect(t.stats()).toMatchObject({ totalBytes: total, wantedBytes: wanted })
    await world.clock.runUntil(() => t.stats().havePieces >= 3, 60_000)
    const mid = t.stats()
    expect(mid.havePieces).toBeLessThan(meta.pieceCount - 1)
    let verifiedWanted = 0
    for (let p = 0; p < meta.pieceCount; p++) if (p !== 4 && t.bitfield().get(p)) verifiedWanted += pieceBytes(p)
    expect(mid.progress).toBeCloseTo(verifiedWanted / wanted, 9)
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    const done = t.stats()
    expect(done.progress).toBe(1)
    expect(done.verifiedBytes).toBe(wanted)
    expect(done.wantedBytes).toBe(wanted)
    // Wanting every file: the denominator is the whole torrent again.
    await t.setFilePriority(1, 4)
    expect(t.stats().wantedBytes).toBe(total)
    expect(t.stats().progress).toBeCloseTo(wanted / total, 9)
    await world.close()
  })

  it('skipping every remaining file finishes the torrent at once (completed, seeding)', async () => {
    const world = new SwarmWorld(52)
    const { torrent } = await seedMultiFile(world)
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(torrent, { filePriorities: [0, 0, 0] })
    await world.clock.runUntil(() => t.state === 'downloading' || t.state === 'seeding', 10_000)
    // Nothing wanted: finished right after the check, no file created.
    expect(t.state).toBe('seeding')
    expect(leech.fs.listFiles()).toEqual([])
    await world.close()
  })
})

describe('swarm: streaming and sequential', () => {
  it('a read stream from the middle of a file returns the right bytes long before the download finishes', async () => {
    const world = new SwarmWorld(53)
    const data = payload(2_000_000, 7)
    const torrentBytes = makeTorrent('movie.bin', data, 16_384)
    const seed = world.addNode('10.0.0.1', { uploadBytesPerSec: 250_000 })
    await writeFile(seed.fs, 'movie.bin', data)
    const s = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => s.state === 'seeding', 10_000)
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    await world.clock.runUntil(() => t.state === 'downloading', 10_000)

    const start = 1_234_567
    const end = 1_400_000
    let haveAtEnd = -1
    const stream = t.files[0]!.createReadStream({ start, end })
    const got = await drain(world, stream, 60_000, () => { haveAtEnd = t.stats().havePieces })
    expect(Buffer.compare(got, data.subarray(start, end + 1))).toBe(0)
    // The stream's ~11 pieces came first: far fewer than the 123 pieces were there when it ended.
    expect(t.state).toBe('downloading')
    expect(haveAtEnd).toBeGreaterThan(0)
    expect(haveAtEnd).toBeLessThan(40)
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('cancelling a stream drops its deadlines; removing the torrent errors a waiting stream with TORRENT_REMOVED', async () => {
    const world = new SwarmWorld(54)
    const data = payload(600_000, 8)
    const torrentBytes = makeTorrent('clip.bin', data, 16_384)
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(torrentBytes) // no peers: nothing ever arrives
    await world.clock.runUntil(() => t.state === 'downloading', 10_000)
    const a = t.createReadStream(0, { start: 300_000 })
    const reader = a.getReader()
    const pending = reader.read()
    await world.clock.advanceAsync(100)
    await reader.cancel()
    await expect(pending).resolves.toEqual({ done: true, value: undefined })

    const b = t.createReadStream(0).getReader()
    const read = b.read().then(() => 'value', (e: unknown) => (e as { code?: string }).code)
    await world.clock.advanceAsync(100)
    await leech.engine.removeTorrent(t.id)
    await world.clock.advanceAsync(100)
    expect(await read).toBe('TORRENT_REMOVED')
    expect(() => t.createReadStream(0, { start: 700_000 })).toThrow(/outside/)
    await world.close()
  })

  it('sequential mode verifies pieces in index order', async () => {
    const world = new SwarmWorld(55)
    const data = payload(1_000_000, 9)
    const torrentBytes = makeTorrent('seq.bin', data, 16_384)
    const seed = world.addNode('10.0.0.1', { uploadBytesPerSec: 500_000 })
    await writeFile(seed.fs, 'seq.bin', data)
    const s = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => s.state === 'seeding', 10_000)
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'], settings: { sequential: true } })
    expect(t.sequential).toBe(true)
    const order: number[] = []
    t.on('piece-verified', ({ piece }) => order.push(piece))
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    expect(order.length).toBe(62)
    // In order up to the pipeline's reordering: never more than a few pieces ahead.
    order.forEach((piece, k) => { expect(piece, `verified #${k}`).toBeLessThan(k + 6) })
    await world.close()
  })
})

describe('swarm: queueing and seed limits', () => {
  it('maxActiveDownloads queues the second torrent until the first finishes; maxActiveSeeds changes at run time', async () => {
    const world = new SwarmWorld(56)
    const d1 = payload(300_000, 11)
    const d2 = payload(300_000, 12)
    const t1Bytes = makeTorrent('one.bin', d1, 16_384)
    const t2Bytes = makeTorrent('two.bin', d2, 16_384)
    const seed = world.addNode('10.0.0.1', { uploadBytesPerSec: 300_000 })
    await writeFile(seed.fs, 'one.bin', d1)
    await writeFile(seed.fs, 'two.bin', d2)
    const s1 = await seed.engine.addTorrent(t1Bytes)
    const s2 = await seed.engine.addTorrent(t2Bytes)
    await world.clock.runUntil(() => s1.state === 'seeding' && s2.state === 'seeding', 10_000)
    const leech = world.addNode('10.0.0.2', { settings: { queue: { maxActiveDownloads: 1 } } })
    const states: string[] = []
    const t1 = await leech.engine.addTorrent(t1Bytes, { peers: ['10.0.0.1:6881'] })
    const t2 = await leech.engine.addTorrent(t2Bytes, { peers: ['10.0.0.1:6881'], start: false })
    t2.on('state-changed', ({ to }) => states.push(to))
    await t2.start()
    expect(t2.state).toBe('queued')
    expect(await world.clock.runUntil(() => t1.state === 'seeding', 60_000)).toBe(true)
    expect(await world.clock.runUntil(() => t2.state === 'seeding', 60_000)).toBe(true)
    expect(states).toEqual(['queued', 'starting', 'hashing', 'downloading', 'seeding'])
    expect(Buffer.compare(await readFile(leech.fs, 'two.bin'), d2)).toBe(0)

    // One seed slot: the torrent added last waits; a slot back and it seeds again.
    leech.engine.updateSettings({ queue: { maxActiveSeeds: 1 } })
    await world.clock.advanceAsync(10)
    expect([t1.state, t2.state]).toEqual(['seeding', 'queued'])
    t1.pause()
    await world.clock.advanceAsync(10)
    expect([t1.state, t2.state]).toEqual(['paused', 'seeding'])
    t1.resume() // no free seed slot: queued behind t2
    expect(t1.state).toBe('queued')
    leech.engine.updateSettings({ queue: { maxActiveSeeds: 0 } })
    await world.clock.advanceAsync(10)
    expect([t1.state, t2.state]).toEqual(['seeding', 'seeding'])
    expect(() => leech.engine.updateSettings({ queue: { maxActiveDownloads: -1 } })).toThrow(/queue.maxActiveDownloads/)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a seed pauses at its ratio limit (and another at its time limit) with seed-limit-reached', async () => {
    const world = new SwarmWorld(57)
    const data = payload(200_000, 13)
    const torrentBytes = makeTorrent('ratio.bin', data, 16_384)
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'ratio.bin', data)
    const s = await seed.engine.addTorrent(torrentBytes, { settings: { seedRatioLimit: 1 } })
    const reached: Array<{ reason: string, ratio: number }> = []
    s.on('seed-limit-reached', (e) => reached.push(e))
    const engineEvents: string[] = []
    seed.engine.on('seed-limit-reached', ({ torrentId, reason }) => engineEvents.push(`${torrentId}:${reason}`))
    await world.clock.runUntil(() => s.state === 'seeding', 10_000)
    await world.clock.advanceAsync(5_000)
    expect(s.state).toBe('seeding') // nothing uploaded yet: ratio 0
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    expect(await world.clock.runUntil(() => t.state === 'seeding', 60_000)).toBe(true)
    expect(await world.clock.runUntil(() => s.state === 'paused', 5_000)).toBe(true)
    expect(reached).toHaveLength(1)
    expect(reached[0]!.reason).toBe('ratio')
    expect(reached[0]!.ratio).toBeGreaterThanOrEqual(1)
    expect(engineEvents).toEqual([`${s.id}:ratio`])

    // Time limit from the engine's settings: the leecher (now a seed) stops after 30 s of seeding.
    const timed: string[] = []
    t.on('seed-limit-reached', ({ reason }) => timed.push(reason))
    leech.engine.updateSettings({ queue: { seedTimeLimitSec: 30 } })
    await world.clock.advanceAsync(20_000)
    expect(t.state).toBe('seeding')
    await world.clock.advanceAsync(12_000)
    expect(t.state).toBe('paused')
    expect(timed).toEqual(['time'])
    await world.close()
  })
})

/** An engine on the world's network whose storage roots map to separate filesystems. */
function engineWithRoots (world: SwarmWorld, address: string, roots: Record<string, IFileSystem>): BtEngine {
  const storageRoots = new StorageRootManager((token) => {
    const fs = roots[token]
    if (fs === undefined) throw new Error(`no fs for ${token}`)
    return fs
  })
  for (const token of Object.keys(roots)) storageRoots.addRoot({ token, label: token, path: `/${token}` })
  storageRoots.setDefaultRoot(Object.keys(roots)[0]!)
  return new BtEngine({
    socketFactory: world.network.host(address),
    clock: world.clock,
    hasher: new SyncHasher(),
    storageRoots,
    random: seededRandom(99)
  }, resolveSettings({ listen: { port: 6881, host: '' } }, testingSettings()))
}

describe('swarm: moving storage', () => {
  for (const how of ['renamed (same adapter)', 'copied (no fast path)'] as const) {
    it(`moves storage while downloading: the download completes at the new place, nothing left behind — ${how}`, async () => {
      const world = new SwarmWorld(58)
      const { torrent } = await seedMultiFile(world)
      const memA = new MemoryFileSystem({ clock: world.clock })
      const memB = new MemoryFileSystem({ clock: world.clock })
      const engine = engineWithRoots(world, '10.0.0.3', { a: memA, b: how.startsWith('copied') ? new CorruptingFileSystem(memB) : memB })
      const t: Torrent = await engine.addTorrent(torrent, { peers: ['10.0.0.1:6881'] })
      await world.clock.runUntil(() => t.stats().havePieces >= 3, 60_000)
      expect(t.state).toBe('downloading')
      expect(memA.listFiles().length).toBeGreaterThan(0)
      const moved: string[] = []
      t.on('storage-moved', ({ token }) => moved.push(token))
      let done = false
      void t.moveStorage('b').then(() => { done = true })
      expect(await world.clock.runUntil(() => done, 10_000)).toBe(true)
      expect(moved).toEqual(['b'])
      expect(engine.storageRoots.getRootForTorrent(t.id)?.token).toBe('b')
      expect(t.stats().havePieces).toBeLessThan(10)
      expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
      for (const [i, [path, length]] of FILES.entries()) {
        expect(Buffer.compare(memB.readFileBytes(path), payload(length, i + 1)), path).toBe(0)
      }
      expect(memA.listFiles()).toEqual([])
      expect(await memA.readdir('')).toEqual([])
      expect(memB.listFiles()).toEqual(['set/a.bin', 'set/b.bin', 'set/c.bin'])
      await engine.close()
      await world.close()
      expect(memA.openHandleCount + memB.openHandleCount).toBe(0)
    })
  }
})


