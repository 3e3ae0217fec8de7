/**
 * {@link IHttpClient} through the io-daemon: HTTP/1.1 GET over a bridge TCP connection (TLS
 * through the bridge's TLS upgrade for https). Why not `fetch`: a page's fetch to a tracker is a
 * cross-origin request the tracker never allows (no CORS headers), and an extension's fetch is
 * limited by its host permissions; through the bridge the request is the same as a native
 * client's.
 *
 * Minimal by design: one request per connection (`Connection: close`), Content-Length, chunked
 * and close-delimited bodies, redirects (301/302/303/307/308) up to 5, one deadline for the
 * whole exchange, the body limit enforced while reading. No compression is asked for.
 */
import { LodestoneError } from '../../src/errors.js'
import type { HttpRequestOptions, HttpResponse, IHttpClient } from '../../src/interfaces/http-client.js'
import type { DaemonSocketFactory, DaemonTcpSocket } from './daemon-socket-factory.js'

const MAX_REDIRECTS = 5
const MAX_HEADER_BYTES = 64 * 1024
const REDIRECTS = new Set([301, 302, 303, 307, 308])

function failure (url: string, reason: string): LodestoneError {
  return new LodestoneError('TRACKER_FAILURE', { url, reason })
}

/** Incremental HTTP/1.1 response parser. */
class ResponseReader {
  private buf = new Uint8Array(0)
  status = 0
  headers: Record<string, string> = {}
  private headerDone = false
  private readonly body: Uint8Array[] = []
  private bodyBytes = 0
  private chunkLeft = -1 // -1: expecting a chunk-size line
  private chunkedDone = false
  done = false

  constructor (private readonly url: string, private readonly maxBodyBytes: number) {}

  push (data: Uint8Array): void {
    const joined = new Uint8Array(this.buf.length + data.length)
    joined.set(this.buf)
    joined.set(data, this.buf.length)
    this.buf = joined
    this.parse()
  }

  private takeLine (): string | null {
    for (let i = 0; i + 1 < this.buf.length; i++) {
      if (this.buf[i] === 13 && this.buf[i + 1] === 10) {
        const line = new TextDecoder().decode(this.buf.subarray(0, i))
        this.buf = this.buf.subarray(i + 2)
        return line
      }
    }
    if (this.buf.length > MAX_HEADER_BYTES) throw failure(this.url, 'response header too large')
    return null
  }

  private addBody (bytes: Uint8Array): void {
    this.bodyBytes += bytes.length
    if (this.bodyBytes > this.maxBodyBytes) throw new LodestoneError('TRACKER_RESPONSE_TOO_LARGE', { url: this.url, limitBytes: this.maxBodyBytes })
    this.body.push(bytes.slice())
  }

  private parse (): void {
    while (!this.headerDone) {
      const line = this.takeLine()
      if (line === null) return
      if (this.status === 0) {
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(line)
        if (m === null) throw failure(this.url, 'not an HTTP response')
        this.status = Number(m[1])
        continue
      }
      if (line === '') {
        this.headerDone = true
        const length = this.headers['content-length']
        if (length !== undefined && Number(length) > this.maxBodyBytes) throw new LodestoneError('TRACKER_RESPONSE_TOO_LARGE', { url: this.url, limitBytes: this.maxBodyBytes })
        break
      }
      const colon = line.indexOf(':')
      if (colon > 0) {
        const name = line.slice(0, colon).trim().toLowerCase()
        const value = line.slice(colon + 1).trim()
        this.headers[name] = this.headers[name] !== undefined ? `${this.headers[name]}, ${value}` : value
      }
    }
    if (this.headers['transfer-encoding']?.toLowerCase().includes('chunked') === true) {
      this.parseChunked()
      return
    }
    if (this.buf.length > 0) { this.addBody(this.buf); this.buf = new Uint8Array(0) }
    const length = this.headers['content-length']
    if (length !== undefined && this.bodyBytes >= Number(length)) this.done = true
  }

