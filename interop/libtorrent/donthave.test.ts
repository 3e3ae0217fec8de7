/**
 * BEP 54 lt_donthave against libtorrent 2.0.8 on 127.0.0.1: a Lodestone seed whose file is cut
 * short under it (storage lost) finds the data gone when libtorrent asks for a piece past the
 * cut, un-haves the lost pieces and sends DONTHAVE for each. libtorrent's own view of our
 * connection (peer_info pieces, the seed flag) drops them, on the same connection, and it never
 * gets a byte it would fail a hash check on. Without lt_donthave libtorrent keeps listing us as
 * a seed with every piece.
 */
import { readFile, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { makeTorrent, pollUntil, removeTempDirs, tempDir, waitState, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const PIECE = 32_768
const PIECES = 64

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

describe('BEP 54 lt_donthave with libtorrent', () => {
  it('libtorrent drops the pieces a Lodestone seed lost from its view of us and stays connected', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'file.bin', PIECE * PIECES)
    const torrentPath = join(await tempDir(), 'file.torrent')
    await makeTorrent(seedDir, 'file.bin', 'v1', torrentPath, PIECE)
    const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: seedDir })
    await waitState(torrent, 'seeding', 20_000)
    const leecher = await startLibtorrentPeer({
      torrentPath, savePath: await tempDir(), mode: 'download', downloadRateLimit: 64_000,
      peers: [{ host: '127.0.0.1', port: engine.port! }]
    })
    peers.push(leecher)
    const ours = (): { seed: boolean, pieces: number } | undefined => leecher.status?.peers.find((p) => p.port === engine.port)
    await leecher.waitFor((s) => s.numPieces >= 2 && ours()?.seed === true, 30_000, 'libtorrent to download from us, seeing a seed')
    expect(ours()!.pieces).toBe(PIECES)

    // Storage lost: the second half of the file is cut away under the running seed.
    await truncate(join(seedDir, 'file.bin'), PIECE * PIECES / 2)
    await pollUntil(() => torrent.state === 'downloading', 60_000, 'Lodestone to find pieces gone as libtorrent asks for them')
    await pollUntil(() => { const p = ours(); return p !== undefined && !p.seed && p.pieces === torrent.bitfield().count }, 20_000,
      'libtorrent to drop the lost pieces from its view of us')
    expect(torrent.bitfield().count).toBeLessThan(PIECES)
    expect(ours()!.pieces).toBeLessThan(PIECES)
    // The same connection throughout, and nothing bad reached libtorrent.
    expect(leecher.disconnects).toEqual([])
    expect(leecher.alerts.filter((a) => a.includes('hash_failed'))).toEqual([])
  }, 120_000)
})
