/**
 * Issue 5 against libtorrent 2.0.8 as the seeder (TCP, 127.0.0.1; DHT, LSD, UPnP, NAT-PMP, PEX
 * and uTP off in the harness):
 * 1. selective download: Lodestone wants two of three files (`selectOnly`), finishes
 *    ('completed', seeding), has both byte-identical, and never creates the skipped one;
 * 2. streaming: with libtorrent's upload capped, a read stream from the middle of a file
 *    returns exactly the original bytes while the rest is still downloading — its pieces are
 *    fetched first (deadlines), then the download completes.
 */
import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { digestTree, makeTorrent, pollUntil, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

describe('selective download and streaming from a libtorrent seeder', () => {
  it('downloads only the selected files; the skipped one is never created', async () => {
    const seedDir = await tempDir()
    const leechDir = await tempDir()
    // a: pieces 0–18, b: pieces 18–34 (shared with a and c), c: the rest; 32 KiB pieces.
    await writeContent(seedDir, 'sel', { 'a.bin': 600_001, 'b.bin': 500_003, 'c.bin': 700_005 })
    const torrentPath = join(await tempDir(), 'sel.torrent')
    await makeTorrent(seedDir, 'sel', 'v1', torrentPath)
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to seed')

    const engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const torrent = await engine.addTorrent(await readFile(torrentPath), { selectOnly: [0, 2] })
    expect(torrent.files.map((f) => [f.path, f.priority])).toEqual([['sel/a.bin', 4], ['sel/b.bin', 0], ['sel/c.bin', 4]])
    let completed = 0
    torrent.on('completed', () => { completed++ })
    torrent.addPeer(`127.0.0.1:${seeder.port}`)
    await waitCompleted(torrent, 40_000)
    expect(torrent.state).toBe('seeding')
    expect(completed).toBe(1)
    expect(torrent.stats().havePieces).toBeLessThan(torrent.stats().pieceCount)
    const source = await digestTree(join(seedDir, 'sel'))
    const got = await digestTree(join(leechDir, 'sel'))
    expect(got).toEqual({ 'a.bin': source['a.bin'], 'c.bin': source['c.bin'] })
    expect(existsSync(join(leechDir, 'sel', 'b.bin'))).toBe(false)
    expect(torrent.files[1]!.verifiedBytes).toBeLessThan(500_003)
  })

  it('streams a range from the middle of a file before the download finishes', async () => {
    const seedDir = await tempDir()
    const leechDir = await tempDir()
    const size = 3_000_017
    await writeContent(seedDir, 'film.bin', size)
    const original = await readFile(join(seedDir, 'film.bin'))
    const torrentPath = join(await tempDir(), 'film.torrent')
    await makeTorrent(seedDir, 'film.bin', 'v1', torrentPath, 16_384)
    // ~600 KB/s: the whole file takes ~5 s, the streamed range a fraction of that.
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed', torrentUploadLimit: 600_000 })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to seed')

    const engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const torrent = await engine.addTorrent(await readFile(torrentPath))
    torrent.addPeer(`127.0.0.1:${seeder.port}`)
    await pollUntil(() => torrent.state === 'downloading', 20_000, 'downloading')

    const start = 1_700_000
    const end = 1_900_000
    const reader = torrent.files[0]!.createReadStream({ start, end }).getReader()
    const chunks: Uint8Array[] = []
    for (;;) {
      const r = await reader.read()
      if (r.done) break
      chunks.push(r.value)
    }
    const piecesWhenStreamed = torrent.stats().havePieces
    expect(torrent.state).toBe('downloading')
    // The range is 13 of 184 pieces; deadlines fetch them first (measured: ~30 pieces had by then).
    expect(piecesWhenStreamed).toBeLessThan(torrent.stats().pieceCount / 3)
    expect(Buffer.compare(Buffer.concat(chunks), original.subarray(start, end + 1))).toBe(0)
    await waitCompleted(torrent, 40_000)
    expect(Buffer.compare(await readFile(join(leechDir, 'film.bin')), original)).toBe(0)
  })
})
