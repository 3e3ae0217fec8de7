/**
 * {@link IFileSystem} over the io-daemon's HTTP file API (io-daemon/src/file-service.ts), rooted
 * at one storage root the daemon knows by an opaque key.
 *
 * - Paths are normalized here ('.', empty segments, a leading '/', '..' inside the path) and one
 *   that escapes the root is refused with STORAGE_IO before any request; the daemon checks again
 *   (and resolves symlinks), so a wrong client cannot leave the root either.
 * - A handle is a daemon-side open file; reads and writes are one request each, so the engine's
 *   coalesced per-piece writes become one POST each — or, given a {@link BridgeFileWriter}, one
 *   FILE_WRITE on the bridge's WebSocket (no fetch per write; see bridge-file-writer.ts).
 * - At most {@link DaemonFileSystemSettings.maxConcurrentRequests} requests are in flight per
 *   daemon: Chromium opens at most 6 HTTP/1.1 connections per host, and requests queued behind a
 *   full pool would only add latency without adding throughput.
 */
import { LodestoneError } from '../../src/errors.js'
import type { FileOpenMode, IFileHandle, IFileStat, IFileSystem, ReceivedPart, VerifiedWriteResult } from '../../src/interfaces/filesystem.js'
import type { BridgeFileWriter } from './bridge-file-writer.js'

export interface DaemonFileSystemOptions {
  /** `http://127.0.0.1:PORT` */
  httpBase: string
  authToken: string
  /** The root's opaque key (as the daemon printed it). */
  rootKey: string
  /** Shared by every filesystem on one daemon; @default a new limiter of 4 */
  limiter?: RequestLimiter
  /** @default globalThis.fetch */
  fetch?: typeof fetch
  /** Writes go over the bridge's WebSocket through this (shared per connection); HTTP otherwise. */
  writer?: BridgeFileWriter
}

/** A counting semaphore for requests to one daemon. */
export class RequestLimiter {
  private active = 0
  private readonly waiting: Array<() => void> = []
  constructor (readonly maxConcurrent = 4) {}

  async run<T> (fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.maxConcurrent) await new Promise<void>((resolve) => { this.waiting.push(resolve) })
    else this.active++
    try {
      return await fn()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else this.active--
    }
  }
}

/** Normalizes a relative path; null when it escapes the root. */
export function normalizePath (path: string): string | null {
  const out: string[] = []
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') {
      if (out.length === 0) return null
      out.pop()
      continue
    }
    out.push(seg)
  }
  return out.join('/')
}

interface ErrorBody { code?: string, message?: string }

class DaemonFileHandle implements IFileHandle {
  private closed = false
  constructor (private readonly fs: DaemonFileSystem, private readonly id: number, private readonly path: string) {}

  private check (operation: string): void {
    if (this.closed) throw new LodestoneError('STORAGE_IO', { path: this.path, operation, reason: 'handle closed' })
  }

  async read (buffer: Uint8Array, position: number): Promise<number> {
    this.check('read')
    checkPosition(this.path, 'read', position)
    if (buffer.length === 0) return 0
    const body = await this.fs.call('GET', 'read', this.path, 'read', { handle: this.id, offset: position, length: buffer.length })
    const bytes = new Uint8Array(await body.arrayBuffer())
    buffer.set(bytes.subarray(0, buffer.length))
    return Math.min(bytes.length, buffer.length)
  }

  async write (buffer: Uint8Array, position: number): Promise<number> {
    this.check('write')
    checkPosition(this.path, 'write', position)
    if (buffer.length === 0) return 0
    if (this.fs.writer !== undefined) {
      await this.fs.writer.write(this.id, position, buffer, this.path)
      return buffer.length
    }
    // fetch reads the body before resolving; the caller keeps ownership of `buffer` afterwards.
    await this.fs.call('POST', 'write', this.path, 'write', { handle: this.id, offset: position }, buffer)
    return buffer.length
  }

  /** The received parts from the daemon's copy (BridgeFileWriter.writeWithReceived); all of `buffer` without a bridge writer. */
  async writeWithReceived (buffer: Uint8Array, position: number, received: readonly ReceivedPart[]): Promise<number> {
    if (this.fs.writer === undefined) return this.write(buffer, position)
    this.check('write')
    checkPosition(this.path, 'write', position)
    if (buffer.length === 0) return 0
    await this.fs.writer.writeWithReceived(this.id, position, buffer, received, this.path)
    return buffer.length
  }

  /**
   * The received parts, only if they have SHA-1 `sha1`, from the daemon's copy
   * (BridgeFileWriter.writeReceivedChecked); 'unavailable' without a bridge writer.
   */
  async writeVerifiedReceived (position: number, received: readonly ReceivedPart[], lengthBytes: number, sha1: Uint8Array): Promise<VerifiedWriteResult> {
    if (this.fs.writer === undefined) return 'unavailable'
    this.check('write')
    checkPosition(this.path, 'write', position)
    let at = 0
    for (const part of received) {
      if (part.at !== at) return 'unavailable'
      at += part.range.lengthBytes
    }
    if (at !== lengthBytes || lengthBytes === 0) return 'unavailable'
    return this.fs.writer.writeReceivedChecked(this.id, position, received.map((p) => p.range), this.path, sha1)
  }

