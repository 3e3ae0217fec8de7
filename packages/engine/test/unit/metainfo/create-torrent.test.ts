import { describe, it, expect, afterAll } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { createTorrent, autoPieceLength, type CreateTorrentOptions, type CreateTorrentDeps } from '../../../src/metainfo/create-torrent.js'
import { compareSourcePaths } from '../../../src/metainfo/create-file-list.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { bencodeDecode, isBencodeDict, getDict, getList, getBytes, getInt } from '../../../src/protocol/bencode.js'
import { WebCryptoHasher } from '../../../src/hashing/web-crypto-hasher.js'
import { LodestoneError } from '../../../src/errors.js'
import type { IFileSystem, IFileHandle, IFileStat } from '../../../src/interfaces/filesystem.js'
import type { IHasher } from '../../../src/interfaces/hasher.js'
import { NodeHasher } from '../../../adapters/node/node-hasher.js'
import { content, hex, referenceRoot, sha1, fixture } from './helpers.js'
import ltFixtures from './fixtures/lt-fixtures.json' with { type: 'json' }

/** A read-only in-memory filesystem: file paths → bytes; directories are implied by paths. */
class MapFileSystem implements IFileSystem {
  readonly reads: string[] = []
  constructor (private readonly files: Map<string, Uint8Array>, private readonly extraDirs: string[] = []) {}
  private isDir (path: string): boolean {
    if (path === '' || this.extraDirs.includes(path)) return true
    for (const k of this.files.keys()) if (k.startsWith(path + '/')) return true
    return false
  }

  async open (path: string): Promise<IFileHandle> {
    const data = this.files.get(path)
    if (data === undefined) throw new LodestoneError('STORAGE_NOT_FOUND', { path })
    this.reads.push(path)
    return {
      read: async (buffer, position) => {
        const chunk = data.subarray(position, position + buffer.length)
        buffer.set(chunk)
        return Promise.resolve(chunk.length)
      },
      write: async () => Promise.reject(new Error('read only')),
      truncate: async () => {},
      sync: async () => {},
      close: async () => {}
    }
  }

  async stat (path: string): Promise<IFileStat> {
    const data = this.files.get(path)
    if (data !== undefined) return { size: data.length, isFile: true, isDirectory: false, mtimeMs: 0 }
    if (this.isDir(path)) return Promise.resolve({ size: 0, isFile: false, isDirectory: true, mtimeMs: 0 })
    throw new LodestoneError('STORAGE_NOT_FOUND', { path })
  }

  async exists (path: string): Promise<boolean> { return this.files.has(path) || this.isDir(path) }
  async readdir (path: string): Promise<string[]> {
    const prefix = path === '' ? '' : path + '/'
    const names = new Set<string>()
    for (const k of [...this.files.keys(), ...this.extraDirs]) {
      if (k.startsWith(prefix) && k !== path) names.add(k.slice(prefix.length).split('/')[0]!)
    }
    // Deliberately reversed: creation must not depend on listing order.
    return Promise.resolve([...names].sort().reverse())
  }

  async mkdir (): Promise<void> {}
  async unlink (): Promise<void> {}
  async rmdir (): Promise<void> {}
  async rename (): Promise<void> {}
}

/** The libtorrent fixture payload under `root/`. */
function fixtureFiles (root: string): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>()
  for (const [path, length, k] of ltFixtures.files as Array<[string, number, number]>) m.set(`${root}/${path}`, content(length, k))
  return m
}

const nodeHasher = new NodeHasher({ workers: 2 })
afterAll(async () => { await nodeHasher.close() })

async function create (fs: IFileSystem, source: string, options: CreateTorrentOptions, hasher: IHasher = nodeHasher): Promise<Awaited<ReturnType<typeof createTorrent>>> {
  const deps: CreateTorrentDeps = { fs, hasher }
  return createTorrent(source, options, deps)
}

function infoOf (torrent: Uint8Array): Map<string, unknown> {
  const root = bencodeDecode(torrent)
  if (!isBencodeDict(root)) throw new Error('not a dict')
  return getDict(root, 'info')!
}

