/**
 * A REQUEST flood from a peer that never reads, against `lodestone seed` (the built CLI), issue 15.
 * Before the fix the seeder queued a REJECT (fast extension) for every request without limit:
 * 2 M requests grew it by ~900 MB. Now it stops reading from a peer whose send queue is over
 * `peer.maxSendQueueBytes`, so the flood stalls in the kernel's buffers, memory stays flat, and an
 * honest libtorrent leecher downloads meanwhile.
 */
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { makeTorrent, removeTempDirs, tempDir, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { HostileConnection, MSG, handshake, message, requestBurst } from './hostile-peer.js'
import { startLodestoneSeed, type LodestoneProcess } from './lodestone-process.js'

const procs: LodestoneProcess[] = []
const peers: LibtorrentPeer[] = []
const conns: HostileConnection[] = []
afterEach(async () => {
  for (const c of conns.splice(0)) c.close()
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(procs.splice(0).map(async (p) => { await p.stop() }))
})
afterAll(async () => { await removeTempDirs() })

const PAYLOAD_BYTES = 8 * 1024 * 1024
const PIECE_BYTES = 65_536
const REQUESTS = 2_000_000
const BURST = 65_536

describe('lodestone seed under a request flood', () => {
  it('2 M REQUESTs from a peer that never reads: memory stays bounded, an honest leecher still downloads', async () => {
    const dir = await tempDir()
    await writeContent(dir, 'payload.bin', PAYLOAD_BYTES)
    const torrentPath = join(await tempDir(), 'payload.torrent')
    await makeTorrent(dir, 'payload.bin', 'v1', torrentPath, PIECE_BYTES)
    const seed = await startLodestoneSeed({ torrentPath, dir })
    procs.push(seed)
    const rssBefore = await seed.rssBytes()

    const attacker = await HostileConnection.open(seed.port, { neverRead: true })
    conns.push(attacker)
    await attacker.write(Buffer.concat([handshake(Buffer.from(seed.infoHash, 'hex'), { fast: true }), message(MSG.interested)]))
    let rssMax = rssBefore
    const sampler = setInterval(() => { seed.rssBytes().then((r) => { rssMax = Math.max(rssMax, r) }, () => {}) }, 100)
    // Send as fast as the seeder takes them, for at most 12 s.
    const deadline = performance.now() + 12_000
    let sent = 0
    // 1 KiB requests: 8 192 distinct ones, far more than the seeder queues (its reqq, 4 000), so the
    // queue fills and every further request is answered with a REJECT. (A repeat of a request still
    // queued is dropped without a reply, and with 16 KiB blocks this payload has only 512.)
    const burst = requestBurst(BURST, PAYLOAD_BYTES / PIECE_BYTES, PIECE_BYTES, 1024)
    const flood = (async () => {
      while (sent < REQUESTS && attacker.isOpen && performance.now() < deadline) {
        await Promise.race([attacker.write(burst), new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())))])
        if (performance.now() < deadline) sent += BURST
      }
    })()

    const leecher = await startLibtorrentPeer({ torrentPath, savePath: await tempDir(), mode: 'download', peers: [{ host: '127.0.0.1', port: seed.port }] })
    peers.push(leecher)
    const done = await leecher.waitFor((s) => s.isSeeding && s.totalDone === PAYLOAD_BYTES, 30_000, 'libtorrent to download during the flood')
    expect(done.error).toBe('')
    await flood
    clearInterval(sampler)
    rssMax = Math.max(rssMax, await seed.rssBytes())

    console.log(`request flood: ${sent} requests accepted by the socket in 12 s, RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> max ${(rssMax / 2 ** 20).toFixed(0)} MiB`)
    // The seeder stopped reading: the flood could not get its 34 MB of requests through.
    expect(sent).toBeLessThan(REQUESTS)
    // Growth while under attack (and while serving the leecher): bounded, not hundreds of MB.
    expect(rssMax - rssBefore).toBeLessThan(96 * 1024 * 1024)
  })
})
