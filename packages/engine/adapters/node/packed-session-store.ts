/**
 * {@link ISessionStore} as one append-only file (`session.pack`) in a directory: the store
 * `createNodeEngine({ stateDir })` uses.
 *
 * Why not one file per key ({@link FileSessionStore}): an engine with 10 000 torrents keeps ~30 000
 * records. Restoring it read each through open/fstat/read/close (a thread-pool hop and a callback
 * each, ~150 000 syscalls), and every `set` cost a temporary file, two fsyncs and a rename. Here a
 * restart reads the file once, a `get` of a small record is a map lookup, and the `set`s of a
 * moment share one append and one fdatasync (group commit).
 *
 * Format: an 8-byte magic, then records `[u32 body length][u32 CRC-32 of body][body]`, body =
 * `[u8 op][u16 key length][key UTF-8][value]` (op 1 = set, 2 = delete), little-endian. The last
 * record of a key wins.
 *
 * Atomicity: a `set` resolves once its record is appended and fdatasync'd. A crash mid-append
 * leaves a torn or unsynced tail; opening reads records up to the first one whose length or CRC
 * does not check and truncates the rest, so a key holds its old value (the torn record was never
 * acknowledged) or its new one. A failed append is truncated away at once, so an acknowledged record
 * never follows garbage. Compaction (when the file is over {@link COMPACT_MIN_BYTES} and more than
 * twice the live records) writes the durable records to `session.pack.tmp`, syncs it, renames it over
 * the pack and syncs the directory.
 *
 * Memory: small values (≤ {@link CACHE_VALUE_MAX_BYTES}, up to {@link CACHE_TOTAL_MAX_BYTES} in all)
 * stay in memory; larger ones are read back from the file by position.
 *
 * Migration: records a {@link FileSessionStore} left in the directory (`*.rec`) are imported on
 * first use and their files deleted afterwards (an interrupted import is simply redone).
 *
 * One process should own a directory. `close()` releases the file; a later call opens it again.
 */
import { crc32 } from 'node:zlib'
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { LodestoneError } from '../../src/errors.js'
import type { ISessionStore } from '../../src/interfaces/session-store.js'
import { bytesEqual, concatBytes } from '../../src/util/bytes.js'
import { decodeSessionKey, syncDirectory } from './file-session-store.js'
import { toStorageError } from './node-filesystem.js'

export const PACK_FILE_NAME = 'session.pack'
const MAGIC = new TextEncoder().encode('LDSPACK1')
const OP_SET = 1
const OP_DELETE = 2
const RECORD_HEADER = 8
const BODY_HEADER = 3
/** Keys are at most this many UTF-8 bytes (the u16 length field). */
export const MAX_PACKED_KEY_BYTES = 0xffff
/** A value larger than this is refused (the u32 body length, and memory on open). */
const MAX_BODY_BYTES = 1 << 30
export const CACHE_VALUE_MAX_BYTES = 4096
export const CACHE_TOTAL_MAX_BYTES = 32 << 20
export const COMPACT_MIN_BYTES = 1 << 20
const READ_CHUNK_BYTES = 1 << 20
/** Compaction writes the new pack in pieces of this size. */
const COMPACT_WRITE_BYTES = 1 << 20
const EMPTY = new Uint8Array(0)

export interface PackedSessionStoreSettings {
  /** fdatasync appends and the directory. Off only for throwaway stores (tests, benchmarks). @default true */
  durable: boolean
}

/** Where a durable value is: its position in the file, and the bytes when cached. */
interface Located {
  offset: number
  length: number
  /** The whole record's length (what compaction would keep). */
  recordLength: number
  cached: Uint8Array | null
}

interface Queued {
  key: string
  /** null: a delete. */
  value: Uint8Array | null
  /** The token in `pending` this write put there (its identity tells a later write apart). */
  token: object
  done: (error: LodestoneError | null) => void
}