  private parseChunked (): void {
    while (!this.chunkedDone) {
      if (this.chunkLeft === -1) {
        const line = this.takeLine()
        if (line === null) return
        const size = parseInt(line.split(';')[0] ?? '', 16)
        if (!Number.isFinite(size) || size < 0) throw failure(this.url, 'bad chunk size')
        if (size === 0) { this.chunkedDone = true; this.done = true; return }
        this.chunkLeft = size
      }
      if (this.chunkLeft > 0) {
        const n = Math.min(this.chunkLeft, this.buf.length)
        if (n === 0) return
        this.addBody(this.buf.subarray(0, n))
        this.buf = this.buf.subarray(n)
        this.chunkLeft -= n
      }
      if (this.chunkLeft === 0) {
        if (this.buf.length < 2) return
        this.buf = this.buf.subarray(2)
        this.chunkLeft = -1
      }
    }
  }

  /** The connection closed: a close-delimited body ends here. */
  end (): void {
    if (!this.headerDone) throw failure(this.url, 'connection closed before the response')
    const chunked = this.headers['transfer-encoding']?.toLowerCase().includes('chunked') === true
    const length = this.headers['content-length']
    if (chunked && !this.chunkedDone) throw failure(this.url, 'connection closed inside a chunked body')
    if (length !== undefined && this.bodyBytes < Number(length)) throw failure(this.url, 'connection closed before the whole body')
    this.done = true
  }

  result (): HttpResponse {
    const body = new Uint8Array(this.bodyBytes)
    let off = 0
    for (const b of this.body) { body.set(b, off); off += b.length }
    return { status: this.status, headers: this.headers, body }
  }
}

export class DaemonHttpClient implements IHttpClient {
  constructor (private readonly sockets: DaemonSocketFactory, private readonly settings: { insecureTls?: boolean } = {}) {}

  async get (url: string, options: HttpRequestOptions): Promise<HttpResponse> {
    const deadline = Date.now() + options.timeoutMs
    let current = url
    for (let hop = 0; ; hop++) {
      const res = await this.once(current, options, deadline)
      const location = res.headers.location
      if (!REDIRECTS.has(res.status) || location === undefined || hop >= MAX_REDIRECTS) return res
      const next = new URL(location, current)
      if (next.protocol !== 'http:' && next.protocol !== 'https:') return res
      current = next.toString()
    }
  }

  private async once (url: string, options: HttpRequestOptions, deadline: number): Promise<HttpResponse> {
    let u: URL
    try { u = new URL(url) } catch { throw new LodestoneError('TRACKER_URL_INVALID', { url, reason: 'not a URL' }) }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new LodestoneError('TRACKER_URL_INVALID', { url, reason: 'not http(s)' })
    if (options.signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'http get' })
    const tls = u.protocol === 'https:'
    const host = u.hostname.replace(/^\[|\]$/g, '')
    const port = u.port !== '' ? Number(u.port) : tls ? 443 : 80
    const remaining = Math.max(1, deadline - Date.now())
    let socket: DaemonTcpSocket
    try {
      socket = await this.sockets.connectTcp(host, port, { timeoutMs: remaining, ...(options.signal !== undefined ? { signal: options.signal } : {}) })
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ABORTED') throw err
      throw failure(url, (err as { details?: { reason?: string } }).details?.reason ?? String(err))
    }
    try {
      if (tls) await socket.upgradeTls(host, { insecure: this.settings.insecureTls === true })
    } catch (err) {
      socket.close()
      throw failure(url, String((err as { details?: { reason?: string } }).details?.reason ?? err))
    }
    const headers: Record<string, string> = { Host: u.host, 'User-Agent': 'Lodestone', Accept: '*/*', Connection: 'close', ...options.headers }
    const head = `GET ${u.pathname}${u.search} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`
    const reader = new ResponseReader(url, options.maxBodyBytes)
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false
      const finish = (error: LodestoneError | null): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        socket.close()
        if (error !== null) reject(error)
        else resolve(reader.result())
      }
      const onAbort = (): void => { finish(new LodestoneError('ABORTED', { operation: 'http get' })) }
      const timer = setTimeout(() => { finish(new LodestoneError('TRACKER_TIMEOUT', { url, timeoutMs: options.timeoutMs })) }, Math.max(1, deadline - Date.now()))
      options.signal?.addEventListener('abort', onAbort, { once: true })
      socket.onData((data) => {
        try {
          reader.push(data)
          if (reader.done) finish(null)
        } catch (err) { finish(err as LodestoneError) }
      })
      socket.onClose(() => {
        try { reader.end(); finish(null) } catch (err) { finish(err as LodestoneError) }
      })
      socket.send(new TextEncoder().encode(head))
    })
  }
}
