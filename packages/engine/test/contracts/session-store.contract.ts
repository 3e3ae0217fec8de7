/**
 * The ISessionStore contract: every store's test calls `runSessionStoreContract(name, make)`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ISessionStore } from '../../src/interfaces/session-store.js'

export interface SessionStoreFixture {
  store: ISessionStore
  /** A new store over the same storage (a restart), when the store persists. */
  reopen?: () => Promise<ISessionStore>
  cleanup?: () => Promise<void>
}

const enc = new TextEncoder()
const dec = new TextDecoder()

export function runSessionStoreContract (name: string, make: () => Promise<SessionStoreFixture>): void {
  describe(`ISessionStore contract: ${name}`, () => {
    let fixture: SessionStoreFixture
    let store: ISessionStore

    beforeEach(async () => {
      fixture = await make()
      store = fixture.store
    })

    afterEach(async () => {
      await fixture.cleanup?.()
    })

    it('get of a missing key is null', async () => {
      expect(await store.get('torrent:00:bitfield')).toBeNull()
    })

    it('set then get returns the bytes; set again replaces them', async () => {
      await store.set('k', enc.encode('one'))
      expect(dec.decode((await store.get('k'))!)).toBe('one')
      await store.set('k', enc.encode('two, longer'))
      expect(dec.decode((await store.get('k'))!)).toBe('two, longer')
      await store.set('k', enc.encode('3'))
      expect(dec.decode((await store.get('k'))!)).toBe('3')
    })

    it('stores empty and large values', async () => {
      await store.set('empty', new Uint8Array(0))
      expect(await store.get('empty')).toEqual(new Uint8Array(0))
      const big = new Uint8Array(1 << 20).map((_, i) => (i * 13) & 0xff)
      await store.set('big', big)
      const back = await store.get('big')
      expect(back?.length).toBe(big.length)
      expect(Buffer.from(back!).equals(Buffer.from(big))).toBe(true)
    })

    it('returns plain Uint8Arrays, decoupled from the caller\'s buffers', async () => {
      const value = enc.encode('abc')
      await store.set('k', value)
      value.fill(0)
      const first = (await store.get('k'))!
      expect(Object.getPrototypeOf(first)).toBe(Uint8Array.prototype)
      expect(dec.decode(first)).toBe('abc')
      first.fill(0)
      expect(dec.decode((await store.get('k'))!)).toBe('abc')
    })

    it('delete removes a key; deleting a missing key is fine', async () => {
      await store.set('a', enc.encode('1'))
      await store.delete('a')
      expect(await store.get('a')).toBeNull()
      await store.delete('a')
      await store.delete('never-set')
      expect(await store.keys()).toEqual([])
    })

    it('keys lists sorted keys, filtered by prefix', async () => {
      const keys = ['torrent:bb:bitfield', 'torrent:aa:progress', 'engine:settings', 'torrent:aa:bitfield', 'torrentx']
      for (const k of keys) await store.set(k, enc.encode(k))
      expect(await store.keys()).toEqual([...keys].sort())
      expect(await store.keys('torrent:')).toEqual(['torrent:aa:bitfield', 'torrent:aa:progress', 'torrent:bb:bitfield'])
      expect(await store.keys('torrent:aa:')).toEqual(['torrent:aa:bitfield', 'torrent:aa:progress'])
      expect(await store.keys('nothing')).toEqual([])
    })

    it('clear removes everything', async () => {
      for (const k of ['x', 'y', 'z']) await store.set(k, enc.encode(k))
      await store.clear()
      expect(await store.keys()).toEqual([])
      expect(await store.get('x')).toBeNull()
      await store.set('after', enc.encode('1'))
      expect(await store.keys()).toEqual(['after'])
    })

    it('keeps arbitrary keys apart: case, separators, dots, percent signs, unicode', async () => {
      const keys = [
        'torrent:ABC:bitfield', 'torrent:abc:bitfield', 'a/b', 'a%2Fb', 'a\\b', '..', '.', '', ' ', 'CON', 'con.txt',
        'ключ', '🔑', 'x'.repeat(60), 'tab\tnew\nline', 'torrent:abc:bitfield.tmp-123'
      ]
      for (const k of keys) await store.set(k, enc.encode(`value of ${k}`))
      expect(await store.keys()).toEqual([...keys].sort())
      for (const k of keys) expect(dec.decode((await store.get(k))!), JSON.stringify(k)).toBe(`value of ${k}`)
    })

    it('unawaited operations on one key apply in call order', async () => {
      const writes: Array<Promise<void>> = []
      for (let i = 0; i < 20; i++) writes.push(store.set('k', enc.encode(`v${i}`)))
      const read = store.get('k')
      writes.push(store.set('other', enc.encode('o')))
      await Promise.all(writes)
      expect(dec.decode((await read)!)).toBe('v19')
      expect(dec.decode((await store.get('k'))!)).toBe('v19')
      const del = store.delete('k')
      const after = store.get('k')
      await del
      expect(await after).toBeNull()
    })

    it('keys sees sets that were not awaited', async () => {
      const pending = store.set('late', enc.encode('1'))
      expect(await store.keys()).toContain('late')
      await pending
    })

    it('persists across a restart (when the store persists)', async () => {
      await store.set('torrent:aa:bitfield', enc.encode('persisted'))
      await store.set('gone', enc.encode('x'))
      await store.delete('gone')
      const again = fixture.reopen !== undefined ? await fixture.reopen() : store
      expect(dec.decode((await again.get('torrent:aa:bitfield'))!)).toBe('persisted')
      expect(await again.keys()).toEqual(['torrent:aa:bitfield'])
    })
  })
}
