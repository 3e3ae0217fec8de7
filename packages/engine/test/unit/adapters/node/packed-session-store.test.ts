import { appendFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileSessionStore } from '../../../../adapters/node/file-session-store.js'
import { COMPACT_MIN_BYTES, PACK_FILE_NAME, PackedSessionStore } from '../../../../adapters/node/packed-session-store.js'
import { runSessionStoreContract } from '../../../contracts/session-store.contract.js'
import { codeOf } from '../../../contracts/filesystem.contract.js'

async function tempDir (): Promise<string> {
  return mkdtemp(join(tmpdir(), 'lodestone-pack-'))
}

const enc = new TextEncoder()
const dec = new TextDecoder()

runSessionStoreContract('PackedSessionStore', async () => {
  const dir = await tempDir()
  const path = join(dir, 'store')
  const opened: PackedSessionStore[] = []
  const make = (): PackedSessionStore => { const s = new PackedSessionStore(path); opened.push(s); return s }
  return {
    store: make(),
    reopen: async () => make(),
    cleanup: async () => {
      for (const s of opened) await s.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
})

describe('PackedSessionStore specifics', () => {
  it('keeps every record in one file; the sets of one moment share one append', async () => {
    const dir = await tempDir()
    const store = new PackedSessionStore(dir)
    await Promise.all(Array.from({ length: 50 }, async (_, i) => { await store.set(`torrent:${i}:progress`, new Uint8Array([i])) }))
    expect(await readdir(dir)).toEqual([PACK_FILE_NAME])
    await store.close()
    const again = new PackedSessionStore(dir)
    expect(await again.get('torrent:7:progress')).toEqual(new Uint8Array([7]))
    expect((await again.keys('torrent:')).length).toBe(50)
    await again.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a torn or corrupt tail (a crash mid-append) is dropped: earlier records hold, later appends are readable', async () => {
    const dir = await tempDir()
    const first = new PackedSessionStore(dir)
    await first.set('a', enc.encode('old a'))
    await first.set('b', enc.encode('b'))
    await first.close()
    const file = join(dir, PACK_FILE_NAME)
    const intact = (await stat(file)).size
    // Half of a record that would have replaced 'a' (header says 100 bytes of body).
    await appendFile(file, new Uint8Array([100, 0, 0, 0, 1, 2, 3, 4, 1, 1, 0, 97]))
    const second = new PackedSessionStore(dir)
    expect(dec.decode((await second.get('a'))!)).toBe('old a')
    expect((await stat(file)).size).toBe(intact)
    await second.set('a', enc.encode('new a'))
    await second.close()
    // A record whose CRC does not match: flip its last byte.
    const size = (await stat(file)).size
    const bytes = new Uint8Array(await readFile(file))
    bytes[size - 1] = (bytes[size - 1] as number) ^ 0xff
    await writeFile(file, bytes)
    const third = new PackedSessionStore(dir)
    expect(dec.decode((await third.get('a'))!)).toBe('old a')
    expect(await third.keys()).toEqual(['a', 'b'])
    await third.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses a file that is not a pack, and keys over 65 535 bytes', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, PACK_FILE_NAME), 'something else')
    expect(await codeOf(new PackedSessionStore(dir).get('k'))).toBe('RESUME_DATA_INVALID')
    await rm(join(dir, PACK_FILE_NAME))
    const store = new PackedSessionStore(dir)
    expect(await codeOf(store.set('k'.repeat(70_000), new Uint8Array(1)))).toBe('STORAGE_IO')
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('compacts once most of the file is overwritten records, keeping every live value', async () => {
    const dir = await tempDir()
    const store = new PackedSessionStore(dir, { durable: false })
    const big = new Uint8Array(64 * 1024)
    // Values over the cache limit are read back from the file: they must move with the compaction.
    for (let round = 0; round < 40; round++) {
      big.fill(round)
      await store.set('big', big)
      await store.set(`small${round % 3}`, enc.encode(`r${round}`))
    }
    const size = (await stat(join(dir, PACK_FILE_NAME))).size
    expect(size).toBeLessThan(COMPACT_MIN_BYTES + 2 * 64 * 1024)
    expect((await store.get('big'))!.every((b) => b === 39)).toBe(true)
    expect(dec.decode((await store.get('small0'))!)).toBe('r39')
    await store.close()
    const again = new PackedSessionStore(dir)
    expect((await again.get('big'))!.every((b) => b === 39)).toBe(true)
    expect(await again.keys()).toEqual(['big', 'small0', 'small1', 'small2'])
    await again.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('compacts a pack of many records and one larger than a write chunk, every value intact after a restart', async () => {
    const dir = await tempDir()
    const store = new PackedSessionStore(dir, { durable: false })
    const valueOf = (i: number, round: number): Uint8Array => new Uint8Array(700 + (i % 50)).fill((i * 7 + round) & 0xff)
    const huge = new Uint8Array(1_500_000).map((_, i) => i & 0xff)
    await store.set('huge', huge)
    for (let i = 0; i < 3000; i++) await store.set(`k${i}`, valueOf(i, 0))
    // Rewriting every record twice leaves the file mostly dead: it compacts (at least once).
    for (let round = 1; round <= 2; round++) await Promise.all(Array.from({ length: 3000 }, async (_, i) => { await store.set(`k${i}`, valueOf(i, round)) }))
    // One more batch runs the compaction check: the file (~8.2 MB uncompacted) is below twice its live bytes.
    await store.set('tick', enc.encode('x'))
    const live = 1_500_000 + 3000 * 760
    expect((await stat(join(dir, PACK_FILE_NAME))).size).toBeLessThan(2 * live)
    const check = async (s: PackedSessionStore): Promise<void> => {
      const same = (a: Uint8Array | null, b: Uint8Array): boolean => a !== null && a.length === b.length && a.every((x, i) => x === b[i])
      expect(same(await s.get('huge'), huge)).toBe(true)
      for (let i = 0; i < 3000; i += 7) expect(same(await s.get(`k${i}`), valueOf(i, 2))).toBe(true)
    }
    await check(store)
    await store.close()
    const again = new PackedSessionStore(dir)
    await check(again)
    expect((await again.keys()).length).toBe(3002)
    await again.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a failed append is cut off: it is not acknowledged, and the records after it survive a restart', async () => {
    const dir = await tempDir()
    const store = new PackedSessionStore(dir)
    await store.set('a', enc.encode('1'))
    const file = join(dir, PACK_FILE_NAME)
    const before = (await stat(file)).size
    // The disk fails the sync of the next append (its bytes were written).
    const handle = (store as unknown as { current: { handle: { datasync: () => Promise<void> } } }).current.handle
    const datasync = handle.datasync.bind(handle)
    handle.datasync = async () => { handle.datasync = datasync; throw Object.assign(new Error('EIO'), { code: 'EIO' }) }
    expect(await codeOf(store.set('lost', enc.encode('x')))).toBe('STORAGE_IO')
    expect((await stat(file)).size).toBe(before)
    expect(await store.get('lost')).toBeNull()
    await store.set('b', enc.encode('2'))
    await store.close()
    const again = new PackedSessionStore(dir)
    expect(await again.keys()).toEqual(['a', 'b'])
    await again.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('takes over the records of a FileSessionStore in its directory and deletes their files', async () => {
    const dir = await tempDir()
    const old = new FileSessionStore(dir)
    await old.set('engine:torrents', enc.encode('list'))
    await old.set('torrent:aa:progress', enc.encode('p'))
    await writeFile(join(dir, 'torrent%3Aaa%3Abitfield.rec.tmp-0123456789ab'), new Uint8Array([9]))
    const store = new PackedSessionStore(dir)
    expect(await store.keys()).toEqual(['engine:torrents', 'torrent:aa:progress'])
    expect(dec.decode((await store.get('torrent:aa:progress'))!)).toBe('p')
    expect(await readdir(dir)).toEqual([PACK_FILE_NAME])
    await store.close()
    const again = new PackedSessionStore(dir)
    expect(dec.decode((await again.get('engine:torrents'))!)).toBe('list')
    await again.close()
    await rm(dir, { recursive: true, force: true })
  })
})
