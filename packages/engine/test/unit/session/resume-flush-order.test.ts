/**
 * Flush ordering of resume data, on real files: while a torrent downloads over loopback, every
 * filesystem write, fsync and session-store write is logged in one sequence. Each bitfield record
 * the engine stores may name a piece only if the write of that piece's bytes finished AND a sync
 * of its file came after that write and before the record was stored (so a power cut cannot leave
 * a record that names bytes still in the page cache).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FileSessionStore } from '../../../adapters/node/file-session-store.js'
import { SystemClock } from '../../../adapters/node/node-clock.js'
import { NodeFileSystem } from '../../../adapters/node/node-filesystem.js'
import { NodeSocketFactory } from '../../../adapters/node/node-socket-factory.js'
import { createNodeEngine } from '../../../presets/node.js'
import { BtEngine } from '../../../src/session/bt-engine.js'
import { testingSettings } from '../../../src/session/engine-settings.js'
import { decodeBitfieldRecord } from '../../../src/session/resume-data.js'
import { WebCryptoHasher } from '../../../src/hashing/web-crypto-hasher.js'
import type { FileOpenMode, IFileHandle, IFileStat, IFileSystem } from '../../../src/interfaces/filesystem.js'
import type { ISessionStore } from '../../../src/interfaces/session-store.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { StorageRootManager } from '../../../src/storage/storage-root-manager.js'
import { makeTorrent, payload } from '../../swarm/swarm-world.js'

type Event =
  | { kind: 'write-done', path: string, position: number, length: number }
  | { kind: 'sync-start', path: string }
  | { kind: 'set', key: string, value: Uint8Array }

const log: Event[] = []

class LoggingFileSystem implements IFileSystem {
  constructor (private readonly inner: IFileSystem) {}
  async open (path: string, mode: FileOpenMode): Promise<IFileHandle> {
    const h = await this.inner.open(path, mode)
    return {
      read: async (b, p) => h.read(b, p),
      write: async (b, p) => {
        const n = await h.write(b, p)
        log.push({ kind: 'write-done', path, position: p, length: b.length })
        return n
      },
      truncate: async (n) => { await h.truncate(n) },
      // Logged when it starts: only writes finished before it are covered.
      sync: async () => { log.push({ kind: 'sync-start', path }); await h.sync() },
      close: async () => { await h.close() }
    }
  }

  async stat (path: string): Promise<IFileStat> { return this.inner.stat(path) }
  async exists (path: string): Promise<boolean> { return this.inner.exists(path) }
  async mkdir (path: string, o?: { recursive?: boolean }): Promise<void> { await this.inner.mkdir(path, o) }
  async readdir (path: string): Promise<string[]> { return this.inner.readdir(path) }
  async unlink (path: string): Promise<void> { await this.inner.unlink(path) }
  async rmdir (path: string, o?: { recursive?: boolean }): Promise<void> { await this.inner.rmdir(path, o) }
  async rename (from: string, to: string): Promise<void> { await this.inner.rename(from, to) }
}

class LoggingStore implements ISessionStore {
  constructor (private readonly inner: ISessionStore) {}
  async get (key: string): Promise<Uint8Array | null> { return this.inner.get(key) }
  // Logged before the write starts: the record may only name pieces synced before this point.
  async set (key: string, value: Uint8Array): Promise<void> { log.push({ kind: 'set', key, value: value.slice() }); await this.inner.set(key, value) }
  async delete (key: string): Promise<void> { await this.inner.delete(key) }
  async keys (prefix?: string): Promise<string[]> { return this.inner.keys(prefix) }
  async clear (): Promise<void> { await this.inner.clear() }
}

const dirs: string[] = []
const engines: BtEngine[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(dirs.splice(0).map(async (d) => { await rm(d, { recursive: true, force: true }) }))
  log.length = 0
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lodestone-flush-'))
  dirs.push(d)
  return d
}

describe('resume data flush ordering', () => {
  it('a stored bitfield only names pieces whose write finished and whose file was synced after it', async () => {
    const PIECE = 32 * 1024
    const data = payload(3 * 1024 * 1024 + 5, 4)
    const torrent = makeTorrent('f.bin', data, PIECE)
    const meta = await parseTorrent(torrent)
    const seedDir = await tempDir()
    await writeFile(join(seedDir, 'f.bin'), data)
    const seeder = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off' })
    engines.push(seeder)
    await seeder.addTorrent(torrent)

    const dir = await tempDir()
    const state = await tempDir()
    const roots = new StorageRootManager((_t, root) => new LoggingFileSystem(new NodeFileSystem(root.path)))
    roots.addRoot({ token: dir, label: 'dl', path: dir })
    roots.setDefaultRoot(dir)
    const engine = new BtEngine({
      socketFactory: new NodeSocketFactory(),
      clock: new SystemClock(),
      hasher: new WebCryptoHasher(),
      storageRoots: roots,
      sessionStore: new LoggingStore(new FileSessionStore(state, { durable: false }))
    }, testingSettings({ session: { bitfieldSaveDelayMs: 0 } }))
    engines.push(engine)
    const t = await engine.addTorrent(torrent, { peers: [`127.0.0.1:${seeder.port!}`] })
    await new Promise<void>((resolve) => { t.on('completed', () => { resolve() }) })
    await engine.close()
    expect(Buffer.compare(await readFile(join(dir, 'f.bin')), data)).toBe(0)

    let records = 0
    let partial = 0
    const violations: string[] = []
    log.forEach((e, seq) => {
      if (e.kind !== 'set' || !e.key.endsWith(':bitfield')) return
      const pieces = decodeBitfieldRecord(e.value, e.key, meta.pieceCount, meta.files.length).pieces
      records++
      if (!pieces.isComplete && !pieces.isEmpty) partial++
      for (const p of pieces.ones()) {
        const start = p * PIECE
        const write = log.findIndex((w, i) => i < seq && w.kind === 'write-done' && w.position <= start && start < w.position + w.length)
        const synced = write >= 0 && log.some((s, i) => i > write && i < seq && s.kind === 'sync-start' && s.path === 'f.bin')
        if (!synced) violations.push(`record #${seq} names piece ${p} (write ${write})`)
      }
    })
    expect(violations.slice(0, 5)).toEqual([])
    // Saved while downloading, not only at the end.
    expect(records).toBeGreaterThan(2)
    expect(partial).toBeGreaterThan(0)
  })
})
