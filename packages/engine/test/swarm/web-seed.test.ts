/**
 * Web seeds (BEP 19) in the torrent, in virtual time: a stub HTTP server on the ManualClock serves
 * the payload by range (with a latency and a bandwidth), and can answer 503 + Retry-After, send
 * wrong bytes or a short body. The real HTTP path (NodeHttpClient against a local server) is the
 * interop test's job (interop/webseed/).
 */
import { describe, expect, it } from 'vitest'
import type { ManualClock } from '../../adapters/memory/manual-clock.js'
import { hasCode } from '../../src/errors.js'
import type { HttpRequestOptions, HttpResponse, IHttpClient } from '../../src/interfaces/http-client.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

const URL = 'http://mirror.test/files/data.bin'
const PIECE = 32_768

class StubWebSeed implements IHttpClient {
  /** Requests answered 503 (with Retry-After: 2) before serving. */
  fail503 = 0
  /** Flip a byte in every body while true. */
  corrupt = false
  /** Cut every body short while true. */
  short = false
  readonly ranges: string[] = []
  statuses: number[] = []

  constructor (private readonly clock: ManualClock, private readonly data: Uint8Array, private readonly bytesPerSec: number) {}

  async get (url: string, options: HttpRequestOptions): Promise<HttpResponse> {
    const range = options.headers?.range ?? ''
    this.ranges.push(range)
    const respond = (r: HttpResponse, bytes: number): Promise<HttpResponse> => new Promise((resolve) => {
      this.statuses.push(r.status)
      this.clock.setTimeout(() => { resolve(r) }, 10 + Math.ceil(bytes * 1000 / this.bytesPerSec))
    })
    if (url !== URL) return respond({ status: 404, headers: {}, body: new Uint8Array(0) }, 0)
    if (this.fail503 > 0) {
      this.fail503--
      return respond({ status: 503, headers: { 'retry-after': '2' }, body: new Uint8Array(0) }, 0)
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(range)
    if (m === null) return respond({ status: 200, headers: {}, body: this.data }, this.data.length)
    const first = Number(m[1])
    const last = Math.min(Number(m[2]), this.data.length - 1)
    let body = this.data.slice(first, last + 1)
    if (this.corrupt) body[body.length >> 1] = body[body.length >> 1]! ^ 0xff
    if (this.short) body = body.subarray(0, body.length - 100)
    return respond({ status: 206, headers: { 'content-range': `bytes ${first}-${last}/${this.data.length}` }, body }, body.length)
  }
}

async function setup (options: { withPeer: boolean, seedBytesPerSec?: number, peerBytesPerSec?: number, downloadRateBytesPerSec?: number }) {
  const world = new SwarmWorld(7)
  const data = payload(2 * 1024 * 1024 + 1_234, 5)
  const torrentBytes = makeTorrent('data.bin', data, PIECE, { urlList: [URL] })
  const http = new StubWebSeed(world.clock, data, options.seedBytesPerSec ?? 1024 * 1024)
  let peers: string[] = []
  if (options.withPeer) {
    const seeder = world.addNode('10.0.0.1', { uploadBytesPerSec: options.peerBytesPerSec ?? 1024 * 1024, settings: { discovery: { trackers: false }, webSeed: { enabled: false } } })
    await writeFile(seeder.fs, 'data.bin', data)
    const st = await seeder.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => st.state === 'seeding', 10_000)
    peers = ['10.0.0.1:6881']
  }
  const leech = world.addNode('10.0.1.1', { httpClient: http, settings: { discovery: { trackers: false } } })
  const t = await leech.engine.addTorrent(torrentBytes, { peers, ...(options.downloadRateBytesPerSec !== undefined ? { settings: { downloadRateBytesPerSec: options.downloadRateBytesPerSec } } : {}) })
  const warnings: unknown[] = []
  t.on('warning', ({ error }) => { warnings.push(error) })
  return { world, data, http, leech, t, warnings }
}

