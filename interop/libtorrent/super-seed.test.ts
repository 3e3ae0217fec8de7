/**
 * Super-seeding (BEP 16) with four libtorrent 2.0.8 leechers on 127.0.0.1 that know each other
 * and the Lodestone seed. Run twice on the same payload: a normal seed, then a super-seed. Every
 * leecher must end with the payload byte-identical; the super-seed must upload about one copy
 * (each piece offered to one peer at a time, the leechers spreading it), the normal seed more.
 * The seed's upload is capped below what the leechers trade among themselves, and it dials them
 * all at once after they are connected to each other.
 * The seed's upload / payload ratios are printed with the run times.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { digestTree, makeTorrent, removeTempDirs, tempDir, waitState, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const PAYLOAD_BYTES = 4 * 1024 * 1024 + 999
const LEECHERS = 4
/** A seed with a thinner pipe than its leechers together: the case super-seeding is for. */
const SEED_UPLOAD_BYTES_PER_SEC = 2 * 1024 * 1024

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

async function run (seedDir: string, torrentPath: string, superSeeding: boolean): Promise<{ ratio: number, seconds: number }> {
  const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
  engines.push(engine)
  const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: seedDir, settings: { superSeeding, uploadRateBytesPerSec: SEED_UPLOAD_BYTES_PER_SEC } })
  await waitState(torrent, 'seeding', 20_000)
  // The leechers first, each dialling the ones before it; then the seed dials them all at once.
  const leechers: Array<{ lt: LibtorrentPeer, dir: string }> = []
  for (let i = 0; i < LEECHERS; i++) {
    const dir = await tempDir()
    const lt = await startLibtorrentPeer({
      torrentPath, savePath: dir, mode: 'download',
      peers: leechers.map((l) => ({ host: '127.0.0.1', port: l.lt.port }))
    })
    peers.push(lt)
    leechers.push({ lt, dir })
  }
  const started = Date.now()
  for (const { lt } of leechers) torrent.addPeer(`127.0.0.1:${lt.port}`)
  await Promise.all(leechers.map(async ({ lt }) => { await lt.waitFor((s) => s.isSeeding, 60_000, 'libtorrent leecher to complete') }))
  const seconds = (Date.now() - started) / 1000
  const want = await digestTree(join(seedDir, 'payload.bin'))
  for (const { dir } of leechers) expect(await digestTree(join(dir, 'payload.bin'))).toEqual(want)
  const ratio = torrent.stats().uploadedBytes / PAYLOAD_BYTES
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await engine.close()
  return { ratio, seconds }
}

describe('super-seeding with four libtorrent leechers', () => {
  it('the super-seed uploads about one copy, a normal seed more; every leecher byte-identical', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'payload.bin', PAYLOAD_BYTES)
    const torrentPath = join(await tempDir(), 'super.torrent')
    await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath, 65_536)
    const normal = await run(seedDir, torrentPath, false)
    const superSeed = await run(seedDir, torrentPath, true)
    console.log(`seed upload / payload (${(PAYLOAD_BYTES / 1e6).toFixed(1)} MB, ${LEECHERS} libtorrent leechers, seed capped at ${(SEED_UPLOAD_BYTES_PER_SEC / 1e6).toFixed(1)} MB/s, load ${loadavg()[0]!.toFixed(2)}): ` +
      `normal ${normal.ratio.toFixed(2)} in ${normal.seconds.toFixed(1)} s, super-seeding ${superSeed.ratio.toFixed(2)} in ${superSeed.seconds.toFixed(1)} s`)
    expect(superSeed.ratio).toBeGreaterThanOrEqual(0.99)
    expect(superSeed.ratio).toBeLessThan(1.5)
    expect(normal.ratio).toBeGreaterThan(superSeed.ratio)
  })
})
