/**
 * The I/O bridge: a Node process that gives a browser engine TCP/UDP sockets (one binary
 * WebSocket, `/io`) and files under storage roots (HTTP, `/fs/...`), on 127.0.0.1 only.
 *
 * Who may use it:
 * - Every request needs the per-run random token: HTTP in `Authorization: Bearer …` (or
 *   `X-Lodestone-Token`), the WebSocket in its first frame (AUTH), since a browser WebSocket cannot
 *   carry headers. A session that does not authenticate within {@link AUTH_TIMEOUT_MS} is closed.
 * - A request carrying an `Origin` header (every browser request) must name an allowed origin
 *   exactly; with none configured no browser page is allowed. A request without one (a Node
 *   client) is judged by the token alone. Unlike JSTorrent's daemon there is no "any origin"
 *   default.
 * - The `Host` header must be the loopback address and port we listen on: a DNS-rebinding page
 *   (evil.example resolving to 127.0.0.1) sends its own host name and is refused.
 * - CORS answers name the allowed origin only; preflights are cached (`Access-Control-Max-Age`)
 *   because every file request carries the token header and so needs one.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { Feature, Op, authResultFrame, decodeFrame, serverHelloFrame, BridgeFrameError, MAX_FRAME_BYTES, PayloadReader } from '@lodestone/engine/adapters/daemon'
import { FileService, describeFileError } from './file-service.js'
import { SocketSession, type BridgeTraffic } from './socket-session.js'
import { resolveRoots, type ResolvedRoot, type StorageRootInfo } from './storage-roots.js'

export const AUTH_TIMEOUT_MS = 5_000
const PREFLIGHT_MAX_AGE_SEC = 7_200

export interface IoDaemonOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @default 0 */
  port?: number
  /** Address to bind; loopback only makes sense. @default '127.0.0.1' */
  host?: string
  /** Storage roots: `label` is shown to the browser, `dir` never is. */
  roots?: ReadonlyArray<{ label: string, dir: string }>
  /** Browser origins allowed to use the bridge (exact match, e.g. 'http://127.0.0.1:8080'). */
  allowOrigins?: readonly string[]
  /** @default 32 random bytes, hex */
  token?: string
  /** A WebSocket that has not authenticated by then is closed. @default AUTH_TIMEOUT_MS */
  authTimeoutMs?: number
  /**
   * Received bytes each session keeps for FILE_WRITE_RECV (writes from the received stream); 0
   * turns the feature off (not offered in SERVER_HELLO). @default RECV_HOLD_BYTES (bridge-protocol.ts)
   */
  recvHoldBytes?: number
}

export interface IoDaemon {
  readonly port: number
  readonly token: string
  readonly roots: readonly StorageRootInfo[]
  /** Authenticated WebSocket sessions open now. */
  readonly sessions: number
  /** File requests served per operation: count, time spent in the daemon (ms) and bytes; also the
   * WebSocket messages received and sent (`ws messages in` / `out`: count and bytes). */
  fileStats (): Record<string, { requests: number, ms: number, bytes: number }>
  /** Stops listening and closes every session, socket and file. */
  close (): Promise<void>
}

function tokenMatches (expected: Buffer, given: string | undefined): boolean {
  if (given === undefined) return false
  const g = Buffer.from(given)
  return g.length === expected.length && timingSafeEqual(g, expected)
}

function bearerOf (req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim()
  const header = req.headers['x-lodestone-token']
  return typeof header === 'string' ? header : undefined
}

