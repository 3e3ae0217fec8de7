/**
 * {@link ISessionStore} as one file per key in a directory (resume data, seed 004's key names).
 *
 * Atomicity: a `set` writes a uniquely named temporary file, fsyncs it, renames it over the
 * record and fsyncs the directory. rename(2) replaces the name atomically, so after a crash a
 * record holds its old or its new bytes, never a mix; the directory fsync makes the new name
 * itself durable. Left-over temporary files (a crash mid-write) are ignored and swept on first use.
 *
 * File names: keys are arbitrary strings (`torrent:<infohash>:bitfield`), so each is encoded:
 * [a-z0-9_-] stay, every other UTF-8 byte becomes %XX (upper-case hex). Upper-case letters are
 * escaped too, so two keys differing only in case never collide on a case-insensitive filesystem
 * (macOS, Windows); ':' and '/' are escaped, which keeps names legal on every platform. Names end in
 * `.rec`; keys whose encoded name would exceed {@link MAX_ENCODED_KEY_LENGTH} are refused.
 *
 * Ordering: operations on one key run in call order (a per-key queue), so an unawaited
 * `set(k, a)` followed by `set(k, b)` leaves `b`, and `get` sees every earlier `set`.
 *
 * One process should own a directory: the start-up sweep would delete the temporary file of a
 * `set` that another live instance has in flight.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs'
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { LodestoneError } from '../../src/errors.js'
import type { ISessionStore } from '../../src/interfaces/session-store.js'
import { toStorageError } from './node-filesystem.js'

/** Longest encoded key: keeps `<name>.rec` and its temporary sibling under the common 255-byte limit. */
export const MAX_ENCODED_KEY_LENGTH = 200

const RECORD_SUFFIX = '.rec'
const TEMP_MARKER = '.tmp-'
const KEEP = /[a-z0-9_-]/
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com\d|lpt\d)$/

/** The file name (without suffix) for `key`. */
export function encodeSessionKey (key: string): string {
  let out = ''
  for (const byte of new TextEncoder().encode(key)) {
    const char = String.fromCharCode(byte)
    out += byte < 0x80 && KEEP.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  // A bare Windows device name (even with an extension) is not a usable file name there.
  const stem = out.split('.')[0] ?? ''
  if (WINDOWS_DEVICE.test(stem)) out = `%${out.charCodeAt(0).toString(16).toUpperCase()}${out.slice(1)}`
  return out
}

/** The key for a file name stem made by {@link encodeSessionKey}; undefined for foreign names. */
export function decodeSessionKey (stem: string): string | undefined {
  const bytes: number[] = []
  for (let i = 0; i < stem.length; i++) {
    const char = stem[i] as string
    if (char === '%') {
      const hex = stem.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined
      bytes.push(parseInt(hex, 16))
      i += 2
    } else if (KEEP.test(char)) {
      bytes.push(char.charCodeAt(0))
    } else {
      return undefined
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes))
  } catch {
    return undefined
  }
}

export interface FileSessionStoreSettings {
  /** fsync records and the directory. Off only for throwaway stores (tests, benchmarks). @default true */
  durable: boolean
}

/** `new FileSessionStore(dir, settings?)`: the directory is created on first use. */
export class FileSessionStore implements ISessionStore {
  readonly dir: string
  private readonly durable: boolean
  private ready: Promise<void> | undefined
  /** Tail of each key's operation queue. */
  private readonly queues = new Map<string, Promise<unknown>>()

  constructor (dir: string, settings: Partial<FileSessionStoreSettings> = {}) {
    this.dir = resolve(dir)
    this.durable = settings.durable ?? true
  }

  async get (key: string): Promise<Uint8Array | null> {
    const file = this.fileFor(key, 'get')
    return this.enqueue(key, async () => {
      try {
        const data = await readWhole(file)
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') return null
        throw toStorageError(err, file, 'get')
      }
    })
  }

  /** @throws STORAGE_FULL, STORAGE_IO (also for a key too long to be a file name) */
  async set (key: string, value: Uint8Array): Promise<void> {
    const file = this.fileFor(key, 'set')
    // Copy now: the caller may reuse `value` as soon as this call returns.
    const bytes = new Uint8Array(value)
    await this.enqueue(key, async () => { await this.writeAtomically(file, bytes) })
  }

