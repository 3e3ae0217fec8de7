/**
 * The `@ctrl/transmission` npm client (a typed TypeScript Transmission client, as *arr tools use)
 * drives a running `lodestone daemon` through its API (issue 14): session, add a .torrent and a
 * magnet, list with every field it asks for, set limits and labels, pause/resume, verify, move,
 * remove with and without data. Data comes from libtorrent seeders on 127.0.0.1.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Transmission } from '@ctrl/transmission'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { pathExists, removeTempDirs, sha256File, tempDir } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { makeContent } from '../helpers/libtorrent-swarm-peer.js'
import { pollFor, startDaemon, type RunningDaemon } from './daemon-harness.js'

const MiB = 1024 * 1024
const daemons: RunningDaemon[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(daemons.splice(0).map(async (d) => { await d.stop() }))
})
afterAll(async () => { await removeTempDirs() })

describe('@ctrl/transmission drives lodestone daemon', () => {
  it('adds, lists every field, sets, pauses, resumes, verifies, moves and removes', async () => {
    const base = await tempDir('lodestone-daemon-ctrl-')
    const seedA = join(base, 'seed-a')
    const seedB = join(base, 'seed-b')
    const downloads = join(base, 'downloads')
    const archive = join(base, 'archive')
    await Promise.all([seedA, seedB, downloads, archive].map(async (d) => { await mkdir(d, { recursive: true }) }))
    const a = await makeContent(seedA, 8 * MiB)
    const b = await makeContent(seedB, 1 * MiB)
    const daemon = await startDaemon(base, { downloadDir: downloads, stateDir: join(base, 'state'), storageRoots: [archive] })
    daemons.push(daemon)
    const client = new Transmission({ baseUrl: `http://127.0.0.1:${daemon.rpcPort}/`, timeout: 20_000 })

    const session = await client.getSession()
    expect(session.result).toBe('success')
    expect(session.arguments['rpc-version']).toBe(17)
    expect(typeof session.arguments.version).toBe('string')

    // The library's default download-dir (/downloads) is outside the roots: refused, nothing added.
    const refused = await client.addTorrent(new Uint8Array(await readFile(a.torrentPath)))
    expect(refused.result).toMatch(/outside the allowed storage roots/)

    const added = await client.addTorrent(new Uint8Array(await readFile(a.torrentPath)), { 'download-dir': downloads, paused: true })
    expect(added.result).toBe('success')
    expect(added.arguments['torrent-added']).toMatchObject({ hashString: a.infoHash, id: 1, name: 'payload.bin' })
    const magnet = await client.addMagnet(`magnet:?xt=urn:btih:${b.infoHash}`, { 'download-dir': join(downloads, 'b') })
    expect(magnet.arguments['torrent-added']).toMatchObject({ hashString: b.infoHash, id: 2 })
    const again = await client.addMagnet(`magnet:?xt=urn:btih:${b.infoHash}`, { 'download-dir': join(downloads, 'b') })
    expect((again.arguments as Record<string, unknown>)['torrent-duplicate']).toMatchObject({ hashString: b.infoHash, id: 2 })

    // Every field the library asks for is answered, for a torrent and for a magnet without metadata.
    const listed = await client.listTorrents(undefined, ['pieces', 'trackerStats', 'file-count', 'primary-mime-type', 'percentComplete', 'trackerList', 'group'])
    const requested = ['id', 'addedDate', 'creator', 'doneDate', 'comment', 'name', 'totalSize', 'error', 'errorString', 'eta', 'etaIdle', 'isFinished',
      'isStalled', 'isPrivate', 'files', 'fileStats', 'hashString', 'leftUntilDone', 'metadataPercentComplete', 'peers', 'peersFrom', 'peersConnected',
      'peersGettingFromUs', 'peersSendingToUs', 'percentDone', 'queuePosition', 'rateDownload', 'rateUpload', 'secondsDownloading', 'secondsSeeding',
      'recheckProgress', 'seedRatioMode', 'seedRatioLimit', 'seedIdleLimit', 'sizeWhenDone', 'status', 'trackers', 'downloadDir', 'downloadLimit',
      'downloadLimited', 'uploadedEver', 'downloadedEver', 'corruptEver', 'uploadRatio', 'webseedsSendingToUs', 'haveUnchecked', 'haveValid',
      'honorsSessionLimits', 'manualAnnounceTime', 'activityDate', 'desiredAvailable', 'labels', 'magnetLink', 'maxConnectedPeers', 'peer-limit',
      'priorities', 'wanted', 'webseeds', 'pieces', 'trackerStats', 'file-count', 'primary-mime-type', 'percentComplete', 'trackerList', 'group']
    expect(listed.arguments.torrents).toHaveLength(2)
    for (const t of listed.arguments.torrents) expect(Object.keys(t).sort()).toEqual([...new Set(requested)].sort())
    const [first, second] = listed.arguments.torrents
    expect(first).toMatchObject({ status: 0, totalSize: 8 * MiB, sizeWhenDone: 8 * MiB, leftUntilDone: 8 * MiB, 'file-count': 1, downloadDir: downloads, metadataPercentComplete: 1 })
    expect(first!.files).toEqual([{ bytesCompleted: 0, length: 8 * MiB, name: 'payload.bin' }])
    expect(second).toMatchObject({ metadataPercentComplete: 0, downloadDir: join(downloads, 'b'), files: [] })

    // Limits and labels.
    expect((await client.setTorrent(a.infoHash, { downloadLimit: 321, downloadLimited: true, labels: ['linux'] })).result).toBe('success')
    const one = await client.getTorrent(a.infoHash)
    expect(one).toMatchObject({ id: a.infoHash, label: 'linux', state: 'paused', isCompleted: false, savePath: downloads })
    expect(one.raw).toMatchObject({ downloadLimit: 321, downloadLimited: true })
    expect((await client.setTorrent(a.infoHash, { downloadLimited: false })).result).toBe('success')

    // Resume: the data comes from libtorrent.
    expect((await client.resumeTorrent(a.infoHash)).result).toBe('success')
    const seederA = await startLibtorrentPeer({ torrentPath: a.torrentPath, savePath: seedA, mode: 'seed', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    const seederB = await startLibtorrentPeer({ torrentPath: b.torrentPath, savePath: seedB, mode: 'seed', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    peers.push(seederA, seederB)
    await pollFor(async () => {
      const all = await client.getAllData()
      return all.torrents.length === 2 && all.torrents.every((t) => t.isCompleted && t.progress === 1) ? all : undefined
    }, 60_000, 'both torrents complete')
    expect(await sha256File(join(downloads, 'payload.bin'))).toBe(await sha256File(join(seedA, 'payload.bin')))
    expect(await sha256File(join(downloads, 'b', 'payload.bin'))).toBe(await sha256File(join(seedB, 'payload.bin')))
    const all = await client.getAllData()
    expect(all.labels).toEqual([{ id: 'linux', name: 'linux', count: 1 }])
    const doneA = all.torrents.find((t) => t.id === a.infoHash)!
    expect(doneA).toMatchObject({ name: 'payload.bin', totalSize: 8 * MiB, totalSelected: 8 * MiB })
    expect(doneA.totalDownloaded).toBeGreaterThanOrEqual(8 * MiB)
    expect(doneA.state).toBe('seeding')
    expect(Date.parse(doneA.dateCompleted ?? '')).toBeGreaterThan(Date.parse(doneA.dateAdded) - 1000)

    // Pause, verify while paused, resume.
    await client.pauseTorrent(a.infoHash)
    await pollFor(async () => (await client.getTorrent(a.infoHash)).state as string === 'paused' ? true : undefined, 15_000, 'paused')
    await client.verifyTorrent(a.infoHash)
    await pollFor(async () => {
      const t = await client.getTorrent(a.infoHash)
      return t.state as string === 'paused' && t.progress === 1 ? true : undefined
    }, 30_000, 'verified, still paused')
    await client.resumeTorrent(a.infoHash)
    await pollFor(async () => (await client.getTorrent(a.infoHash)).state as string === 'seeding' ? true : undefined, 15_000, 'seeding again')

    // Move, then remove with data and without.
    expect((await client.moveTorrent(a.infoHash, archive)).result).toBe('success')
    await pollFor(async () => (await client.getTorrent(a.infoHash)).savePath === archive ? true : undefined, 30_000, 'moved')
    expect(await sha256File(join(archive, 'payload.bin'))).toBe(await sha256File(join(seedA, 'payload.bin')))
    expect(await pathExists(join(downloads, 'payload.bin'))).toBe(false)
    expect((await client.removeTorrent(a.infoHash, true)).result).toBe('success')
    expect((await client.removeTorrent(b.infoHash, false)).result).toBe('success')
    expect((await client.getAllData()).torrents).toEqual([])
    expect(await pathExists(join(archive, 'payload.bin'))).toBe(false)
    expect(await pathExists(join(downloads, 'b', 'payload.bin'))).toBe(true)
  })
})
