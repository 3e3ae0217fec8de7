import { describe, expect, it } from 'vitest'
import { checkRangeResponse, failureForStatus, parseContentRange, parseRetryAfterMs, rangeHeader } from '../../../src/webseed/http-range.js'
import { encodePathComponent, webSeedFileUrl } from '../../../src/webseed/web-seed-url.js'

const body = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff)
const ask = { startBytes: 100, lengthBytes: 50, fileLengthBytes: 1000 }
const NOW = Date.parse('2026-12-07T12:00:00Z')

describe('BEP 19 URLs', () => {
  const multi = { name: 'My Album', multiFile: true, files: [{ path: ['Disc 1', 'ü #1?.flac'] }, { path: ['a+b'] }] } as never
  const single = { name: 'file name.iso', multiFile: false, files: [{ path: ['file name.iso'] }] } as never

  it('multi-file: base + name + path, every component percent-encoded, a slash added when missing', () => {
    expect(webSeedFileUrl('http://h/pub/', multi, 0)).toBe('http://h/pub/My%20Album/Disc%201/%C3%BC%20%231%3F.flac')
    expect(webSeedFileUrl('http://h/pub', multi, 1)).toBe('http://h/pub/My%20Album/a%2Bb')
  })

  it('single file: the URL as given, or + name when it ends with a slash', () => {
    expect(webSeedFileUrl('http://h/x/file.iso', single, 0)).toBe('http://h/x/file.iso')
    expect(webSeedFileUrl('http://h/x/', single, 0)).toBe('http://h/x/file%20name.iso')
  })

  it("encodes !'()* too", () => {
    expect(encodePathComponent("a!b'c(d)e*f")).toBe('a%21b%27c%28d%29e%2Af')
  })
})

describe('range responses', () => {
  it('asks for an inclusive byte range', () => {
    expect(rangeHeader(100, 50)).toBe('bytes=100-149')
  })

  it('accepts a 206 with the matching Content-Range, or none', () => {
    expect(checkRangeResponse(ask, { status: 206, headers: { 'content-range': 'bytes 100-149/1000' }, body: body(50) }, NOW, 1e6)).toMatchObject({ ok: true })
    expect(checkRangeResponse(ask, { status: 206, headers: {}, body: body(50) }, NOW, 1e6)).toMatchObject({ ok: true })
    expect(checkRangeResponse(ask, { status: 206, headers: { 'content-range': 'bytes 100-149/*' }, body: body(50) }, NOW, 1e6)).toMatchObject({ ok: true })
  })

  it.each<[string, number, Record<string, string>, number, string]>([
    ['a short body', 206, { 'content-range': 'bytes 100-149/1000' }, 49, 'short body: 49 of 50 bytes'],
    ['a long body', 206, {}, 51, 'long body: 51 of 50 bytes'],
    ['another range', 206, { 'content-range': 'bytes 0-49/1000' }, 50, 'Content-Range 0-49, asked 100-149'],
    ['another file size', 206, { 'content-range': 'bytes 100-149/999' }, 50, 'file is 999 bytes on the server, 1000 in the torrent'],
    ['a garbled Content-Range', 206, { 'content-range': 'items 1-2' }, 50, 'unreadable Content-Range "items 1-2"'],
    ['200 for a part', 200, {}, 1000, 'the server ignored the Range header (200 for a part of the file)']
  ])('refuses %s', (_, status, headers, length, reason) => {
    expect(checkRangeResponse(ask, { status, headers, body: body(length) }, NOW, 1e6)).toEqual({ ok: false, failure: { kind: 'bad-response', reason } })
  })

  it('accepts 200 when the whole file was asked for', () => {
    const whole = { startBytes: 0, lengthBytes: 10, fileLengthBytes: 10 }
    expect(checkRangeResponse(whole, { status: 200, headers: {}, body: body(10) }, NOW, 1e6)).toMatchObject({ ok: true })
    expect(checkRangeResponse(whole, { status: 200, headers: {}, body: body(9) }, NOW, 1e6)).toMatchObject({ ok: false, failure: { kind: 'bad-response' } })
  })

  it('tells transient statuses from refusals, with Retry-After', () => {
    expect(checkRangeResponse(ask, { status: 503, headers: { 'retry-after': '7' }, body: body(0) }, NOW, 1e6))
      .toEqual({ ok: false, failure: { kind: 'transient', reason: 'HTTP 503', retryAfterMs: 7000 } })
    expect(checkRangeResponse(ask, { status: 404, headers: {}, body: body(0) }, NOW, 1e6)).toEqual({ ok: false, failure: { kind: 'refused', reason: 'HTTP 404' } })
    expect(checkRangeResponse(ask, { status: 416, headers: {}, body: body(0) }, NOW, 1e6)).toMatchObject({ ok: false, failure: { kind: 'refused' } })
    for (const s of [408, 425, 429, 500, 502, 503, 504, 599]) expect(failureForStatus(s), String(s)).toBe('transient')
    for (const s of [400, 401, 403, 404, 410, 301]) expect(failureForStatus(s), String(s)).toBe('refused')
  })

  it('reads Retry-After as seconds or an HTTP date, clamped', () => {
    expect(parseRetryAfterMs('120', NOW, 1e9)).toBe(120_000)
    expect(parseRetryAfterMs('Mon, 07 Dec 2026 12:00:30 GMT', NOW, 1e9)).toBe(30_000)
    expect(parseRetryAfterMs('Mon, 07 Dec 2026 11:00:00 GMT', NOW, 1e9)).toBe(0)
    expect(parseRetryAfterMs('999999', NOW, 3_600_000)).toBe(3_600_000)
    expect(parseRetryAfterMs('soon', NOW, 1e9)).toBeUndefined()
    expect(parseRetryAfterMs(undefined, NOW, 1e9)).toBeUndefined()
  })

  it('parses Content-Range strictly', () => {
    expect(parseContentRange('bytes 0-0/1')).toEqual({ first: 0, last: 0, total: 1 })
    expect(parseContentRange('bytes 5-4/10')).toBeNull()
    expect(parseContentRange('bytes 0-9/9')).toBeNull()
    expect(parseContentRange('bytes */10')).toBeNull()
  })
})
