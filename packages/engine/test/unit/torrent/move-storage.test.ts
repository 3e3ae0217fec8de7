/**
 * Moving storage: crash recovery from the marker (both phases), rollback on failure, and
 * removeTorrent({ deleteFiles }) for multi-file torrents with a part file.
 */
import { describe, expect, it } from 'vitest'
import { FaultyFileSystem } from '../../../adapters/memory/faulty-filesystem.js'
import { MemoryFileSystem } from '../../../adapters/memory/memory-filesystem.js'
import { MemorySessionStore } from '../../../adapters/memory/memory-session-store.js'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { BtEngine } from '../../../src/session/bt-engine.js'
import { resolveSettings, testingSettings } from '../../../src/session/engine-settings.js'
import { MoveMarkerIndex, moveMarkerPath } from '../../../src/torrent/move-storage.js'
import { LodestoneError } from '../../../src/errors.js'
import type { IFileSystem } from '../../../src/interfaces/filesystem.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { createTorrent } from '../../../src/metainfo/create-torrent.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { StorageRootManager } from '../../../src/storage/storage-root-manager.js'
import { PART_FILE_DIRECTORY } from '../../../src/storage/torrent-content-storage.js'
import { SwarmWorld, SyncHasher, payload } from '../../swarm/swarm-world.js'

const FILES: Array<[string, number]> = [['pack/one.bin', 50_000], ['pack/sub/two.bin', 40_000], ['pack/three.bin', 30_000]]

function engineWithRoots (world: SwarmWorld, roots: Record<string, IFileSystem>, paths: Record<string, string> = {}, sessionStore?: MemorySessionStore): BtEngine {
  const storageRoots = new StorageRootManager((token) => {
    const fs = roots[token]
    if (fs === undefined) throw new Error(`no fs for ${token}`)
    return fs
  })
  for (const token of Object.keys(roots)) storageRoots.addRoot({ token, label: token, path: paths[token] ?? `/${token}` })
  storageRoots.setDefaultRoot(Object.keys(roots)[0]!)
  return new BtEngine({ socketFactory: world.network.host('10.0.0.9'), clock: world.clock, hasher: new SyncHasher(), storageRoots, random: seededRandom(5), ...(sessionStore !== undefined ? { sessionStore } : {}) },
    resolveSettings({ listen: { port: 6881, host: '' } }, testingSettings()))
}

async function filled (world: SwarmWorld): Promise<{ fs: MemoryFileSystem, torrent: Uint8Array, id: string }> {
  const fs = new MemoryFileSystem({ clock: world.clock })
  FILES.forEach(([path, length], i) => { fs.writeFileBytes(path, payload(length, i + 1)) })
  const created = await createTorrent('pack', { kind: 'v1', pieceLengthBytes: 16_384 }, { fs, hasher: new SyncHasher() })
  const meta = await parseTorrent(created.torrent)
  return { fs, torrent: created.torrent, id: meta.id }
}

function marker (id: string, phase: 'copying' | 'copied'): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    version: 1,
    torrentId: id,
    from: { token: 'a', label: 'a', path: '/a' },
    to: { token: 'b', label: 'b', path: '/b' },
    phase,
    paths: [...FILES.map(([p]) => p), `${PART_FILE_DIRECTORY}/${id}.parts`]
  }))
}

function expectAllAt (fs: MemoryFileSystem): void {
  FILES.forEach(([path, length], i) => { expect(Buffer.compare(fs.readFileBytes(path), payload(length, i + 1)), path).toBe(0) })
}

