/**
 * Fault injection through the filesystem port (issue 15): EIO on write and on read, a read-only
 * directory, a file deleted under a seeding torrent (found by a recheck: its pieces count missing). Each fault becomes a typed error state or a
 * warning that names the file — never a crash, never a bad piece counted as good — and the torrent
 * recovers once the fault clears (restart or recheck), finishing with byte-identical data.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { FaultyFileSystem, type FileSystemOperation } from '../../adapters/memory/faulty-filesystem.js'
import { MemoryFileSystem } from '../../adapters/memory/memory-filesystem.js'
import { LodestoneError, isLodestoneError } from '../../src/errors.js'
import { bencodeEncode } from '../../src/protocol/bencode.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

const PIECE = 32_768
const FILE = 'f.bin'

/** A switchable fault: while `on`, `operation` fails with STORAGE_IO `reason`. */
function switchable (operation: FileSystemOperation, reason: string): { on: boolean, fault: (op: FileSystemOperation, path: string) => LodestoneError | undefined } {
  const s = {
    on: false,
    fault: (op: FileSystemOperation, path: string): LodestoneError | undefined =>
      s.on && op === operation ? new LodestoneError('STORAGE_IO', { path, operation: op, reason }) : undefined
  }
  return s
}

/** A multi-file v1 .torrent (files in order under folder `name`). */
function makeMultiFileTorrent (name: string, files: Array<[string, Uint8Array]>, pieceLengthBytes: number): Uint8Array {
  const all = new Uint8Array(files.reduce((n, [, d]) => n + d.length, 0))
  let off = 0
  for (const [, d] of files) { all.set(d, off); off += d.length }
  const pieces = new Uint8Array(Math.ceil(all.length / pieceLengthBytes) * 20)
  for (let p = 0; p * pieceLengthBytes < all.length; p++) {
    pieces.set(createHash('sha1').update(all.subarray(p * pieceLengthBytes, (p + 1) * pieceLengthBytes)).digest(), p * 20)
  }
  return bencodeEncode({ info: { name, 'piece length': pieceLengthBytes, pieces, files: files.map(([path, d]) => ({ length: d.length, path: [path] })) } })
}

function pathOf (error: unknown): string {
  const path = isLodestoneError(error) ? (error.details as { path?: unknown }).path : undefined
  return typeof path === 'string' ? path : ''
}

async function world (seedFault?: ReturnType<typeof switchable>, leechFault?: ReturnType<typeof switchable>) {
  const w = new SwarmWorld(15)
  const data = payload(12 * PIECE + 1_000, 15)
  const torrentBytes = makeTorrent(FILE, data, PIECE)
  const seedFs = new FaultyFileSystem(new MemoryFileSystem({ clock: w.clock }), seedFault !== undefined ? { fault: seedFault.fault } : {})
  const seed = w.addNode('10.0.0.1', { fs: seedFs })
  await writeFile(seedFs, FILE, data)
  const seeding = await seed.engine.addTorrent(torrentBytes)
  expect(await w.clock.runUntil(() => seeding.state === 'seeding', 10_000), `() => seeding.state === 'seeding'`).toBe(true)
  const leechFs = new FaultyFileSystem(new MemoryFileSystem({ clock: w.clock }), leechFault !== undefined ? { fault: leechFault.fault } : {})
  const leech = w.addNode('10.0.0.2', { fs: leechFs })
  return { w, data, torrentBytes, seed, seedFs, seeding, leech, leechFs }
}