describe('autoPieceLength', () => {
  it('matches libtorrent 2.0.8 around its boundaries', () => {
    // [total bytes, libtorrent's piece length]. libtorrent switches within ±1.5 bytes of
    // p²/100 (found by bisection); the rule switches exactly there, so probe 3 bytes either side.
    const table: Array<[number, number]> = [
      [1, 16384], [2684351, 16384], [2684358, 32768], [10737415, 32768], [10737421, 65536],
      [2 ** 30, 524288], [2748779066, 524288], [2748779072, 1048576], [2 ** 34, 2097152],
      [703687441773, 8388608], [703687441780, 16777216], [2 ** 42, 16777216]
    ]
    for (const [total, expected] of table) expect(autoPieceLength(total), String(total)).toBe(expected)
  })
})

describe('compareSourcePaths', () => {
  it('orders component-wise by UTF-8 bytes', () => {
    const paths = [['a.txt'], ['a', 'inner'], ['B'], ['ü'], ['z'], ['a', 'b', 'c']]
    paths.sort(compareSourcePaths)
    expect(paths).toEqual([['B'], ['a', 'b', 'c'], ['a', 'inner'], ['a.txt'], ['z'], ['ü']])
  })
})

describe('createTorrent against libtorrent-made fixtures', () => {
  for (const kind of ['v1', 'v2', 'hybrid'] as const) {
    it(`${kind}: same info hashes as libtorrent for the same data and piece length`, async () => {
      const fs = new MapFileSystem(fixtureFiles('payload'))
      const made = await create(fs, 'payload', { kind, pieceLengthBytes: 65536, comment: 'deterministic fixture', createdBy: 'fixture', announce: [['http://127.0.0.1:6969/announce']] })
      const expected = ltFixtures.torrents[kind]
      const lt = await parseTorrent(fixture(`lt-${kind}.torrent`))
      // The fixture torrents were named after libtorrent's root directory; use the same name.
      const renamed = await create(fs, 'payload', { kind, pieceLengthBytes: 65536, name: lt.name, comment: 'deterministic fixture', createdBy: 'fixture', announce: [['http://127.0.0.1:6969/announce']] })
      expect(renamed.pieceCount).toBe(expected.pieces)
      if (kind === 'v1') {
        // libtorrent lists a v1 torrent's files in directory order, we in canonical order, so
        // the v1 hashes differ by construction; the same files are there.
        expect(renamed.files.map((f) => f.path.join('/')).sort()).toEqual(lt.files.map((f) => f.path.join('/')).sort())
      } else {
        expect(renamed.infoHashV1 === null ? null : hex(renamed.infoHashV1)).toBe(expected.v1)
        expect(hex(renamed.infoHashV2!)).toBe(expected.v2)
        // Whole .torrent identical too (libtorrent's creation date was removed from the fixture).
        expect(hex(renamed.torrent)).toBe(hex(fixture(`lt-${kind}.torrent`)))
      }
      expect(made.name).toBe('payload')
    })
  }
})

