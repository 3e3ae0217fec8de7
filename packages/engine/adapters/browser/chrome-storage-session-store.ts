/**
 * {@link ISessionStore} on `chrome.storage.local` (a browser extension's storage). Values are
 * JSON-serializable only, so bytes are stored as base64 strings under a key prefix (the extension
 * may keep its own keys beside ours). A `set` is one `chrome.storage.local.set` call, which the
 * browser applies atomically.
 */
import { LodestoneError } from '../../src/errors.js'
import type { ISessionStore } from '../../src/interfaces/session-store.js'

/** The part of `chrome.storage.local` (promise form, Manifest V3) the store uses. */
export interface ChromeStorageArea {
  get (keys: string | string[] | null): Promise<Record<string, unknown>>
  set (items: Record<string, unknown>): Promise<void>
  remove (keys: string | string[]): Promise<void>
}

function toBase64 (bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

function fromBase64 (text: string): Uint8Array {
  const s = atob(text)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

function fail (key: string, err: unknown): LodestoneError {
  const message = String((err as { message?: unknown })?.message ?? err)
  if (/quota/i.test(message)) return new LodestoneError('STORAGE_FULL', { path: `chrome.storage:${key}` }, { cause: err })
  return new LodestoneError('STORAGE_IO', { path: `chrome.storage:${key}`, operation: 'session store', reason: message }, { cause: err })
}

export class ChromeStorageSessionStore implements ISessionStore {
  private readonly area: ChromeStorageArea

  /**
   * @param options.area @default globalThis.chrome.storage.local
   * @param options.prefix prepended to every key. @default 'lodestone:'
   */
  constructor (private readonly options: { area?: ChromeStorageArea, prefix?: string } = {}) {
    const area = options.area ?? (globalThis as unknown as { chrome?: { storage?: { local?: ChromeStorageArea } } }).chrome?.storage?.local
    if (area === undefined) throw new LodestoneError('STORAGE_IO', { path: 'chrome.storage', operation: 'session store', reason: 'chrome.storage.local is not available' })
    this.area = area
  }

  private get prefix (): string { return this.options.prefix ?? 'lodestone:' }

  async get (key: string): Promise<Uint8Array | null> {
    const k = this.prefix + key
    let items: Record<string, unknown>
    try { items = await this.area.get(k) } catch (err) { throw fail(key, err) }
    const v = items[k]
    return typeof v === 'string' ? fromBase64(v) : null
  }

  async set (key: string, value: Uint8Array): Promise<void> {
    try { await this.area.set({ [this.prefix + key]: toBase64(value) }) } catch (err) { throw fail(key, err) }
  }

  async delete (key: string): Promise<void> {
    try { await this.area.remove(this.prefix + key) } catch (err) { throw fail(key, err) }
  }

  async keys (prefix = ''): Promise<string[]> {
    let items: Record<string, unknown>
    try { items = await this.area.get(null) } catch (err) { throw fail(prefix, err) }
    const full = this.prefix + prefix
    return Object.keys(items).filter((k) => k.startsWith(full)).map((k) => k.slice(this.prefix.length)).sort()
  }

  async clear (): Promise<void> {
    const keys = await this.keys()
    if (keys.length === 0) return
    try { await this.area.remove(keys.map((k) => this.prefix + k)) } catch (err) { throw fail('', err) }
  }
}
