import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeSessionKey, encodeSessionKey, FileSessionStore, MAX_ENCODED_KEY_LENGTH } from '../../../../adapters/node/file-session-store.js'
import { runSessionStoreContract } from '../../../contracts/session-store.contract.js'
import { codeOf } from '../../../contracts/filesystem.contract.js'

async function tempDir (): Promise<string> {
  return mkdtemp(join(tmpdir(), 'lodestone-session-'))
}

runSessionStoreContract('FileSessionStore', async () => {
  const dir = await tempDir()
  const path = join(dir, 'store')
  return {
    store: new FileSessionStore(path),
    reopen: async () => new FileSessionStore(path),
    cleanup: async () => { await rm(dir, { recursive: true, force: true }) }
  }
})

describe('FileSessionStore specifics', () => {
  it('encodes keys into portable, case-safe file names and back', () => {
    expect(encodeSessionKey('torrent:abc:bitfield')).toBe('torrent%3Aabc%3Abitfield')
    expect(encodeSessionKey('A')).toBe('%41')
    expect(encodeSessionKey('a/b')).toBe('a%2Fb')
    expect(encodeSessionKey('con')).toBe('%63on')
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (key) => {
      const name = encodeSessionKey(key)
      expect(name).toMatch(/^[a-z0-9_%A-F-]*$/)
      expect(name.replace(/%[0-9A-F]{2}/g, '')).toMatch(/^[a-z0-9_-]*$/)
      expect(decodeSessionKey(name)).toBe(key)
    }), { numRuns: 500, seed: 7 })
    expect(decodeSessionKey('bad.name')).toBeUndefined()
    expect(decodeSessionKey('%zz')).toBeUndefined()
    expect(decodeSessionKey('%FF')).toBeUndefined()
  })

  it('writes one .rec file per key and leaves no temporary files', async () => {
    const dir = await tempDir()
    const store = new FileSessionStore(dir)
    await Promise.all(Array.from({ length: 10 }, async (_, i) => { await store.set(`k${i}`, new Uint8Array([i])) }))
    const names = await readdir(dir)
    expect(names.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}.rec`).sort())
    await rm(dir, { recursive: true, force: true })
  })

  it('ignores and sweeps temporary files left by a crash, and foreign files', async () => {
    const dir = await tempDir()
    const first = new FileSessionStore(dir)
    await first.set('torrent:aa:bitfield', new Uint8Array([1, 2, 3]))
    // A crash mid-set leaves a temporary sibling with partial content; the record is intact.
    await writeFile(join(dir, 'torrent%3Aaa%3Abitfield.rec.tmp-0123456789ab'), new Uint8Array([9]))
    await writeFile(join(dir, 'README.txt'), 'not a record')
    const second = new FileSessionStore(dir)
    expect(await second.get('torrent:aa:bitfield')).toEqual(new Uint8Array([1, 2, 3]))
    expect(await second.keys()).toEqual(['torrent:aa:bitfield'])
    expect((await readdir(dir)).sort()).toEqual(['README.txt', 'torrent%3Aaa%3Abitfield.rec'])
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses keys too long for a file name with STORAGE_IO', async () => {
    const dir = await tempDir()
    const store = new FileSessionStore(dir)
    expect(await codeOf(store.set('k'.repeat(MAX_ENCODED_KEY_LENGTH + 1), new Uint8Array(1)))).toBe('STORAGE_IO')
    await store.set('k'.repeat(MAX_ENCODED_KEY_LENGTH), new Uint8Array(1))
    expect(await codeOf(store.get(':'.repeat(100)))).toBe('STORAGE_IO')
    await rm(dir, { recursive: true, force: true })
  })

  it('readers never see a torn record while another instance rewrites it', async () => {
    // A second store instance on the same directory has its own queue, so its reads race the
    // writes for real; an in-place write would show mixed or short values.
    const dir = await tempDir()
    const writer = new FileSessionStore(dir, { durable: false })
    const reader = new FileSessionStore(dir)
    const sizeBytes = 1 << 20
    const values = [new Uint8Array(sizeBytes).fill(1), new Uint8Array(sizeBytes).fill(2)]
    await writer.set('k', values[0]!)
    await reader.keys() // its start-up sweep of temporary files must happen before the writes race
    let writing = true
    const writes = (async () => {
      for (let i = 1; i <= 30; i++) await writer.set('k', values[i % 2]!)
      writing = false
    })()
    let reads = 0
    while (writing) {
      const got = await reader.get('k')
      expect(got?.length).toBe(sizeBytes)
      const first = got![0]
      expect(first === 1 || first === 2).toBe(true)
      expect(got!.every((b) => b === first)).toBe(true)
      reads++
    }
    await writes
    expect(reads).toBeGreaterThan(0)
    expect((await reader.get('k'))![0]).toBe(1)
    await rm(dir, { recursive: true, force: true })
  })

  it('creates its directory on first use', async () => {
    const dir = await tempDir()
    const store = new FileSessionStore(join(dir, 'a', 'b'))
    expect(await store.keys()).toEqual([])
    await store.set('x', new Uint8Array([1]))
    expect(await readdir(join(dir, 'a', 'b'))).toEqual(['x.rec'])
    await rm(dir, { recursive: true, force: true })
  })
})
