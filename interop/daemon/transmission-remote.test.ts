/**
 * Debian's transmission-remote (3.00) drives a running `lodestone daemon` through a whole life
 * (issue 14), everything on 127.0.0.1:
 *  - `-a` a .torrent (sent as base64 metainfo) and a magnet; `-l` lists both with the right columns;
 *  - `-d 1000` caps the download at 1000 kB/s — measured while the torrent downloads from a
 *    libtorrent seeder — then `-D` lifts it and the torrent completes byte-identical;
 *  - `-u 1000` caps the upload to a libtorrent leecher — measured on libtorrent's side;
 *  - the magnet fetches its metadata from a second libtorrent seeder and completes;
 *  - `-t N -i` details; `-S` stops, `-v` finds a corrupted piece while stopped (stays stopped),
 *    `-s` starts and it is repaired; `--move` moves the data to another storage root;
 *  - `--find` (set-location without move) finds a copy of the data elsewhere, same id;
 *  - `-r` removes keeping data, `--remove-and-delete` removes with data; `--exit` stops the daemon (exit 0).
 * The measured rates are printed (console) so a run records them.
 */
import { copyFile, mkdir, open } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { pathExists, removeTempDirs, sha256File, tempDir } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { makeContent } from '../helpers/libtorrent-swarm-peer.js'
import { parseInfo, parseList, pollFor, remoteOk, rpcCall, startDaemon, type RunningDaemon } from './daemon-harness.js'

const MiB = 1024 * 1024
const LIMIT_KBPS = 1000
const TOLERANCE = 0.25

const daemons: RunningDaemon[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(daemons.splice(0).map(async (d) => { await d.stop() }))
})
afterAll(async () => { await removeTempDirs() })

