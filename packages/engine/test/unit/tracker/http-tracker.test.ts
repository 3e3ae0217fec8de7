import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LodestoneError, hasCode, isLodestoneError } from '../../../src/errors.js'
import type { HttpRequestOptions, HttpResponse, IHttpClient } from '../../../src/interfaces/http-client.js'
import { bencodeEncode, type BencodeEncodable } from '../../../src/protocol/bencode.js'
import type { AnnounceParams } from '../../../src/tracker/announce.js'
import { encodeCompactPeers } from '../../../src/tracker/compact-peers.js'
import {
  HttpTracker, buildAnnounceUrl, parseAnnounceResponse, percentEncodeBytes, scrapeUrlFor
} from '../../../src/tracker/http-tracker.js'

const SEED = Number(process.env.FC_SEED ?? 0x4774)
const fcParams = { seed: SEED, numRuns: 300, verbose: 1 } as const

/** A fake IHttpClient: answers from a queue and records every request. */
class FakeHttp implements IHttpClient {
  readonly requests: Array<{ url: string, options: HttpRequestOptions }> = []
  readonly answers: Array<HttpResponse | Error> = []
  async get (url: string, options: HttpRequestOptions): Promise<HttpResponse> {
    this.requests.push({ url, options })
    const next = this.answers.shift()
    if (next === undefined) throw new Error('no answer queued')
    if (next instanceof Error) throw next
    return next
  }

  answer (body: BencodeEncodable | Uint8Array, status = 200): this {
    this.answers.push({ status, headers: {}, body: body instanceof Uint8Array ? body : bencodeEncode(body) })
    return this
  }
}

const infoHash = Uint8Array.from({ length: 20 }, (_, i) => i * 13)
const peerId = new TextEncoder().encode('-LS0001-ab~.c_d 1234')

function params (over: Partial<AnnounceParams> = {}): AnnounceParams {
  return {
    infoHash, peerId, port: 6881, uploadedBytes: 10, downloadedBytes: 20, leftBytes: 30,
    event: 'started', numWant: 50, key: 0xdeadbeef, ...over
  }
}

function query (url: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const part of url.slice(url.indexOf('?') + 1).split('&')) {
    const eq = part.indexOf('=')
    const k = part.slice(0, eq)
    out.set(k, [...(out.get(k) ?? []), part.slice(eq + 1)])
  }
  return out
}

async function rejection (p: Promise<unknown>): Promise<LodestoneError> {
  try {
    await p
  } catch (error) {
    if (isLodestoneError(error)) return error
    throw error
  }
  throw new Error('expected a rejection')
}