describe('moveStorage', () => {
  it('recovers a move that crashed while copying: redone on the next add, nothing left at the old place', async () => {
    const world = new SwarmWorld(61)
    const { fs: a, torrent, id } = await filled(world)
    const b = new MemoryFileSystem({ clock: world.clock })
    // The crash: one file already renamed over, one half-copied, markers in both roots.
    b.writeFileBytes('pack/one.bin', a.readFileBytes('pack/one.bin'))
    await a.unlink('pack/one.bin')
    b.writeFileBytes('pack/sub/two.bin', payload(1000, 99))
    a.writeFileBytes(moveMarkerPath(id), marker(id, 'copying'))
    b.writeFileBytes(moveMarkerPath(id), marker(id, 'copying'))

    const engine = engineWithRoots(world, { a, b })
    const t = await engine.addTorrent(torrent)
    expect(engine.storageRoots.getRootForTorrent(id)?.token).toBe('b')
    expect(await world.clock.runUntil(() => t.state === 'seeding', 10_000)).toBe(true)
    expectAllAt(b)
    expect(a.listFiles()).toEqual([])
    expect(b.listFiles()).toEqual(['pack/one.bin', 'pack/sub/two.bin', 'pack/three.bin'].sort())
    await engine.close()
    await world.close()
  })

  it('recovers a move that crashed after copying (the root already switched): old copies are deleted', async () => {
    const world = new SwarmWorld(62)
    const { fs: a, torrent, id } = await filled(world)
    const b = new MemoryFileSystem({ clock: world.clock })
    for (const [path] of FILES) b.writeFileBytes(path, a.readFileBytes(path))
    a.writeFileBytes(moveMarkerPath(id), marker(id, 'copied'))
    b.writeFileBytes(moveMarkerPath(id), marker(id, 'copied'))
    const engine = engineWithRoots(world, { a, b })
    engine.storageRoots.setRootForTorrent(id, 'b')
    const t = await engine.addTorrent(torrent)
    expect(await world.clock.runUntil(() => t.state === 'seeding', 10_000)).toBe(true)
    expect(a.listFiles()).toEqual([])
    expect(b.listFiles().includes(moveMarkerPath(id))).toBe(false)
    expectAllAt(b)
    await engine.close()
    await world.close()
  })

  it('a restored session finishes a move that crashed after copying and keeps the new place (its resume data named the old one)', async () => {
    const world = new SwarmWorld(64)
    const { fs: a, torrent, id } = await filled(world)
    const b = new MemoryFileSystem({ clock: world.clock })
    const store = new MemorySessionStore()
    // Not the default root: the resume data names it.
    const roots = { other: new MemoryFileSystem({ clock: world.clock }), a, b }
    const first = engineWithRoots(world, roots, {}, store)
    const seeded = await first.addTorrent(torrent, { storageRoot: 'a' })
    expect(await world.clock.runUntil(() => seeded.state === 'seeding', 10_000)).toBe(true)
    await first.close()
    // The crash: copied to b, markers say so, the resume data (saved before the switch) still names a.
    for (const [path] of FILES) b.writeFileBytes(path, a.readFileBytes(path))
    a.writeFileBytes(moveMarkerPath(id), marker(id, 'copied'))
    b.writeFileBytes(moveMarkerPath(id), marker(id, 'copied'))
    const engine = engineWithRoots(world, roots, {}, store)
    const { restored, failed } = await engine.restoreSession()
    expect(failed).toEqual([])
    const t = restored[0]!
    expect(engine.storageRoots.getRootForTorrent(id)?.token).toBe('b')
    expect(await world.clock.runUntil(() => t.state === 'seeding', 10_000), `state ${t.state}`).toBe(true)
    expect(t.stats().havePieces).toBe(t.stats().pieceCount)
    expect(a.listFiles()).toEqual([])
    expectAllAt(b)
    await engine.close()
    await world.close()
  })

  it('a failed copy rolls back: STORAGE_MOVE_FAILED, files stay at the old place, the torrent keeps seeding there', async () => {
    const world = new SwarmWorld(63)
    const { fs: a, torrent, id } = await filled(world)
    const memB = new MemoryFileSystem({ clock: world.clock })
    const b = new FaultyFileSystem(memB, { failWritesAfterBytes: 60_000 }) // a full disk, no rename fast path
    const engine = engineWithRoots(world, { a, b })
    const t = await engine.addTorrent(torrent)
    await world.clock.runUntil(() => t.state === 'seeding', 10_000)
    let error: unknown = null
    void t.moveStorage('b').catch((e: unknown) => { error = e })
    await world.clock.runUntil(() => error !== null, 10_000)
    expect(error).toBeInstanceOf(LodestoneError)
    expect((error as LodestoneError).code).toBe('STORAGE_MOVE_FAILED')
    expect(engine.storageRoots.getRootForTorrent(id)?.token).toBe('a')
    expectAllAt(a)
    expect(memB.listFiles()).toEqual([])
    expect(await memB.readdir('')).toEqual([])
    expect(a.listFiles().includes(moveMarkerPath(id))).toBe(false)
    expect(t.state).toBe('seeding')
    await t.recheck()
    expect(t.stats().havePieces).toBe(t.meta.pieceCount)
    await engine.close()
    await world.close()
  })

  it('moving to a path registers it as a root; moving to where it already is does nothing', async () => {
    const world = new SwarmWorld(64)
    const { fs: a, torrent, id } = await filled(world)
    const shared = new MemoryFileSystem({ clock: world.clock })
    const engine = engineWithRoots(world, { a, '/elsewhere': shared }, { '/elsewhere': '/elsewhere' })
    const t = await engine.addTorrent(torrent)
    await world.clock.runUntil(() => t.state === 'seeding', 10_000)
    let done = false
    void t.moveStorage('a').then(() => { done = true })
    await world.clock.runUntil(() => done, 1_000)
    expect(done).toBe(true)
    expectAllAt(a)
    done = false
    void t.moveStorage('/elsewhere').then(() => { done = true })
    await world.clock.runUntil(() => done, 10_000)
    expect(engine.storageRoots.getRootForTorrent(id)?.path).toBe('/elsewhere')
    expectAllAt(shared)
    expect(a.listFiles()).toEqual([])
    await engine.close()
    await world.close()
  })

  it('removeTorrent({ deleteFiles }) removes every file, the part file and the emptied directories', async () => {
    const world = new SwarmWorld(65)
    const { fs: a, torrent, id } = await filled(world)
    a.writeFileBytes('keep.txt', new Uint8Array([1]))
    const engine = engineWithRoots(world, { a })
    const t = await engine.addTorrent(torrent, { filePriorities: [4, 0, 4] })
    await world.clock.runUntil(() => t.state === 'seeding', 10_000)
    await engine.removeTorrent(id, { deleteFiles: true })
    expect(a.listFiles()).toEqual(['keep.txt'])
    expect((await a.readdir('')).sort()).toEqual(['keep.txt'])
    await engine.close()
    await world.close()
  })
})