/** transmission-remote's size format (1000-based, two decimals under 100). */
function mb (bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`
}

/** Bytes per second of `sample()` over `windowMs`. */
async function measure (sample: () => Promise<number>, windowMs: number): Promise<number> {
  const a = await sample()
  const t0 = Date.now()
  await new Promise((resolve) => setTimeout(resolve, windowMs))
  const b = await sample()
  return (b - a) / ((Date.now() - t0) / 1000)
}

describe('transmission-remote drives lodestone daemon', () => {
  it('adds, lists, limits, completes, details, stops, verifies, starts, moves and removes', async () => {
    const base = await tempDir('lodestone-daemon-interop-')
    const seedA = join(base, 'seed-a')
    const seedB = join(base, 'seed-b')
    const downloads = join(base, 'downloads')
    const archive = join(base, 'archive')
    await Promise.all([seedA, seedB, downloads, archive].map(async (d) => { await mkdir(d, { recursive: true }) }))
    const a = await makeContent(seedA, 24 * MiB)
    const b = await makeContent(seedB, 2 * MiB)
    const daemon = await startDaemon(base, { downloadDir: downloads, stateDir: join(base, 'state'), storageRoots: [archive] })
    daemons.push(daemon)
    const port = daemon.rpcPort

    // Limit first, so the download is measured from its first byte.
    await remoteOk(port, ['-d', String(LIMIT_KBPS)])
    expect(await remoteOk(port, ['-a', a.torrentPath])).toMatch(/responded: "success"/)
    // Both payloads are payload.bin: -w gives the magnet a directory of its own (torrent-add's download-dir).
    expect(await remoteOk(port, ['-a', `magnet:?xt=urn:btih:${b.infoHash}&dn=payload-b`, '-w', join(downloads, 'b')])).toMatch(/responded: "success"/)
    const listed = parseList(await remoteOk(port, ['-l']))
    expect(listed.map((r) => [r.id, r.name])).toEqual([[1, 'payload.bin'], [2, 'payload-b']])
    expect(listed[0]).toMatchObject({ done: '0%', have: 'None', ratio: 'None', error: false })
    expect(listed[1]).toMatchObject({ done: 'n/a', have: 'None' })

    const seederA = await startLibtorrentPeer({ torrentPath: a.torrentPath, savePath: seedA, mode: 'seed', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    peers.push(seederA)
    const haveValid = async (): Promise<number> => (await rpcCall(port, 'torrent-get', { ids: [1], fields: ['haveValid'] })).arguments.torrents[0].haveValid as number
    await pollFor(async () => (await haveValid()) > 0 ? true : undefined, 30_000, 'the first verified piece')
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const limitedDown = await measure(haveValid, 5000)
    console.log(`daemon download with -d ${LIMIT_KBPS}: ${(limitedDown / 1000).toFixed(0)} kB/s`)
    expect(limitedDown).toBeGreaterThan(LIMIT_KBPS * 1000 * (1 - TOLERANCE))
    expect(limitedDown).toBeLessThan(LIMIT_KBPS * 1000 * (1 + TOLERANCE))
    const downloading = parseList(await remoteOk(port, ['-l']))[0]!
    expect(downloading.status).toMatch(/Downloading|Up & Down/)
    expect(downloading.down).toBeGreaterThan(LIMIT_KBPS * (1 - TOLERANCE))
    expect(downloading.down).toBeLessThan(LIMIT_KBPS * (1 + TOLERANCE))

    await remoteOk(port, ['-D'])
    await pollFor(async () => parseList(await remoteOk(port, ['-l']))[0]?.done === '100%' ? true : undefined, 60_000, 'torrent 1 to complete')
    expect(await sha256File(join(downloads, 'payload.bin'))).toBe(await sha256File(join(seedA, 'payload.bin')))

    // The magnet: metadata and data from a second seeder.
    const seederB = await startLibtorrentPeer({ torrentPath: b.torrentPath, savePath: seedB, mode: 'seed', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    peers.push(seederB)
    await pollFor(async () => parseList(await remoteOk(port, ['-l']))[1]?.done === '100%' ? true : undefined, 60_000, 'the magnet to complete').catch(async (err) => {
      console.log(await remoteOk(port, ['-l']), await remoteOk(port, ['-t', '2', '-i']), daemon.stderr, JSON.stringify(seederB.status), seederB.alerts)
      throw err
    })
    expect(await sha256File(join(downloads, 'b', 'payload.bin'))).toBe(await sha256File(join(seedB, 'payload.bin')))
    const done = parseList(await remoteOk(port, ['-l']))
    expect(done[1]).toMatchObject({ name: 'payload.bin', done: '100%', have: mb(2 * MiB), eta: 'Done' })
    expect(done[0]).toMatchObject({ done: '100%', have: mb(24 * MiB), eta: 'Done' })
    expect(['Seeding', 'Idle', 'Uploading']).toContain(done[0]!.status)

    // Upload limit, measured by the leecher.
    await remoteOk(port, ['-u', String(LIMIT_KBPS)])
    const leecher = await startLibtorrentPeer({ torrentPath: a.torrentPath, savePath: join(base, 'leech'), mode: 'download', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    peers.push(leecher)
    await leecher.waitFor((s) => s.totalDone > 0, 30_000, 'the leecher\'s first bytes')
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const limitedUp = await measure(async () => leecher.status?.totalPayloadDownload ?? 0, 5000)
    console.log(`daemon upload with -u ${LIMIT_KBPS}: ${(limitedUp / 1000).toFixed(0)} kB/s (measured by libtorrent)`)
    expect(limitedUp).toBeGreaterThan(LIMIT_KBPS * 1000 * (1 - TOLERANCE))
    expect(limitedUp).toBeLessThan(LIMIT_KBPS * 1000 * (1 + TOLERANCE))
    await leecher.close()
    await remoteOk(port, ['-U'])

    // Details.
    const info = parseInfo(await remoteOk(port, ['-t', '1', '-i']))
    expect(info).toMatchObject({ Id: '1', Name: 'payload.bin', Hash: a.infoHash, Location: downloads, 'Percent Done': '100%', 'Total size': `${mb(24 * MiB)} (${mb(24 * MiB)} wanted)` })
    expect(info['Piece Count']).toBe(String(24 * MiB / 65536))

    // Stop, corrupt a piece, verify while stopped (stays stopped), start: repaired.
    await remoteOk(port, ['-t', '1', '-S'])
    await pollFor(async () => parseList(await remoteOk(port, ['-l']))[0]?.status === 'Stopped' ? true : undefined, 15_000, 'torrent 1 stopped')
    const file = await open(join(downloads, 'payload.bin'), 'r+')
    await file.write(Buffer.from('corrupt'), 0, 7, 5 * 65536 + 100)
    await file.close()
    await remoteOk(port, ['-t', '1', '-v'])
    const afterVerify = await pollFor(async () => {
      const row = parseList(await remoteOk(port, ['-l']))[0]
      return row !== undefined && row.done !== '100%' && row.status === 'Stopped' ? row : undefined
    }, 30_000, 'the verify to find the corrupt piece')
    expect(afterVerify.done).toBe('99%')
    await remoteOk(port, ['-t', '1', '-s'])
    seederA.connect('127.0.0.1', daemon.peerPort)
    await pollFor(async () => parseList(await remoteOk(port, ['-l']))[0]?.done === '100%' ? true : undefined, 60_000, 'the repair')
    expect(await sha256File(join(downloads, 'payload.bin'))).toBe(await sha256File(join(seedA, 'payload.bin')))

    // Move to another storage root.
    await remoteOk(port, ['-t', '1', '--move', archive])
    await pollFor(async () => parseInfo(await remoteOk(port, ['-t', '1', '-i'])).Location === archive ? true : undefined, 30_000, 'the move')
    expect(await pathExists(join(downloads, 'payload.bin'))).toBe(false)
    expect(await sha256File(join(archive, 'payload.bin'))).toBe(await sha256File(join(seedA, 'payload.bin')))

    // --find (set-location without move): the data is found at the new place, same id.
    const found = join(archive, 'found')
    await mkdir(found)
    await copyFile(join(archive, 'payload.bin'), join(found, 'payload.bin'))
    await remoteOk(port, ['-t', '1', '--find', found])
    const relocated = await pollFor(async () => {
      const i = parseInfo(await remoteOk(port, ['-t', '1', '-i']))
      return i.Location === found && i['Percent Done'] === '100%' ? i : undefined
    }, 30_000, 'the data found at the new location')
    expect(relocated).toMatchObject({ Id: '1', Hash: a.infoHash })

    // Remove keeping the data, then remove with data.
    await remoteOk(port, ['-t', '2', '-r'])
    await remoteOk(port, ['-t', '1', '--remove-and-delete'])
    expect(parseList(await remoteOk(port, ['-l']))).toEqual([])
    expect(await pathExists(join(found, 'payload.bin'))).toBe(false)
    expect(await pathExists(join(archive, 'payload.bin'))).toBe(true)
    expect(await sha256File(join(downloads, 'b', 'payload.bin'))).toBe(await sha256File(join(seedB, 'payload.bin')))
    // --exit: session-close shuts the daemon down cleanly.
    await remoteOk(port, ['--exit'])
    expect(await daemon.exited).toBe(0)
  })
})
