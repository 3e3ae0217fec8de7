/**
 * {@link ISessionStore} on IndexedDB (seed 004's IndexedDBSessionStore): one object store of
 * key → bytes. Each `set` is its own readwrite transaction, so a crash leaves a key with its old
 * or its new value, never a torn one. Values are copied in and out.
 */
import { LodestoneError } from '../../src/errors.js'
import type { ISessionStore } from '../../src/interfaces/session-store.js'

const STORE = 'kv'

function fail (key: string, err: unknown): LodestoneError {
  const name = (err as { name?: unknown })?.name
  if (name === 'QuotaExceededError') return new LodestoneError('STORAGE_FULL', { path: `indexeddb:${key}` }, { cause: err })
  return new LodestoneError('STORAGE_IO', { path: `indexeddb:${key}`, operation: 'session store', reason: String((err as { message?: unknown })?.message ?? err) }, { cause: err })
}

async function request<T> (req: IDBRequest<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    req.onsuccess = () => { resolve(req.result) }
    req.onerror = () => { reject(req.error ?? new Error('IndexedDB request failed')) }
  })
}

export class IndexedDBSessionStore implements ISessionStore {
  private db: Promise<IDBDatabase> | null = null

  /** @param name the database name (one per engine). */
  constructor (readonly name = 'lodestone-session') {}

  private async open (): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(this.name, 1)
      req.onupgradeneeded = () => { req.result.createObjectStore(STORE) }
      req.onsuccess = () => { resolve(req.result) }
      req.onerror = () => { reject(req.error ?? new Error('IndexedDB request failed')) }
      req.onblocked = () => { reject(new Error('database blocked by another connection')) }
    })
    try { return await this.db } catch (err) { this.db = null; throw fail('', err) }
  }

  private async tx<T> (key: string, mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open()
    try {
      const t = db.transaction(STORE, mode, { durability: 'strict' })
      const done = new Promise<void>((resolve, reject) => {
        t.oncomplete = () => { resolve() }
        t.onerror = () => { reject(t.error ?? new Error('IndexedDB transaction failed')) }
        t.onabort = () => { reject(t.error ?? new Error('transaction aborted')) }
      })
      const result = await request(fn(t.objectStore(STORE)))
      await done
      return result
    } catch (err) { throw fail(key, err) }
  }

  async get (key: string): Promise<Uint8Array | null> {
    const value: unknown = await this.tx(key, 'readonly', (s) => s.get(key))
    if (value === undefined || value === null) return null
    if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0))
    if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength))
    return null
  }

  async set (key: string, value: Uint8Array): Promise<void> {
    // Stored as an ArrayBuffer copy: later changes to the caller's bytes do not reach the store.
    await this.tx(key, 'readwrite', (s) => s.put(value.slice().buffer, key))
  }

  async delete (key: string): Promise<void> {
    await this.tx(key, 'readwrite', (s) => s.delete(key))
  }

  async keys (prefix = ''): Promise<string[]> {
    const range = prefix === '' ? undefined : IDBKeyRange.bound(prefix, `${prefix}\uffff`, false, false)
    const all = await this.tx(prefix, 'readonly', (s) => s.getAllKeys(range))
    return all.filter((k): k is string => typeof k === 'string' && k.startsWith(prefix)).sort()
  }

  async clear (): Promise<void> {
    await this.tx('', 'readwrite', (s) => s.clear())
  }

  /** Closes the database connection (a later call reopens it). */
  close (): void {
    const db = this.db
    this.db = null
    void db?.then((d) => { d.close() }, () => {})
  }
}
