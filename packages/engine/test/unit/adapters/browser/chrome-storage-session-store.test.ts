import { describe, expect, it } from 'vitest'
import { ChromeStorageSessionStore, type ChromeStorageArea } from '../../../../adapters/browser/chrome-storage-session-store.js'
import { runSessionStoreContract } from '../../../contracts/session-store.contract.js'

/**
 * A fake of `chrome.storage.local` with its observable behaviour: values go through JSON (what
 * the extension storage keeps), `get(null)` returns everything, `get(key)` only present keys, and
 * every call completes asynchronously. An optional quota fails writes past `quotaBytes`.
 */
class FakeChromeStorage implements ChromeStorageArea {
  readonly data = new Map<string, string>()
  constructor (private readonly quotaBytes = Infinity) {}
  async get (keys: string | string[] | null): Promise<Record<string, unknown>> {
    await Promise.resolve()
    const wanted = keys === null ? [...this.data.keys()] : typeof keys === 'string' ? [keys] : keys
    const out: Record<string, unknown> = {}
    for (const k of wanted) { const v = this.data.get(k); if (v !== undefined) out[k] = JSON.parse(v) }
    return out
  }

  async set (items: Record<string, unknown>): Promise<void> {
    await Promise.resolve()
    const next = new Map(this.data)
    for (const [k, v] of Object.entries(items)) next.set(k, JSON.stringify(v))
    let used = 0
    for (const [k, v] of next) used += k.length + v.length
    if (used > this.quotaBytes) throw new Error('QUOTA_BYTES quota exceeded')
    for (const [k, v] of next) this.data.set(k, v)
  }

  async remove (keys: string | string[]): Promise<void> {
    await Promise.resolve()
    for (const k of typeof keys === 'string' ? [keys] : keys) this.data.delete(k)
  }
}

runSessionStoreContract('ChromeStorageSessionStore (fake chrome.storage.local)', async () => {
  const area = new FakeChromeStorage()
  return { store: new ChromeStorageSessionStore({ area }), reopen: async () => new ChromeStorageSessionStore({ area }) }
})

describe('ChromeStorageSessionStore', () => {
  it('keeps to its prefix: other keys of the extension are neither listed nor cleared', async () => {
    const area = new FakeChromeStorage()
    await area.set({ theme: 'dark' })
    const store = new ChromeStorageSessionStore({ area, prefix: 'ls:' })
    await store.set('torrent:ab:bitfield', new Uint8Array([1, 2, 3]))
    expect(await store.keys()).toEqual(['torrent:ab:bitfield'])
    expect([...area.data.keys()].sort()).toEqual(['ls:torrent:ab:bitfield', 'theme'])
    await store.clear()
    expect([...area.data.keys()]).toEqual(['theme'])
  })

  it('maps a quota error to STORAGE_FULL and leaves the old value', async () => {
    const area = new FakeChromeStorage(200)
    const store = new ChromeStorageSessionStore({ area })
    await store.set('k', new Uint8Array([7]))
    await expect(store.set('k', new Uint8Array(1000))).rejects.toMatchObject({ code: 'STORAGE_FULL' })
    expect(await store.get('k')).toEqual(new Uint8Array([7]))
  })

  it('refuses to start without chrome.storage.local', () => {
    expect(() => new ChromeStorageSessionStore()).toThrow(/chrome.storage.local/)
  })
})