describe('HTTP tracker: request', () => {
  it('percent-encodes every byte that is not unreserved, upper-case hex', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const encoded = percentEncodeBytes(all)
    // Round trip through a byte-level decoder.
    const bytes: number[] = []
    for (let i = 0; i < encoded.length;) {
      if (encoded[i] === '%') {
        const hex = encoded.slice(i + 1, i + 3)
        expect(hex).toMatch(/^[0-9A-F]{2}$/)
        bytes.push(parseInt(hex, 16))
        i += 3
      } else {
        expect(encoded[i]).toMatch(/^[A-Za-z0-9\-._~]$/)
        bytes.push(encoded.charCodeAt(i))
        i += 1
      }
    }
    expect(bytes).toEqual([...all])
    expect(percentEncodeBytes(Uint8Array.of(0x20, 0x2b, 0x41, 0x7e, 0xff))).toBe('%20%2BA~%FF')
  })

  it('sends every BEP 3 parameter, keeps the tracker URL query, and leaves event out for regular announces', () => {
    const url = buildAnnounceUrl('http://t.example:8080/announce?passkey=abc#frag', params())
    expect(url.startsWith('http://t.example:8080/announce?passkey=abc&info_hash=')).toBe(true)
    const q = query(url)
    expect(q.get('info_hash')).toEqual([percentEncodeBytes(infoHash)])
    expect(q.get('peer_id')).toEqual(['-LS0001-ab~.c_d%201234'])
    expect(q.get('port')).toEqual(['6881'])
    expect(q.get('uploaded')).toEqual(['10'])
    expect(q.get('downloaded')).toEqual(['20'])
    expect(q.get('left')).toEqual(['30'])
    expect(q.get('compact')).toEqual(['1'])
    expect(q.get('numwant')).toEqual(['50'])
    expect(q.get('key')).toEqual(['deadbeef'])
    expect(q.get('event')).toEqual(['started'])
    expect(url).not.toContain('frag')
    expect(query(buildAnnounceUrl('http://t/announce', params({ event: 'none' }))).has('event')).toBe(false)
    expect(query(buildAnnounceUrl('http://t/announce', params({ event: 'stopped' }))).get('event')).toEqual(['stopped'])
    expect(query(buildAnnounceUrl('http://t/announce', params({ event: 'completed' }))).get('event')).toEqual(['completed'])
    expect(buildAnnounceUrl('http://t/a?', params()).startsWith('http://t/a?info_hash=')).toBe(true)
  })

  it('writes large counters as plain integers', () => {
    const q = query(buildAnnounceUrl('http://t/announce', params({ leftBytes: 2 ** 52 + 1, key: 1 })))
    expect(q.get('left')).toEqual([String(2 ** 52 + 1)])
    expect(q.get('key')).toEqual(['00000001'])
  })

  it('echoes the tracker id on later announces and passes limits to the HTTP port', async () => {
    const http = new FakeHttp()
      .answer({ interval: 900, 'tracker id': 'T-1\x01', peers: new Uint8Array(0) })
      .answer({ interval: 900, peers: new Uint8Array(0) })
    const tracker = new HttpTracker('http://t/announce', { httpClient: http }, { maxResponseBytes: 5000, httpTimeoutMs: 1234 })
    const first = await tracker.announce(params())
    expect(first.trackerId).toBe('T-1\x01')
    expect(query(http.requests[0]!.url).has('trackerid')).toBe(false)
    await tracker.announce(params({ event: 'none' }))
    expect(query(http.requests[1]!.url).get('trackerid')).toEqual(['T-1%01'])
    expect(http.requests[0]!.options.maxBodyBytes).toBe(5000)
    expect(http.requests[0]!.options.timeoutMs).toBe(1234)
  })
})

