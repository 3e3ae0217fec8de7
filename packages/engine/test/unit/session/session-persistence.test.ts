/**
 * Resume data on real files (NodeFileSystem + FileSessionStore in temp directories, no mocks):
 * a restart trusts the stored bitfield without hashing when no file changed, and re-checks exactly
 * the pieces of a file that was touched (mtime) or truncated. Hashing is counted by wrapping the
 * hasher. Also: intent (paused torrents come back paused, stopped ones stopped), settings and peers survive, damaged records
 * cost a re-check and never a trusted piece.
 */
import { createHash } from 'node:crypto'
import { cp, mkdir, mkdtemp, rm, truncate, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FileSessionStore } from '../../../adapters/node/file-session-store.js'
import { NodeFileSystem } from '../../../adapters/node/node-filesystem.js'
import { SystemClock } from '../../../adapters/node/node-clock.js'
import { NodeSocketFactory } from '../../../adapters/node/node-socket-factory.js'
import { BtEngine } from '../../../src/session/bt-engine.js'
import { testingSettings, type PartialEngineSettings } from '../../../src/session/engine-settings.js'
import { decodeBitfieldRecord, resumeKeys } from '../../../src/session/resume-data.js'
import type { Torrent } from '../../../src/torrent/torrent.js'
import type { TorrentState } from '../../../src/torrent/torrent-state.js'
import type { HashAlgorithm } from '../../../src/interfaces/hasher.js'
import type { IPieceHasher } from '../../../src/metainfo/create-piece-hasher.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import { PieceLayout } from '../../../src/storage/piece-layout.js'
import { StorageRootManager } from '../../../src/storage/storage-root-manager.js'
import { payload } from '../../swarm/swarm-world.js'

const PIECE = 32 * 1024

/** node:crypto hasher that records the length of everything it hashes. */
class CountingHasher implements IPieceHasher {
  readonly concurrency = 2
  readonly lengths: number[] = []
  async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    const h = createHash(algorithm)
    let n = 0
    for (const d of data instanceof Uint8Array ? [data] : data) {
      h.update(d)
      n += d.length
    }
    this.lengths.push(n)
    return new Uint8Array(h.digest())
  }

  /** Piece hashes (the info dict of these torrents is far below a piece). */
  get pieceHashes (): number { return this.lengths.filter((n) => n >= 4096).length }
  async close (): Promise<void> {}
}

/** A {@link CountingHasher} whose piece hashes wait until {@link GatedHasher.open}: holds a check in Hashing. */
class GatedHasher extends CountingHasher {
  private release: () => void = () => {}
  private readonly gate = new Promise<void>((resolve) => { this.release = resolve })
  private signalWaiting: () => void = () => {}
  readonly firstPieceWaiting = new Promise<void>((resolve) => { this.signalWaiting = resolve })

  override async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    const length = data instanceof Uint8Array ? data.length : data.reduce((n, d) => n + d.length, 0)
    if (length >= 4096) {
      this.signalWaiting()
      await this.gate
    }
    return super.digest(algorithm, data)
  }

  open (): void { this.release() }
}

/** A multi-file v1 torrent; file sizes are deliberately not piece-aligned. */
function multiFileTorrent (name: string, files: Array<{ path: string, data: Uint8Array }>): Uint8Array {
  const total = files.reduce((n, f) => n + f.data.length, 0)
  const all = new Uint8Array(total)
  let off = 0
  for (const f of files) { all.set(f.data, off); off += f.data.length }
  const pieces = new Uint8Array(Math.ceil(total / PIECE) * 20)
  for (let p = 0; p * PIECE < total; p++) pieces.set(createHash('sha1').update(all.subarray(p * PIECE, (p + 1) * PIECE)).digest(), p * 20)
  return bencodeEncode({
    info: { name, 'piece length': PIECE, pieces, files: files.map((f) => ({ length: f.data.length, path: f.path.split('/') })) }
  })
}

const FILES = [
  { path: 'a.bin', data: payload(100_000, 1) },
  { path: 'sub/b.bin', data: payload(150_001, 2) },
  { path: 'c.bin', data: payload(70_000, 3) }
]
const TORRENT = multiFileTorrent('tree', FILES)

const dirs: string[] = []
const engines: BtEngine[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(dirs.splice(0).map(async (d) => { await rm(d, { recursive: true, force: true }) }))
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lodestone-resume-'))
  dirs.push(d)
  return d
}

function makeEngine (downloadDir: string, stateDir: string, hasher: IPieceHasher, settings: PartialEngineSettings = {}): BtEngine {
  const storageRoots = new StorageRootManager((_token, root) => new NodeFileSystem(root.path))
  storageRoots.addRoot({ token: downloadDir, label: 'dl', path: downloadDir })
  storageRoots.setDefaultRoot(downloadDir)
  const engine = new BtEngine({
    socketFactory: new NodeSocketFactory(),
    clock: new SystemClock(),
    hasher,
    storageRoots,
    sessionStore: new FileSessionStore(stateDir, { durable: false })
  }, testingSettings(settings))
  engines.push(engine)
  return engine
}

