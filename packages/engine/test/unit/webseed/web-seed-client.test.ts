// WebSeedClient against a stub IHttpClient serving a torrent's files from memory: ranges that span
// files and pad files, the request bound, and how failures are classified.
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { LodestoneError } from '../../../src/errors.js'
import type { HttpRequestOptions, HttpResponse, IHttpClient } from '../../../src/interfaces/http-client.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { PieceLayout } from '../../../src/storage/piece-layout.js'
import { WebSeedClient, WebSeedFetchError } from '../../../src/webseed/web-seed-client.js'
import { defaultWebSeedSettings } from '../../../src/webseed/web-seed-health.js'
import { edgeCorpus } from '../metainfo/edge-corpus.js'
import { content } from '../metainfo/helpers.js'

type Handler = (url: string, options: HttpRequestOptions) => HttpResponse | Promise<HttpResponse>

class StubHttp implements IHttpClient {
  readonly calls: Array<{ url: string, range: string | undefined, keepAlive: boolean | undefined }> = []
  active = 0
  maxActive = 0
  constructor (private readonly handler: Handler) {}
  async get (url: string, options: HttpRequestOptions): Promise<HttpResponse> {
    this.calls.push({ url, range: options.headers?.range, keepAlive: options.keepAlive })
    this.active++
    this.maxActive = Math.max(this.maxActive, this.active)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1))
      return await this.handler(url, options)
    } finally {
      this.active--
    }
  }
}

/** Serves `files` (URL path → bytes) with correct range responses. */
function rangeServer (files: Map<string, Uint8Array>): Handler {
  return (url, options) => {
    const data = files.get(new URL(url).pathname)
    if (data === undefined) return { status: 404, headers: {}, body: new Uint8Array(0) }
    const m = /^bytes=(\d+)-(\d+)$/.exec(options.headers?.range ?? '')
    if (m === null) return { status: 200, headers: {}, body: data }
    const first = Number(m[1])
    const last = Math.min(Number(m[2]), data.length - 1)
    return { status: 206, headers: { 'content-range': `bytes ${first}-${last}/${data.length}` }, body: data.slice(first, last + 1) }
  }
}

async function alignedTorrent (): Promise<{ meta: Awaited<ReturnType<typeof parseTorrent>>, files: Map<string, Uint8Array>, space: Uint8Array }> {
  const c = edgeCorpus().find((x) => x.label === 'bep47-pads-with-and-without-path')!
  const meta = await parseTorrent(c.bytes)
  const files = new Map<string, Uint8Array>()
  const space = new Uint8Array(meta.totalLengthBytes)
  // Payload as the corpus built it: content(n, k) for k = 4, 5, 6.
  let k = 4
  for (const f of meta.files) {
    if (f.padding) continue
    const data = content(f.lengthBytes, k++)
    files.set(`/pub/${encodeURIComponent(meta.name)}/${f.path.map(encodeURIComponent).join('/')}`, data)
    space.set(data, f.offsetBytes)
  }
  return { meta, files, space }
}

const settings = { ...defaultWebSeedSettings, maxRequestsInFlight: 2 }

describe('WebSeedClient', () => {
  it('fetches a range spanning files and pad files as the piece space, pads never asked for', async () => {
    const { meta, files, space } = await alignedTorrent()
    const http = new StubHttp(rangeServer(files))
    const client = new WebSeedClient('http://mirror.test/pub/', { http, clock: new ManualClock(), layout: new PieceLayout(meta), meta }, settings)
    const got = await client.fetchRange(0, meta.totalLengthBytes)
    expect(got).toEqual(space)
    expect(http.calls.map((c) => [new URL(c.url).pathname, c.range])).toEqual([
      ['/pub/Aligned/a.bin', 'bytes=0-9999'],
      ['/pub/Aligned/b.bin', 'bytes=0-29999'],
      ['/pub/Aligned/c.txt', 'bytes=0-2']
    ])
    expect(http.calls.every((c) => c.keepAlive === true)).toBe(true)
    expect(http.maxActive).toBeLessThanOrEqual(2)
    expect(client.downloadedBytes).toBe(10_000 + 30_000 + 3)
    // A piece in the middle: the tail of b.bin only.
    http.calls.length = 0
    const piece2 = await client.fetchRange(2 * 16384, 16384)
    expect(piece2).toEqual(space.subarray(2 * 16384, 3 * 16384))
    expect(http.calls.map((c) => c.range)).toEqual(['bytes=16384-29999'])
  })

  it.each<[string, Handler, string, number | undefined]>([
    ['a 503 with Retry-After', () => ({ status: 503, headers: { 'retry-after': '5' }, body: new Uint8Array(0) }), 'transient', 5000],
    ['a 404', () => ({ status: 404, headers: {}, body: new Uint8Array(0) }), 'refused', undefined],
    ['a short body', (_, o) => ({ status: 206, headers: {}, body: new Uint8Array(o.maxBodyBytes - 1) }), 'bad-response', undefined],
    ['a time-out', () => { throw new LodestoneError('TRACKER_TIMEOUT', { url: 'x', timeoutMs: 1 }) }, 'transient', undefined],
    ['a connection refused', () => { throw new LodestoneError('TRACKER_FAILURE', { url: 'x', reason: 'ECONNREFUSED' }) }, 'transient', undefined],
    ['a redirect loop', () => { throw new LodestoneError('TRACKER_FAILURE', { url: 'x', reason: 'more than 5 redirects' }) }, 'refused', undefined],
    ['a body over the limit', () => { throw new LodestoneError('TRACKER_RESPONSE_TOO_LARGE', { url: 'x', limitBytes: 1 }) }, 'bad-response', undefined]
  ])('reports %s as %s', async (_, handler, kind, retryAfterMs) => {
    const { meta } = await alignedTorrent()
    const client = new WebSeedClient('http://mirror.test/pub/', { http: new StubHttp(handler), clock: new ManualClock(), layout: new PieceLayout(meta), meta }, settings)
    const err = await client.fetchRange(0, 16384).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(WebSeedFetchError)
    expect((err as WebSeedFetchError).failure.kind).toBe(kind)
    expect((err as WebSeedFetchError).failure.retryAfterMs).toBe(retryAfterMs)
    expect(client.requestsInFlight).toBe(0)
  })

  it('gives up waiting for a request slot when aborted', async () => {
    const { meta } = await alignedTorrent()
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    const http = new StubHttp(async (_, o) => { await gate; return { status: 206, headers: {}, body: new Uint8Array(o.maxBodyBytes) } })
    const client = new WebSeedClient('http://m/', { http, clock: new ManualClock(), layout: new PieceLayout(meta), meta }, { ...settings, maxRequestsInFlight: 1 })
    const first = client.fetchRange(0, 100)
    const controller = new AbortController()
    const second = client.fetchRange(16384, 100, controller.signal).then(() => null, (e: unknown) => e)
    controller.abort()
    expect(await second).toMatchObject({ code: 'ABORTED' })
    release()
    expect((await first).length).toBe(100)
    expect(http.calls).toHaveLength(1)
  })
})
