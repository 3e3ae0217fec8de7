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
 *
 * Verified blocks the daemon received on one of this connection's sockets need not travel at all:
 * {@link BridgeFileWriter.writeReceived} names where they arrived (FILE_WRITE_RECV) and the daemon
 * writes its own copy; when it no longer holds them the caller sends the bytes.
 */
import { LodestoneError } from '../../src/errors.js'
import type { ReceivedPart } from '../../src/interfaces/filesystem.js'
import type { ReceivedRange } from '../../src/interfaces/socket.js'
import {
  Feature, MAX_FILE_WRITE_BYTES, MAX_FILE_WRITE_RECV_BYTES, MAX_FILE_WRITE_RECV_SEGMENTS, MAX_FRAME_BYTES, RECV_HASH_MISMATCH, RECV_NOT_HELD,
  fileWriteFrame, fileWriteRecvFrame, readFileWriteResult, type FileWriteResult, type RecvSegment
} from './bridge-protocol.js'
import type { DaemonConnection } from './daemon-connection.js'
import { DaemonTcpSocket } from './daemon-socket-factory.js'

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

  /**
   * Writes all of `data` at `offset` through `handle`: each run of adjacent `received` parts with
   * one FILE_WRITE_RECV (the bytes as FILE_WRITE when the daemon no longer holds them), the gaps
   * between them (blocks a parser had to copy, decrypted ones, other transports') as FILE_WRITE.
   * `data` must not change until this settles.
   * @throws LodestoneError as {@link write}.
   */
  async writeWithReceived (handle: number, offset: number, data: Uint8Array, received: readonly ReceivedPart[], path: string): Promise<void> {
    const jobs: Array<Promise<void>> = []
    const sendBytes = (from: number, to: number): void => {
      if (to > from) jobs.push(this.write(handle, offset + from, data.subarray(from, to), path))
    }
    let done = 0
    let i = 0
    while (i < received.length) {
      const start = received[i]!.at
      if (start < done || start >= data.length) throw new LodestoneError('ARGUMENT_INVALID', { name: 'received', reason: `part at ${start} out of order or range` })
      sendBytes(done, start)
      const run: ReceivedRange[] = []
      let end = start
      while (i < received.length && received[i]!.at === end && end + received[i]!.range.lengthBytes <= data.length) {
        run.push(received[i]!.range)
        end += received[i]!.range.lengthBytes
        i++
      }
      if (run.length === 0) throw new LodestoneError('ARGUMENT_INVALID', { name: 'received', reason: `part at ${start} past the data` })
      jobs.push(this.writeReceived(handle, offset + start, run, path).then(async (written) => {
        if (!written) await this.write(handle, offset + start, data.subarray(start, end), path)
      }))
      done = end
    }
    sendBytes(done, data.length)
    await Promise.all(jobs)
  }

  /**
   * Writes the bytes of `ranges` (received on this connection's sockets), back to back, at
   * `offset` through `handle`, from the daemon's copy: FILE_WRITE_RECV. Resolves false, nothing
   * written, when it cannot (the daemon lacks the feature, a range is another transport's or of a
   * socket whose id was reused, or the daemon no longer holds the bytes): the caller then writes
   * the bytes with {@link write}.
   * @throws LodestoneError as {@link write}.
   */
  async writeReceived (handle: number, offset: number, ranges: readonly ReceivedRange[], path: string): Promise<boolean> {
    return await this.writeReceivedChecked(handle, offset, ranges, path) === 'written'
  }

  /**
   * As {@link writeReceived}, and with `sha1` only if the bytes have that SHA-1 (feature
   * WRITE_RECV_SHA1): 'mismatch' when they do not (nothing written), 'unavailable' when the
   * daemon cannot write them (nothing written: the caller checks and writes the bytes itself).
   * @throws LodestoneError as {@link write}.
   */
  async writeReceivedChecked (handle: number, offset: number, ranges: readonly ReceivedRange[], path: string, sha1?: Uint8Array): Promise<'written' | 'mismatch' | 'unavailable'> {
    const needs = sha1 !== undefined ? Feature.WRITE_RECV | Feature.WRITE_RECV_SHA1 : Feature.WRITE_RECV
    if ((this.conn.features & needs) !== needs || ranges.length === 0 || ranges.length > MAX_FILE_WRITE_RECV_SEGMENTS) return 'unavailable'
    let length = 0
    for (const r of ranges) length += r.lengthBytes
    if (length > MAX_FILE_WRITE_RECV_BYTES) return 'unavailable'
    // The daemon's disk queue is bounded by the same window as for bytes sent.
    const window = Math.min(length, this.maxInflightBytes)
    await this.reserve(window)
    try {
      // Socket ids are looked up after the wait and sent at once: an id reallocated meanwhile
      // (its new TCP_CONNECT ahead of this frame) no longer names the ranges' stream.
      const segments: RecvSegment[] = []
      for (const r of ranges) {
        const id = r.stream instanceof DaemonTcpSocket ? r.stream.streamIdOn(this.conn) : undefined
        if (id === undefined || r.lengthBytes <= 0) return 'unavailable'
        segments.push({ id, offset: r.offset, length: r.lengthBytes })
      }
      const rid = this.conn.requestId()
      const result = await this.answer(rid, fileWriteRecvFrame(rid, handle, offset, segments, sha1), path)
      if (result.error?.code === RECV_NOT_HELD) return 'unavailable'
      if (result.error?.code === RECV_HASH_MISMATCH && sha1 !== undefined) return 'mismatch'
      this.check(result, length, path)
      return 'written'
    } finally {
      this.release(window)
    }
  }

  private async writeFrame (handle: number, offset: number, chunk: Uint8Array, path: string): Promise<void> {
    await this.reserve(chunk.length)
    try {
      const rid = this.conn.requestId()
      this.scratch ??= new Uint8Array(MAX_FRAME_BYTES)
      this.check(await this.answer(rid, fileWriteFrame(rid, handle, offset, chunk, this.scratch), path), chunk.length, path)
    } finally {
      this.release(chunk.length)
    }
  }

  /** Sends `frame` and parses its FILE_WRITE_RESULT. */
  private async answer (rid: number, frame: Uint8Array, path: string): Promise<FileWriteResult> {
    let answer
    try {
      answer = await this.conn.request(rid, frame)
    } catch (err) {
      throw new LodestoneError('STORAGE_IO', { path, operation: 'write', reason: `io-daemon: ${err instanceof Error ? err.message : String(err)}` }, { cause: err })
    }
    try {
      return readFileWriteResult(answer.payload)
    } catch {
      throw new LodestoneError('STORAGE_IO', { path, operation: 'write', reason: 'io-daemon: malformed write result' })
    }
  }

  private check (result: FileWriteResult, length: number, path: string): void {
    if (result.error !== undefined) throw fileError(result.error, path)
    if (result.written !== length) throw new LodestoneError('STORAGE_IO', { path, operation: 'write', reason: `short write: ${result.written} of ${length} bytes` })
  }

  /** Waits until `bytes` fit in the window, and takes them. */
  private async reserve (bytes: number): Promise<void> {
    if (this.waiting.length > 0 || (this.inflight > 0 && this.inflight + bytes > this.maxInflightBytes)) {
      // Woken by a finished write, which reserves our bytes for us.
      await new Promise<void>((resolve) => { this.waiting.push({ bytes, go: resolve }) })
    } else {
      this.inflight += bytes
    }
  }

  private release (bytes: number): void {
    this.inflight -= bytes
    while (this.waiting.length > 0 && (this.inflight === 0 || this.inflight + this.waiting[0]!.bytes <= this.maxInflightBytes)) {
      const next = this.waiting.shift()!
      this.inflight += next.bytes
      next.go()
    }
  }
}

/** The daemon's error codes (file-service.ts) as the port's. */
function fileError (error: { code: string, message: string }, path: string): LodestoneError {
  if (error.code === 'STORAGE_FULL') return new LodestoneError('STORAGE_FULL', { path })
  if (error.code === 'STORAGE_NOT_FOUND') return new LodestoneError('STORAGE_NOT_FOUND', { path })
  return new LodestoneError('STORAGE_IO', { path, operation: 'write', reason: `${error.code}: ${error.message}` })
}
