/**
 * A full disk mid-download, on real files: the leecher's storage root is a NodeFileSystem behind
 * FaultyFileSystem (writes beyond a byte budget fail with STORAGE_FULL, as ENOSPC does), the seeder
 * is a second engine over loopback TCP. The torrent must stop in state `error` with STORAGE_FULL,
 * its saved bitfield must name only pieces that are on disk and hash correctly, and once there is
 * space again it must finish: in the same engine through `torrent.start()` (nothing re-hashed), or
 * after a restart through `restoreSession()`.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FaultyFileSystem } from '../../../adapters/memory/faulty-filesystem.js'
import { FileSessionStore } from '../../../adapters/node/file-session-store.js'
import { SystemClock } from '../../../adapters/node/node-clock.js'
import { NodeFileSystem } from '../../../adapters/node/node-filesystem.js'
import { NodeSocketFactory } from '../../../adapters/node/node-socket-factory.js'
import { createNodeEngine } from '../../../presets/node.js'
import { BtEngine } from '../../../src/session/bt-engine.js'
import { testingSettings } from '../../../src/session/engine-settings.js'
import { decodeBitfieldRecord, resumeKeys } from '../../../src/session/resume-data.js'
import type { Torrent } from '../../../src/torrent/torrent.js'
import type { TorrentState } from '../../../src/torrent/torrent-state.js'
import { hasCode } from '../../../src/errors.js'
import type { HashAlgorithm } from '../../../src/interfaces/hasher.js'
import type { IPieceHasher } from '../../../src/metainfo/create-piece-hasher.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { makeTorrent, payload } from '../../swarm/swarm-world.js'

const PIECE = 64 * 1024
const DATA = payload(2 * 1024 * 1024 + 777, 9)
const TORRENT = makeTorrent('big.bin', DATA, PIECE)
/** Room for about 40% of the payload. */
const BUDGET_BYTES = 850_000

class CountingHasher implements IPieceHasher {
  readonly concurrency = 2
  pieceHashes = 0
  async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    const h = createHash(algorithm)
    let n = 0
    for (const d of data instanceof Uint8Array ? [data] : data) { h.update(d); n += d.length }
    if (n >= 4096) this.pieceHashes++
    return new Uint8Array(h.digest())
  }

  async close (): Promise<void> {}
}

const dirs: string[] = []
const engines: BtEngine[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(dirs.splice(0).map(async (d) => { await rm(d, { recursive: true, force: true }) }))
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lodestone-diskfull-'))
  dirs.push(d)
  return d
}