describe('HTTP tracker: answers', () => {
  it('parses compact IPv4 and IPv6 peers, counts, intervals and warning', async () => {
    const http = new FakeHttp().answer({
      interval: 1200,
      'min interval': 60,
      complete: 7,
      incomplete: 3,
      'warning message': 'slow down',
      peers: encodeCompactPeers([{ host: '10.0.0.1', port: 1 }, { host: '10.0.0.2', port: 2 }, { host: '10.0.0.1', port: 1 }], 4),
      peers6: encodeCompactPeers([{ host: '2001:db8::5', port: 6881 }], 6)
    })
    const result = await new HttpTracker('https://t/announce', { httpClient: http }).announce(params())
    expect(result).toEqual({
      intervalSec: 1200,
      minIntervalSec: 60,
      seeders: 7,
      leechers: 3,
      warning: 'slow down',
      peers: [{ host: '10.0.0.1', port: 1 }, { host: '10.0.0.2', port: 2 }, { host: '2001:db8::5', port: 6881 }]
    })
  })

  it('parses dictionary peers, keeping IP literals only', () => {
    const body = bencodeEncode({
      interval: 60,
      peers: [
        { 'peer id': 'x'.repeat(20), ip: '1.2.3.4', port: 10 },
        { ip: '::1', port: 11 },
        { ip: 'evil.example.com', port: 12 },
        { ip: '5.6.7.8', port: 0 },
        { ip: '5.6.7.8', port: 70000 },
        { ip: '5.6.7.8' },
        'not a dict',
        { ip: '0:0::ffff:9.9.9.9', port: 13 }
      ]
    })
    expect(parseAnnounceResponse(body, 'u', { maxPeersPerResponse: 100 }).result.peers).toEqual([
      { host: '1.2.3.4', port: 10 }, { host: '::1', port: 11 }, { host: '9.9.9.9', port: 13 }
    ])
  })

  it('turns a failure reason into TRACKER_FAILURE carrying the text', async () => {
    const http = new FakeHttp().answer({ 'failure reason': 'torrent not registered' })
    const error = await rejection(new HttpTracker('http://t/announce', { httpClient: http }).announce(params()))
    expect(error.code).toBe('TRACKER_FAILURE')
    expect(error.details).toEqual({ url: 'http://t/announce', reason: 'torrent not registered' })
  })

  it('uses the failure reason of an error status, or the status itself', async () => {
    const http = new FakeHttp().answer({ 'failure reason': 'go away' }, 403).answer(new TextEncoder().encode('<html>'), 502)
    const tracker = new HttpTracker('http://t/announce', { httpClient: http })
    expect((await rejection(tracker.announce(params()))).details).toEqual({ url: 'http://t/announce', reason: 'go away' })
    expect((await rejection(tracker.announce(params()))).details).toEqual({ url: 'http://t/announce', reason: 'HTTP status 502' })
  })

  it('caps the length of tracker-supplied text', () => {
    const body = bencodeEncode({ 'failure reason': 'x'.repeat(100_000) })
    try {
      parseAnnounceResponse(body, 'u', { maxPeersPerResponse: 10 })
      expect.unreachable()
    } catch (error) {
      expect(hasCode(error, 'TRACKER_FAILURE') && error.details.reason.length).toBeLessThanOrEqual(1025)
    }
  })

  it('defaults a missing or non-positive interval and ignores negative counts', () => {
    const r = parseAnnounceResponse(bencodeEncode({ interval: 0, complete: -1, peers: new Uint8Array(0) }), 'u', { maxPeersPerResponse: 10 })
    expect(r.result).toEqual({ intervalSec: 1800, peers: [] })
    expect(parseAnnounceResponse(bencodeEncode({}), 'u', { maxPeersPerResponse: 10 }).result.intervalSec).toBe(1800)
  })

  it('accepts unsorted keys and a trailing newline', () => {
    const body = new TextEncoder().encode('d8:intervali99e5:peers0:8:completei1ee\n')
    expect(parseAnnounceResponse(body, 'u', { maxPeersPerResponse: 10 }).result).toMatchObject({ intervalSec: 99, seeders: 1 })
  })
})