describe('createTorrent', () => {
  const tree = (): Map<string, Uint8Array> => new Map([
    ['t/b.bin', content(40_000, 1)],
    ['t/empty0', new Uint8Array(0)],
    ['t/one', content(1, 2)],
    ['t/sub/deep/f', content(70_000, 3)],
    ['t/a.txt', content(5, 4)],
    ['t/a/inner', content(3, 5)],
    ['t/Zed/ünï 名.txt', content(2, 6)],
    ['t/sub/zero2', new Uint8Array(0)],
    ['t/B.up', content(16_384, 7)]
  ])

  it('hybrid tree: canonical order, pad files, 0-byte files, v1 and v2 hashes that check out', async () => {
    const files = tree()
    const made = await create(new MapFileSystem(files), 't', { pieceLengthBytes: 16_384 })
    expect(made.kind).toBe('hybrid')
    const meta = await parseTorrent(made.torrent)
    expect(hex(meta.infoHashV1!)).toBe(hex(made.infoHashV1!))
    expect(hex(meta.infoHashV2!)).toBe(hex(made.infoHashV2!))
    const visible = meta.files.filter((f) => !f.padding).map((f) => f.path.join('/'))
    expect(visible).toEqual(['B.up', 'Zed/ünï 名.txt', 'a/inner', 'a.txt', 'b.bin', 'empty0', 'one', 'sub/deep/f', 'sub/zero2'])
    expect(made.files.map((f) => f.path.join('/'))).toEqual(visible)
    const all = meta.files.map((f) => (f.padding ? `pad${f.lengthBytes}` : f.path.join('/')))
    expect(all).toEqual(['B.up', 'Zed/ünï 名.txt', 'pad16382', 'a/inner', 'pad16381', 'a.txt', 'pad16379', 'b.bin', 'pad9152', 'empty0', 'one', 'pad16383', 'sub/deep/f', 'pad11920', 'sub/zero2'])
    // Every v1 piece is the SHA-1 of its file's bytes plus zero padding.
    const space = new Uint8Array(meta.totalLengthBytes)
    for (const f of meta.files) if (!f.padding) space.set(files.get(`t/${f.path.join('/')}`)!, f.offsetBytes)
    for (let p = 0; p < meta.pieceCount; p++) {
      expect(hex(meta.pieceHashesV1!.subarray(p * 20, p * 20 + 20))).toBe(hex(sha1(space.subarray(p * 16384, (p + 1) * 16384))))
    }
    // v2 roots are the reference merkle roots; empty files have none.
    for (const f of meta.files.filter((x) => !x.padding)) {
      const data = files.get(`t/${f.path.join('/')}`)!
      if (data.length === 0) expect(f.piecesRoot).toBeUndefined()
      else expect(hex(f.piecesRoot!)).toBe(hex(referenceRoot(data)))
    }
    expect(meta.pieceLayers.size).toBe(2) // b.bin (3 pieces) and sub/deep/f (5 pieces)
  })

  it('v1 tree: no pad files, pieces run across files', async () => {
    const files = tree()
    const made = await create(new MapFileSystem(files), 't', { kind: 'v1', pieceLengthBytes: 16_384 })
    const meta = await parseTorrent(made.torrent)
    expect(meta.version).toBe('v1')
    expect(meta.infoHashV2).toBeNull()
    expect(meta.files.some((f) => f.padding)).toBe(false)
    const joined = Buffer.concat(meta.files.map((f) => files.get(`t/${f.path.join('/')}`)!))
    expect(meta.pieceCount).toBe(Math.ceil(joined.length / 16384))
    for (let p = 0; p < meta.pieceCount; p++) {
      expect(hex(meta.pieceHashesV1!.subarray(p * 20, p * 20 + 20))).toBe(hex(sha1(joined.subarray(p * 16384, (p + 1) * 16384))))
    }
    expect(infoOf(made.torrent).has('file tree')).toBe(false)
  })

  it('v2 tree: file tree and piece layers only', async () => {
    const made = await create(new MapFileSystem(tree()), 't', { kind: 'v2', pieceLengthBytes: 16_384 })
    const info = infoOf(made.torrent)
    expect([...info.keys()].sort()).toEqual(['file tree', 'meta version', 'name', 'piece length'])
    const meta = await parseTorrent(made.torrent)
    expect(meta.version).toBe('v2')
    expect(meta.infoHashV1).toBeNull()
    expect(hex(meta.infoHashV2!)).toBe(hex(made.infoHashV2!))
  })

  it('single file: length, no pad, short last piece; name defaults to the file name', async () => {
    const data = content(100_000, 9)
    const made = await create(new MapFileSystem(new Map([['dir/file.bin', data]])), 'dir/file.bin', { pieceLengthBytes: 32_768 })
    const meta = await parseTorrent(made.torrent)
    expect(meta.name).toBe('file.bin')
    expect(meta.files.map((f) => [f.path.join('/'), f.lengthBytes, f.padding])).toEqual([['file.bin', 100_000, false]])
    expect(meta.pieceCount).toBe(4)
    expect(hex(meta.pieceHashesV1!.subarray(60, 80))).toBe(hex(sha1(data.subarray(98_304))))
    expect(hex(meta.files[0]!.piecesRoot!)).toBe(hex(referenceRoot(data)))
    expect(getInt(infoOf(made.torrent) as never, 'length')).toBe(100_000)
  })

  it('writes trackers in tiers, web seeds, private, source, comment, creator and date', async () => {
    const fs = new MapFileSystem(new Map([['x', content(20, 1)]]))
    const made = await create(fs, 'x', {
      announce: [['http://a/ann', 'http://b/ann'], ['udp://c:1']],
      urlList: ['http://w/1', 'http://w/2'],
      private: true,
      source: 'SRC',
      comment: 'héllo',
      createdBy: 'lodestone/test',
      creationDate: 1_700_000_000
    })
    const meta = await parseTorrent(made.torrent)
    expect(meta.announce).toEqual([['http://a/ann', 'http://b/ann'], ['udp://c:1']])
    expect(meta.urlList).toEqual(['http://w/1', 'http://w/2'])
    expect(meta.private).toBe(true)
    expect(meta.source).toBe('SRC')
    expect(meta.comment).toBe('héllo')
    expect(meta.createdBy).toBe('lodestone/test')
    expect(meta.creationDate).toBe(1_700_000_000)
    const root = bencodeDecode(made.torrent) as Map<string, unknown>
    expect(new TextDecoder().decode(getBytes(root as never, 'announce'))).toBe('http://a/ann')
    // One tracker: announce only; private/source change the info hash.
    const plain = await create(fs, 'x', { announce: [['http://a/ann']] })
    const plainRoot = bencodeDecode(plain.torrent) as Map<string, unknown>
    expect(plainRoot.has('announce-list')).toBe(false)
    expect(plainRoot.has('creation date')).toBe(false)
    expect(hex(plain.infoHashV1!)).not.toBe(hex(made.infoHashV1!))
    expect(getList(root as never, 'url-list')).toHaveLength(2)
  })

  it('is deterministic and independent of the hasher and of directory listing order', async () => {
    const a = await create(new MapFileSystem(tree()), 't', { pieceLengthBytes: 16_384 })
    const b = await create(new MapFileSystem(tree()), 't', { pieceLengthBytes: 16_384 }, new WebCryptoHasher())
    expect(hex(b.torrent)).toBe(hex(a.torrent))
    expect(hex(a.infoBytes)).toBe(hex((await parseTorrent(a.torrent)).infoBytes))
  })

  it('lets the hasher read the files itself when the filesystem names them (same bytes)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lodestone-create-'))
    try {
      const files = tree()
      for (const [path, data] of files) {
        mkdirSync(join(dir, path, '..'), { recursive: true })
        writeFileSync(join(dir, path), data)
      }
      const viaMemory = await create(new MapFileSystem(files), 't', { pieceLengthBytes: 16_384 })
      for (const kind of ['v1', 'hybrid', 'v2'] as const) {
        const viaPort = await create(new MapFileSystem(files), 't', { kind, pieceLengthBytes: 16_384 })
        // Bulk (workers pull pieces) and one call per piece (a hasher without hashFilePieces).
        for (const bulk of [true, false]) {
          const fs = new MapFileSystem(files)
          let calls = 0
          const counting = Object.assign(Object.create(nodeHasher) as NodeHasher, bulk
            ? { hashFilePieces: async (...args: Parameters<NodeHasher['hashFilePieces']>) => { calls++; await nodeHasher.hashFilePieces(...args) } }
            : { hashFilePieces: undefined, hashFilePiece: async (...args: Parameters<NodeHasher['hashFilePiece']>) => { calls++; return nodeHasher.hashFilePiece(...args) } })
          const progress: number[] = []
          const viaWorkers = await createTorrent('t', { kind, pieceLengthBytes: 16_384, onProgress: (h) => { progress.push(h) } }, { fs, hasher: counting, nativePath: (p) => join(dir, p) })
          expect(calls).toBeGreaterThan(0)
          expect(fs.reads).toEqual([]) // nothing read through the port
          expect(hex(viaWorkers.torrent), `${kind} bulk=${String(bulk)}`).toBe(hex(viaPort.torrent))
          expect(progress[progress.length - 1]).toBe(viaPort.totalLengthBytes)
        }
      }
      expect(hex(viaMemory.torrent)).toBe(hex((await create(new MapFileSystem(files), 't', { pieceLengthBytes: 16_384 })).torrent))
      // A file that shrinks under the workers is a CREATE_FAILED naming it.
      writeFileSync(join(dir, 't/b.bin'), content(10, 1))
      await expect(createTorrent('t', { pieceLengthBytes: 16_384 }, { fs: new MapFileSystem(files), hasher: nodeHasher, nativePath: (p) => join(dir, p) }))
        .rejects.toMatchObject({ code: 'CREATE_FAILED', details: { path: join(dir, 't/b.bin') } })
      expect((await readFile(join(dir, 't/one'))).length).toBe(1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('reports progress up to the total content bytes', async () => {
    const seen: Array<[number, number]> = []
    await create(new MapFileSystem(tree()), 't', { pieceLengthBytes: 16_384, onProgress: (h, t) => { seen.push([h, t]) } })
    const total = 40_000 + 1 + 70_000 + 5 + 3 + 2 + 16_384
    expect(seen.length).toBe(13)
    expect(seen.every(([, t]) => t === total)).toBe(true)
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThan(seen[i - 1]![0])
    expect(seen[seen.length - 1]![0]).toBe(total)
  })

  it('bounds the piece buffers it holds', async () => {
    let allocations = 0
    let inFlight = 0
    let maxInFlight = 0
    const hasher: IHasher = {
      concurrency: 1,
      digest: async (a, d) => nodeHasher.digest(a, d),
      close: async () => {},
      ...{
        allocate: (n: number) => { allocations++; return new Uint8Array(n) },
        hashPiece: async (d: Uint8Array, r: object) => {
          inFlight++
          maxInFlight = Math.max(maxInFlight, inFlight)
          // A hasher that takes a while (NodeHasher answers small pieces on the calling thread at
          // once), so the creator fills its whole buffer budget.
          try {
            await new Promise((resolve) => { setTimeout(resolve, 1) })
            return await nodeHasher.hashPiece(d, r)
          } finally { inFlight-- }
        }
      }
    }
    const data = content(1_000_000, 3)
    await create(new MapFileSystem(new Map([['big', data]])), 'big', { pieceLengthBytes: 16_384, maxBufferedBytes: 65_536 }, hasher)
    expect(allocations).toBe(4)
    expect(maxInFlight).toBeLessThanOrEqual(4)
  })

  it('refuses missing paths, empty directories, empty content and bad options with typed errors', async () => {
    const fs = new MapFileSystem(new Map([['d/e', new Uint8Array(0)], ['f', content(10, 1)]]), ['emptydir'])
    await expect(create(fs, 'nope', {})).rejects.toMatchObject({ code: 'CREATE_FAILED', details: { path: 'nope', reason: 'no such file or directory' } })
    await expect(create(fs, 'emptydir', {})).rejects.toMatchObject({ code: 'CREATE_FAILED', details: { path: 'emptydir' } })
    await expect(create(fs, 'd', {})).rejects.toMatchObject({ code: 'CREATE_FAILED', details: { reason: 'nothing to hash: every file is empty' } })
    await expect(create(fs, 'f', { pieceLengthBytes: 20_000 })).rejects.toMatchObject({ code: 'SETTINGS_INVALID', details: { key: 'pieceLengthBytes' } })
    await expect(create(fs, 'f', { pieceLengthBytes: 8192 })).rejects.toMatchObject({ code: 'SETTINGS_INVALID' })
    await expect(create(fs, 'f', { name: 'a/b' })).rejects.toMatchObject({ code: 'SETTINGS_INVALID', details: { key: 'name' } })
    const odd = new MapFileSystem(new Map([['d/ok', content(3, 1)], ['d/bad\\name', content(3, 2)]]))
    await expect(create(odd, 'd', {})).rejects.toMatchObject({ code: 'CREATE_FAILED', details: { path: 'd/bad\\name', reason: 'file name not allowed in a torrent: path separator in a component' } })
  })

  it('stops with ABORTED when its signal fires, before or during hashing', async () => {
    const fs = new MapFileSystem(new Map([['big', content(1_000_000, 3)]]))
    await expect(create(fs, 'big', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' })
    const controller = new AbortController()
    let calls = 0
    await expect(create(fs, 'big', {
      pieceLengthBytes: 16_384,
      signal: controller.signal,
      onProgress: () => { if (++calls === 3) controller.abort() }
    })).rejects.toMatchObject({ code: 'ABORTED' })
    expect(calls).toBeLessThan(61)
  })
})
