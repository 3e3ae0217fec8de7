/**
 * Lodestone's rate limits hold against a real client (issue 5): libtorrent 2.0.8 on 127.0.0.1
 * over TCP, a 80 MiB random payload.
 *
 * (a) Download: libtorrent seeds unlimited; Lodestone downloads with a global download limit of
 *     2 MiB/s. After a 3 s warm-up, the bytes Lodestone receives in the next 10 s must average
 *     2 MiB/s ± 10 %. Then the limit is raised to 4 MiB/s at run time: after 2 s, a 5 s window
 *     must average 4 MiB/s ± 10 %.
 * (b) Upload: Lodestone seeds with a global upload limit of 2 MiB/s, libtorrent downloads from
 *     it; same windows, measured on both sides (Lodestone's payload sent, libtorrent's payload
 *     received). Then the limit is lowered to 1 MiB/s at run time and measured again.
 *
 * The rates are printed (console) so a run records the figures.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it, type ExpectStatic } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import { makeTorrent, removeTempDirs, tempDir, waitState, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer } from '../helpers/libtorrent-peer.js'

const MiB = 1024 * 1024
const PAYLOAD_BYTES = 80 * MiB
const TOLERANCE = 0.10

afterAll(async () => { await removeTempDirs() })

let seedDir = ''
let torrentPath = ''
beforeAll(async () => {
  seedDir = await tempDir()
  await writeContent(seedDir, 'payload.bin', PAYLOAD_BYTES)
  torrentPath = join(await tempDir(), 'rate.torrent')
  await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath, 256 * 1024)
}, 60_000)

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Average rate of `counters` over `windowMs` of wall time, in bytes per second, for each counter. */
async function measure (windowMs: number, counters: Record<string, () => number>): Promise<Record<string, number>> {
  const names = Object.keys(counters)
  const before = names.map((n) => counters[n]!())
  const t0 = performance.now()
  await sleep(windowMs)
  const elapsedSec = (performance.now() - t0) / 1000
  const out: Record<string, number> = {}
  names.forEach((n, i) => { out[n] = (counters[n]!() - before[i]!) / elapsedSec })
  return out
}

function expectWithin (expect: ExpectStatic, rate: number, limit: number, what: string): void {
  const ratio = rate / limit
  expect(ratio, `${what}: ${(rate / MiB).toFixed(3)} MiB/s against a limit of ${(limit / MiB).toFixed(3)} MiB/s`).toBeGreaterThanOrEqual(1 - TOLERANCE)
  expect(ratio, `${what}: ${(rate / MiB).toFixed(3)} MiB/s against a limit of ${(limit / MiB).toFixed(3)} MiB/s`).toBeLessThanOrEqual(1 + TOLERANCE)
}

const fmt = (r: Record<string, number>): string => Object.entries(r).map(([k, v]) => `${k} ${(v / MiB).toFixed(3)} MiB/s`).join(', ')

// Concurrent: each case has its own engine and libtorrent process, and the limits are per engine.
describe.concurrent('rate limits against libtorrent (TCP, loopback)', () => {
  it('(a) a 2 MiB/s download limit holds within ±10 % over 10 s, and raising it to 4 MiB/s at run time takes effect', async ({ expect, onTestFinished }) => {
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
    onTestFinished(async () => { await seeder.close() })
    await seeder.waitFor((s) => s.isSeeding, 30_000, 'libtorrent to check its data and seed')

    const leechDir = await tempDir()
    const engine = createNodeEngine({
      downloadPath: leechDir,
      port: 0,
      host: '127.0.0.1',
      hasherWorkers: 2,
      logLevel: 'off',
      settings: { rateLimit: { downloadRateBytesPerSec: 2 * MiB } }
    })
    onTestFinished(async () => { await engine.close() })
    const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: leechDir })
    torrent.addPeer(`127.0.0.1:${seeder.port}`)
    await waitState(torrent, 'downloading', 20_000)
    const received = (): number => torrent.stats().downloadedBytes
    const sent = (): number => seeder.status?.totalPayloadUpload ?? 0

    await sleep(3_000)
    const first = await measure(10_000, { lodestoneReceived: received, libtorrentSent: sent })
    console.log(`download limit 2 MiB/s: ${fmt(first)}`)
    expectWithin(expect, first.lodestoneReceived!, 2 * MiB, 'Lodestone download at 2 MiB/s')
    expectWithin(expect, first.libtorrentSent!, 2 * MiB, 'libtorrent upload to a 2 MiB/s Lodestone')

    engine.updateSettings({ rateLimit: { downloadRateBytesPerSec: 4 * MiB } })
    await sleep(2_000)
    const second = await measure(5_000, { lodestoneReceived: received, libtorrentSent: sent })
    console.log(`download limit raised to 4 MiB/s: ${fmt(second)}`)
    expectWithin(expect, second.lodestoneReceived!, 4 * MiB, 'Lodestone download at 4 MiB/s')
    expect(torrent.isComplete).toBe(false)
  })

  it('(b) a 2 MiB/s upload limit holds within ±10 % over 10 s with libtorrent downloading, and lowering it to 1 MiB/s at run time takes effect', async ({ expect, onTestFinished }) => {
    const engine = createNodeEngine({
      downloadPath: seedDir,
      port: 0,
      host: '127.0.0.1',
      hasherWorkers: 2,
      logLevel: 'off',
      settings: { rateLimit: { uploadRateBytesPerSec: 2 * MiB } }
    })
    onTestFinished(async () => { await engine.close() })
    const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: seedDir })
    await waitState(torrent, 'seeding', 30_000)

    const leechDir = await tempDir()
    const leech = await startLibtorrentPeer({
      torrentPath,
      savePath: leechDir,
      mode: 'download',
      peers: [{ host: '127.0.0.1', port: engine.port! }]
    })
    onTestFinished(async () => { await leech.close() })
    await leech.waitFor((s) => s.totalPayloadDownload > 0, 20_000, 'libtorrent to start receiving')
    const sent = (): number => torrent.stats().uploadedBytes
    const received = (): number => leech.status?.totalPayloadDownload ?? 0

    await sleep(3_000)
    const first = await measure(10_000, { lodestoneSent: sent, libtorrentReceived: received })
    console.log(`upload limit 2 MiB/s: ${fmt(first)}`)
    expectWithin(expect, first.lodestoneSent!, 2 * MiB, 'Lodestone upload at 2 MiB/s')
    expectWithin(expect, first.libtorrentReceived!, 2 * MiB, 'libtorrent download from a 2 MiB/s Lodestone')

    engine.updateSettings({ rateLimit: { uploadRateBytesPerSec: 1 * MiB } })
    await sleep(2_000)
    const second = await measure(5_000, { lodestoneSent: sent, libtorrentReceived: received })
    console.log(`upload limit lowered to 1 MiB/s: ${fmt(second)}`)
    expectWithin(expect, second.lodestoneSent!, 1 * MiB, 'Lodestone upload at 1 MiB/s')
    expectWithin(expect, second.libtorrentReceived!, 1 * MiB, 'libtorrent download from a 1 MiB/s Lodestone')
    expect(leech.status?.isSeeding).toBe(false)
  })
})
