/**
 * Lodestone downloads one torrent from two different real seeders at once — libtorrent 2.0.8
 * (upload capped at 128 KiB/s so it cannot finish alone before Transmission unchokes) and
 * Transmission 3.00 — over TCP on 127.0.0.1. Both must contribute blocks, the file must hash
 * like the original, and the end-game's duplicate requests and cancels go to both clients.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { TR_STATUS, startTransmission, type RunningTransmission } from '../helpers/transmission.js'

let tr: RunningTransmission | null = null
let lt: LibtorrentPeer | null = null
let engine: BtEngine | null = null
afterAll(async () => {
  await engine?.close()
  await lt?.close()
  await tr?.close()
  await removeTempDirs()
})

describe('mixed swarm (TCP, loopback)', () => {
  it('Lodestone downloads from libtorrent and Transmission together', async () => {
    const seedDir = await tempDir()
    const leechDir = await tempDir()
    const name = 'payload.bin'
    await writeContent(seedDir, name, 3 * 1024 * 1024 + 4321)
    const torrentPath = join(await tempDir(), 'test.torrent')
    const created = await makeTorrent(seedDir, name, 'v1', torrentPath)
    const metainfo = await readFile(torrentPath)

    tr = await startTransmission()
    const { id } = await tr.addTorrent(metainfo, seedDir)
    lt = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed', torrentUploadLimit: 128 * 1024 })
    await tr.waitFor(id, (t) => t.status === TR_STATUS.seed && t.percentDone === 1, 20_000, 'Transmission to verify and seed')
    await lt.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to verify and seed')

    engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off', settings: { connection: { retryBackoffMs: 1_000 } } })
    const torrent = await engine.addTorrent(metainfo, { downloadPath: leechDir })
    const seen = new Set<string>()
    torrent.on('peer-connected', () => { for (const p of torrent.peers()) seen.add(String(p.clientName)) })
    torrent.addPeer(`127.0.0.1:${lt.port}`)
    torrent.addPeer(`127.0.0.1:${tr.peerPort}`)
    await waitCompleted(torrent, 45_000)

    expect(await digestTree(join(leechDir, name))).toEqual(await digestTree(join(seedDir, name)))
    expect([...seen]).toContainEqual(expect.stringMatching(/^libtorrent /))
    expect([...seen]).toContainEqual(expect.stringMatching(/^Transmission /))
    const fromTransmission = (await tr.getTorrent(id)).uploadedEver
    const fromLibtorrent = (await lt.waitFor(() => true, 2_000)).totalPayloadUpload
    expect(fromTransmission).toBeGreaterThan(0)
    expect(fromLibtorrent).toBeGreaterThan(0)
    expect(fromTransmission + fromLibtorrent).toBeGreaterThanOrEqual(created.totalLengthBytes)
    expect(torrent.stats().downloadedBytes).toBeGreaterThanOrEqual(created.totalLengthBytes)
  })
})