describe('HTTP tracker: hostile answers', () => {
  const cases: Array<[string, Uint8Array]> = [
    ['garbage', new TextEncoder().encode('<html><body>502 Bad Gateway</body></html>')],
    ['truncated', bencodeEncode({ interval: 1800, peers: new Uint8Array(60) }).subarray(0, 20)],
    ['empty', new Uint8Array(0)],
    ['not a dict', bencodeEncode(['interval', 1800])],
    ['too deep', new TextEncoder().encode('d5:peers' + 'l'.repeat(50) + 'e'.repeat(50) + 'e')]
  ]
  for (const [name, body] of cases) {
    it(`refuses a ${name} body with TRACKER_FAILURE`, async () => {
      const http = new FakeHttp().answer(body)
      const error = await rejection(new HttpTracker('http://t/announce', { httpClient: http }).announce(params()))
      expect(error.code).toBe('TRACKER_FAILURE')
    })
  }

  it('refuses an oversized body even when the HTTP port let it through', async () => {
    const http = new FakeHttp().answer(bencodeEncode({ interval: 1, peers: new Uint8Array(3000) }))
    const error = await rejection(new HttpTracker('http://t/announce', { httpClient: http }, { maxResponseBytes: 1000 }).announce(params()))
    expect(error.code).toBe('TRACKER_RESPONSE_TOO_LARGE')
    expect(error.details).toEqual({ url: 'http://t/announce', limitBytes: 1000 })
  })

  it('passes the HTTP port\'s own errors through, labelled with the announce URL', async () => {
    const http = new FakeHttp()
    http.answers.push(new LodestoneError('TRACKER_TIMEOUT', { url: 'http://t/announce?info_hash=secret', timeoutMs: 5 }))
    http.answers.push(new TypeError('socket hang up'))
    const tracker = new HttpTracker('http://t/announce', { httpClient: http })
    const timeout = await rejection(tracker.announce(params()))
    expect(timeout.code).toBe('TRACKER_TIMEOUT')
    expect(timeout.details).toEqual({ url: 'http://t/announce', timeoutMs: 5 })
    expect(timeout.message).not.toContain('secret')
    const other = await rejection(tracker.announce(params()))
    expect(other.code).toBe('TRACKER_FAILURE')
  })

  it('refuses huge peer lists (compact, IPv6, dictionary) before decoding them', async () => {
    const limit = { maxPeersPerResponse: 100 }
    const compact = bencodeEncode({ interval: 1, peers: new Uint8Array(6 * 101) })
    const mixed = bencodeEncode({ interval: 1, peers: new Uint8Array(6 * 60), peers6: new Uint8Array(18 * 41) })
    const dicts = bencodeEncode({ interval: 1, peers: Array.from({ length: 101 }, (_, i) => ({ ip: '1.1.1.1', port: i + 1 })) })
    for (const body of [compact, mixed, dicts]) {
      try {
        parseAnnounceResponse(body, 'u', limit)
        expect.unreachable()
      } catch (error) {
        expect(hasCode(error, 'TRACKER_TOO_MANY_PEERS')).toBe(true)
        expect((error as LodestoneError<'TRACKER_TOO_MANY_PEERS'>).details.limit).toBe(100)
      }
    }
    expect(parseAnnounceResponse(bencodeEncode({ interval: 1, peers: new Uint8Array(6 * 100).fill(1) }), 'u', limit).result.peers).toHaveLength(1)
  })

  it('on arbitrary bytes returns a result or throws a TRACKER_* error, nothing else', () => {
    const bodies = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.dictionary(fc.constantFrom('interval', 'peers', 'peers6', 'failure reason', 'complete', 'min interval', 'tracker id', 'warning message'),
        fc.oneof(fc.integer(), fc.uint8Array({ maxLength: 60 }), fc.array(fc.dictionary(fc.constantFrom('ip', 'port', 'peer id'), fc.oneof(fc.integer(), fc.string())), { maxLength: 5 })))
        .map((d) => bencodeEncode(d))
    )
    fc.assert(fc.property(bodies, (body) => {
      try {
        const r = parseAnnounceResponse(body, 'u', { maxPeersPerResponse: 5 })
        expect(r.result.peers.length).toBeLessThanOrEqual(5)
        expect(r.result.intervalSec).toBeGreaterThan(0)
      } catch (error) {
        expect(isLodestoneError(error) && error.code.startsWith('TRACKER_')).toBe(true)
      }
    }), fcParams)
  })
})

