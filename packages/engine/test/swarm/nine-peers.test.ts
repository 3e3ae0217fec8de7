import { describe, expect, it } from 'vitest'
import type { Torrent } from '../../src/torrent/torrent.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

describe('swarm: 1 seed + 8 leechers', () => {
  it('all complete, trading with each other, rarest-first, with end-game; nothing left open', async () => {
    const world = new SwarmWorld(42)
    const pieceLength = 32_768
    const data = payload(2 * 1024 * 1024 + 12_345, 9)
    const pieceCount = Math.ceil(data.length / pieceLength)
    const torrentBytes = makeTorrent('payload.bin', data, pieceLength)

    // The seed's uplink is the bottleneck, so leechers must trade to finish quickly.
    const seed = world.addNode('10.0.0.1', { uploadBytesPerSec: 256 * 1024 })
    await writeFile(seed.fs, 'payload.bin', data)
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)

    const addresses = Array.from({ length: 8 }, (_, i) => `10.0.1.${i + 1}`)
    const leechers: Torrent[] = []
    const endGames: number[] = new Array(8).fill(0)
    const verified: Array<Set<number>> = addresses.map(() => new Set())
    // Distinct pieces the leechers held between them when the seed had uploaded one copy's worth.
    let spreadAtOneCopy: number | null = null
    for (const [i, address] of addresses.entries()) {
      const node = world.addNode(address, { uploadBytesPerSec: 256 * 1024 })
      const peers = ['10.0.0.1:6881', ...addresses.filter((a) => a !== address).map((a) => `${a}:6881`)]
      const t = await node.engine.addTorrent(torrentBytes, { peers })
      t.on('end-game', () => { endGames[i]!++ })
      t.on('piece-verified', ({ piece }) => {
        verified[i]!.add(piece)
        if (spreadAtOneCopy === null && seedTorrent.stats().uploadedBytes >= data.length) {
          const union = new Set<number>()
          for (const v of verified) for (const p of v) union.add(p)
          spreadAtOneCopy = union.size / pieceCount
        }
      })
      leechers.push(t)
    }

    const done = await world.clock.runUntil(() => leechers.every((t) => t.state === 'seeding'), 600_000)
    expect(done).toBe(true)
    for (const [i, address] of addresses.entries()) {
      expect(leechers[i]!.stats().progress).toBe(1)
      const node = world.nodes.find((n) => n.address === address)!
      expect(Buffer.compare(await readFile(node.fs, 'payload.bin'), data)).toBe(0)
    }

    // Leechers served each other: together they uploaded far more than the seed could alone.
    const seedUploaded = seedTorrent.stats().uploadedBytes
    const leecherUploaded = leechers.reduce((n, t) => n + t.stats().uploadedBytes, 0)
    const downloaded = leechers.reduce((n, t) => n + t.stats().downloadedBytes, 0)
    expect(leecherUploaded).toBeGreaterThan(2 * data.length)
    expect(leechers.filter((t) => t.stats().uploadedBytes > 0).length).toBeGreaterThanOrEqual(6)
    expect(seedUploaded + leecherUploaded).toBeGreaterThanOrEqual(downloaded)

    // Rarest-first spread the pieces: by the time the seed had sent one copy's worth of bytes, the
    // leechers held most pieces between them (with sequential picking, measured on this swarm:
    // 17 %, and the seed sends every piece ~5 times), and the seed sent each piece < 2.5× on average.
    expect(spreadAtOneCopy).not.toBeNull()
    expect(spreadAtOneCopy!).toBeGreaterThan(0.5)
    expect(seedUploaded).toBeLessThan(2.5 * data.length)

    // End-game fired, and its duplicate requests were cancelled or wasted, not lost.
    expect(endGames.filter((n) => n > 0).length).toBeGreaterThanOrEqual(1)

    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
    expect(world.nodes.every((n) => n.hasher.closed)).toBe(true)
  })
})