  async delete (key: string): Promise<void> {
    const file = this.fileFor(key, 'delete')
    await this.enqueue(key, async () => { await this.removeFile(file) })
  }

  /** Keys starting with `prefix` (all without one), sorted; waits for operations already queued. */
  async keys (prefix = ''): Promise<string[]> {
    await this.init()
    await Promise.allSettled([...this.queues.values()])
    return (await this.listKeys()).filter((key) => key.startsWith(prefix)).sort()
  }

  /** Deletes every record (each after the operations already queued on its key). */
  async clear (): Promise<void> {
    await this.init()
    const keys = new Set([...await this.listKeys(), ...this.queues.keys()])
    await Promise.all([...keys].map(async (key) => { await this.delete(key) }))
  }

  private fileFor (key: string, operation: string): string {
    const encoded = encodeSessionKey(key)
    if (encoded.length > MAX_ENCODED_KEY_LENGTH) {
      throw new LodestoneError('STORAGE_IO', { path: key, operation, reason: `key too long (encoded ${encoded.length} > ${MAX_ENCODED_KEY_LENGTH} characters)` })
    }
    return join(this.dir, encoded + RECORD_SUFFIX)
  }

  private async enqueue<T> (key: string, op: () => Promise<T>): Promise<T> {
    await this.init()
    const previous = this.queues.get(key) ?? Promise.resolve()
    const run = previous.then(op, op)
    const tail = run.then(() => {}, () => {})
    this.queues.set(key, tail)
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key)
    })
    return run
  }

  /** Creates the directory and sweeps temporary files left by a crash; once. */
  private async init (): Promise<void> {
    this.ready ??= (async () => {
      try {
        await mkdir(this.dir, { recursive: true })
        for (const name of await readdir(this.dir)) {
          if (name.includes(TEMP_MARKER)) await unlink(join(this.dir, name)).catch(() => {})
        }
      } catch (err) {
        this.ready = undefined // let a later call retry (e.g. after the disk was remounted)
        throw toStorageError(err, this.dir, 'open session store')
      }
    })()
    await this.ready
  }

  private async listKeys (): Promise<string[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      throw toStorageError(err, this.dir, 'keys')
    }
    const keys: string[] = []
    for (const name of names) {
      if (!name.endsWith(RECORD_SUFFIX) || name.includes(TEMP_MARKER)) continue
      const key = decodeSessionKey(name.slice(0, -RECORD_SUFFIX.length))
      if (key !== undefined) keys.push(key)
    }
    return keys
  }

  private async writeAtomically (file: string, bytes: Uint8Array): Promise<void> {
    const temp = `${file}${TEMP_MARKER}${randomBytes(6).toString('hex')}`
    try {
      const handle = await open(temp, 'wx', 0o600)
      try {
        let done = 0
        while (done < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, done)
          done += bytesWritten
        }
        if (this.durable) await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(temp, file)
    } catch (err) {
      await unlink(temp).catch(() => {})
      throw toStorageError(err, file, 'set')
    }
    await this.syncDir()
  }

  private async removeFile (file: string): Promise<void> {
    try {
      await unlink(file)
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return
      throw toStorageError(err, file, 'delete')
    }
    await this.syncDir()
  }

  private async syncDir (): Promise<void> {
    if (this.durable) await syncDirectory(this.dir)
  }
}

/** Makes a create, rename or unlink in `dir` durable. Some platforms cannot fsync a directory; not an error. */
export async function syncDirectory (dir: string): Promise<void> {
  let handle
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // EISDIR / EPERM on Windows, EINVAL on some network filesystems: best effort.
  } finally {
    await handle?.close().catch(() => {})
  }
}

/**
 * The callback `readFile`: a restore reads four records per torrent, and fs/promises' readFile
 * (a FileHandle object, a promise per step) took about twice the main-thread time for the same reads.
 */
async function readWhole (file: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    readFile(file, (err, data) => { if (err === null) resolve(data); else reject(err) })
  })
}
