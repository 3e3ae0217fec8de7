/**
 * {@link IHttpClient} over `node:http` / `node:https`, for tracker announces, .torrent URLs and
 * web seeds.
 *
 * Why not `fetch`: the body limit must hold while streaming (a hostile tracker can send an endless
 * chunked body), the time-out must cover the whole exchange including redirects, and we want to
 * refuse a declared Content-Length above the limit before reading a byte. node:http gives all of
 * that directly.
 *
 * - One deadline (`timeoutMs`) for the whole request, redirects included → TRACKER_TIMEOUT.
 * - Redirects (301, 302, 303, 307, 308 with a Location) are followed up to `maxRedirects`, to
 *   http or https only.
 * - The body is counted as it arrives (after decoding gzip / deflate / br, if the server sent
 *   them unasked) and the request is aborted beyond `maxBodyBytes` → TRACKER_RESPONSE_TOO_LARGE.
 * - Network failures → TRACKER_FAILURE with the errno code; the signal → ABORTED.
 * - Non-2xx responses are returned, not thrown: what a status means is the caller's business.
 * - No connection reuse by default: announces are minutes apart. Requests with `keepAlive` (web
 *   seeds: many range requests to one server) share keep-alive agents (up to `maxSocketsPerHost`
 *   per origin); Node unrefs idle pooled sockets, so they never keep a process alive, and they are
 *   closed after `keepAliveIdleMs` idle or by {@link NodeHttpClient.close}.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import type { Readable } from 'node:stream'
import { LodestoneError } from '../../src/errors.js'
import type { HttpRequestOptions, HttpResponse, IHttpClient } from '../../src/interfaces/http-client.js'

export interface NodeHttpClientSettings {
  /** @default 5 */
  maxRedirects: number
  /** Extra trusted CA certificates (PEM) for https, e.g. a test server's self-signed one. */
  ca?: string | string[]
  /** Verify https certificates. @default true */
  rejectUnauthorized: boolean
  /** Connections per origin for keep-alive requests. @default 8 */
  maxSocketsPerHost: number
  /** An idle keep-alive connection is closed after this long. @default 15_000 */
  keepAliveIdleMs: number
}

export const defaultNodeHttpClientSettings: Readonly<NodeHttpClientSettings> = {
  maxRedirects: 5,
  rejectUnauthorized: true,
  maxSocketsPerHost: 8,
  keepAliveIdleMs: 15_000
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

function errnoOf (err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string') return code
    if (err instanceof Error) return err.message
  }
  return String(err)
}

