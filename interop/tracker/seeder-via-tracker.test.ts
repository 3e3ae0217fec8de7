/**
 * Lodestone finds a libtorrent 2.0.8 seeder only through a tracker — opentracker over HTTP and
 * UDP, and the bittorrent-tracker npm server over HTTP — and downloads from it byte-identical.
 * Neither side is told of the other; the .torrent names the tracker and nothing else (no DHT,
 * LSD or PEX anywhere). The peer Lodestone connects to must carry PeerInfo.source 'tracker'.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Server from 'bittorrent-tracker/server'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import type { PeerInfo } from '../../packages/engine/src/torrent/torrent.js'
import { fromHex } from '../../packages/engine/src/util/bytes.js'
import { makeContent, startSwarmPeer, withTrackers, type SwarmPeer } from '../helpers/libtorrent-swarm-peer.js'
import { startOpentracker } from './tracker-harness.js'

const engines: BtEngine[] = []
const peers: SwarmPeer[] = []
const cleanups: Array<() => Promise<void>> = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(cleanups.splice(0).map(async (c) => { await c() }))
})
afterAll(async () => {
  await Promise.all(dirs.map(async (d) => { await rm(d, { recursive: true, force: true }) }))
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lodestone-tracker-'))
  dirs.push(d)
  return d
}

/** Starts a tracker for `infoHashHex` and returns its announce URL. */
type StartTracker = (infoHashHex: string) => Promise<string>

const opentracker = (protocol: 'http' | 'udp'): StartTracker => async (infoHashHex) => {
  const hash = fromHex(infoHashHex)
  if (hash === null) throw new Error(`not an info hash: ${infoHashHex}`)
  const ot = await startOpentracker([hash])
  cleanups.push(ot.stop)
  return protocol === 'http' ? ot.httpUrl : ot.udpUrl
}

const npmTracker: StartTracker = async () => {
  const server = new Server({ http: true, udp: false, ws: false, stats: false, interval: 60_000 })
  server.on('error', () => {})
  server.on('warning', () => {})
  const ready = new Promise<void>((resolve) => { server.http!.once('listening', () => { resolve() }) })
  server.listen({ http: 0 }, { http: '127.0.0.1' })
  await ready
  cleanups.push(async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) })
  return `http://127.0.0.1:${(server.http!.address() as AddressInfo).port}/announce`
}

const CASES: Array<[string, StartTracker]> = [
  ['opentracker (HTTP)', opentracker('http')],
  ['opentracker (UDP)', opentracker('udp')],
  ['bittorrent-tracker npm server (HTTP)', npmTracker]
]

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

describe('a libtorrent seeder found only through a tracker', () => {
  for (const [name, startTracker] of CASES) {
    it(name, async () => {
      const seedDir = await tempDir()
      const { torrentPath: bare, infoHash } = await makeContent(seedDir, 3 * 1024 * 1024)
      const url = await startTracker(infoHash)
      const torrentPath = join(await tempDir(), 'with-tracker.torrent')
      await withTrackers(bare, [url], torrentPath)

      const seeder = await startSwarmPeer({ torrentPath, savePath: seedDir })
      peers.push(seeder)
      await seeder.waitFor((s) => s.isSeeding && s.trackerOk, 20_000, 'libtorrent to seed and reach the tracker')

      const downloadDir = await tempDir()
      const engine = createNodeEngine({ downloadPath: downloadDir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off' })
      engines.push(engine)
      const torrent = await engine.addTorrent(await readFile(torrentPath))
      const connected: PeerInfo[] = []
      torrent.on('peer-connected', ({ peer }) => { connected.push(peer) })
      const warnings: unknown[] = []
      torrent.on('warning', ({ error }) => { warnings.push(error) })
      await new Promise<void>((resolve, reject) => {
        if (torrent.state === 'seeding') { resolve(); return }
        const timer = setTimeout(() => {
          reject(new Error(`no download within 30 s: ${JSON.stringify({ state: torrent.state, trackers: torrent.trackers(), connected, warnings: warnings.map(String) })}`))
        }, 30_000)
        torrent.on('completed', () => { clearTimeout(timer); resolve() })
      })

      expect(sha256(await readFile(join(downloadDir, 'payload.bin')))).toBe(sha256(await readFile(join(seedDir, 'payload.bin'))))
      const fromSeeder = connected.find((p) => p.address === `127.0.0.1:${seeder.port}`)
      expect(fromSeeder?.source).toBe('tracker')
      expect(fromSeeder?.clientName ?? '').toMatch(/libtorrent/i)
      expect(torrent.trackers().some((t) => t.url === url)).toBe(true)
    })
  }
})
