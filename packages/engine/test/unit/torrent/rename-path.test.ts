/**
 * Torrent.renamePath (issue 14, Transmission's torrent-rename-path): the plan (which files get
 * which path, and the refusals), and on real files (NodeFileSystem + FileSessionStore): a file
 * and a folder renamed on disk, a forced re-check still finds every piece, and a restart restores
 * the new paths from resume data and trusts the pieces without hashing.
 */
import { createHash } from 'node:crypto'
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FileSessionStore } from '../../../adapters/node/file-session-store.js'
import { NodeFileSystem } from '../../../adapters/node/node-filesystem.js'
import { SystemClock } from '../../../adapters/node/node-clock.js'
import { NodeSocketFactory } from '../../../adapters/node/node-socket-factory.js'
import { isLodestoneError } from '../../../src/errors.js'
import type { HashAlgorithm } from '../../../src/interfaces/hasher.js'
import type { IPieceHasher } from '../../../src/metainfo/create-piece-hasher.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import { BtEngine } from '../../../src/session/bt-engine.js'
import { testingSettings } from '../../../src/session/engine-settings.js'
import { StorageRootManager } from '../../../src/storage/storage-root-manager.js'
import { planRename } from '../../../src/torrent/rename-path.js'
import type { Torrent } from '../../../src/torrent/torrent.js'
import { payload } from '../../swarm/swarm-world.js'

const PIECE = 32 * 1024
const FILES = [
  { path: 'a.bin', data: payload(100_000, 1) },
  { path: 'sub/b.bin', data: payload(150_001, 2) },
  { path: 'c.bin', data: payload(70_000, 3) }
]

function treeTorrent (): Uint8Array {
  const all = Buffer.concat(FILES.map((f) => f.data))
  const pieces = new Uint8Array(Math.ceil(all.length / PIECE) * 20)
  for (let p = 0; p * PIECE < all.length; p++) pieces.set(createHash('sha1').update(all.subarray(p * PIECE, (p + 1) * PIECE)).digest(), p * 20)
  return bencodeEncode({ info: { name: 'tree', 'piece length': PIECE, pieces, files: FILES.map((f) => ({ length: f.data.length, path: f.path.split('/') })) } })
}

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
  const d = await mkdtemp(join(tmpdir(), 'lodestone-rename-'))
  dirs.push(d)
  return d
}

function makeEngine (downloadDir: string, stateDir: string, hasher: IPieceHasher): BtEngine {
  const storageRoots = new StorageRootManager((_token, root) => new NodeFileSystem(root.path))
  storageRoots.addRoot({ token: downloadDir, label: 'dl', path: downloadDir })
  storageRoots.setDefaultRoot(downloadDir)
  const engine = new BtEngine({ socketFactory: new NodeSocketFactory(), clock: new SystemClock(), hasher, storageRoots, sessionStore: new FileSessionStore(stateDir, { durable: false }) }, testingSettings())
  engines.push(engine)
  return engine
}

async function seeding (t: Torrent): Promise<void> {
  if (t.state === 'seeding') return
  await new Promise<void>((resolve, reject) => {
    const off = t.on('state-changed', ({ to }) => {
      if (to === 'seeding') { off(); resolve() } else if (to === 'error' || to === 'downloading') { off(); reject(new Error(`state ${to}`)) }
    })
  })
}

async function exists (path: string): Promise<boolean> {
  try { await access(path); return true } catch { return false }
}

function code (fn: () => unknown): string {
  try { fn() } catch (err) { return isLodestoneError(err) ? `${err.code}: ${err.message}` : `untyped: ${String(err)}` }
  return 'no error'
}

