/**
 * The daemon's file API over HTTP: positional reads and writes, stat, list, delete, truncate,
 * ensure-dir, rename and sync, each under a storage root named by its opaque key.
 *
 *   POST /fs/open/{key}?path=P&mode=r|r+|w               → {"handle":N}  (r+ creates, w truncates)
 *   GET  /fs/read/{key}?handle=N&offset=N&length=N       → the bytes (fewer at end of file)
 *   POST /fs/write/{key}?handle=N&offset=N  body=bytes   → {"written":N} (X-Expected-SHA1: 409 on mismatch)
 *   POST /fs/truncate/{key}?handle=N&length=N            → {}
 *   POST /fs/sync/{key}?handle=N   POST /fs/close/{key}?handle=N
 *   read / write / truncate also take `path=P` instead of a handle (opened for that request only)
 *   GET  /fs/stat/{key}?path=P                           → {"size","isFile","isDirectory","mtimeMs"}
 *   GET  /fs/exists/{key}?path=P                         → {"exists":bool}
 *   GET  /fs/list/{key}?path=P                           → ["name", …]
 *   POST /fs/delete/{key}?path=P[&dir=1][&recursive=1]   → {}
 *   POST /fs/mkdir/{key}?path=P[&recursive=1]            → {}
 *   POST /fs/rename/{key}?path=P&to=Q                    → {}
 *
 * Arguments may also travel in an `X-Lodestone-Args` header (URL-encoded, as a query string), so
 * a browser keeps one URL per operation and one cached CORS preflight for it.
 *
 * Errors are JSON `{"code","message"}`: 400 malformed, 403 path refused, 404 STORAGE_NOT_FOUND
 * (and unknown root), 409 hash mismatch, 410 unknown handle, 413 body too large, 507
 * STORAGE_FULL, 500 STORAGE_IO.
 *
 * Handles are real open files (an unlinked file stays usable through one, as on a local disk),
 * at most {@link MAX_HANDLES}; past that the least recently used is closed, and a request naming
 * it gets 410 (a browser that reloaded without closing its handles must not exhaust the daemon).
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { NodeFileSystem } from '@lodestone/engine/adapters/node'
import type { IFileHandle } from '@lodestone/engine'
import { PathRefusedError, confine, type ResolvedRoot } from './storage-roots.js'

/** Largest read or write body, bytes. A piece of 16 MiB fits. */
export const MAX_IO_BYTES = 16 * 1024 * 1024
/** Open handles kept across all roots. */
export const MAX_HANDLES = 1024

class HttpError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) { super(message) }
}

interface OpenHandle { handle: IFileHandle, key: string }

/** NodeFileSystem's handles write several buffers with one positional writev. */
function hasWriteParts (h: IFileHandle): h is IFileHandle & { writeParts: (parts: readonly Uint8Array[], position: number) => Promise<number> } {
  return typeof (h as { writeParts?: unknown }).writeParts === 'function'
}

function codeOf (err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : undefined
}

function toHttpError (err: unknown): HttpError {
  if (err instanceof HttpError) return err
  if (err instanceof PathRefusedError) return new HttpError(403, 'PATH_REFUSED', err.reason)
  const code = codeOf(err)
  const message = err instanceof Error ? err.message : String(err)
  if (code === 'STORAGE_NOT_FOUND') return new HttpError(404, code, message)
  if (code === 'STORAGE_FULL') return new HttpError(507, code, message)
  if (code === 'STORAGE_IO') {
    const reason = (err as { details?: { reason?: string } }).details?.reason ?? message
    return new HttpError(500, code, reason)
  }
  return new HttpError(500, 'STORAGE_IO', message)
}

function intParam (url: URL, name: string, required: boolean): number {
  const raw = url.searchParams.get(name)
  if (raw === null) {
    if (required) throw new HttpError(400, 'BAD_REQUEST', `missing ${name}`)
    return 0
  }
  if (!/^\d{1,16}$/.test(raw)) throw new HttpError(400, 'BAD_REQUEST', `bad ${name}`)
  const n = Number(raw)
  if (!Number.isSafeInteger(n)) throw new HttpError(400, 'BAD_REQUEST', `bad ${name}`)
  return n
}

async function readBody (req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > limit) throw new HttpError(413, 'TOO_LARGE', `body over ${limit} bytes`)
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > limit) throw new HttpError(413, 'TOO_LARGE', `body over ${limit} bytes`)
    chunks.push(chunk)
  }
  return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, total)
}