async function writeTree (root: string, which: number[]): Promise<void> {
  for (const i of which) {
    const f = FILES[i]!
    const path = join(root, 'tree', f.path)
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, f.data)
  }
}

async function settled (t: Torrent): Promise<void> {
  const done = (s: TorrentState): boolean => s === 'downloading' || s === 'seeding' || s === 'stopped' || s === 'error' || s === 'paused'
  if (done(t.state)) return
  await new Promise<void>((resolve) => {
    const off = t.on('state-changed', ({ to }) => { if (done(to)) { off(); resolve() } })
  })
}

/** Adds the torrent in a fresh engine, lets it check, closes the engine. Returns the have count. */
async function firstRun (downloadDir: string, stateDir: string): Promise<number> {
  const engine = makeEngine(downloadDir, stateDir, new CountingHasher())
  const t = await engine.addTorrent(TORRENT)
  await settled(t)
  const have = t.stats().havePieces
  await engine.close()
  return have
}

async function restore (downloadDir: string, stateDir: string): Promise<{ engine: BtEngine, t: Torrent, hasher: CountingHasher, states: TorrentState[] }> {
  const hasher = new CountingHasher()
  const engine = makeEngine(downloadDir, stateDir, hasher)
  const states: TorrentState[] = []
  engine.on('torrent-added', ({ torrent }) => { torrent.on('state-changed', ({ to }) => { states.push(to) }) })
  const result = await engine.restoreSession()
  expect(result.failed).toEqual([])
  expect(result.restored).toHaveLength(1)
  const t = result.restored[0]!
  await settled(t)
  return { engine, t, hasher, states }
}

