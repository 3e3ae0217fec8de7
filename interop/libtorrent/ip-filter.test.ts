/**
 * Lodestone's IP filter against real libtorrent 2.0.8 peers (issue 5). Linux routes all of
 * 127.0.0.0/8 to loopback, so one libtorrent is bound to 127.0.0.2 (listening and dialling from
 * there) and another to 127.0.0.1; Lodestone's filter denies 127.0.0.2 only.
 *
 * - Incoming: both libtorrents dial a seeding Lodestone. The 127.0.0.2 one is closed before the
 *   handshake (a 'peer-blocked' incoming event, it never receives a byte); the 127.0.0.1 one
 *   downloads everything.
 * - Outgoing: a downloading Lodestone is told about both libtorrent seeders. It never dials the
 *   127.0.0.2 one (a 'peer-blocked' outgoing event, libtorrent sees no peer) and downloads
 *   everything from the 127.0.0.1 one.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import type { PeerBlockedEvent } from '../../packages/engine/src/peer/connection-manager.js'
import { IpFilter } from '../../packages/engine/src/ip-filter/ip-filter.js'
import { digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, waitState, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const PAYLOAD_BYTES = 3 * 1024 * 1024 + 123
const BLOCKED_HOST = '127.0.0.2'
/** libtorrent bound to 127.0.0.2 for listening and for the connections it makes. */
const ON_BLOCKED_HOST = { listen_interfaces: `${BLOCKED_HOST}:0`, outgoing_interfaces: BLOCKED_HOST }

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

let seedDir = ''
let torrentPath = ''
beforeAll(async () => {
  seedDir = await tempDir()
  await writeContent(seedDir, 'payload.bin', PAYLOAD_BYTES)
  torrentPath = join(await tempDir(), 'filter.torrent')
  await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath)
}, 30_000)

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

function denyBlockedHost (): IpFilter {
  return new IpFilter().addRule(BLOCKED_HOST, 'deny')
}

describe('IP filter against libtorrent (TCP, loopback)', () => {
  it('refuses an incoming libtorrent on 127.0.0.2 before the handshake while one on 127.0.0.1 downloads', async () => {
    const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    engine.setIpFilter(denyBlockedHost())
    const blocked: PeerBlockedEvent[] = []
    engine.on('peer-blocked', (e) => blocked.push(e))
    const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: seedDir })
    await waitState(torrent, 'seeding', 20_000)
    const target = [{ host: '127.0.0.1', port: engine.port! }]

    const denied = await startLibtorrentPeer({ torrentPath, savePath: await tempDir(), mode: 'download', peers: target, settings: ON_BLOCKED_HOST })
    peers.push(denied)
    const allowedDir = await tempDir()
    const allowed = await startLibtorrentPeer({ torrentPath, savePath: allowedDir, mode: 'download', peers: target })
    peers.push(allowed)

    await allowed.waitFor((s) => s.isSeeding, 30_000, 'the 127.0.0.1 libtorrent to download everything')
    expect(await digestTree(join(allowedDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    // The denied one keeps retrying; give it time, then check it never got anything.
    await sleep(2_000)
    expect(denied.status?.totalPayloadDownload).toBe(0)
    expect(denied.status?.peers).toEqual([])
    const incoming = blocked.filter((e) => e.direction === 'incoming')
    expect(incoming.length).toBeGreaterThan(0)
    expect(incoming.every((e) => e.address.startsWith(`${BLOCKED_HOST}:`))).toBe(true)
    expect(torrent.peers().every((p) => p.address.startsWith('127.0.0.1:'))).toBe(true)
    expect(engine.stats().listen.refused).toBeGreaterThan(0)
    expect(engine.alerts.popAlerts().some((a) => a.type === 'peer-blocked' && a.category === 'ip-block')).toBe(true)
  })

  it('never dials a libtorrent seeder on 127.0.0.2 and downloads from the one on 127.0.0.1', async () => {
    const deniedSeeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed', settings: ON_BLOCKED_HOST })
    peers.push(deniedSeeder)
    const allowedSeeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
    peers.push(allowedSeeder)
    await deniedSeeder.waitFor((s) => s.isSeeding, 20_000, 'the 127.0.0.2 seeder to check its data')
    await allowedSeeder.waitFor((s) => s.isSeeding, 20_000, 'the 127.0.0.1 seeder to check its data')

    const leechDir = await tempDir()
    const engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    engine.setIpFilter(denyBlockedHost())
    const blocked: PeerBlockedEvent[] = []
    engine.on('peer-blocked', (e) => blocked.push(e))
    const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: leechDir })
    torrent.addPeer(`${BLOCKED_HOST}:${deniedSeeder.port}`)
    torrent.addPeer(`127.0.0.1:${allowedSeeder.port}`)
    await waitCompleted(torrent, 30_000)

    expect(await digestTree(join(leechDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    expect(blocked).toContainEqual({ address: `${BLOCKED_HOST}:${deniedSeeder.port}`, direction: 'outgoing', torrentId: torrent.id, reason: 'ip-filter' })
    await deniedSeeder.waitFor(() => true, 2_000)
    expect(deniedSeeder.status?.peers).toEqual([])
    expect(deniedSeeder.status?.totalPayloadUpload).toBe(0)
    // Its status lines come every 200 ms: the one after our completion carries the upload.
    await allowedSeeder.waitFor((s) => s.totalPayloadUpload > 0, 5_000, 'the 127.0.0.1 seeder to report its upload')
  })

  it('drops a connected libtorrent on 127.0.0.2 when the filter changes at run time', async () => {
    // Slow uploads so the transfer is still running when the filter changes.
    const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off', settings: { rateLimit: { uploadRateBytesPerSec: 256 * 1024 } } })
    engines.push(engine)
    const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: seedDir })
    await waitState(torrent, 'seeding', 20_000)
    const leech = await startLibtorrentPeer({ torrentPath, savePath: await tempDir(), mode: 'download', peers: [{ host: '127.0.0.1', port: engine.port! }], settings: ON_BLOCKED_HOST })
    peers.push(leech)
    await leech.waitFor((s) => s.totalPayloadDownload > 0, 20_000, 'libtorrent to start receiving')
    expect(torrent.peers().map((p) => p.address.split(':')[0])).toEqual([BLOCKED_HOST])

    const blocked: PeerBlockedEvent[] = []
    engine.on('peer-blocked', (e) => blocked.push(e))
    engine.setIpFilter(denyBlockedHost())
    expect(blocked[0]).toMatchObject({ direction: 'incoming', torrentId: torrent.id, reason: 'ip-filter' })
    await leech.waitFor((s) => s.peers.length === 0, 10_000, 'libtorrent to lose the connection')
    const got = leech.status!.totalPayloadDownload
    await sleep(3_000)
    expect(leech.status!.totalPayloadDownload).toBe(got)
    expect(leech.status!.isSeeding).toBe(false)
    expect(torrent.peers()).toEqual([])
  })
})