describe('HTTP tracker: scrape (BEP 48)', () => {
  it('derives the scrape URL only from an announce-named last segment', () => {
    expect(scrapeUrlFor('http://example.com/announce')).toBe('http://example.com/scrape')
    expect(scrapeUrlFor('http://example.com/x/announce')).toBe('http://example.com/x/scrape')
    expect(scrapeUrlFor('http://example.com/announce.php')).toBe('http://example.com/scrape.php')
    expect(scrapeUrlFor('http://example.com/a/announce?x2%0644')).toBe('http://example.com/a/scrape?x2%0644')
    expect(scrapeUrlFor('http://example.com/announce?x=2/4')).toBe('http://example.com/scrape?x=2/4')
    expect(scrapeUrlFor('http://example.com/a')).toBeNull()
    expect(scrapeUrlFor('http://example.com/announce?x=2/4/announce')).toBe('http://example.com/scrape?x=2/4/announce')
    expect(scrapeUrlFor('http://example.com/x%064announce')).toBeNull()
    expect(scrapeUrlFor('http://example.com')).toBeNull()
    expect(scrapeUrlFor('http://announce')).toBeNull()
  })

  it('scrapes several hashes and keeps only the ones asked for', async () => {
    const other = new Uint8Array(20).fill(9)
    const key = (h: Uint8Array): string => String.fromCharCode(...h)
    const files = new Map<string, BencodeEncodable>([
      [key(infoHash), new Map<string, BencodeEncodable>([['complete', 4], ['incomplete', 2], ['downloaded', 11]])],
      [key(other), new Map<string, BencodeEncodable>([['complete', 1]])],
      ['short', new Map<string, BencodeEncodable>([['complete', 1]])]
    ])
    const http = new FakeHttp().answer(new Map<string, BencodeEncodable>([['files', files]]))
    const tracker = new HttpTracker('http://t/announce.php?k=1', { httpClient: http })
    expect(tracker.canScrape).toBe(true)
    const result = await tracker.scrape([infoHash])
    expect(http.requests[0]!.url).toBe(`http://t/scrape.php?k=1&info_hash=${percentEncodeBytes(infoHash)}`)
    expect([...result.entries()]).toEqual([[
      '000d1a2734414e5b6875828f9ca9b6c3d0ddeaf7', { complete: 4, incomplete: 2, downloaded: 11 }
    ]])
  })

  it('reads keys written as UTF-8 of Latin-1 (the bittorrent-tracker npm server does that)', async () => {
    const high = Uint8Array.from({ length: 20 }, (_, i) => 0x80 + i)
    const utf8Key = String.fromCharCode(...new TextEncoder().encode(String.fromCharCode(...high)))
    expect(utf8Key.length).toBe(40)
    const files = new Map<string, BencodeEncodable>([
      [utf8Key, new Map<string, BencodeEncodable>([['complete', 3], ['incomplete', 1], ['downloaded', 3]])],
      ['\xff'.repeat(30), new Map<string, BencodeEncodable>([['complete', 9]])]
    ])
    const http = new FakeHttp().answer(new Map<string, BencodeEncodable>([['files', files]]))
    const result = await new HttpTracker('http://t/announce', { httpClient: http }).scrape([high])
    expect([...result.values()]).toEqual([{ complete: 3, incomplete: 1, downloaded: 3 }])
  })

  it('refuses to scrape a tracker without a scrape URL, and reports scrape failures', async () => {
    const http = new FakeHttp().answer({ 'failure reason': 'no scrape here' }).answer({ interval: 5 })
    const none = new HttpTracker('http://t/tracker', { httpClient: http })
    expect(none.canScrape).toBe(false)
    expect((await rejection(none.scrape([infoHash]))).code).toBe('TRACKER_SCRAPE_UNSUPPORTED')
    const t = new HttpTracker('http://t/announce', { httpClient: http })
    expect((await rejection(t.scrape([infoHash]))).details).toMatchObject({ reason: 'no scrape here' })
    expect((await rejection(t.scrape([infoHash]))).code).toBe('TRACKER_FAILURE')
    expect(http.requests).toHaveLength(2)
  })

  it('refuses URLs it cannot use', () => {
    for (const url of ['udp://t:1', 'wss://t/announce', 'http://', 'http://t:0/announce', 'http://u:p@t/announce', 'http://t/ann ounce', 'http://::1/announce']) {
      expect(() => new HttpTracker(url, { httpClient: new FakeHttp() }), url).toThrow(expect.objectContaining({ code: 'TRACKER_URL_INVALID' }))
    }
    expect(new HttpTracker('http://[::1]:7000/announce', { httpClient: new FakeHttp() }).url).toBe('http://[::1]:7000/announce')
  })
})
