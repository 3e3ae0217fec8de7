/**
 * BEP 40 (issue 12): a torrent at its connection limit keeps the peers of highest canonical
 * priority. A seed capped at 2 connections is dialled by 3 leechers in turn; whichever order they
 * come in, it ends up connected to the two whose priority (computed from the address they see it
 * at, their `yourip`) is highest, and the third is refused when it comes back. They come
 * EVICTION_GRACE_MS apart: a connection younger than that is never the one closed.
 */
import { describe, expect, it } from 'vitest'
import { canonicalPeerPriority } from '../../src/peer/peer-priority.js'
import { EVICTION_GRACE_MS } from '../../src/torrent/peer-eviction.js'
import { SwarmWorld, makeTorrent, payload, writeFile } from './swarm-world.js'

const SEED = '10.0.0.1'
const LEECHERS = ['10.0.1.7', '10.0.2.9', '10.0.3.11', '10.1.0.5']

describe('swarm: BEP 40 peer priority decides who stays when a torrent is full', () => {
  for (const order of [[0, 1, 2], [2, 1, 0], [1, 3, 0]]) {
    it(`leechers ${order.map((i) => LEECHERS[i]).join(', ')}: the two of highest priority stay`, async () => {
      const world = new SwarmWorld(40 + order[0]!)
      const data = payload(2_000_000, 40)
      const torrentBytes = makeTorrent('file.bin', data, 32_768)
      const settings = { discovery: { trackers: false } }
      // Slow enough that no leecher completes (and is closed as a seed) before the end.
      const seed = world.addNode(SEED, { settings, uploadBytesPerSec: 20_000 })
      await writeFile(seed.fs, 'file.bin', data)
      const seedTorrent = await seed.engine.addTorrent(torrentBytes, { settings: { maxConnections: 2 } })
      expect(await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)).toBe(true)
      const hosts = order.map((i) => LEECHERS[i]!)
      let refused = 0
      for (const [i, host] of hosts.entries()) {
        const node = world.addNode(host, { settings })
        const t = await node.engine.addTorrent(torrentBytes)
        t.addPeer(`${SEED}:6881`)
        const joined = await world.clock.runUntil(() => seedTorrent.peers().some((p) => p.address.startsWith(`${host}:`)), 5_000)
        // The first two find room; the third gets in only by ranking above someone.
        if (i < 2) expect(joined).toBe(true)
        else if (!joined) refused++
        await world.clock.advanceAsync(EVICTION_GRACE_MS)
      }
      await world.clock.advanceAsync(30_000)
      const rank = (host: string): number => canonicalPeerPriority({ ip: SEED, port: 6881 }, { ip: host, port: 1 })!
      const expected = [...hosts].sort((a, b) => rank(b) - rank(a)).slice(0, 2).sort()
      const connected = seedTorrent.peers().map((p) => p.address.split(':')[0]!).sort()
      expect(connected).toEqual(expected)
      // The third was refused exactly when it ranks lowest of the three.
      expect(refused).toBe(rank(hosts[2]!) < Math.min(rank(hosts[0]!), rank(hosts[1]!)) ? 1 : 0)
      await world.close()
    })
  }
})
