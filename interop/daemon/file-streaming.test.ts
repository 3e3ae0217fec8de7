/**
 * File streaming (issue 14): `GET /files/<infohash>/<index>` with Range, served through the
 * engine's read streams while the torrent downloads from a libtorrent seeder at a capped rate
 * (`speed-limit-down` 800 kB/s, so the download takes ~10 s): a range near the end of the file
 * arrives byte-identical while most of the file is still missing (its pieces were fetched first),
 * then the whole file streams from byte 0 and its first bytes arrive before the download is done.
 * Guards: no token 401, a foreign Host 403, an unsatisfiable range 416, an unknown torrent 404.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { removeTempDirs, tempDir } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { makeContent } from '../helpers/libtorrent-swarm-peer.js'
import { rpcCall, startDaemon, type RunningDaemon } from './daemon-harness.js'

const MiB = 1024 * 1024
const daemons: RunningDaemon[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(daemons.splice(0).map(async (d) => { await d.stop() }))
})
afterAll(async () => { await removeTempDirs() })

interface Got { status: number, headers: Record<string, string | string[] | undefined>, body: Buffer, firstByteAtMs: number }

async function get (port: number, path: string, headers: Record<string, string> = {}, onFirstByte?: () => void): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      let firstByteAtMs = 0
      res.on('data', (c: Buffer) => {
        if (firstByteAtMs === 0) {
          firstByteAtMs = Date.now()
          onFirstByte?.()
        }
        chunks.push(c)
      })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), firstByteAtMs }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('file streaming over HTTP', () => {
  it('serves ranges through the read streams while the torrent downloads', async () => {
    const base = await tempDir('lodestone-daemon-stream-')
    const seed = join(base, 'seed')
    await mkdir(seed, { recursive: true })
    const content = await makeContent(seed, 8 * MiB)
    const source = await readFile(join(seed, 'payload.bin'))
    const daemon = await startDaemon(base, { downloadDir: join(base, 'downloads'), stateDir: join(base, 'state') })
    daemons.push(daemon)
    const port = daemon.rpcPort
    const token = (await readFile(daemon.apiTokenFile, 'utf8')).trim()
    const auth = { Authorization: `Bearer ${token}` }
    expect((await rpcCall(port, 'session-set', { 'speed-limit-down': 800, 'speed-limit-down-enabled': true })).result).toBe('success')
    expect((await rpcCall(port, 'torrent-add', { metainfo: (await readFile(content.torrentPath)).toString('base64') })).result).toBe('success')
    const path = `/files/${content.infoHash}/0`

    expect((await get(port, path)).status).toBe(401)
    expect((await get(port, path, { ...auth, Host: 'evil.example' })).status).toBe(403)
    expect((await get(port, `/files/${'0'.repeat(40)}/0`, auth)).status).toBe(404)
    const unsatisfiable = await get(port, path, { ...auth, Range: `bytes=${8 * MiB}-` })
    expect(unsatisfiable.status).toBe(416)
    expect(unsatisfiable.headers['content-range']).toBe(`bytes */${8 * MiB}`)

    const seeder = await startLibtorrentPeer({ torrentPath: content.torrentPath, savePath: seed, mode: 'seed', peers: [{ host: '127.0.0.1', port: daemon.peerPort }] })
    peers.push(seeder)
    const percentDone = async (): Promise<number> => (await rpcCall(port, 'torrent-get', { ids: [1], fields: ['percentDone'] })).arguments.torrents[0].percentDone as number

    // A range near the end: its pieces become time-critical and arrive long before the rest.
    const start = 7 * MiB + 12_345
    const end = start + 300_000 - 1
    const tail = await get(port, path, { ...auth, Range: `bytes=${start}-${end}` })
    const doneAtTail = await percentDone()
    console.log(`range ${start}-${end} served at ${(doneAtTail * 100).toFixed(1)} % of the download`)
    expect(tail.status).toBe(206)
    expect(tail.headers['content-range']).toBe(`bytes ${start}-${end}/${8 * MiB}`)
    expect(tail.headers['accept-ranges']).toBe('bytes')
    expect(tail.body.equals(source.subarray(start, end + 1))).toBe(true)
    expect(doneAtTail).toBeLessThan(0.5)

    // The whole file from byte 0: the first bytes come while the download is still running.
    let doneAtFirstByte: Promise<number> | null = null
    const full = await get(port, path, { ...auth, Range: 'bytes=0-' }, () => { doneAtFirstByte = percentDone() })
    expect(full.status).toBe(206)
    expect(full.body.equals(source)).toBe(true)
    const early = await (doneAtFirstByte as Promise<number> | null)
    console.log(`whole-file stream: first byte at ${((early ?? 1) * 100).toFixed(1)} % of the download`)
    expect(early).not.toBeNull()
    expect(early!).toBeLessThan(1)
    // The bytes show in /metrics too.
    const metrics = (await get(port, '/metrics', auth)).body.toString('utf8')
    const downloaded = Number(/^lodestone_downloaded_bytes_total (\d+)$/m.exec(metrics)?.[1])
    expect(downloaded).toBeGreaterThanOrEqual(8 * MiB)
    expect(metrics).toMatch(/^lodestone_torrents\{state="seeding"\} 1$/m)
    const token2 = await get(port, `${path}?token=${token}`, { Range: 'bytes=-10' })
    expect(token2.status).toBe(206)
    expect(token2.body.equals(source.subarray(8 * MiB - 10))).toBe(true)
  })
})
