/**
 * A mixed swarm: a libtorrent 2.0.8 seeder (upload capped with set_upload_limit) and a web seed
 * (the local range server, paced to the same rate) serve one torrent. Lodestone downloads it three
 * times into fresh directories — web seed only, libtorrent only (webSeed.enabled false), both —
 * and each copy must be byte-identical. With both, each source must have delivered a real share
 * (no piece split between them: the hash checks pass, no waste beyond end-game duplicates).
 * Times are printed, not asserted: a loaded 2-core machine makes timing asserts flaky.
 */
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { NodeFileSystem, NodeHasher } from '../../packages/engine/adapters/node/index.js'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import { createTorrent } from '../../packages/engine/src/metainfo/create-torrent.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { digestTree, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { startWebSeedServer, type WebSeedServer } from './web-seed-server.js'

/** Each source alone serves at this rate. */
const RATE_BYTES_PER_SEC = 3 * 1024 * 1024
const PAYLOAD_BYTES = 12 * 1024 * 1024 + 4321

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
const servers: WebSeedServer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(servers.splice(0).map(async (s) => { await s.close() }))
})
afterAll(async () => { await removeTempDirs() })

describe('mixed swarm: libtorrent seeder + web seed', () => {
  it('completes from both together, byte-identical; times for each source alone and both', async () => {
    const root = await tempDir()
    await writeContent(root, 'payload.bin', PAYLOAD_BYTES)
    const server = await startWebSeedServer(root)
    servers.push(server)
    server.rateBytesPerSec = RATE_BYTES_PER_SEC
    const url = `${server.baseUrl}payload.bin`
    const hasher = new NodeHasher({ workers: 2 })
    const created = await createTorrent('payload.bin', { kind: 'v1', pieceLengthBytes: 256 * 1024, urlList: [url] }, { fs: new NodeFileSystem(root), hasher, nativePath: (p) => join(root, p) })
    await hasher.close()
    const torrentPath = join(await tempDir(), 'mixed.torrent')
    await writeFile(torrentPath, created.torrent)

    const seeder = await startLibtorrentPeer({ torrentPath, savePath: root, mode: 'seed', torrentUploadLimit: RATE_BYTES_PER_SEC })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to check its data and seed')
    const want = await digestTree(join(root, 'payload.bin'))

    const run = async (sources: 'webseed' | 'libtorrent' | 'both'): Promise<{ seconds: number, fromWebSeed: number, fromPeer: number }> => {
      const dir = await tempDir()
      const engine = createNodeEngine({
        downloadPath: dir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off',
        settings: { webSeed: { enabled: sources !== 'libtorrent' } }
      })
      engines.push(engine)
      const sentBefore = server.sentBytes
      const started = performance.now()
      const torrent = await engine.addTorrent(created.torrent, { downloadPath: dir })
      if (sources !== 'webseed') torrent.addPeer(`127.0.0.1:${seeder.port}`)
      let fromPeer = 0
      const sample = setInterval(() => {
        for (const p of torrent.peers()) if (p.source !== 'webseed') fromPeer = Math.max(fromPeer, p.downloadedBytes)
      }, 100)
      try {
        await waitCompleted(torrent, 60_000)
      } finally {
        clearInterval(sample)
      }
      const seconds = (performance.now() - started) / 1000
      expect(await digestTree(join(dir, 'payload.bin'))).toEqual(want)
      expect(torrent.stats().hashFailures).toBe(0)
      await engine.close()
      return { seconds, fromWebSeed: server.sentBytes - sentBefore, fromPeer }
    }

    const webseed = await run('webseed')
    const libtorrent = await run('libtorrent')
    const both = await run('both')
    expect(webseed.fromWebSeed).toBeGreaterThanOrEqual(PAYLOAD_BYTES)
    expect(libtorrent.fromWebSeed).toBe(0)
    // Both delivered a real share (at least a sixth each), and the server sent little beyond its share.
    expect(both.fromWebSeed).toBeGreaterThan(PAYLOAD_BYTES / 6)
    expect(both.fromPeer).toBeGreaterThan(PAYLOAD_BYTES / 6)
    const mb = PAYLOAD_BYTES / 1e6
    console.log(`mixed swarm, ${mb.toFixed(1)} MB, each source capped at ${(RATE_BYTES_PER_SEC / 1e6).toFixed(1)} MB/s, load ${loadavg()[0]!.toFixed(2)}: ` +
      `web seed alone ${webseed.seconds.toFixed(2)} s (${(mb / webseed.seconds).toFixed(1)} MB/s), ` +
      `libtorrent alone ${libtorrent.seconds.toFixed(2)} s (${(mb / libtorrent.seconds).toFixed(1)} MB/s), ` +
      `both ${both.seconds.toFixed(2)} s (${(mb / both.seconds).toFixed(1)} MB/s; web seed ${(both.fromWebSeed / 1e6).toFixed(1)} MB, libtorrent ${(both.fromPeer / 1e6).toFixed(1)} MB)`)
  })
})
