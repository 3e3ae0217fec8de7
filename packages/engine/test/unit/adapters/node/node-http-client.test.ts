import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeHttpClient } from '../../../../adapters/node/node-http-client.js'
import { codeOf } from '../../../contracts/filesystem.contract.js'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

async function listen (server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

describe('NodeHttpClient', () => {
  let server: Server
  let base: string
  const routes = new Map<string, Handler>()
  const hung: ServerResponse[] = []

  beforeAll(async () => {
    server = createServer((req, res) => {
      const handler = routes.get(new URL(req.url ?? '/', 'http://x').pathname)
      if (handler === undefined) { res.statusCode = 404; res.end('no route'); return }
      handler(req, res)
    })
    base = `http://127.0.0.1:${await listen(server)}`
    routes.set('/announce', (req, res) => {
      res.setHeader('Content-Type', 'text/plain')
      res.setHeader('X-Multi', ['a', 'b'])
      res.end(`query=${new URL(req.url!, 'http://x').search} ua=${req.headers['user-agent'] ?? ''}`)
    })
    routes.set('/big-declared', (_req, res) => { res.setHeader('Content-Length', '5000'); res.end(Buffer.alloc(5000)) })
    routes.set('/big-chunked', (_req, res) => {
      // No Content-Length: the limit must hold while streaming, against a body that never ends.
      res.setHeader('Transfer-Encoding', 'chunked')
      const timer = setInterval(() => { res.write(Buffer.alloc(1024)) }, 1)
      res.on('close', () => { clearInterval(timer) })
    })
    routes.set('/hang', (_req, res) => { hung.push(res) })
    routes.set('/slow-body', (_req, res) => { res.write('partial'); hung.push(res) })
    routes.set('/gzip', (_req, res) => { res.setHeader('Content-Encoding', 'gzip'); res.end(gzipSync(Buffer.from('d8:intervali1800ee'))) })
    routes.set('/gzip-bomb', (_req, res) => { res.setHeader('Content-Encoding', 'gzip'); res.end(gzipSync(Buffer.alloc(1 << 20))) })
    routes.set('/r1', (_req, res) => { res.statusCode = 302; res.setHeader('Location', '/r2?x=1'); res.end('moved') })
    routes.set('/r2', (_req, res) => { res.statusCode = 301; res.setHeader('Location', `${base}/announce`); res.end() })
    routes.set('/loop', (_req, res) => { res.statusCode = 307; res.setHeader('Location', '/loop'); res.end() })
    routes.set('/to-ftp', (_req, res) => { res.statusCode = 302; res.setHeader('Location', 'ftp://example.invalid/x'); res.end() })
    routes.set('/status', (_req, res) => { res.statusCode = 503; res.end('busy') })
    routes.set('/empty', (_req, res) => { res.statusCode = 204; res.end() })
    routes.set('/reset', (req) => { req.socket.destroy() })
  })

  afterAll(async () => {
    for (const res of hung) res.destroy()
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  })

  const client = new NodeHttpClient()
  const opts = { maxBodyBytes: 1024, timeoutMs: 5_000 }

  it('keepAlive requests reuse connections (and keep the Range header across a redirect); others do not', async () => {
    const sockets = new Set<unknown>()
    routes.set('/ka', (req, res) => {
      sockets.add(req.socket)
      res.end(`range=${req.headers.range ?? ''}`)
    })
    routes.set('/ka-redirect', (_req, res) => { res.statusCode = 302; res.setHeader('Location', '/ka'); res.end() })
    const keepAlive = new NodeHttpClient()
    try {
      for (let i = 0; i < 5; i++) {
        const r = await keepAlive.get(`${base}/ka`, { ...opts, keepAlive: true, headers: { range: `bytes=${i}-9` } })
        expect(Buffer.from(r.body).toString()).toBe(`range=bytes=${i}-9`)
      }
      expect(sockets.size).toBe(1)
      const moved = await keepAlive.get(`${base}/ka-redirect`, { ...opts, keepAlive: true, headers: { range: 'bytes=3-4' } })
      expect(Buffer.from(moved.body).toString()).toBe('range=bytes=3-4')
      expect(sockets.size).toBe(1)
      sockets.clear()
      for (let i = 0; i < 3; i++) await keepAlive.get(`${base}/ka`, opts)
      expect(sockets.size).toBe(3)
    } finally {
      keepAlive.close()
    }
  })

  it('gets a body with status and lower-case headers; sends the caller\'s headers', async () => {
    const res = await client.get(`${base}/announce?info_hash=%00%ff`, { ...opts, headers: { 'User-Agent': 'Lodestone/0' } })
    expect(res.status).toBe(200)
    expect(new TextDecoder().decode(res.body)).toBe('query=?info_hash=%00%ff ua=Lodestone/0')
    expect(res.headers['content-type']).toBe('text/plain')
    expect(res.headers['x-multi']).toBe('a, b')
    expect(Object.getPrototypeOf(res.body)).toBe(Uint8Array.prototype)
  })

  it('returns non-2xx responses and empty bodies instead of throwing', async () => {
    const busy = await client.get(`${base}/status`, opts)
    expect(busy.status).toBe(503)
    expect(new TextDecoder().decode(busy.body)).toBe('busy')
    const empty = await client.get(`${base}/empty`, opts)
    expect(empty.status).toBe(204)
    expect(empty.body.length).toBe(0)
  })

  it('refuses bodies beyond maxBodyBytes, declared or streamed: TRACKER_RESPONSE_TOO_LARGE', async () => {
    expect(await codeOf(client.get(`${base}/big-declared`, opts))).toBe('TRACKER_RESPONSE_TOO_LARGE')
    expect(await codeOf(client.get(`${base}/big-chunked`, { maxBodyBytes: 100_000, timeoutMs: 10_000 }))).toBe('TRACKER_RESPONSE_TOO_LARGE')
    const fits = await client.get(`${base}/big-declared`, { ...opts, maxBodyBytes: 5000 })
    expect(fits.body.length).toBe(5000)
  })

  it('decodes gzip the server sent unasked, with the limit on the decoded size', async () => {
    const res = await client.get(`${base}/gzip`, opts)
    expect(new TextDecoder().decode(res.body)).toBe('d8:intervali1800ee')
    expect(await codeOf(client.get(`${base}/gzip-bomb`, { maxBodyBytes: 64 * 1024, timeoutMs: 5_000 }))).toBe('TRACKER_RESPONSE_TOO_LARGE')
  })

  it('times out as a whole: TRACKER_TIMEOUT with the url and limit', async () => {
    for (const path of ['/hang', '/slow-body']) {
      const err = await client.get(`${base}${path}`, { maxBodyBytes: 1024, timeoutMs: 150 }).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'TRACKER_TIMEOUT', details: { url: `${base}${path}`, timeoutMs: 150 } })
    }
  })

  it('follows relative and absolute redirects, bounded; refuses non-http targets', async () => {
    const res = await client.get(`${base}/r1`, opts)
    expect(res.status).toBe(200)
    expect(new TextDecoder().decode(res.body)).toMatch(/^query= ua=/)
    const loop = await client.get(`${base}/loop`, opts).catch((e: unknown) => e)
    expect(loop).toMatchObject({ code: 'TRACKER_FAILURE', details: { reason: 'more than 5 redirects' } })
    expect(await codeOf(client.get(`${base}/to-ftp`, opts))).toBe('TRACKER_URL_INVALID')
    const noFollow = new NodeHttpClient({ maxRedirects: 0 })
    expect(await codeOf(noFollow.get(`${base}/r1`, opts))).toBe('TRACKER_FAILURE')
  })

  it('maps network failures to TRACKER_FAILURE and bad URLs to TRACKER_URL_INVALID', async () => {
    expect(await codeOf(client.get(`${base}/reset`, opts))).toBe('TRACKER_FAILURE')
    const closed = createServer()
    const port = await listen(closed)
    await new Promise<void>((resolve) => closed.close(() => { resolve() }))
    const refused = await client.get(`http://127.0.0.1:${port}/`, opts).catch((e: unknown) => e)
    expect(refused).toMatchObject({ code: 'TRACKER_FAILURE', details: { reason: 'ECONNREFUSED' } })
    expect(await codeOf(client.get('udp://tracker.example:80/announce', opts))).toBe('TRACKER_URL_INVALID')
    expect(await codeOf(client.get('not a url', opts))).toBe('TRACKER_URL_INVALID')
  })

  it('aborts through the signal: ABORTED, before or during the request', async () => {
    const pre = new AbortController()
    pre.abort()
    expect(await codeOf(client.get(`${base}/announce`, { ...opts, signal: pre.signal }))).toBe('ABORTED')
    const during = new AbortController()
    const pending = client.get(`${base}/hang`, { ...opts, signal: during.signal })
    setTimeout(() => { during.abort() }, 20)
    expect(await codeOf(pending)).toBe('ABORTED')
  })

  it('speaks https, trusting a given CA and refusing an unknown one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lodestone-tls-'))
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
      const cert = readFileSync(join(dir, 'cert.pem'), 'utf8')
      const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (_req, res) => { res.end('secure') })
      const port = await listen(tls)
      try {
        const trusting = new NodeHttpClient({ ca: cert })
        const res = await trusting.get(`https://127.0.0.1:${port}/`, opts)
        expect(new TextDecoder().decode(res.body)).toBe('secure')
        expect(await codeOf(new NodeHttpClient().get(`https://127.0.0.1:${port}/`, opts))).toBe('TRACKER_FAILURE')
      } finally {
        await new Promise<void>((resolve) => tls.close(() => { resolve() }))
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
