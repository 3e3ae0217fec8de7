/**
 * Connections that never finish a handshake against `lodestone seed` (the built CLI), issue 15:
 *
 * - Slot exhaustion: 500 silent TCP connections, re-opened as soon as the seeder closes one, must
 *   not lock out an honest libtorrent leecher (before the fix they took every connection slot for
 *   20 s at a time and the leecher made no progress at all). Pending handshakes now have their own
 *   budget and the oldest makes room for the newest.
 * - Slow-loris: a handshake sent one byte at a time holds its connection only until one deadline
 *   (10 s from the accept), whether it stalls in the listener (before the info hash) or in the
 *   peer connection (before the peer id); before the fix each stage had its own 20 s.
 */
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { makeTorrent, pollUntil, removeTempDirs, tempDir, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { HostileConnection, SilentFlood, handshake } from './hostile-peer.js'
import { startLodestoneSeed, type LodestoneProcess } from './lodestone-process.js'

const procs: LodestoneProcess[] = []
const peers: LibtorrentPeer[] = []
const floods: SilentFlood[] = []
afterEach(async () => {
  await Promise.all(floods.splice(0).map(async (f) => { await f.stop() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(procs.splice(0).map(async (p) => { await p.stop() }))
})
afterAll(async () => { await removeTempDirs() })

const PAYLOAD_BYTES = 8 * 1024 * 1024

async function seeded (): Promise<{ seed: LodestoneProcess, torrentPath: string }> {
  const dir = await tempDir()
  await writeContent(dir, 'payload.bin', PAYLOAD_BYTES)
  const torrentPath = join(await tempDir(), 'payload.torrent')
  await makeTorrent(dir, 'payload.bin', 'v1', torrentPath, 65_536)
  const seed = await startLodestoneSeed({ torrentPath, dir })
  procs.push(seed)
  return { seed, torrentPath }
}

describe('lodestone seed under handshake floods', () => {
  it('500 silent connections, kept open, do not stop a libtorrent leecher', async () => {
    const { seed, torrentPath } = await seeded()
    const flood = new SilentFlood(seed.port, 500)
    floods.push(flood)
    await pollUntil(() => flood.connects >= 500, 20_000, '500 silent connections')

    const leecher = await startLibtorrentPeer({ torrentPath, savePath: await tempDir(), mode: 'download', peers: [{ host: '127.0.0.1', port: seed.port }] })
    peers.push(leecher)
    const done = await leecher.waitFor((s) => s.isSeeding && s.totalDone === PAYLOAD_BYTES, 30_000, 'libtorrent to download under the flood')
    expect(done.error).toBe('')
    // The attack was on all along: the flood kept its sockets coming and the seeder kept closing them.
    expect(flood.connects).toBeGreaterThan(500)
    expect(flood.closedByPeer).toBeGreaterThan(0)
    expect(flood.openCount).toBeGreaterThan(50)
  })

  it('a byte-at-a-time handshake is dropped at one deadline, in the listener or in the peer connection', async () => {
    const { seed } = await seeded()
    const infoHash = Buffer.from(seed.infoHash, 'hex')
    const bytes = handshake(infoHash)
    // Stalls before the info hash is complete (listener stage): one byte every 300 ms.
    const inListener = await HostileConnection.open(seed.port)
    void inListener.trickle(bytes, 300)
    // Sends the header at once (routed to the torrent), then the peer id one byte a second.
    const inPeer = await HostileConnection.open(seed.port)
    await inPeer.write(bytes.subarray(0, 48))
    void inPeer.trickle(bytes.subarray(48), 1_000)
    const [a, b] = await Promise.all([inListener.closedWithin(20_000), inPeer.closedWithin(20_000)])
    expect(a.byPeer).toBe(true)
    expect(b.byPeer).toBe(true)
    // 10 s handshake deadline (the peer connection checks it once a second), never 20 s or 40 s.
    expect(a.afterMs).toBeGreaterThan(9_000)
    expect(a.afterMs).toBeLessThan(12_500)
    expect(b.afterMs).toBeGreaterThan(9_000)
    expect(b.afterMs).toBeLessThan(12_500)
    // The routed one answered with the seeder's own handshake before it was dropped.
    expect(inPeer.receivedBytes).toBeGreaterThanOrEqual(68)
  })
})