interface Open {
  handle: FileHandle
  size: number
  /** Reads in flight on this handle (a compaction closes it only after them). */
  reads: Set<Promise<unknown>>
}

export class PackedSessionStore implements ISessionStore {
  readonly dir: string
  readonly file: string
  private readonly durable: boolean
  private opening: Promise<Open> | null = null
  private current: Open | null = null
  private readonly durableIndex = new Map<string, Located>()
  /** Writes called and not yet durable: the value (null: deleted) a `get` must see. */
  private readonly pending = new Map<string, { value: Uint8Array | null, token: object }>()
  private queue: Queued[] = []
  private flushing: Promise<void> | null = null
  private cachedBytes = 0
  private liveBytes = 0

  constructor (dir: string, settings: Partial<PackedSessionStoreSettings> = {}) {
    this.dir = resolve(dir)
    this.file = join(this.dir, PACK_FILE_NAME)
    this.durable = settings.durable ?? true
  }

  async get (key: string): Promise<Uint8Array | null> {
    let state = await this.ready()
    // A compaction may have swapped the file while this call waited: look up in the current one.
    while (state !== this.current) state = await this.ready()
    const p = this.pending.get(key)
    if (p !== undefined) return p.value === null ? null : p.value.slice()
    const at = this.durableIndex.get(key)
    if (at === undefined) return null
    if (at.cached !== null) return at.cached.slice()
    const read = readExactly(state.handle, at.offset, at.length)
    state.reads.add(read)
    try {
      return await read
    } catch (err) {
      throw toStorageError(err, this.file, 'get')
    } finally {
      state.reads.delete(read)
    }
  }

  /** @throws STORAGE_FULL, STORAGE_IO (also for a key over {@link MAX_PACKED_KEY_BYTES} bytes) */
  async set (key: string, value: Uint8Array): Promise<void> {
    keyBytes(key, 'set')
    if (value.byteLength > MAX_BODY_BYTES) throw new LodestoneError('STORAGE_IO', { path: key, operation: 'set', reason: `value of ${value.byteLength} bytes` })
    // Copy now: the caller may reuse `value` as soon as this call returns.
    await this.write(key, new Uint8Array(value))
  }

  async delete (key: string): Promise<void> {
    keyBytes(key, 'delete')
    await this.write(key, null)
  }

  /** Keys starting with `prefix` (all without one), sorted; includes writes not yet durable. */
  async keys (prefix = ''): Promise<string[]> {
    await this.ready()
    const out = new Set<string>()
    for (const key of this.durableIndex.keys()) if (key.startsWith(prefix)) out.add(key)
    for (const [key, p] of this.pending) {
      if (!key.startsWith(prefix)) continue
      if (p.value === null) out.delete(key)
      else out.add(key)
    }
    return [...out].sort()
  }

  async clear (): Promise<void> {
    await Promise.all((await this.keys()).map(async (key) => { await this.delete(key) }))
  }

  /** Waits for queued writes and releases the file (a later call opens it again). */
  async close (): Promise<void> {
    while (this.flushing !== null) await this.flushing
    const state = this.current ?? (this.opening === null ? null : await this.opening.catch(() => null))
    if (state === null) return
    await Promise.allSettled([...state.reads])
    this.current = null
    this.opening = null
    this.durableIndex.clear()
    this.cachedBytes = 0
    this.liveBytes = 0
    await state.handle.close()
  }

  // ---------------------------------------------------------------- writes

  /** Queues a write (null: delete); one await before it is queued, so calls keep their order. */
  private async write (key: string, value: Uint8Array | null): Promise<void> {
    await this.ready()
    // Deleting what is not there needs no record.
    const queued = this.pending.get(key)
    if (value === null && (queued === undefined ? !this.durableIndex.has(key) : queued.value === null)) return
    const token = {}
    this.pending.set(key, { value, token })
    return new Promise((resolve, reject) => {
      this.queue.push({ key, value, token, done: (error) => { if (error === null) resolve(); else reject(error) } })
      this.flushing ??= this.flushLoop()
    })
  }