/** Lower-case names; repeated headers joined with ', '. */
function flattenHeaders (headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

function concatChunks (chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/** `new NodeHttpClient(settings?)`. */
export class NodeHttpClient implements IHttpClient {
  private readonly settings: NodeHttpClientSettings
  private readonly httpAgent = new HttpAgent({ keepAlive: false })
  private readonly httpsAgent: HttpsAgent
  private readonly keepAliveHttpAgent: HttpAgent
  private readonly keepAliveHttpsAgent: HttpsAgent

  constructor (settings: Partial<NodeHttpClientSettings> = {}) {
    this.settings = { ...defaultNodeHttpClientSettings, ...settings }
    const tls = {
      rejectUnauthorized: this.settings.rejectUnauthorized,
      ...(this.settings.ca !== undefined ? { ca: this.settings.ca } : {})
    }
    this.httpsAgent = new HttpsAgent({ keepAlive: false, ...tls })
    // `timeout` closes idle pooled sockets; the request deadline is enforced separately.
    const pooled = { keepAlive: true, maxSockets: this.settings.maxSocketsPerHost, maxFreeSockets: this.settings.maxSocketsPerHost, timeout: this.settings.keepAliveIdleMs }
    this.keepAliveHttpAgent = new HttpAgent(pooled)
    this.keepAliveHttpsAgent = new HttpsAgent({ ...pooled, ...tls })
  }

  /** Closes pooled keep-alive connections (requests in flight are not affected). */
  close (): void {
    this.keepAliveHttpAgent.destroy()
    this.keepAliveHttpsAgent.destroy()
  }

  /** @throws TRACKER_URL_INVALID, TRACKER_TIMEOUT, TRACKER_RESPONSE_TOO_LARGE, TRACKER_FAILURE, ABORTED */
  async get (url: string, options: HttpRequestOptions): Promise<HttpResponse> {
    const signal = options.signal
    if (signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'http get' })
    let current = parseHttpUrl(url, url)
    const controller = new AbortController()
    let cause: LodestoneError | undefined
    const stop = (error: LodestoneError): void => {
      if (cause !== undefined) return
      cause = error
      controller.abort(error)
    }
    const timer = setTimeout(() => { stop(new LodestoneError('TRACKER_TIMEOUT', { url, timeoutMs: options.timeoutMs })) }, options.timeoutMs)
    const onAbort = (): void => { stop(new LodestoneError('ABORTED', { operation: 'http get' })) }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      for (let redirects = 0; ; redirects++) {
        const response = await this.requestOnce(current, options, controller.signal, () => cause)
        const location = response.headers.location
        if (!REDIRECT_STATUSES.has(response.status) || location === undefined) return response
        if (redirects >= this.settings.maxRedirects) {
          throw new LodestoneError('TRACKER_FAILURE', { url, reason: `more than ${this.settings.maxRedirects} redirects` })
        }
        current = parseHttpUrl(location, url, current)
      }
    } catch (err) {
      throw cause ?? err
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  private async requestOnce (
    url: URL,
    options: HttpRequestOptions,
    signal: AbortSignal,
    cause: () => LodestoneError | undefined
  ): Promise<HttpResponse> {
    const limitBytes = options.maxBodyBytes
    const original = url.href
    return new Promise<HttpResponse>((resolve, reject) => {
      let done = false
      const fail = (error: LodestoneError): void => {
        if (done) return
        done = true
        req.destroy()
        reject(cause() ?? error)
      }
      const isHttps = url.protocol === 'https:'
      const req = (isHttps ? httpsRequest : httpRequest)(url, {
        method: 'GET',
        headers: options.headers ?? {},
        agent: options.keepAlive === true
          ? (isHttps ? this.keepAliveHttpsAgent : this.keepAliveHttpAgent)
          : (isHttps ? this.httpsAgent : this.httpAgent),
        signal
      })
      req.on('error', (err) => {
        fail(new LodestoneError('TRACKER_FAILURE', { url: original, reason: errnoOf(err) }, { cause: err }))
      })
      req.on('response', (res) => {
        const status = res.statusCode ?? 0
        const headers = flattenHeaders(res.headers)
        if (REDIRECT_STATUSES.has(status) && headers.location !== undefined) {
          res.resume() // discard the redirect's body
          done = true
          resolve({ status, headers, body: new Uint8Array(0) })
          return
        }
        const declared = Number(headers['content-length'])
        if (Number.isFinite(declared) && declared > limitBytes) {
          fail(new LodestoneError('TRACKER_RESPONSE_TOO_LARGE', { url: original, limitBytes }))
          res.destroy()
          return
        }
        let body: Readable = res
        const encoding = headers['content-encoding']?.trim().toLowerCase()
        if (encoding === 'gzip' || encoding === 'x-gzip') body = res.pipe(createGunzip())
        else if (encoding === 'deflate') body = res.pipe(createInflate())
        else if (encoding === 'br') body = res.pipe(createBrotliDecompress())
        const chunks: Uint8Array[] = []
        let total = 0
        body.on('data', (chunk: Buffer) => {
          if (done) return
          total += chunk.length
          if (total > limitBytes) {
            // Settle first: destroying the response emits its own errors synchronously.
            fail(new LodestoneError('TRACKER_RESPONSE_TOO_LARGE', { url: original, limitBytes }))
            res.destroy()
            if (body !== res) body.destroy()
            return
          }
          chunks.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        })
        body.on('end', () => {
          if (done) return
          done = true
          resolve({ status, headers, body: concatChunks(chunks, total) })
        })
        body.on('error', (err) => {
          fail(new LodestoneError('TRACKER_FAILURE', { url: original, reason: errnoOf(err) }, { cause: err }))
        })
        res.on('aborted', () => {
          fail(new LodestoneError('TRACKER_FAILURE', { url: original, reason: 'response aborted' }))
        })
        res.on('error', (err) => {
          fail(new LodestoneError('TRACKER_FAILURE', { url: original, reason: errnoOf(err) }, { cause: err }))
        })
      })
      req.end()
    })
  }
}

/** Parses `location` (absolute, or relative to `base`); only http and https. */
function parseHttpUrl (location: string, originalUrl: string, base?: URL): URL {
  let parsed: URL
  try {
    parsed = base !== undefined ? new URL(location, base) : new URL(location)
  } catch {
    throw new LodestoneError('TRACKER_URL_INVALID', { url: location, reason: 'not a valid URL' })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new LodestoneError('TRACKER_URL_INVALID', {
      url: base !== undefined ? originalUrl : location,
      reason: base !== undefined ? `redirect to unsupported scheme ${parsed.protocol}` : `unsupported scheme ${parsed.protocol}`
    })
  }
  return parsed
}
