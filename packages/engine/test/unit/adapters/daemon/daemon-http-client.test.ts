import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startIoDaemon, type IoDaemon } from '@lodestone/io-daemon'
import { DaemonConnection, type BridgeWebSocketConstructor } from '../../../../adapters/daemon/daemon-connection.js'
import { DaemonHttpClient } from '../../../../adapters/daemon/daemon-http-client.js'
import { DaemonSocketFactory } from '../../../../adapters/daemon/daemon-socket-factory.js'

describe('DaemonHttpClient (HTTP/1.1 through the io-daemon)', () => {
  let daemon: IoDaemon
  let conn: DaemonConnection
  let server: Server
  let base: string
  let client: DaemonHttpClient

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      switch (url.pathname) {
        case '/announce':
          res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Seen-Query': url.search, 'X-Seen-Ua': req.headers['user-agent'] ?? '' })
          res.end('d8:intervali1800e5:peers0:e')
          return
        case '/chunked':
          res.writeHead(200)
          res.write('hello, ')
          setTimeout(() => { res.end('chunked world') }, 20)
          return
        case '/redirect': res.writeHead(302, { Location: '/announce?from=redirect' }).end(); return
        case '/big': res.writeHead(200, { 'Content-Length': String(1 << 20) }).end(Buffer.alloc(1 << 20)); return
        case '/endless': res.writeHead(200); { const t = setInterval(() => { res.write(Buffer.alloc(64 * 1024)) }, 1); res.on('close', () => { clearInterval(t) }) } return
        case '/close-delimited': res.socket?.end('HTTP/1.0 200 OK\r\n\r\nuntil close'); return
        case '/slow': setTimeout(() => res.end('late'), 2_000); return
        default: res.writeHead(404).end('nope')
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
    daemon = await startIoDaemon()
    conn = await DaemonConnection.connect({ port: daemon.port, authToken: daemon.token, WebSocket: WebSocket as unknown as BridgeWebSocketConstructor })
    client = new DaemonHttpClient(new DaemonSocketFactory(conn))
  })

  afterAll(async () => {
    conn.close()
    await daemon.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  })

  const opts = { maxBodyBytes: 256 * 1024, timeoutMs: 5_000 }

  it('GETs with Content-Length, returns status, lower-case headers and the body', async () => {
    const res = await client.get(`${base}/announce?info_hash=%00%ff&port=1`, opts)
    expect(res.status).toBe(200)
    expect(new TextDecoder().decode(res.body)).toBe('d8:intervali1800e5:peers0:e')
    expect(res.headers['x-seen-query']).toBe('?info_hash=%00%ff&port=1')
    expect(res.headers['x-seen-ua']).toBe('Lodestone')
  })

  it('reads chunked and close-delimited bodies, follows redirects, returns 404s', async () => {
    expect(new TextDecoder().decode((await client.get(`${base}/chunked`, opts)).body)).toBe('hello, chunked world')
    expect(new TextDecoder().decode((await client.get(`${base}/close-delimited`, opts)).body)).toBe('until close')
    const redirected = await client.get(`${base}/redirect`, opts)
    expect(redirected.headers['x-seen-query']).toBe('?from=redirect')
    expect((await client.get(`${base}/missing`, opts)).status).toBe(404)
  })

  it('enforces the body limit (declared and streamed) and the deadline', async () => {
    await expect(client.get(`${base}/big`, opts)).rejects.toMatchObject({ code: 'TRACKER_RESPONSE_TOO_LARGE' })
    await expect(client.get(`${base}/endless`, opts)).rejects.toMatchObject({ code: 'TRACKER_RESPONSE_TOO_LARGE' })
    await expect(client.get(`${base}/slow`, { ...opts, timeoutMs: 300 })).rejects.toMatchObject({ code: 'TRACKER_TIMEOUT' })
    await expect(client.get('http://127.0.0.1:1/announce', opts)).rejects.toMatchObject({ code: 'TRACKER_FAILURE' })
    await expect(client.get('ftp://x/announce', opts)).rejects.toMatchObject({ code: 'TRACKER_URL_INVALID' })
  })
})