/** An error of a file operation as the daemon reports it: `{ code, message }` (code as in the HTTP answers). */
export function describeFileError (err: unknown): { code: string, message: string } {
  const e = toHttpError(err)
  return { code: e.code, message: e.message }
}

export class FileService {
  private readonly roots = new Map<string, { root: ResolvedRoot, fs: NodeFileSystem }>()
  /** Map order is the LRU order. */
  private readonly handles = new Map<number, OpenHandle>()
  private nextHandle = 1

  constructor (roots: readonly ResolvedRoot[]) {
    for (const root of roots) this.roots.set(root.key, { root, fs: new NodeFileSystem(root.dir) })
  }

  get openHandles (): number { return this.handles.size }

  /** Requests served per operation, with the time spent and bytes moved (diagnostics, bench). */
  readonly counters = new Map<string, { requests: number, ms: number, bytes: number }>()

  private count (op: string, startMs: number, bytes: number): void {
    const c = this.counters.get(op) ?? { requests: 0, ms: 0, bytes: 0 }
    c.requests++
    c.ms += performance.now() - startMs
    c.bytes += bytes
    this.counters.set(op, c)
  }

  /** Handles `/fs/...`; resolves after the response is sent. Never throws. */
  async handle (req: IncomingMessage, res: ServerResponse, url: URL, setHeaders: (res: ServerResponse) => void): Promise<void> {
    const startMs = performance.now()
    try {
      const [, , op, key] = url.pathname.split('/')
      const entry = key !== undefined ? this.roots.get(key) : undefined
      if (entry === undefined) throw new HttpError(404, 'ROOT_UNKNOWN', 'unknown storage root')
      const path = url.searchParams.get('path')
      // Confinement first: every operation's path (and a rename's target) is checked.
      if (path !== null) await confine(entry.root, path)
      const body = await this.run(req, op ?? '', key ?? '', path, url, entry)
      this.count(op ?? '', startMs, body instanceof Uint8Array ? body.length : Number(req.headers['content-length'] ?? 0))
      if (res.headersSent) return
      setHeaders(res)
      if (body instanceof Uint8Array) {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length })
        res.end(body)
      } else {
        const text = JSON.stringify(body)
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
        res.end(text)
      }
    } catch (err) {
      const e = toHttpError(err)
      if (res.headersSent) { res.destroy(); return }
      setHeaders(res)
      const text = JSON.stringify({ code: e.code, message: e.message })
      // An unread request body would be taken for the next request on a kept-alive connection.
      res.writeHead(e.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...(req.complete ? {} : { Connection: 'close' }) })
      res.end(text)
    }
  }

  private async run (req: IncomingMessage, op: string, key: string, path: string | null, url: URL, entry: { root: ResolvedRoot, fs: NodeFileSystem }): Promise<unknown> {
    const { fs } = entry
    const method = req.method ?? 'GET'
    const expect = (m: string): void => { if (method !== m) throw new HttpError(405, 'METHOD', `${op} needs ${m}`) }
    const needPath = (): string => {
      if (path === null) throw new HttpError(400, 'BAD_REQUEST', 'missing path')
      return path
    }
    switch (op) {
      case 'open': {
        expect('POST')
        const mode = url.searchParams.get('mode') ?? 'r'
        if (mode !== 'r' && mode !== 'r+' && mode !== 'w') throw new HttpError(400, 'BAD_REQUEST', 'bad mode')
        const handle = await fs.open(needPath(), mode)
        return { handle: this.remember(key, handle) }
      }
      case 'read': {
        expect('GET')
        const offset = intParam(url, 'offset', true)
        const length = intParam(url, 'length', true)
        if (length > MAX_IO_BYTES) throw new HttpError(413, 'TOO_LARGE', `read over ${MAX_IO_BYTES} bytes`)
        return this.withHandle(url, key, fs, path, 'r', async (h) => {
          const buf = new Uint8Array(length)
          const n = await h.read(buf, offset)
          return buf.subarray(0, n)
        })
      }
      case 'write': {
        expect('POST')
        const offset = intParam(url, 'offset', true)
        const data = await readBody(req, MAX_IO_BYTES)
        const expected = req.headers['x-expected-sha1']
        if (typeof expected === 'string') {
          const actual = createHash('sha1').update(data).digest('hex')
          if (actual !== expected.toLowerCase()) throw new HttpError(409, 'HASH_MISMATCH', 'bytes do not match X-Expected-SHA1')
        }
        return this.withHandle(url, key, fs, path, 'r+', async (h) => {
          await h.write(data, offset)
          return { written: data.length }
        })
      }
      case 'truncate': {
        expect('POST')
        const length = intParam(url, 'length', true)
        return this.withHandle(url, key, fs, path, 'r+', async (h) => { await h.truncate(length); return {} })
      }
      case 'sync':
        expect('POST')
        await this.handleOf(url, key).sync()
        return {}
      case 'close': {
        expect('POST')
        const id = intParam(url, 'handle', true)
        const open = this.handles.get(id)
        if (open !== undefined && open.key === key) {
          this.handles.delete(id)
          await open.handle.close()
        }
        return {}
      }
      case 'stat': expect('GET'); return fs.stat(needPath())
      case 'exists': expect('GET'); return { exists: await fs.exists(needPath()) }
      case 'list': expect('GET'); return fs.readdir(needPath())
      case 'delete':
        expect('POST')
        if (url.searchParams.get('dir') === '1') await fs.rmdir(needPath(), { recursive: url.searchParams.get('recursive') === '1' })
        else await fs.unlink(needPath())
        return {}
      case 'mkdir':
        expect('POST')
        await fs.mkdir(needPath(), { recursive: url.searchParams.get('recursive') === '1' })
        return {}
      case 'rename': {
        expect('POST')
        const to = url.searchParams.get('to')
        if (to === null) throw new HttpError(400, 'BAD_REQUEST', 'missing to')
        await confine(entry.root, to)
        await fs.rename(needPath(), to)
        return {}
      }
      default:
        throw new HttpError(404, 'BAD_REQUEST', 'unknown operation')
    }
  }

  /**
   * A positional write through an open handle, for the bridge WebSocket's FILE_WRITE (the handle
   * came from `open`, whose path was confined to its root). `data` is written as is, not copied.
   * @throws what {@link describeFileError} turns into a code and message.
   */
  /**
   * Writes `data` (one buffer, or the parts of one WebSocket message back to back: written
   * without joining them where the handle can) at `offset`; returns the bytes written.
   * `received`: the bytes are held received data (FILE_WRITE_RECV), counted apart.
   */
  async writeByHandle (id: number, offset: number, data: Uint8Array | readonly Uint8Array[], received = false): Promise<number> {
    const startMs = performance.now()
    const open = this.handles.get(id)
    if (open === undefined) throw new HttpError(410, 'HANDLE_UNKNOWN', 'unknown or expired file handle')
    this.handles.delete(id)
    this.handles.set(id, open)
    let bytes: number
    if (data instanceof Uint8Array) bytes = await open.handle.write(data, offset)
    else if (hasWriteParts(open.handle)) bytes = await open.handle.writeParts(data, offset)
    else bytes = await open.handle.write(Buffer.concat(data), offset)
    this.count(received ? 'write (received)' : 'write (WebSocket)', startMs, bytes)
    return bytes
  }

  private handleOf (url: URL, key: string): IFileHandle {
    const id = intParam(url, 'handle', true)
    const open = this.handles.get(id)
    if (open === undefined || open.key !== key) throw new HttpError(410, 'HANDLE_UNKNOWN', 'unknown or expired file handle')
    this.handles.delete(id)
    this.handles.set(id, open)
    return open.handle
  }

  /** Runs `fn` on the request's handle, or on `path` opened for this request only. */
  private async withHandle<T> (url: URL, key: string, fs: NodeFileSystem, path: string | null, mode: 'r' | 'r+', fn: (h: IFileHandle) => Promise<T>): Promise<T> {
    if (url.searchParams.has('handle')) return fn(this.handleOf(url, key))
    if (path === null) throw new HttpError(400, 'BAD_REQUEST', 'missing handle or path')
    const h = await fs.open(path, mode)
    try { return await fn(h) } finally { await h.close() }
  }

  private remember (key: string, handle: IFileHandle): number {
    const id = this.nextHandle++
    this.handles.set(id, { handle, key })
    while (this.handles.size > MAX_HANDLES) {
      const [oldest, value] = this.handles.entries().next().value as [number, OpenHandle]
      this.handles.delete(oldest)
      void value.handle.close().catch(() => {})
    }
    return id
  }

  async close (): Promise<void> {
    const all = [...this.handles.values()]
    this.handles.clear()
    await Promise.all(all.map(async (h) => { await h.handle.close().catch(() => {}) }))
  }
}
