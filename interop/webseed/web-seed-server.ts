/**
 * A small HTTP/1.1 file server on 127.0.0.1 for the web seed tests (BEP 19 GetRight style): serves
 * the files below `root` at `/files/<percent-encoded path>` with single byte-range support (206 +
 * Content-Range, 416 outside the file, 200 without a Range), keep-alive, and knobs that make it
 * misbehave the ways real mirrors do:
 * - `fail503`: the next N requests get 503 with `Retry-After: retryAfterSec`;
 * - `corrupt`: every body has bytes flipped (a mirror with a different file of the same size);
 * - `shortBy`/`shortCount`: the next N bodies are `shortBy` bytes short (Content-Length says so,
 *   Content-Range still names the range asked for: a broken server or proxy);
 * - `rateBytesPerSec`: bodies are paced to this rate, shared by all requests (a slow mirror);
 * - `/redirect/...` answers 302 to the same path under `/files/` (a mirror behind a redirector).
 * It is the test's own code, not a client under test: what it proves is Lodestone's side.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, normalize, sep } from 'node:path'

export interface WebSeedServerLog {
  method: string
  path: string
  range: string | null
  status: number
}

export class WebSeedServer {
  fail503 = 0
  retryAfterSec = 1
  corrupt = false
  shortBy = 0
  shortCount = 0
  rateBytesPerSec = 0
  readonly log: WebSeedServerLog[] = []
  /** Payload bytes sent (bodies of 200/206). */
  sentBytes = 0
  private readonly server: Server
  private nextSendAtMs = 0
  port = 0

  constructor (private readonly root: string) {
    this.server = createServer((req, res) => { this.handle(req, res).catch((err: unknown) => { res.destroy(err as Error) }) })
    this.server.keepAliveTimeout = 5_000
  }

  async listen (): Promise<void> {
    await new Promise<void>((resolve) => { this.server.listen(0, '127.0.0.1', resolve) })
    this.port = (this.server.address() as AddressInfo).port
  }

  /** Base URL of the file tree (ends with `/`). */
  get baseUrl (): string { return `http://127.0.0.1:${this.port}/files/` }

  async close (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
  }

  private reply (req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
    this.log.push({ method: req.method ?? '', path: req.url ?? '', range: req.headers.range ?? null, status })
    res.writeHead(status, headers)
    res.end()
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname.startsWith('/redirect/')) {
      this.reply(req, res, 302, { location: `/files/${url.pathname.slice('/redirect/'.length)}` })
      return
    }
    if (!url.pathname.startsWith('/files/')) return this.reply(req, res, 404)
    if (this.fail503 > 0) {
      this.fail503--
      return this.reply(req, res, 503, { 'retry-after': this.retryAfterSec })
    }
    const rel = url.pathname.slice('/files/'.length).split('/').map(decodeURIComponent).join(sep)
    const path = normalize(join(this.root, rel))
    if (!path.startsWith(this.root + sep)) return this.reply(req, res, 403)
    let size: number
    try {
      const st = await stat(path)
      if (!st.isFile()) return this.reply(req, res, 404)
      size = st.size
    } catch {
      return this.reply(req, res, 404)
    }
    let first = 0
    let last = size - 1
    let status = 200
    const range = req.headers.range
    if (range !== undefined) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range)
      if (m === null) return this.reply(req, res, 416, { 'content-range': `bytes */${size}` })
      first = Number(m[1])
      last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
      if (first >= size || last < first) return this.reply(req, res, 416, { 'content-range': `bytes */${size}` })
      status = 206
    }
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' }
    if (status === 206) headers['content-range'] = `bytes ${first}-${last}/${size}`
    // A short body: the range header says what was asked, Content-Length (and the body) less.
    if (this.shortCount > 0 && this.shortBy > 0 && last - first + 1 > this.shortBy) {
      this.shortCount--
      last -= this.shortBy
    }
    const length = last - first + 1
    headers['content-length'] = length
    this.log.push({ method: req.method ?? '', path: req.url ?? '', range: range ?? null, status })
    res.writeHead(status, headers)
    if (length === 0) {
      res.end()
      return
    }
    const stream = createReadStream(path, { start: first, end: last, highWaterMark: 64 * 1024 })
    for await (const chunk of stream) {
      const data = chunk as Buffer
      // Every 8 KiB: every block of every piece is wrong, whatever the chunking.
      if (this.corrupt) for (let i = 0; i < data.length; i += 8192) data[i] = (data[i]! ^ 0xff) & 0xff
      await this.pace(data.length)
      this.sentBytes += data.length
      if (!res.write(data)) await new Promise((resolve) => { res.once('drain', resolve) })
    }
    res.end()
  }

  /** Waits so that bodies leave at `rateBytesPerSec` in all (0: no limit). */
  private async pace (bytes: number): Promise<void> {
    if (this.rateBytesPerSec <= 0) return
    const now = Date.now()
    const at = Math.max(now, this.nextSendAtMs)
    this.nextSendAtMs = at + (bytes * 1000) / this.rateBytesPerSec
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now))
  }
}

export async function startWebSeedServer (root: string): Promise<WebSeedServer> {
  const server = new WebSeedServer(root)
  await server.listen()
  return server
}
