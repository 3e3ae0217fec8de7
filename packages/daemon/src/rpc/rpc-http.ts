/**
 * The HTTP side of `/transmission/rpc`, checks in Transmission's order:
 * 1. basic auth when credentials are set → 401 with `WWW-Authenticate: Basic realm="Transmission"`;
 * 2. the `Host` header (DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own
 *    name): IP literals, `localhost`, `localhost.` and configured names pass, anything else and a
 *    missing Host → 403 (Transmission answers 421; the issue asks for 403, and clients treat both
 *    as failure). Skipped when auth is on, as in Transmission — a rebinding page cannot know the
 *    password, and a NAS reached by name must work;
 * 3. `Origin`, when a browser sends one: our own origin (same host as `Host`) or a configured one,
 *    else 403 — a foreign page cannot even start the handshake;
 * 4. `X-Transmission-Session-Id` (CSRF): missing or stale → 409 carrying the current id;
 * 5. POST only (405), a body of at most `maxRequestBodyBytes` (413, connection closed);
 * then the method. The body is JSON whatever the Content-Type says (transmission-remote sends
 * `application/x-www-form-urlencoded`).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dispatchRpc } from './rpc-dispatch.js'
import type { RpcHost } from './rpc-types.js'

export const SESSION_ID_HEADER = 'X-Transmission-Session-Id'
const SESSION_ID_LENGTH = 48
/** Smaller answers go uncompressed: gzip's header and CPU are not worth it. */
const GZIP_MIN_BYTES = 1024
const gzipAsync = promisify(gzip)
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** A fresh 48-character session id (Transmission's length). */
export function newSessionId (): string {
  const bytes = randomBytes(SESSION_ID_LENGTH)
  let out = ''
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length]
  return out
}

export interface RpcAccess {
  username: string | null
  password: string | null
  /** Host names allowed besides IP literals and localhost. */
  hostAllowList: readonly string[]
  /** Origins allowed besides our own. */
  originAllowList: readonly string[]
  maxBodyBytes: number
}

function safeEqual (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** True when the request carries the configured credentials (or none are configured). */
export function authorized (req: IncomingMessage, access: RpcAccess): boolean {
  if (access.password === null || access.username === null) return true
  const header = req.headers.authorization
  if (typeof header !== 'string' || !/^basic /i.test(header)) return false
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return false
  // Both compared, always: the time taken does not say which one was wrong.
  const userOk = safeEqual(decoded.slice(0, colon), access.username)
  const passOk = safeEqual(decoded.slice(colon + 1), access.password)
  return userOk && passOk
}

/** The host name of a Host header value (without port; IPv6 brackets removed). */
export function hostNameOf (hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase()
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'))
  const colon = h.indexOf(':')
  return colon >= 0 && h.indexOf(':', colon + 1) < 0 ? h.slice(0, colon) : h
}

export function hostAllowed (req: IncomingMessage, access: RpcAccess): boolean {
  const header = req.headers.host
  if (typeof header !== 'string' || header === '') return false
  const name = hostNameOf(header)
  if (isIP(name) !== 0 || name === 'localhost' || name === 'localhost.') return true
  return access.hostAllowList.some((h) => h.toLowerCase() === name)
}

export function originAllowed (req: IncomingMessage, access: RpcAccess): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  if (access.originAllowList.includes(origin)) return true
  try {
    const url = new URL(origin)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === (req.headers.host ?? '').toLowerCase()
  } catch {
    return false
  }
}

function send (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=ISO-8859-1', 'Content-Length': Buffer.byteLength(body), ...headers })
  res.end(body)
}

/** Reads the body up to `limit` bytes; null when it is longer (the request is then answered 413). */
export async function readBody (req: IncomingMessage, limit: number): Promise<string | null> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (Number.isFinite(declared) && declared > limit) return null
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > limit) return null
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export class RpcEndpoint {
  /** The current session id; rotated by `rotateSessionId()` (a reload). */
  sessionId = newSessionId()

  constructor (private readonly host: RpcHost, public access: RpcAccess) {}

  rotateSessionId (): void {
    this.sessionId = newSessionId()
  }

  /** Answers one request under `/transmission/rpc`. Never throws. */
  async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!authorized(req, this.access)) {
      send(res, 401, '<h1>401: Unauthorized</h1>Unauthorized User', { 'WWW-Authenticate': 'Basic realm="Transmission"' })
      req.resume()
      return
    }
    if (this.access.password === null && !hostAllowed(req, this.access)) {
      send(res, 403, '<h1>403: Forbidden</h1><p>Transmission received your request, but the hostname was unrecognized.</p>')
      req.resume()
      return
    }
    if (!originAllowed(req, this.access)) {
      send(res, 403, '<h1>403: Forbidden</h1><p>Requests from this origin are not allowed.</p>')
      req.resume()
      return
    }
    const given = req.headers[SESSION_ID_HEADER.toLowerCase()]
    if (typeof given !== 'string' || !safeEqual(given, this.sessionId)) {
      send(res, 409, `<h1>409: Conflict</h1><p>Your request had an invalid session-id header.</p><p><code>${SESSION_ID_HEADER}: ${this.sessionId}</code></p>`,
        { [SESSION_ID_HEADER]: this.sessionId, 'Access-Control-Expose-Headers': SESSION_ID_HEADER })
      req.resume()
      return
    }
    if (req.method !== 'POST') {
      send(res, 405, '<h1>405: Method Not Allowed</h1>', { Allow: 'POST' })
      req.resume()
      return
    }
    let body: string | null
    try {
      body = await readBody(req, this.access.maxBodyBytes)
    } catch {
      res.destroy()
      return
    }
    if (body === null) {
      // Connection: close, and the rest of the body is drained unread (never buffered).
      send(res, 413, '<h1>413: Payload Too Large</h1>', { Connection: 'close' })
      req.resume()
      return
    }
    const response = await dispatchRpc(this.host, body, this.sessionId)
    const json = Buffer.from(JSON.stringify(response))
    const headers: Record<string, string | number> = { 'Content-Type': 'application/json; charset=UTF-8', [SESSION_ID_HEADER]: this.sessionId, Vary: 'Accept-Encoding' }
    // Transmission answers gzip when asked (transmission-remote asks); a torrent-get of many
    // torrents' files and peers shrinks several times.
    const gzipOk = /\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''))
    const out = gzipOk && json.length >= GZIP_MIN_BYTES ? await gzipAsync(json) : json
    if (out !== json) headers['Content-Encoding'] = 'gzip'
    headers['Content-Length'] = out.length
    res.writeHead(200, headers)
    res.end(out)
  }
}