/** Starts the bridge; resolves once it listens. */
export async function startIoDaemon (options: IoDaemonOptions = {}): Promise<IoDaemon> {
  const host = options.host ?? '127.0.0.1'
  const token = options.token ?? randomBytes(32).toString('hex')
  const tokenBytes = Buffer.from(token)
  const allowOrigins = new Set(options.allowOrigins ?? [])
  const roots: ResolvedRoot[] = await resolveRoots(options.roots ?? [])
  const files = new FileService(roots)
  const sessions = new Set<SocketSession>()
  const traffic: BridgeTraffic = { in: { frames: 0, bytes: 0 }, out: { frames: 0, bytes: 0 } }
  const sockets = new Set<WebSocket>()
  let allowedHosts = new Set<string>()
  let preflights = 0

  const originOk = (req: IncomingMessage): boolean => {
    const origin = req.headers.origin
    return origin === undefined || allowOrigins.has(origin)
  }
  const hostOk = (req: IncomingMessage): boolean => allowedHosts.has(req.headers.host ?? '')

  const cors = (req: IncomingMessage) => (res: ServerResponse): void => {
    const origin = req.headers.origin
    if (origin !== undefined && allowOrigins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin)
      res.setHeader('Vary', 'Origin')
    }
  }

  const refuse = (res: ServerResponse, status: number, code: string, message: string, setHeaders?: (res: ServerResponse) => void): void => {
    setHeaders?.(res)
    const text = JSON.stringify({ code, message })
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), Connection: 'close' })
    res.end(text)
  }

  const server: Server = createServer({ keepAlive: true }, (req, res) => {
    if (!hostOk(req)) { refuse(res, 403, 'HOST_REFUSED', 'bad Host header'); return }
    if (!originOk(req)) { refuse(res, 403, 'ORIGIN_REFUSED', 'origin not allowed'); return }
    const setHeaders = cors(req)
    if (req.method === 'OPTIONS') {
      preflights++
      setHeaders(res)
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, X-Lodestone-Token, X-Lodestone-Args, X-Expected-SHA1, Content-Type',
        'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SEC),
        'Content-Length': '0'
      })
      res.end()
      return
    }
    if (!tokenMatches(tokenBytes, bearerOf(req))) { refuse(res, 401, 'TOKEN_REFUSED', 'missing or wrong token', setHeaders); return }
    const url = new URL(req.url ?? '/', 'http://bridge')
    // Arguments may come in a header instead of the query: Chromium caches a CORS preflight per
    // URL, so a browser client keeps one URL per operation and sends offsets and handles here.
    const args = req.headers['x-lodestone-args']
    if (typeof args === 'string') for (const [k, v] of new URLSearchParams(args)) url.searchParams.set(k, v)
    if (url.pathname === '/roots' && req.method === 'GET') {
      setHeaders(res)
      const text = JSON.stringify(roots.map(({ key, label }) => ({ key, label })))
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
      res.end(text)
      return
    }
    if (url.pathname.startsWith('/fs/')) { void files.handle(req, res, url, setHeaders); return }
    refuse(res, 404, 'NOT_FOUND', 'no such endpoint', setHeaders)
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 120_000

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const reject = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    const path = (req.url ?? '').split('?')[0]
    if (path !== '/io') { reject(404, 'Not Found'); return }
    if (!hostOk(req)) { reject(403, 'Forbidden'); return }
    if (!originOk(req)) { reject(403, 'Forbidden'); return }
    wss.handleUpgrade(req, socket, head, (ws) => { accept(ws) })
  })

  function accept (ws: WebSocket): void {
    sockets.add(ws)
    let session: SocketSession | null = null
    const timer = setTimeout(() => { ws.close(4001, 'auth timeout') }, options.authTimeoutMs ?? AUTH_TIMEOUT_MS)
    ws.on('error', () => {})
    ws.on('close', () => {
      clearTimeout(timer)
      sockets.delete(ws)
      if (session !== null) { session.close(); sessions.delete(session) }
    })
    // Each message as the list of its WebSocket frames' payloads: ws would otherwise join a
    // fragmented message into a fresh buffer (Chromium sends a 1 MiB FILE_WRITE as 9+ frames).
    ws.binaryType = 'fragments'
    ws.on('message', (data, isBinary) => {
      if (!isBinary || !Array.isArray(data)) { ws.close(1003, 'binary frames only'); return }
      const parts = data as Buffer[]
      if (session !== null) { session.onMessage(parts); return }
      const message = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
      // Before authentication only CLIENT_HELLO and AUTH are accepted.
      try {
        const frame = decodeFrame(message)
        if (frame.opcode === Op.CLIENT_HELLO) { ws.send(serverHelloFrame(options.recvHoldBytes === 0 ? 0 : Feature.WRITE_RECV | Feature.WRITE_RECV_SHA1)); return }
        if (frame.opcode !== Op.AUTH) throw new BridgeFrameError('authenticate first')
        const r = new PayloadReader(frame.payload)
        if (r.u8('auth type') !== 0) throw new BridgeFrameError('unknown auth type')
        const text = Buffer.from(r.rest()).toString('utf8')
        const given = text.split('\0')[0]
        if (!tokenMatches(tokenBytes, given)) {
          ws.send(authResultFrame(false, 'wrong token'))
          ws.close(4003, 'wrong token')
          return
        }
        clearTimeout(timer)
        session = new SocketSession(ws, (reason) => { ws.close(1002, reason.slice(0, 100)) }, {
          writeByHandle: async (handle, offset, data, received) => files.writeByHandle(handle, offset, data, received),
          describeError: describeFileError
        }, traffic, options.recvHoldBytes !== undefined ? { recvHoldBytes: options.recvHoldBytes } : {})
        sessions.add(session)
        ws.send(authResultFrame(true, 'ok'))
      } catch (err) {
        ws.close(1002, err instanceof BridgeFrameError ? err.message.slice(0, 100) : 'bad frame')
      }
    })
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  allowedHosts = new Set([`${host}:${port}`, `localhost:${port}`, host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`])

  let closing: Promise<void> | null = null
  return {
    port,
    token,
    roots: roots.map(({ key, label }) => ({ key, label })),
    get sessions () { return sessions.size },
    fileStats: () => ({
      ...Object.fromEntries(files.counters),
      preflight: { requests: preflights, ms: 0, bytes: 0 },
      'ws messages in': { requests: traffic.in.frames, ms: 0, bytes: traffic.in.bytes },
      'ws messages out': { requests: traffic.out.frames, ms: 0, bytes: traffic.out.bytes },
      'write received: not held': { requests: traffic.recvNotHeld ?? 0, ms: 0, bytes: 0 },
      'write received: hash mismatch': { requests: traffic.recvHashMismatch ?? 0, ms: 0, bytes: 0 }
    }),
    close: async () => {
      closing ??= (async () => {
        for (const ws of sockets) ws.terminate()
        for (const s of sessions) s.close()
        sessions.clear()
        wss.close()
        server.closeAllConnections()
        await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
        await files.close()
      })()
      await closing
    }
  }
}