describe('renamePath', () => {
  const paths = ['tree/a.bin', 'tree/sub/b.bin', 'tree/c.bin']

  it('plans the new paths of a file, a folder and the torrent folder', () => {
    expect(planRename(paths, 'tree/a.bin', 'x.bin').changes).toEqual([{ fileIndex: 0, to: 'tree/x.bin' }])
    expect(planRename(paths, 'tree/sub', 'deep').changes).toEqual([{ fileIndex: 1, to: 'tree/deep/b.bin' }])
    expect(planRename(paths, 'tree', 'forest').changes.map((c) => c.to)).toEqual(['forest/a.bin', 'forest/sub/b.bin', 'forest/c.bin'])
    expect(planRename(['single.bin'], 'single.bin', 'one.bin')).toEqual({ changes: [{ fileIndex: 0, to: 'one.bin' }], target: 'one.bin' })
    expect(planRename(paths, 'tree/a.bin', 'a.bin').changes).toEqual([])
  })

  it('refuses bad names, unknown paths and collisions with ARGUMENT_INVALID', () => {
    for (const name of ['', '.', '..', 'a/b', 'x\0y']) expect(code(() => planRename(paths, 'tree/a.bin', name))).toMatch(/^ARGUMENT_INVALID.*not a valid file name/)
    expect(code(() => planRename(paths, 'tree/zzz', 'y'))).toMatch(/^ARGUMENT_INVALID.*no file or folder/)
    expect(code(() => planRename(paths, 'tree/a', 'y'))).toMatch(/^ARGUMENT_INVALID.*no file or folder/)
    expect(code(() => planRename(paths, 'tree/../etc', 'y'))).toMatch(/^ARGUMENT_INVALID.*not a path/)
    expect(code(() => planRename(paths, 'tree/a.bin', 'c.bin'))).toMatch(/^ARGUMENT_INVALID.*collides/)
    expect(code(() => planRename(paths, 'tree/a.bin', 'sub'))).toMatch(/^ARGUMENT_INVALID.*collides/)
  })

  it('renames on disk, re-checks complete, and survives a restart without hashing', async () => {
    const dl = await tempDir()
    const state = await tempDir()
    for (const f of FILES) {
      await mkdir(dirname(join(dl, 'tree', f.path)), { recursive: true })
      await writeFile(join(dl, 'tree', f.path), f.data)
    }
    const engine = makeEngine(dl, state, new CountingHasher())
    const t = await engine.addTorrent(treeTorrent())
    await seeding(t)
    const events: string[] = []
    t.on('path-renamed', ({ path, target }) => { events.push(`${path}>${target}`) })
    await t.renamePath('tree/a.bin', 'a2.bin')
    await t.renamePath('tree/sub', 'deep')
    expect(events).toEqual(['tree/a.bin>tree/a2.bin', 'tree/sub>tree/deep'])
    expect(t.files.map((f) => f.path)).toEqual(['tree/a2.bin', 'tree/deep/b.bin', 'tree/c.bin'])
    expect(await exists(join(dl, 'tree/a.bin'))).toBe(false)
    expect(Buffer.compare(await readFile(join(dl, 'tree/a2.bin')), FILES[0]!.data)).toBe(0)
    expect(Buffer.compare(await readFile(join(dl, 'tree/deep/b.bin')), FILES[1]!.data)).toBe(0)
    await writeFile(join(dl, 'tree/taken.bin'), 'not the torrent\'s')
    await expect(t.renamePath('tree/c.bin', 'taken.bin')).rejects.toMatchObject({ code: 'ARGUMENT_INVALID' })
    await t.recheck()
    await seeding(t)
    expect(t.stats().havePieces).toBe(t.meta.pieceCount)
    await engine.close()

    const hasher = new CountingHasher()
    const again = makeEngine(dl, state, hasher)
    const result = await again.restoreSession()
    expect(result.failed).toEqual([])
    const r = result.restored[0]!
    await seeding(r)
    expect(r.files.map((f) => f.path)).toEqual(['tree/a2.bin', 'tree/deep/b.bin', 'tree/c.bin'])
    expect(hasher.pieceHashes).toBe(0)
    expect(r.stats().havePieces).toBe(r.meta.pieceCount)
  })
})