async function startSeeder (): Promise<number> {
  const dir = await tempDir()
  await writeFile(join(dir, 'big.bin'), DATA)
  const seeder = createNodeEngine({ downloadPath: dir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off' })
  engines.push(seeder)
  const s = await seeder.addTorrent(TORRENT)
  await until(s, (st) => st === 'seeding')
  return seeder.port!
}

function leecher (dir: string, stateDir: string, hasher: IPieceHasher, faulty?: (fs: NodeFileSystem) => FaultyFileSystem): BtEngine {
  const { StorageRootManager } = storageRootModule
  const roots = new StorageRootManager((_token, root) => {
    const fs = new NodeFileSystem(root.path)
    return faulty !== undefined ? faulty(fs) : fs
  })
  roots.addRoot({ token: dir, label: 'dl', path: dir })
  roots.setDefaultRoot(dir)
  const engine = new BtEngine({
    socketFactory: new NodeSocketFactory(),
    clock: new SystemClock(),
    hasher,
    storageRoots: roots,
    sessionStore: new FileSessionStore(stateDir, { durable: false })
  }, testingSettings({ session: { bitfieldSaveDelayMs: 100 } }))
  engines.push(engine)
  return engine
}

const storageRootModule = await import('../../../src/storage/storage-root-manager.js')

async function until (t: Torrent, done: (s: TorrentState) => boolean): Promise<void> {
  if (done(t.state)) return
  await new Promise<void>((resolve) => {
    const off = t.on('state-changed', ({ to }) => { if (done(to)) { off(); resolve() } })
  })
}

/** The stored bitfield's pieces, each checked against the data on disk. */
async function storedPiecesOnDisk (stateDir: string, dir: string): Promise<{ pieces: number[], bad: number[] }> {
  const meta = await parseTorrent(TORRENT)
  const key = resumeKeys(meta.id).bitfield
  const bytes = await new FileSessionStore(stateDir).get(key)
  expect(bytes).not.toBeNull()
  const record = decodeBitfieldRecord(bytes!, key, meta.pieceCount, meta.files.length)
  const onDisk = await readFile(join(dir, 'big.bin')).catch(() => Buffer.alloc(0))
  const pieces = [...record.pieces.ones()]
  const bad = pieces.filter((p) => {
    const want = DATA.subarray(p * PIECE, (p + 1) * PIECE)
    const have = onDisk.subarray(p * PIECE, (p + 1) * PIECE)
    return Buffer.compare(createHash('sha1').update(have).digest(), createHash('sha1').update(want).digest()) !== 0
  })
  return { pieces, bad }
}

async function fillDisk (engine: BtEngine, seederPort: number): Promise<Torrent> {
  const t = await engine.addTorrent(TORRENT, { peers: [`127.0.0.1:${seederPort}`] })
  await until(t, (s) => s === 'error')
  expect(hasCode(t.error, 'STORAGE_FULL')).toBe(true)
  expect(t.error?.details).toMatchObject({ path: 'big.bin' })
  expect(t.stats().havePieces).toBeGreaterThan(0)
  expect(t.stats().havePieces).toBeLessThan(t.stats().pieceCount)
  await engine.saveState()
  return t
}

describe('disk full', () => {
  it('errors with STORAGE_FULL, keeps every verified piece, and finishes after start() once there is space', async () => {
    const port = await startSeeder()
    const dir = await tempDir()
    const state = await tempDir()
    let faulty: FaultyFileSystem | null = null
    const hasher = new CountingHasher()
    const engine = leecher(dir, state, hasher, (fs) => (faulty = new FaultyFileSystem(fs, { failWritesAfterBytes: BUDGET_BYTES })))
    const t = await fillDisk(engine, port)
    const have = t.stats().havePieces
    const stored = await storedPiecesOnDisk(state, dir)
    expect(stored.pieces.length).toBe(have)
    expect(stored.bad).toEqual([])

    faulty!.setFailWritesAfterBytes(Infinity)
    const hashedBefore = hasher.pieceHashes
    const states: TorrentState[] = []
    t.on('state-changed', ({ to }) => { states.push(to) })
    const completed = new Promise<void>((resolve) => { t.on('completed', () => { resolve() }) })
    t.addPeer(`127.0.0.1:${port}`)
    await t.start()
    await completed
    expect(states).not.toContain('hashing')
    // Only the downloaded remainder was hashed, not the pieces verified before the disk filled up.
    expect(hasher.pieceHashes - hashedBefore).toBeLessThanOrEqual(t.stats().pieceCount - have + 8)
    expect(Buffer.compare(await readFile(join(dir, 'big.bin')), DATA)).toBe(0)
  })

  it('after a restart with space again, restoreSession() resumes from the saved pieces and completes', async () => {
    const port = await startSeeder()
    const dir = await tempDir()
    const state = await tempDir()
    const first = leecher(dir, state, new CountingHasher(), (fs) => new FaultyFileSystem(fs, { failWritesAfterBytes: BUDGET_BYTES }))
    await fillDisk(first, port)
    await first.close()
    const stored = await storedPiecesOnDisk(state, dir)
    expect(stored.bad).toEqual([])
    expect(stored.pieces.length).toBeGreaterThan(0)

    const second = leecher(dir, state, new CountingHasher())
    const { restored } = await second.restoreSession()
    const t = restored[0]!
    const completed = new Promise<void>((resolve) => { t.on('completed', () => { resolve() }) })
    await until(t, (s) => s === 'downloading' || s === 'seeding')
    for (const p of stored.pieces) expect(t.bitfield().get(p)).toBe(true)
    await completed
    expect(Buffer.compare(await readFile(join(dir, 'big.bin')), DATA)).toBe(0)
  })
})