describe('faults through the filesystem port', () => {
  it('EIO on write: the download stops in error naming the file, and completes after a restart once writes work', async () => {
    const fault = switchable('write', 'EIO')
    fault.on = true
    const { w, data, torrentBytes, leech, leechFs } = await world(undefined, fault)
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    expect(await w.clock.runUntil(() => t.state === 'error', 60_000), `() => t.state === 'error'`).toBe(true)
    expect(t.error).toMatchObject({ code: 'STORAGE_IO', details: { operation: 'write', reason: 'EIO' } })
    expect(pathOf(t.error)).toContain(FILE)
    expect(t.stats().havePieces).toBe(0)
    fault.on = false
    await t.stop()
    await t.start()
    expect(await w.clock.runUntil(() => t.state === 'seeding', 60_000), `() => t.state === 'seeding'`).toBe(true)
    expect(await readFile(leechFs, FILE)).toEqual(data)
    expect(t.stats().hashFailures).toBe(0)
    await w.close()
  })

  it('EIO on read while seeding: warnings name the file, no bad data goes out, the leecher completes once reads work', async () => {
    const fault = switchable('read', 'EIO')
    const { w, data, torrentBytes, seeding, leech, leechFs } = await world(fault)
    const warnings: unknown[] = []
    seeding.on('warning', ({ error }) => warnings.push(error))
    fault.on = true
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    expect(await w.clock.runUntil(() => warnings.length > 0, 30_000), `() => warnings.length > 0`).toBe(true)
    expect(warnings[0]).toMatchObject({ code: 'STORAGE_IO', details: { operation: 'read' } })
    expect(pathOf(warnings[0])).toContain(FILE)
    expect(seeding.state).toBe('seeding')
    expect(t.stats().havePieces).toBe(0)
    fault.on = false
    expect(await w.clock.runUntil(() => t.state === 'seeding', 120_000), `() => t.state === 'seeding'`).toBe(true)
    expect(await readFile(leechFs, FILE)).toEqual(data)
    expect(t.stats().hashFailures).toBe(0)
    await w.close()
  })

  it('a file deleted under a seeding torrent: a recheck counts its pieces missing, and a recheck once it is back seeds again', async () => {
    const { w, data, seedFs, seeding } = await world()
    // Serve a few reads first, so the file has an open handle that would still read the old data.
    await seeding.recheck()
    await seedFs.unlink(FILE)
    await seeding.recheck()
    expect(seeding.stats().havePieces).toBe(0)
    expect(seeding.state).toBe('downloading')
    await writeFile(seedFs, FILE, data)
    await seeding.recheck()
    expect(seeding.state).toBe('seeding')
    expect(seeding.stats().havePieces).toBe(seeding.stats().pieceCount)
    await w.close()
  })

  it('a file deleted under a seeding torrent while a leecher asks for it: warnings name that file, its pieces are dropped, the rest is served, and a recheck once it is back completes the leecher', async () => {
    // Two files and a one-handle cache, as a torrent of more files than open handles: the deleted
    // file is reopened for a read (an open handle would go on reading the unlinked data, as on POSIX).
    const w = new SwarmWorld(16)
    const a = payload(6 * PIECE, 16)
    const b = payload(6 * PIECE, 17)
    const torrentBytes = makeMultiFileTorrent('multi', [['a.bin', a], ['b.bin', b]], PIECE)
    const seedFs = new MemoryFileSystem({ clock: w.clock })
    const seed = w.addNode('10.0.0.1', { fs: seedFs, settings: { storage: { maxOpenFiles: 1 } } })
    await writeFile(seedFs, 'multi/a.bin', a)
    await writeFile(seedFs, 'multi/b.bin', b)
    const seeding = await seed.engine.addTorrent(torrentBytes)
    expect(await w.clock.runUntil(() => seeding.state === 'seeding', 10_000), `() => seeding.state === 'seeding'`).toBe(true)
    const warnings: unknown[] = []
    seeding.on('warning', ({ error }) => warnings.push(error))
    await seedFs.unlink('multi/b.bin')
    const leechFs = new MemoryFileSystem({ clock: w.clock })
    const leech = w.addNode('10.0.0.2', { fs: leechFs })
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    // The leecher gets every piece the seed can still read — all of a.bin, and any of b.bin read
    // before its handle was evicted (still the right bytes) — and the seed drops the rest.
    const caughtUp = (): boolean => seeding.state === 'downloading' && t.stats().havePieces >= 6 && t.stats().havePieces === seeding.stats().havePieces
    expect(await w.clock.runUntil(caughtUp, 60_000), caughtUp.toString()).toBe(true)
    expect(seeding.stats().havePieces).toBeLessThan(12)
    expect(seeding.state).toBe('downloading')
    expect(warnings.length).toBeGreaterThan(0)
    // Every warning — the read that found the file gone and each later refusal of a lost piece — names it.
    for (const warning of warnings) {
      expect(warning).toMatchObject({ code: 'STORAGE_NOT_FOUND' })
      expect(pathOf(warning)).toMatch(/multi\/b\.bin$/)
    }
    expect(await readFile(leechFs, 'multi/a.bin')).toEqual(a)
    expect(t.stats().hashFailures).toBe(0)
    await writeFile(seedFs, 'multi/b.bin', b)
    await seeding.recheck()
    expect(seeding.state).toBe('seeding')
    expect(await w.clock.runUntil(() => t.state === 'seeding', 120_000), `() => t.state === 'seeding'`).toBe(true)
    expect(await readFile(leechFs, 'multi/b.bin')).toEqual(b)
    expect(t.stats().hashFailures).toBe(0)
    await w.close()
  })

  it('a read-only download directory: the torrent stops in error naming the file, and completes once it is writable', async () => {
    const fault = switchable('open', 'EACCES')
    fault.on = true
    const { w, data, torrentBytes, leech, leechFs } = await world(undefined, fault)
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    expect(await w.clock.runUntil(() => t.state === 'error', 60_000), `() => t.state === 'error'`).toBe(true)
    expect(t.error).toMatchObject({ code: 'STORAGE_IO', details: { reason: 'EACCES' } })
    expect(pathOf(t.error)).toContain(FILE)
    fault.on = false
    await t.stop()
    await t.start()
    expect(await w.clock.runUntil(() => t.state === 'seeding', 60_000), `() => t.state === 'seeding'`).toBe(true)
    expect(await readFile(leechFs, FILE)).toEqual(data)
    await w.close()
  })
})
