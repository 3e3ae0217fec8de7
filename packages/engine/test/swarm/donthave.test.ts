/**
 * BEP 54 lt_donthave (issue 12): a seed whose file is truncated under it finds the data of the
 * pieces past the cut gone when a leecher asks for them. It un-haves those pieces (it is
 * downloading again), tells the leecher DONTHAVE, and refuses the requests rather than serving
 * zeros; the leecher drops the pieces from its view of the seed and stops asking for them. A
 * second seed appearing later gives both the leecher and the first seed their missing pieces.
 */
import { describe, expect, it } from 'vitest'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

const PIECE = 32_768
const PIECES = 20

describe('swarm: lt_donthave when a seed loses data', () => {
  it('the seed un-haves the lost pieces and the leecher stops asking for them', async () => {
    const world = new SwarmWorld(54)
    const data = payload(PIECE * PIECES, 54)
    const torrentBytes = makeTorrent('file.bin', data, PIECE)
    const settings = { discovery: { trackers: false } }
    const seed = world.addNode('10.0.0.1', { settings })
    await writeFile(seed.fs, 'file.bin', data)
    const leech = world.addNode('10.0.0.2', { settings, downloadBytesPerSec: 64_000 })
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    expect(await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)).toBe(true)
    const leechTorrent = await leech.engine.addTorrent(torrentBytes)
    leechTorrent.addPeer('10.0.0.1:6881')
    expect(await world.clock.runUntil(() => leechTorrent.stats().havePieces >= 2, 60_000)).toBe(true)

    // The storage loses the second half of the file under the running seed.
    const leechAtCut = leechTorrent.bitfield()
    let hashFailures = 0
    leechTorrent.on('hash-failed', () => { hashFailures++ })
    const h = await seed.fs.open('file.bin', 'r+')
    await h.truncate(PIECE * PIECES / 2)
    await h.close()
    let disconnects = 0
    leechTorrent.on('peer-disconnected', () => { disconnects++ })

    // The leecher gets what the seed still has (the first half, and pieces still in its read cache).
    const servable = (): number => {
      const seedHave = seedTorrent.bitfield()
      let n = 0
      for (let p = 0; p < PIECES; p++) if (seedHave.get(p) || leechAtCut.get(p)) n++
      return n
    }
    expect(await world.clock.runUntil(() => seedTorrent.state === 'downloading' && leechTorrent.stats().havePieces === servable(), 120_000)).toBe(true)
    await world.clock.advanceAsync(10_000)
    // The seed knows what it lost and is downloading again; nothing past the cut was served.
    expect(seedTorrent.state).toBe('downloading')
    const seedHave = seedTorrent.bitfield()
    expect(seedHave.count).toBeLessThan(PIECES)
    for (let p = 0; p < PIECES / 2; p++) expect(seedHave.get(p)).toBe(true)
    expect(leechTorrent.stats().havePieces).toBe(servable())
    expect(leechTorrent.stats().havePieces).toBeLessThan(PIECES)
    expect(hashFailures).toBe(0)
    // The leecher's view of the seed dropped the lost pieces (DONTHAVE), on the same connection.
    const [view] = leechTorrent.peers()
    expect(view).toBeDefined()
    expect(view!.progress).toBeCloseTo(seedHave.count / PIECES, 5)
    expect(disconnects).toBe(0)
    // It no longer asks the seed for them: no requests outstanding, not interested.
    expect(view!.amInterested).toBe(false)

    // A second, whole seed: the leecher completes, and the first seed gets its pieces back.
    const other = world.addNode('10.0.0.3', { settings })
    await writeFile(other.fs, 'file.bin', data)
    const otherTorrent = await other.engine.addTorrent(torrentBytes)
    expect(await world.clock.runUntil(() => otherTorrent.state === 'seeding', 10_000)).toBe(true)
    otherTorrent.addPeer('10.0.0.1:6881')
    otherTorrent.addPeer('10.0.0.2:6881')
    expect(await world.clock.runUntil(() => leechTorrent.state === 'seeding' && seedTorrent.state === 'seeding', 120_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'file.bin'), data)).toBe(0)
    // The seed wrote back every piece it had un-had (pieces served from its read cache were never
    // found lost, so their bytes on disk stay cut until a read misses the cache).
    const seedFile = await readFile(seed.fs, 'file.bin')
    for (let p = 0; p < PIECES; p++) {
      if (seedHave.get(p)) continue
      expect(Buffer.compare(seedFile.subarray(p * PIECE, (p + 1) * PIECE), data.subarray(p * PIECE, (p + 1) * PIECE))).toBe(0)
    }
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