describe('MoveMarkerIndex (what a restore asks for every torrent)', () => {
  it('lists each root once, finds markers by torrent, and checks every torrent when a listing fails', async () => {
    const clock = new ManualClock()
    const a = new MemoryFileSystem({ clock })
    const b = new MemoryFileSystem({ clock })
    a.writeFileBytes(moveMarkerPath('1'.repeat(40)), new Uint8Array([1]))
    a.writeFileBytes(`${PART_FILE_DIRECTORY}/${'2'.repeat(40)}.parts`, new Uint8Array([1]))
    const listings: string[] = []
    const counted = (token: string, fs: MemoryFileSystem, fail: boolean): IFileSystem => new Proxy(fs, {
      get (target, prop, receiver) {
        if (prop === 'readdir') {
          return async (path: string) => {
            listings.push(token)
            if (fail) throw new LodestoneError('STORAGE_IO', { path, operation: 'readdir', reason: 'EACCES' })
            return target.readdir(path)
          }
        }
        const value: unknown = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
      }
    })
    const fsByToken: Record<string, IFileSystem> = { a: counted('a', a, false), b: counted('b', b, false), c: counted('c', new MemoryFileSystem({ clock }), true) }
    const roots = new StorageRootManager((token) => fsByToken[token]!)
    for (const token of ['a', 'b', 'c']) roots.addRoot({ token, label: token, path: `/${token}` })
    roots.setDefaultRoot('a')
    roots.setRootForTorrent('3'.repeat(40), 'b')
    roots.setRootForTorrent('4'.repeat(40), 'c')
    const index = new MoveMarkerIndex(roots)
    expect(await index.mayHave('1'.repeat(40))).toBe(true)
    expect(await index.mayHave('2'.repeat(40))).toBe(false) // a part file is not a marker
    expect(await index.mayHave('5'.repeat(40))).toBe(false)
    expect(await index.mayHave('3'.repeat(40))).toBe(false) // root b has no parts directory at all
    expect(await index.mayHave('4'.repeat(40))).toBe(true) // root c cannot be listed: check it the slow way
    expect(listings).toEqual(['a', 'b', 'c'])
  })
})