  /** Appends what is queued, one batch per fdatasync, until nothing is. */
  private async flushLoop (): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue
        this.queue = []
        let error: LodestoneError | null = null
        try {
          await this.append(batch)
        } catch (err) {
          error = toStorageError(err, this.file, 'set')
        }
        for (const q of batch) {
          if (this.pending.get(q.key)?.token === q.token) this.pending.delete(q.key)
          q.done(error)
        }
        if (error === null) await this.compactIfWorthIt().catch(() => {})
      }
    } finally {
      this.flushing = null
    }
  }

  private async append (batch: Queued[]): Promise<void> {
    const state = await this.ready()
    const records = batch.map((q) => encodeRecord(q.key, q.value))
    const bytes = records.length === 1 ? records[0] as Uint8Array : concatBytes(records)
    const start = state.size
    try {
      await writeAll(state.handle, bytes, start)
      if (this.durable) await state.handle.datasync()
    } catch (err) {
      // Never leave garbage an acknowledged record could follow; if even that fails, reopen first.
      await state.handle.truncate(start).catch(() => { this.current = null; this.opening = null })
      throw err
    }
    state.size = start + bytes.length
    let at = start
    batch.forEach((q, i) => {
      const length = (records[i] as Uint8Array).length
      this.index(q.key, q.value, at, length)
      at += length
    })
  }

  /** Records a durable record of `key` (null value: deleted) at `recordOffset`. */
  private index (key: string, value: Uint8Array | null, recordOffset: number, recordLength: number): void {
    const old = this.durableIndex.get(key)
    if (old !== undefined) {
      if (old.cached !== null) this.cachedBytes -= old.length
      this.liveBytes -= old.recordLength
    }
    if (value === null) {
      this.durableIndex.delete(key)
      return
    }
    const cache = value.length <= CACHE_VALUE_MAX_BYTES && this.cachedBytes + value.length <= CACHE_TOTAL_MAX_BYTES
    if (cache) this.cachedBytes += value.length
    this.liveBytes += recordLength
    // Empty values (the engine's `listed` keys, one per torrent) share one array: `get` copies anyway.
    const cached = cache ? (value.length === 0 ? EMPTY : value) : null
    this.durableIndex.set(key, { offset: recordOffset + (recordLength - value.length), length: value.length, recordLength, cached })
  }

  /**
   * Rewrites the pack with only its live records once most of it is dead. A live record's bytes
   * (header, CRC and all) are the same in the new file, so they are copied as they are: read in
   * file order through large chunks and written {@link COMPACT_WRITE_BYTES} at a time, not one
   * encode, CRC and write per record (an engine adding 10 000 torrents compacts tens of times,
   * each over ~30 000 records).
   */
  private async compactIfWorthIt (): Promise<void> {
    const state = this.current
    if (state === null || state.size < COMPACT_MIN_BYTES || state.size < 2 * this.liveBytes) return
    const temp = `${this.file}.tmp`
    const live = [...this.durableIndex.values()].sort((a, b) => a.offset - b.offset)
    const handle = await open(temp, 'w', 0o600)
    // New value offsets, in `live`'s order (applied only once the new file is in place).
    const moved: number[] = []
    try {
      const reader = new ChunkReader(state.handle, state.size)
      const out = new Uint8Array(COMPACT_WRITE_BYTES)
      out.set(MAGIC, 0)
      let filled = MAGIC.length
      let written = 0
      for (const loc of live) {
        const valueInRecord = loc.recordLength - loc.length
        const recordOffset = loc.offset - valueInRecord
        if (filled + loc.recordLength > out.length && filled > 0) {
          await writeAll(handle, out.subarray(0, filled), written)
          written += filled
          filled = 0
        }
        const record = await reader.bytes(recordOffset, loc.recordLength)
        if (record === null) throw new LodestoneError('RESUME_DATA_INVALID', { key: PACK_FILE_NAME, reason: `record at ${recordOffset} cut short` })
        moved.push(written + filled + valueInRecord)
        if (loc.recordLength > out.length) {
          await writeAll(handle, record, written)
          written += record.length
        } else {
          out.set(record, filled)
          filled += record.length
        }
      }
      if (filled > 0) await writeAll(handle, out.subarray(0, filled), written)
      if (this.durable) await handle.sync()
    } catch (err) {
      await handle.close()
      await unlink(temp).catch(() => {})
      throw err
    }
    await handle.close()
    await rename(temp, this.file)
    await this.syncDir()
    const reopened = await open(this.file, 'r+')
    const size = (await reopened.stat()).size
    // Writes queued meanwhile wait for this flush loop, so `live` is still the index's content.
    live.forEach((loc, i) => { loc.offset = moved[i] as number })
    this.liveBytes = size - MAGIC.length
    this.current = { handle: reopened, size, reads: new Set() }
    this.opening = Promise.resolve(this.current)
    void Promise.allSettled([...state.reads]).then(async () => { await state.handle.close() })
  }

  // ---------------------------------------------------------------- open

  private async ready (): Promise<Open> {
    if (this.current !== null) return this.current
    this.opening ??= this.openPack().then((state) => {
      this.current = state
      return state
    }, (err: unknown) => {
      this.opening = null // a later call retries (e.g. after the disk was remounted)
      throw toStorageError(err, this.dir, 'open session store')
    })
    return this.opening
  }

  private async openPack (): Promise<Open> {
    await mkdir(this.dir, { recursive: true })
    const names = await readdir(this.dir)
    await unlink(`${this.file}.tmp`).catch(() => {})
    let handle: FileHandle
    let created = false
    try {
      handle = await open(this.file, 'r+')
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err
      handle = await open(this.file, 'w+', 0o600)
      await writeAll(handle, MAGIC, 0)
      if (this.durable) await handle.sync()
      created = true
    }
    const state: Open = { handle, size: 0, reads: new Set() }
    try {
      this.durableIndex.clear()
      this.cachedBytes = 0
      this.liveBytes = 0
      state.size = await this.load(handle)
      if (created) await this.syncDir()
      await this.importRecordFiles(state, names)
    } catch (err) {
      await handle.close().catch(() => {})
      throw err
    }
    return state
  }

  /** Indexes every intact record; truncates a torn tail. Returns the file's (new) size. */
  private async load (handle: FileHandle): Promise<number> {
    const size = (await handle.stat()).size
    const reader = new ChunkReader(handle, size)
    const magic = await reader.bytes(0, MAGIC.length)
    if (magic === null || !bytesEqual(magic, MAGIC)) {
      throw new LodestoneError('RESUME_DATA_INVALID', { key: PACK_FILE_NAME, reason: 'not a session pack' })
    }
    let at = MAGIC.length
    const decoder = new TextDecoder()
    for (;;) {
      const header = await reader.bytes(at, RECORD_HEADER)
      if (header === null) break
      const view = new DataView(header.buffer, header.byteOffset, RECORD_HEADER)
      const bodyLength = view.getUint32(0, true)
      const crc = view.getUint32(4, true)
      if (bodyLength < BODY_HEADER || bodyLength > MAX_BODY_BYTES) break
      const body = await reader.bytes(at + RECORD_HEADER, bodyLength)
      if (body === null || (crc32(body) >>> 0) !== crc) break
      const op = body[0] as number
      const keyLength = (body[1] as number) | ((body[2] as number) << 8)
      if ((op !== OP_SET && op !== OP_DELETE) || BODY_HEADER + keyLength > bodyLength || (op === OP_DELETE && BODY_HEADER + keyLength !== bodyLength)) break
      const key = decoder.decode(body.subarray(BODY_HEADER, BODY_HEADER + keyLength))
      const recordLength = RECORD_HEADER + bodyLength
      // A cached value must not keep the whole read chunk alive: copy it out.
      this.index(key, op === OP_DELETE ? null : body.slice(BODY_HEADER + keyLength), at, recordLength)
      at += recordLength
    }
    if (at < size) {
      await handle.truncate(at)
      if (this.durable) await handle.sync()
    }
    return at
  }

  /** Takes over the records of a FileSessionStore in the same directory, then deletes their files. */
  private async importRecordFiles (state: Open, names: string[]): Promise<void> {
    const files: Array<[string, string]> = []
    for (const name of names) {
      if (name.includes('.tmp-')) {
        await unlink(join(this.dir, name)).catch(() => {})
        continue
      }
      if (!name.endsWith('.rec')) continue
      const key = decodeSessionKey(name.slice(0, -'.rec'.length))
      if (key !== undefined) files.push([key, name])
    }
    if (files.length === 0) return
    const batch: Queued[] = []
    for (const [key, name] of files) {
      const value = new Uint8Array(await readFile(join(this.dir, name)))
      batch.push({ key, value, token: {}, done: () => {} })
    }
    this.current = state
    try {
      await this.append(batch)
    } finally {
      this.current = null
    }
    for (const [, name] of files) await unlink(join(this.dir, name))
    await this.syncDir()
  }

  private async syncDir (): Promise<void> {
    if (this.durable) await syncDirectory(this.dir)
  }
}

