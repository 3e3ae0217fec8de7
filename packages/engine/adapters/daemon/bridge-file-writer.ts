/**
 * Positional file writes over the bridge's WebSocket (FILE_WRITE / FILE_WRITE_RESULT,
 * bridge-protocol.ts), for {@link DaemonFileSystem} handles.
 *
 * Why not HTTP: in a browser each `fetch` with a body costs the page's main thread several
 * milliseconds (measured 5–6 ms per 1 MiB POST in headless Chromium, about as much as the engine's
 * own work on that MiB) and the daemon an HTTP request; the WebSocket is open and authenticated
 * anyway. The handle still comes from the HTTP API's `open`, which confines the path to its root.
 *
 * Writes larger than a frame go as several frames, all in flight at once. At most
 * {@link BridgeFileWriterSettings.maxInflightBytes} are sent and unanswered per connection (the
 * daemon closes a session that goes far past its own limit); further writes wait their turn.
 *
 * Frames are built in one reused buffer: a WebSocket copies what `send` is given before it
 * returns (the WHATWG API snapshots the bytes; Node's `ws` masks client frames into a new buffer),
 * and a fresh 1 MiB buffer per write cost the page more than the copy itself (new memory is
 * zeroed and faulted in page by page).
 */
import { LodestoneError } from '../../src/errors.js'
import { MAX_FILE_WRITE_BYTES, MAX_FRAME_BYTES, fileWriteFrame, readFileWriteResult } from './bridge-protocol.js'
import type { DaemonConnection } from './daemon-connection.js'

export interface BridgeFileWriterSettings {
  /** Bytes sent and not yet answered, per connection. @default 16 MiB */
  maxInflightBytes: number
}

export class BridgeFileWriter {
  private inflight = 0
  private readonly waiting: Array<{ bytes: number, go: () => void }> = []
  private readonly maxInflightBytes: number
  private scratch: Uint8Array | null = null

  constructor (private readonly conn: DaemonConnection, settings: Partial<BridgeFileWriterSettings> = {}) {
    this.maxInflightBytes = Math.max(MAX_FILE_WRITE_BYTES, settings.maxInflightBytes ?? 16 * 1024 * 1024)
  }

  /**
   * Writes `data` at `offset` through the daemon's open `handle`; resolves once every byte is
   * written. `data` is copied before this returns (the caller may reuse it once it settles).
   * @throws LodestoneError STORAGE_FULL, STORAGE_NOT_FOUND or STORAGE_IO (with the daemon's reason,
   *   or 'io-daemon connection closed').
   */
  async write (handle: number, offset: number, data: Uint8Array, path: string): Promise<void> {
    const parts: Array<Promise<void>> = []
    for (let at = 0; at < data.length; at += MAX_FILE_WRITE_BYTES) {
      parts.push(this.writeFrame(handle, offset + at, data.subarray(at, Math.min(data.length, at + MAX_FILE_WRITE_BYTES)), path))
    }
    await Promise.all(parts)
  }

  private async writeFrame (handle: number, offset: number, chunk: Uint8Array, path: string): Promise<void> {
    if (this.waiting.length > 0 || (this.inflight > 0 && this.inflight + chunk.length > this.maxInflightBytes)) {
      // Woken by a finished write, which reserves our bytes for us.
      await new Promise<void>((resolve) => { this.waiting.push({ bytes: chunk.length, go: resolve }) })
    } else {
      this.inflight += chunk.length
    }
    try {
      const rid = this.conn.requestId()
      let answer
      try {
        this.scratch ??= new Uint8Array(MAX_FRAME_BYTES)
        answer = await this.conn.request(rid, fileWriteFrame(rid, handle, offset, chunk, this.scratch))
      } catch (err) {
        throw new LodestoneError('STORAGE_IO', { path, operation: 'write', reason: `io-daemon: ${err instanceof Error ? err.message : String(err)}` }, { cause: err })
      }
      let result
      try {
        result = readFileWriteResult(answer.payload)
      } catch {
        throw new LodestoneError('STORAGE_IO', { path, operation: 'write', reason: 'io-daemon: malformed write result' })
      }
      if (result.error !== undefined) throw fileError(result.error, path)
      if (result.written !== chunk.length) throw new LodestoneError('STORAGE_IO', { path, operation: 'write', reason: `short write: ${result.written} of ${chunk.length} bytes` })
    } finally {
      this.inflight -= chunk.length
      while (this.waiting.length > 0 && (this.inflight === 0 || this.inflight + this.waiting[0]!.bytes <= this.maxInflightBytes)) {
        const next = this.waiting.shift()!
        this.inflight += next.bytes
        next.go()
      }
    }
  }
}

/** The daemon's error codes (file-service.ts) as the port's. */
function fileError (error: { code: string, message: string }, path: string): LodestoneError {
  if (error.code === 'STORAGE_FULL') return new LodestoneError('STORAGE_FULL', { path })
  if (error.code === 'STORAGE_NOT_FOUND') return new LodestoneError('STORAGE_NOT_FOUND', { path })
  return new LodestoneError('STORAGE_IO', { path, operation: 'write', reason: `${error.code}: ${error.message}` })
}
