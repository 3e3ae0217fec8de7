/**
 * BEP 21 (upload_only in the extended handshake) against libtorrent 2.0.8 on 127.0.0.1:
 * - we send it: Lodestone wants one file of a tree from a libtorrent seeder; once it has that file
 *   it is finished but not a seed, and re-sends its extended handshake with `upload_only: 1`.
 *   libtorrent records the flag for our connection (peer_info upload_only) and, being a seed,
 *   closes the now redundant connection (its close_redundant_connections default).
 * - we honour it: a Lodestone seed keeps no connection to a peer whose handshake says it only
 *   uploads — libtorrent holding (and wanting) only the first file of the tree dials us with
 *   upload_only 1 and close_redundant_connections off, so only Lodestone can end it.
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import { parseTorrent } from '../../packages/engine/src/metainfo/parse-torrent.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { digestTree, makeTorrent, pollUntil, removeTempDirs, tempDir, waitCompleted, waitState, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

/** The first file is exactly 8 pieces of 32 KiB, so holding it alone verifies its pieces. */
const TREE = { 'a-first.bin': 8 * 32_768, 'b/second.bin': 300_001, 'c-third.bin': 200_000 }

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

async function tree (): Promise<{ seedDir: string, torrentPath: string, metainfo: Uint8Array, firstOnly: number[] }> {
  const seedDir = await tempDir()
  await writeContent(seedDir, 'tree', TREE)
  const torrentPath = join(await tempDir(), 'tree.torrent')
  await makeTorrent(seedDir, 'tree', 'v1', torrentPath)
  const metainfo = await readFile(torrentPath)
  const meta = await parseTorrent(metainfo)
  expect(meta.files[0]!.path).toEqual(['a-first.bin'])
  return { seedDir, torrentPath, metainfo, firstOnly: meta.files.map((_, i) => (i === 0 ? 4 : 0)) }
}

describe('BEP 21 upload_only with libtorrent', () => {
  it('we send it once our wanted files are done: libtorrent flags us upload-only and drops the redundant connection', async () => {
    const { seedDir, torrentPath, metainfo, firstOnly } = await tree()
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to check its data and seed')
    const dir = await tempDir()
    const engine = createNodeEngine({ downloadPath: dir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const torrent = await engine.addTorrent(metainfo, { downloadPath: dir, filePriorities: firstOnly })
    const disconnected: number[] = []
    torrent.on('peer-disconnected', () => { disconnected.push(Date.now()) })
    torrent.addPeer(`127.0.0.1:${seeder.port}`)
    await waitCompleted(torrent, 30_000)
    const completedAt = Date.now()
    expect(torrent.isComplete).toBe(true) // every wanted piece
    expect(torrent.stats().havePieces).toBeLessThan(torrent.stats().pieceCount)
    expect((await digestTree(join(dir, 'tree', 'a-first.bin')))['']).toBe((await digestTree(join(seedDir, 'tree', 'a-first.bin')))[''])
    await pollUntil(() => disconnected.length > 0, 10_000, 'libtorrent to close the redundant connection')
    expect(disconnected[0]! - completedAt).toBeLessThan(10_000)
    // libtorrent's own reason: it is a seed and we said we only upload.
    await pollUntil(() => seeder.disconnects.length > 0, 5_000, 'libtorrent to report the disconnect')
    expect(seeder.disconnects.join('\n')).toMatch(/upload to upload/i)
  })

  it('a Lodestone seed closes a connection from a peer that says it only uploads', async () => {
    const { seedDir, torrentPath, metainfo, firstOnly } = await tree()
    const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const port = await engine.listen()
    const torrent = await engine.addTorrent(metainfo, { downloadPath: seedDir })
    await waitState(torrent, 'seeding', 20_000)
    const events: string[] = []
    torrent.on('peer-connected', ({ peer }) => { events.push(`connected ${String(peer.clientName)}`) })
    torrent.on('peer-disconnected', ({ reason }) => { events.push(`disconnected ${reason?.code ?? ''} ${reason?.message ?? ''}`) })

    // libtorrent has (and wants) only the first file: finished, upload-only, not a seed.
    const leechDir = await tempDir()
    const first = join(leechDir, 'tree', 'a-first.bin')
    await mkdir(dirname(first), { recursive: true })
    await copyFile(join(seedDir, 'tree', 'a-first.bin'), first)
    const lt = await startLibtorrentPeer({
      torrentPath, savePath: leechDir, mode: 'download', filePriorities: firstOnly,
      settings: { close_redundant_connections: false }
    })
    peers.push(lt)
    await lt.waitFor((s) => s.isFinished && !s.isSeeding && s.totalDone === s.totalWanted, 20_000, 'libtorrent to find its one file and finish')
    // It dials us only now, already upload-only: its extended handshake carries upload_only 1.
    await lt.close()
    peers.pop()
    const lt2 = await startLibtorrentPeer({
      torrentPath, savePath: leechDir, mode: 'download', filePriorities: firstOnly,
      settings: { close_redundant_connections: false }, peers: [{ host: '127.0.0.1', port: port! }]
    })
    peers.push(lt2)
    await pollUntil(() => events.some((e) => e.startsWith('disconnected')), 15_000, 'Lodestone to close the upload-only peer')
    // Lodestone closed it (no error), libtorrent did not (its close_redundant_connections is off).
    expect(events.find((e) => e.startsWith('disconnected'))).toBe('disconnected  ')
    expect(lt2.disconnects.join('\n')).not.toMatch(/upload to upload/i)
    expect(events[0]).toMatch(/^connected libtorrent/i)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(torrent.peers()).toEqual([])
    expect(torrent.stats().uploadedBytes).toBe(0)
  })
})