const encoder = new TextEncoder()

function keyBytes (key: string, operation: string): Uint8Array {
  const bytes = encoder.encode(key)
  if (bytes.length > MAX_PACKED_KEY_BYTES) {
    throw new LodestoneError('STORAGE_IO', { path: key.slice(0, 100), operation, reason: `key too long (${bytes.length} > ${MAX_PACKED_KEY_BYTES} bytes)` })
  }
  return bytes
}

function encodeRecord (key: string, value: Uint8Array | null): Uint8Array {
  const k = keyBytes(key, 'set')
  const bodyLength = BODY_HEADER + k.length + (value?.length ?? 0)
  const out = new Uint8Array(RECORD_HEADER + bodyLength)
  const body = out.subarray(RECORD_HEADER)
  body[0] = value === null ? OP_DELETE : OP_SET
  body[1] = k.length & 0xff
  body[2] = k.length >>> 8
  body.set(k, BODY_HEADER)
  if (value !== null) body.set(value, BODY_HEADER + k.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, bodyLength, true)
  view.setUint32(4, crc32(body) >>> 0, true)
  return out
}

async function writeAll (handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done)
    done += bytesWritten
  }
}

async function readExactly (handle: FileHandle, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, length - done, offset + done)
    if (bytesRead === 0) throw new LodestoneError('RESUME_DATA_INVALID', { key: PACK_FILE_NAME, reason: `record at ${offset} cut short` })
    done += bytesRead
  }
  return out
}

/** Reads a file front to back in large chunks, so indexing it costs a few reads, not one per record. */
class ChunkReader {
  private chunk: Uint8Array = new Uint8Array(0)
  private chunkAt = 0

  constructor (private readonly handle: FileHandle, private readonly size: number) {}

  /** `length` bytes at `offset`, or null past the end of the file. */
  async bytes (offset: number, length: number): Promise<Uint8Array | null> {
    if (offset + length > this.size) return null
    if (offset < this.chunkAt || offset + length > this.chunkAt + this.chunk.length) {
      const want = Math.min(this.size - offset, Math.max(READ_CHUNK_BYTES, length))
      this.chunk = await readExactly(this.handle, offset, want)
      this.chunkAt = offset
    }
    return this.chunk.subarray(offset - this.chunkAt, offset - this.chunkAt + length)
  }
}
