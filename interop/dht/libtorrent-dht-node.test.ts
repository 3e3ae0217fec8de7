/**
 * Our DhtNode against a loopback DHT of 17 libtorrent 2.0.8 sessions (issue 10, part 2), on real
 * UDP on 127.0.0.1: it bootstraps from one session only, finds the peer a libtorrent seeder
 * announced, and a libtorrent session finds the peer we announced.
 */
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { NodeSocketFactory, SystemClock } from '../../packages/engine/adapters/node/index.js'
import { DhtNode } from '../../packages/engine/src/dht/dht-node.js'
import { fromHex } from '../../packages/engine/src/util/bytes.js'
import { makeTorrent, pollUntil, removeTempDirs, tempDir, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentDht, type LibtorrentDht } from '../helpers/libtorrent-dht.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })
afterAll(async () => { await removeTempDirs() })

const SESSIONS = 16

describe('DhtNode in a libtorrent DHT', () => {
  it('bootstraps off one node, finds a libtorrent seeder, and libtorrent finds the peer we announce', async () => {
    // 16 DHT sessions plus one seeder session (index 16).
    const lt: LibtorrentDht = await startLibtorrentDht(SESSIONS + 1)
    cleanups.push(async () => { await lt.close() })
    const seedDir = await tempDir()
    await writeContent(seedDir, 'payload.bin', 300_000)
    const torrentPath = join(await tempDir(), 'dht.torrent')
    const created = await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath)
    const infoHash = Buffer.from(created.infoHashV1!).toString('hex')
    await lt.waitFor(() => (lt.status?.nodes ?? []).every((n) => n >= 8), 30_000, 'libtorrent routing tables to fill')
    lt.add('seed', SESSIONS, { torrentPath }, seedDir)
    await lt.waitFor(() => lt.status?.torrents.seed?.isSeeding === true, 20_000, 'the seeder to check its data')
    lt.announce('seed', SESSIONS)
    // libtorrent's own lookup sees the seeder before we ask: the announce has landed.
    const seederPort = lt.ports[SESSIONS]!
    await lt.findPeer(3, infoHash, (_, p) => p === seederPort, 30_000, 'libtorrent to find its own seeder')

    const socket = await new NodeSocketFactory().bindUdp(0, '127.0.0.1')
    const node = new DhtNode({ socket, clock: new SystemClock() }, { bootstrapNodes: [`127.0.0.1:${lt.ports[0]!}`] })
    cleanups.push(() => { node.close(); socket.close() })
    node.start()
    await node.bootstrap()
    expect(node.nodeCount).toBeGreaterThanOrEqual(8)

    const found = await node.getPeers(fromHex(infoHash)!)
    expect(found.peers).toContainEqual({ host: '127.0.0.1', port: seederPort })
    expect(found.responded).toBeGreaterThanOrEqual(8)

    // The other way: we announce a made-up info hash with a port; a libtorrent session looks it up.
    const ours = 'a5'.repeat(20)
    const announced = await node.announce(fromHex(ours)!, { port: 40_404 })
    expect(announced.announcedTo).toBeGreaterThanOrEqual(6)
    await lt.findPeer(11, ours, (h, p) => h === '127.0.0.1' && p === 40_404, 30_000, 'libtorrent to find the peer we announced')

    // libtorrent queries us too (it pings nodes that queried it) and we answer: a DHT node, not only a client.
    await pollUntil(() => node.stats().repliesOut > 0, 30_000, 'libtorrent to query our node')
    expect(node.stats().malformed).toBe(0)
  })
})