  async truncate (lengthBytes: number): Promise<void> {
    this.check('truncate')
    checkPosition(this.path, 'truncate', lengthBytes)
    await this.fs.call('POST', 'truncate', this.path, 'truncate', { handle: this.id, length: lengthBytes })
  }

  async sync (): Promise<void> {
    this.check('sync')
    await this.fs.call('POST', 'sync', this.path, 'sync', { handle: this.id })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.fs.openHandles--
    await this.fs.call('POST', 'close', this.path, 'close', { handle: this.id }).catch(() => {})
  }
}

function checkPosition (path: string, operation: string, position: number): void {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new LodestoneError('STORAGE_IO', { path, operation, reason: `EINVAL: invalid position ${position}` })
  }
}

export class DaemonFileSystem implements IFileSystem {
  /** Handles opened and not closed (for leak checks). */
  openHandles = 0
  private readonly limiter: RequestLimiter
  private readonly fetchFn: typeof fetch

  constructor (private readonly options: DaemonFileSystemOptions) {
    this.limiter = options.limiter ?? new RequestLimiter()
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis)
  }

  get rootKey (): string { return this.options.rootKey }
  get writer (): BridgeFileWriter | undefined { return this.options.writer }

  /** One request; maps the daemon's error answers to the port's codes. */
  async call (method: 'GET' | 'POST', op: string, path: string, operation: string, params: Record<string, number | string>, body?: Uint8Array): Promise<Response> {
    // One URL per operation and the arguments in a header: Chromium caches CORS preflights per
    // URL, so query arguments would cost a preflight round trip on every request.
    const url = `${this.options.httpBase}/fs/${op}/${encodeURIComponent(this.options.rootKey)}`
    const args = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) args.set(k, String(v))
    return this.limiter.run(async () => {
      let res: Response
      try {
        res = await this.fetchFn(url, {
          method,
          headers: { Authorization: `Bearer ${this.options.authToken}`, 'X-Lodestone-Args': args.toString(), ...(body !== undefined ? { 'Content-Type': 'application/octet-stream' } : {}) },
          ...(body !== undefined ? { body: body as Uint8Array<ArrayBuffer> } : {})
        })
      } catch (err) {
        throw new LodestoneError('STORAGE_IO', { path, operation, reason: `io-daemon unreachable: ${err instanceof Error ? err.message : String(err)}` }, { cause: err })
      }
      if (res.ok) {
        if (op === 'read') return res
        // Small JSON answers are read here so the connection is free for the next request.
        const text = await res.text()
        return new Response(text)
      }
      let info: ErrorBody = {}
      try { info = await res.json() as ErrorBody } catch {}
      const reason = info.message ?? `HTTP ${res.status}`
      if (res.status === 404 && info.code === 'STORAGE_NOT_FOUND') throw new LodestoneError('STORAGE_NOT_FOUND', { path })
      if (res.status === 507) throw new LodestoneError('STORAGE_FULL', { path })
      if (res.status === 404) throw new LodestoneError('STORAGE_ROOT_UNKNOWN', { token: this.options.rootKey })
      throw new LodestoneError('STORAGE_IO', { path, operation, reason: info.code !== undefined ? `${info.code}: ${reason}` : reason })
    })
  }

  private norm (path: string, operation: string): string {
    const p = normalizePath(path)
    if (p === null || path.includes('\0')) throw new LodestoneError('STORAGE_IO', { path, operation, reason: 'path escapes the storage root' })
    return p
  }

  async open (path: string, mode: FileOpenMode): Promise<IFileHandle> {
    const p = this.norm(path, 'open')
    const res = await this.call('POST', 'open', p, 'open', { path: p, mode })
    const { handle } = await res.json() as { handle: number }
    this.openHandles++
    return new DaemonFileHandle(this, handle, p)
  }

  async stat (path: string): Promise<IFileStat> {
    const p = this.norm(path, 'stat')
    return await (await this.call('GET', 'stat', p, 'stat', { path: p })).json() as IFileStat
  }

  async exists (path: string): Promise<boolean> {
    const p = this.norm(path, 'exists')
    return (await (await this.call('GET', 'exists', p, 'exists', { path: p })).json() as { exists: boolean }).exists
  }

  async mkdir (path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const p = this.norm(path, 'mkdir')
    await this.call('POST', 'mkdir', p, 'mkdir', { path: p, ...(options.recursive === true ? { recursive: 1 } : {}) })
  }

  async readdir (path: string): Promise<string[]> {
    const p = this.norm(path, 'readdir')
    return await (await this.call('GET', 'list', p, 'readdir', { path: p })).json() as string[]
  }

  async unlink (path: string): Promise<void> {
    const p = this.norm(path, 'unlink')
    await this.call('POST', 'delete', p, 'unlink', { path: p })
  }

  async rmdir (path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const p = this.norm(path, 'rmdir')
    await this.call('POST', 'delete', p, 'rmdir', { path: p, dir: 1, ...(options.recursive === true ? { recursive: 1 } : {}) })
  }

  async rename (from: string, to: string): Promise<void> {
    const f = this.norm(from, 'rename')
    const t = this.norm(to, 'rename')
    await this.call('POST', 'rename', f, 'rename', { path: f, to: t })
  }
}