describe('session persistence (real files)', () => {
  it('restarts without hashing when no file changed (complete and partial data)', async () => {
    for (const present of [[0, 1, 2], [0, 2]]) {
      const dl = await tempDir()
      const state = await tempDir()
      await writeTree(dl, present)
      const have = await firstRun(dl, state)
      expect(have).toBeGreaterThan(0)

      const { t, hasher, states } = await restore(dl, state)
      expect(hasher.pieceHashes).toBe(0)
      expect(states).not.toContain('hashing')
      expect(t.stats().havePieces).toBe(have)
      expect(t.state).toBe(present.length === 3 ? 'seeding' : 'downloading')
    }
  })

  it('re-checks only the pieces of a file whose mtime changed', async () => {
    const dl = await tempDir()
    const state = await tempDir()
    await writeTree(dl, [0, 1, 2])
    const meta = await parseTorrent(TORRENT)
    expect(await firstRun(dl, state)).toBe(meta.pieceCount)
    const later = new Date(Date.now() + 60_000)
    await utimes(join(dl, 'tree/sub/b.bin'), later, later)

    const { t, hasher, states } = await restore(dl, state)
    const { firstPiece, lastPiece } = new PieceLayout(meta).filePieceRange(1)
    expect(states).toContain('hashing')
    expect(hasher.pieceHashes).toBe(lastPiece - firstPiece + 1)
    expect(hasher.pieceHashes).toBeLessThan(meta.pieceCount)
    expect(t.stats().havePieces).toBe(meta.pieceCount)
    expect(t.state).toBe('seeding')
  })

  it('re-checks a truncated file and trusts no piece that is gone', async () => {
    const dl = await tempDir()
    const state = await tempDir()
    await writeTree(dl, [0, 1, 2])
    const meta = await parseTorrent(TORRENT)
    await firstRun(dl, state)
    await truncate(join(dl, 'tree/sub/b.bin'), 40_000)

    const { t, hasher } = await restore(dl, state)
    const layout = new PieceLayout(meta)
    const { firstPiece, lastPiece } = layout.filePieceRange(1)
    // b.bin starts at 100_000: bytes up to 140_000 remain, so pieces wholly below that still verify.
    const intact = new Set<number>()
    for (let p = 0; p < meta.pieceCount; p++) {
      const end = Math.min((p + 1) * PIECE, meta.totalLengthBytes)
      const touchesB = p >= firstPiece && p <= lastPiece
      if (!touchesB || end <= 140_000) intact.add(p)
    }
    expect([...t.bitfield().ones()]).toEqual([...intact])
    expect(t.state).toBe('downloading')
    // Only b.bin's pieces that still have data on disk are hashed (readPieces skips the missing tail).
    expect(hasher.pieceHashes).toBeLessThanOrEqual(lastPiece - firstPiece + 1)
  })

  it('keeps intent, settings, root and peers; a paused torrent comes back paused, without connecting', async () => {
    const dl = await tempDir()
    const state = await tempDir()
    await writeTree(dl, [0])
    const engine = makeEngine(dl, state, new CountingHasher())
    const t = await engine.addTorrent(TORRENT, { settings: { hashFailuresBeforeBan: 5 }, peers: ['127.0.0.1:1'] })
    await settled(t)
    t.pause()
    await engine.close()

    const hasher = new CountingHasher()
    const again = makeEngine(dl, state, hasher)
    const states: TorrentState[] = []
    again.on('torrent-added', ({ torrent }) => { torrent.on('state-changed', ({ to }) => { states.push(to) }) })
    const { restored } = await again.restoreSession()
    const r = restored[0]!
    await settled(r)
    expect(r.state).toBe('paused')
    // Straight to paused: never downloading (no connections), the stored pieces trusted (nothing hashed).
    expect(states).toEqual(['starting', 'paused'])
    expect(again.stats().connections).toMatchObject({ connections: 0, halfOpen: 0, queuedCandidates: 0 })
    expect(hasher.pieceHashes).toBe(0)
    expect(r.stats().havePieces).toBeGreaterThan(0)
    expect(r.settingsOverrides).toEqual({ hashFailuresBeforeBan: 5 })
    expect(r.knownPeerAddresses()).toContain('127.0.0.1:1')
    // Resumed by the user later: it downloads, still without hashing.
    r.resume()
    expect(r.state).toBe('downloading')
    expect(hasher.pieceHashes).toBe(0)
    // Paused again and closed: still paused after the next restore.
    r.pause()
    await again.close()
    const third = makeEngine(dl, state, new CountingHasher())
    const r3 = (await third.restoreSession()).restored[0]!
    await settled(r3)
    expect(r3.state).toBe('paused')
  })

  it('a stopped torrent comes back stopped; started later, its stored pieces are trusted', async () => {
    const dl = await tempDir()
    const state = await tempDir()
    await writeTree(dl, [0])
    const engine = makeEngine(dl, state, new CountingHasher())
    const t = await engine.addTorrent(TORRENT)
    await settled(t)
    await t.stop()
    await engine.close()

    const hasher = new CountingHasher()
    const again = makeEngine(dl, state, hasher)
    const r = (await again.restoreSession()).restored[0]!
    expect(r.state).toBe('stopped')
    await r.start()
    await settled(r)
    expect(hasher.pieceHashes).toBe(0)
    expect(r.stats().havePieces).toBeGreaterThan(0)
  })

  it('a damaged bitfield record costs a full check, never a trusted piece', async () => {
    const dl = await tempDir()
    const state = await tempDir()
    await writeTree(dl, [0, 1, 2])
    const meta = await parseTorrent(TORRENT)
    await firstRun(dl, state)
    const store = new FileSessionStore(state)
    const key = resumeKeys(meta.id).bitfield
    const good = await store.get(key)
    expect(decodeBitfieldRecord(good!, key, meta.pieceCount, meta.files.length).pieces.count).toBe(meta.pieceCount)
    await store.set(key, new TextEncoder().encode('d1:vi1e4:bitsi3ee'))
    // Data damaged behind the engine's back without changing size or mtime is out of scope;
    // here only the record is damaged.
    const warnings: unknown[] = []
    const hasher = new CountingHasher()
    const engine = makeEngine(dl, state, hasher)
    engine.on('warning', ({ error }) => { warnings.push(error) })
    const { restored } = await engine.restoreSession()
    await settled(restored[0]!)
    expect(warnings.some((e) => (e as { code?: string }).code === 'RESUME_DATA_INVALID')).toBe(true)
    expect(hasher.pieceHashes).toBe(meta.pieceCount)
    expect(restored[0]!.state).toBe('seeding')
  })

  it('a save taken while the torrent is checking is not trusted after a kill: the restore checks again', async () => {
    const dl = await tempDir()
    const state = await tempDir()
    const killedState = await tempDir()
    await writeTree(dl, [0, 1, 2])
    const hasher = new GatedHasher()
    const engine = makeEngine(dl, state, hasher)
    const t = await engine.addTorrent(TORRENT)
    await hasher.firstPieceWaiting
    expect(t.state).toBe('hashing')
    // Saved mid-check (an interval save, a pause, a shutdown racing a check), then killed: the copy
    // of the store is what a kill leaves behind.
    await engine.saveState()
    await cp(state, killedState, { recursive: true })
    hasher.open()
    await settled(t)

    const { t: restored } = await restore(dl, killedState)
    expect(restored.stats().havePieces).toBe((await parseTorrent(TORRENT)).pieceCount)
    expect(restored.state).toBe('seeding')
  })

  it('removing a torrent deletes its records', async () => {
    const dl = await tempDir()
    const state = await tempDir()
    const engine = makeEngine(dl, state, new CountingHasher())
    const t = await engine.addTorrent(TORRENT)
    await settled(t)
    await engine.saveState()
    const store = new FileSessionStore(state)
    expect((await store.keys(`torrent:${t.id}`)).length).toBeGreaterThanOrEqual(3)
    await engine.removeTorrent(t.id)
    expect(await store.keys(`torrent:${t.id}`)).toEqual([])
    const again = makeEngine(dl, state, new CountingHasher())
    expect((await again.restoreSession()).restored).toEqual([])
  })
})