describe('swarm: web seeds (BEP 19)', () => {
  it('downloads from a web seed alone, in runs of whole pieces, listed as source webseed', async () => {
    const { world, data, http, leech, t } = await setup({ withPeer: false })
    const connected: string[] = []
    t.on('peer-connected', ({ peer }) => { connected.push(`${peer.source} ${peer.address}`) })
    let sawWebSeed = false
    const done = await world.clock.runUntil(() => {
      sawWebSeed ||= t.peers().some((p) => p.source === 'webseed' && p.address === URL) && t.stats().webSeeds === 1
      return t.state === 'seeding'
    }, 120_000)
    expect(done).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'data.bin'), data)).toBe(0)
    expect(sawWebSeed).toBe(true)
    expect(connected).toEqual([`webseed ${URL}`])
    // Ranges start on piece boundaries and cover whole pieces (the last piece is short).
    for (const r of http.ranges) {
      const [first, last] = /^bytes=(\d+)-(\d+)$/.exec(r)!.slice(1).map(Number) as [number, number]
      expect(first % PIECE).toBe(0)
      expect((last + 1) % PIECE === 0 || last + 1 === data.length).toBe(true)
    }
    // 2 MiB requests by default: about one request per 2 MiB, not one per block.
    expect(http.ranges.length).toBeLessThan(10)
    expect(t.stats().downloadedBytes).toBe(data.length)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('the torrent\'s download limit applies to web seeds', async () => {
    const { world, data, leech, t } = await setup({ withPeer: false, downloadRateBytesPerSec: 256 * 1024 })
    const started = world.clock.now()
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'data.bin'), data)).toBe(0)
    const seconds = (world.clock.now() - started) / 1000
    // 2 MiB at 256 KiB/s: about 8 s (the seed alone would take about 2 s); a burst allowance aside.
    expect(seconds).toBeGreaterThan(6.5)
    expect(seconds).toBeLessThan(20)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('honours 503 + Retry-After and recovers', async () => {
    const { world, data, http, leech, t, warnings } = await setup({ withPeer: false })
    http.fail503 = 3
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'data.bin'), data)).toBe(0)
    expect(http.statuses.filter((s) => s === 503)).toHaveLength(3)
    const failed = warnings.filter((w) => hasCode(w, 'WEBSEED_FAILED'))
    expect(failed.length).toBeGreaterThanOrEqual(1)
    expect(failed.every((w) => hasCode(w, 'WEBSEED_FAILED') && !w.details.dropped && w.details.kind === 'transient')).toBe(true)
    await world.close()
  })

  it('wrong bytes: hash failures drop the seed, the peer finishes the download, nobody banned', async () => {
    const { world, data, http, leech, t, warnings } = await setup({ withPeer: true, seedBytesPerSec: 4 * 1024 * 1024, peerBytesPerSec: 256 * 1024 })
    http.corrupt = true
    const failedPieces: string[][] = []
    t.on('hash-failed', ({ peers }) => { failedPieces.push(peers) })
    expect(await world.clock.runUntil(() => t.state === 'seeding', 300_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'data.bin'), data)).toBe(0)
    expect(failedPieces.length).toBeGreaterThanOrEqual(2)
    expect(failedPieces.every((p) => p.includes(URL))).toBe(true)
    expect(warnings.some((w) => hasCode(w, 'WEBSEED_FAILED') && w.details.dropped && w.details.kind === 'bad-data')).toBe(true)
    expect(t.stats().bannedPeers).toBe(0)
    expect(t.stats().webSeeds).toBe(0)
    await world.close()
  })

  it('a short body is a bad response: the seed backs off, the blocks go to the peer', async () => {
    const { world, data, http, leech, t, warnings } = await setup({ withPeer: true })
    http.short = true
    expect(await world.clock.runUntil(() => t.state === 'seeding', 300_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'data.bin'), data)).toBe(0)
    expect(warnings.some((w) => hasCode(w, 'WEBSEED_FAILED') && w.details.kind === 'bad-response' && /short body/.test(w.details.reason))).toBe(true)
    expect(t.stats().hashFailures).toBe(0)
    await world.close()
  })

  it('a web seed and a peer together: both deliver', async () => {
    const { world, data, leech, t } = await setup({ withPeer: true, seedBytesPerSec: 512 * 1024, peerBytesPerSec: 512 * 1024 })
    const from = { webseed: 0, peer: 0 }
    expect(await world.clock.runUntil(() => {
      for (const p of t.peers()) {
        const k = p.source === 'webseed' ? 'webseed' : 'peer'
        from[k] = Math.max(from[k], p.downloadedBytes)
      }
      return t.state === 'seeding'
    }, 300_000)).toBe(true)
    expect(from.webseed).toBeGreaterThan(data.length / 5)
    expect(from.peer).toBeGreaterThan(data.length / 5)
    expect(Buffer.compare(await readFile(leech.fs, 'data.bin'), data)).toBe(0)
    const stats = t.stats()
    expect(stats.hashFailures).toBe(0)
    expect(stats.downloadedBytes + stats.wastedBytes).toBeGreaterThanOrEqual(data.length)
    await world.close()
  })
})
