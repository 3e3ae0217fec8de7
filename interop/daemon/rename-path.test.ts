/**
 * torrent-rename-path against `lodestone daemon` (issue 14), sent as Transmission's RPC: Debian's
 * transmission-remote 3.00 has no `--path X --rename Y` (those came with 4.0), so the call is the
 * one 4.0 sends, and transmission-remote 3.00 drives the rest (`-a`, `-v`). A completed
 * file is renamed on disk, `-v` verifies the torrent complete under the new name, the name
 * survives a daemon restart (resume data), and the restarted daemon seeds the file to a libtorrent
 * 2.0.8 leecher, which gets it byte-identical (under the torrent's own name).
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { pathExists, removeTempDirs, sha256File, tempDir } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { makeContent } from '../helpers/libtorrent-swarm-peer.js'
import { pollFor, remoteOk, rpcCall, startDaemon, type RunningDaemon } from './daemon-harness.js'

const daemons: RunningDaemon[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(daemons.splice(0).map(async (d) => { await d.stop() }))
})
afterAll(async () => { await removeTempDirs() })

/** Status, progress and file names of torrent 1. */
async function torrent1 (port: number): Promise<{ status: number, percentDone: number, files: Array<{ name: string }> }> {
  return (await rpcCall(port, 'torrent-get', { ids: [1], fields: ['status', 'percentDone', 'files'] })).arguments.torrents[0]
}

describe('transmission-remote --rename', () => {
  it('renames a completed file, verifies, restarts and seeds it to libtorrent', async () => {
    const base = await tempDir('lodestone-daemon-rename-')
    const data = join(base, 'data')
    await mkdir(data, { recursive: true })
    const content = await makeContent(data, 3 * 1024 * 1024)
    const original = await sha256File(join(data, 'payload.bin'))
    const config = { downloadDir: data, stateDir: join(base, 'state') }
    let daemon = await startDaemon(base, config)
    daemons.push(daemon)
    expect(await remoteOk(daemon.rpcPort, ['-a', content.torrentPath])).toMatch(/responded: "success"/)
    await pollFor(async () => ((await torrent1(daemon.rpcPort)).status === 6 ? true : undefined), 30_000, 'seeding')

    const renamed = await rpcCall(daemon.rpcPort, 'torrent-rename-path', { ids: [1], path: 'payload.bin', name: 'renamed.bin' })
    expect(renamed).toMatchObject({ result: 'success', arguments: { path: 'payload.bin', name: 'renamed.bin', id: 1 } })
    expect(await pathExists(join(data, 'payload.bin'))).toBe(false)
    expect(await sha256File(join(data, 'renamed.bin'))).toBe(original)
    expect((await torrent1(daemon.rpcPort)).files.map((f) => f.name)).toEqual(['renamed.bin'])
    // A refused rename answers its reason as the result string.
    const refused = await rpcCall(daemon.rpcPort, 'torrent-rename-path', { ids: [1], path: 'renamed.bin', name: '../escape.bin' })
    expect(refused.result).toMatch(/not a valid file name/)

    expect(await remoteOk(daemon.rpcPort, ['-t', '1', '-v'])).toMatch(/responded: "success"/)
    await pollFor(async () => ((await torrent1(daemon.rpcPort)).status !== 6 ? true : undefined), 5_000, 'the check to start').catch(() => {})
    await pollFor(async () => { const t = await torrent1(daemon.rpcPort); return t.status === 6 && t.percentDone === 1 ? true : undefined }, 30_000, 'verified complete')

    expect(await daemon.stop()).toBe(0)
    daemons.splice(0)
    daemon = await startDaemon(base, config)
    daemons.push(daemon)
    await pollFor(async () => { const t = await torrent1(daemon.rpcPort); return t.status === 6 && t.percentDone === 1 ? true : undefined }, 30_000, 'seeding after the restart')
    expect((await torrent1(daemon.rpcPort)).files.map((f) => f.name)).toEqual(['renamed.bin'])

    const leech = join(base, 'leech')
    const leecher = await startLibtorrentPeer({ torrentPath: content.torrentPath, savePath: leech, mode: 'download', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    peers.push(leecher)
    await leecher.waitFor((s) => s.isSeeding, 60_000, 'the libtorrent leecher to complete')
    expect(await sha256File(join(leech, 'payload.bin'))).toBe(original)
  })
})
