/**
 * Metainfo edge cases (issue 12) against libtorrent 2.0.8:
 * 1. Every torrent of the unit edge corpus (packages/engine/test/unit/metainfo/edge-corpus.ts:
 *    BitComet pad names, BEP 47 pads with and without a path, symlinks with a bogus length,
 *    executable and hidden files, trailing bytes, empty path components, over-long names, messy
 *    web seed lists) loads in libtorrent from the same bytes with the same info hash, piece count,
 *    file list (paths, sizes, offsets, pad / hidden / executable / symlink flags, symlink targets)
 *    and web seeds as in Lodestone — except the differences the corpus names, which are checked
 *    to be exactly what libtorrent does.
 * 2. libtorrent creates v1, v2 and hybrid torrents (with its `symlinks` flag) from a real
 *    directory holding an executable file and symlinks at the root and in a subdirectory (its
 *    creator writes those relative to the link); Lodestone loads each with the same hashes, files,
 *    flags and symlink targets.
 * 3. Lodestone downloads the hybrid one from a libtorrent seeder: the links exist on disk as
 *    relative links that resolve to the right files, the executable file is executable, and the
 *    data is byte-identical.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseTorrent } from '../../packages/engine/src/metainfo/parse-torrent.js'
import type { TorrentMetainfo } from '../../packages/engine/src/metainfo/types.js'
import { edgeCorpus, type EdgeCase } from '../../packages/engine/test/unit/metainfo/edge-corpus.js'
import { runLibtorrent } from '../helpers/libtorrent.js'
import { startLibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { waitCompleted } from '../helpers/fixtures.js'
import { createNodeEngine } from '../../packages/engine/presets/node.js'

interface LtFile { path: string, size: number, offset: number, flags: number, symlink: string }
interface LtView { v1: string | null, v2: string | null, name: string, numPieces: number, files: LtFile[], webSeeds: string[] }

// libtorrent's file_storage flags.
const FLAG_PAD = 1
const FLAG_HIDDEN = 2
const FLAG_EXECUTABLE = 4
const FLAG_SYMLINK = 8

const READ = `
def view(b):
    ti = lt.torrent_info(b)
    ih = ti.info_hashes()
    fs = ti.files()
    files = [{'path': fs.file_path(i), 'size': fs.file_size(i), 'offset': fs.file_offset(i),
              'flags': int(fs.file_flags(i)), 'symlink': fs.symlink(i)} for i in range(fs.num_files())]
    return {'v1': hex_v1(ih), 'v2': hex_v2(ih), 'name': ti.name(), 'numPieces': ti.num_pieces(),
            'files': files, 'webSeeds': [w['url'] for w in ti.web_seeds()]}
`

const hex = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('hex'))

/** Our files as libtorrent lists them (paths under the save path, libtorrent's flag bits). */
function ours (meta: TorrentMetainfo, renames: Record<string, string> = {}): LtFile[] {
  return meta.files.map((f) => {
    const path = (meta.multiFile ? [meta.name, ...f.path] : f.path).join('/')
    const flags = (f.padding ? FLAG_PAD : 0) | (f.attr.includes('h') ? FLAG_HIDDEN : 0) |
      (f.attr.includes('x') ? FLAG_EXECUTABLE : 0) | (f.symlinkPath !== undefined ? FLAG_SYMLINK : 0)
    const symlink = f.symlinkPath === undefined ? '' : [meta.name, ...f.symlinkPath].join('/')
    return { path: renames[path] ?? path, size: f.lengthBytes, offset: f.offsetBytes, flags, symlink }
  })
}

/**
 * What can be compared across the two layouts: every entry in order for v1 (its pads are in the
 * info dict); for v2 and hybrid the pads are implied by alignment and libtorrent places them
 * after a file where we place them before the next, so data files only, and offsets only where
 * a file has bytes (a 0-byte entry's offset means nothing).
 */
function comparable (files: LtFile[], v2Layout: boolean): LtFile[] {
  return files.filter((f) => !v2Layout || (f.flags & FLAG_PAD) === 0).map((f) => ({ ...f, offset: f.size === 0 ? -1 : f.offset }))
}

let dir = ''
let corpus: EdgeCase[] = []
let corpusViews: LtView[] = []
let created: Array<{ label: string, torrent: string, view: LtView }> = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lodestone-lt-edge-'))
  corpus = edgeCorpus()
  const paths = corpus.map((c, i) => {
    const p = join(dir, `corpus-${i}.torrent`)
    writeFileSync(p, c.bytes)
    return p
  })

  // A real tree for libtorrent's creator: an executable, a link at the root and one in a
  // subdirectory pointing up and across.
  const src = join(dir, 'src', 'Pkg')
  mkdirSync(join(src, 'bin'), { recursive: true })
  mkdirSync(join(src, 'docs'))
  writeFileSync(join(src, 'bin', 'run.sh'), Buffer.alloc(30_000, 7))
  chmodSync(join(src, 'bin', 'run.sh'), 0o755)
  writeFileSync(join(src, 'docs', 'README.txt'), Buffer.alloc(20_000, 9))
  symlinkSync('docs/README.txt', join(src, 'README'))
  symlinkSync('../bin/run.sh', join(src, 'docs', 'run'))

  const out = await runLibtorrent<{ corpus: LtView[], created: Array<{ label: string, torrent: string, view: LtView }> }>(`${READ}
corpus = [view(open(p, 'rb').read()) for p in INPUT['paths']]
created = []
for flags, label in ((lt.create_torrent.v1_only, 'v1'), (lt.create_torrent.v2_only, 'v2'), (0, 'hybrid')):
    fs = lt.file_storage()
    lt.add_files(fs, INPUT['src'], flags=lt.create_torrent.symlinks)
    t = lt.create_torrent(fs, 16384, flags=flags | lt.create_torrent.symlinks)
    lt.set_piece_hashes(t, INPUT['srcParent'])
    b = lt.bencode(t.generate())
    path = INPUT['dir'] + '/created-' + label + '.torrent'
    open(path, 'wb').write(b)
    created.append({'label': label, 'torrent': path, 'view': view(b)})
emit({'corpus': corpus, 'created': created})
`, { input: { paths, src, srcParent: join(dir, 'src'), dir }, timeoutMs: 60_000 })
  corpusViews = out.corpus
  created = out.created
})

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

describe('metainfo edge cases agree with libtorrent 2.0.8', () => {
  it('libtorrent loaded every corpus torrent', () => {
    expect(corpusViews).toHaveLength(corpus.length)
    expect(corpus.length).toBeGreaterThanOrEqual(7)
  })

  it('corpus: same info hash, pieces, files, flags, symlink targets and web seeds', async () => {
    for (const [i, c] of corpus.entries()) {
      const lt = corpusViews[i]!
      const meta = await parseTorrent(c.bytes)
      expect(hex(meta.infoHashV1), c.label).toBe(lt.v1)
      expect(meta.pieceCount, c.label).toBe(lt.numPieces)
      expect(meta.name, c.label).toBe(lt.name)
      expect(comparable(ours(meta, c.libtorrentPaths), false), c.label).toEqual(comparable(lt.files, false))
      expect(meta.urlList, c.label).toEqual(c.urlList)
      expect(lt.webSeeds, c.label).toEqual(c.libtorrentUrlList ?? c.urlList)
    }
  })

  it('torrents libtorrent creates with symlinks and an executable load the same', async () => {
    expect(created.map((c) => c.label)).toEqual(['v1', 'v2', 'hybrid'])
    for (const c of created) {
      const meta = await parseTorrent(new Uint8Array(readFileSync(c.torrent)))
      expect(hex(meta.infoHashV1), c.label).toBe(c.view.v1)
      expect(hex(meta.infoHashV2), c.label).toBe(c.view.v2)
      expect(meta.pieceCount, c.label).toBe(c.view.numPieces)
      const v2Layout = c.label !== 'v1'
      expect(comparable(ours(meta), v2Layout), c.label).toEqual(comparable(c.view.files, v2Layout))
      // The link in docs/ was written relative to itself ("../bin/run.sh") and still lands on bin/run.sh.
      const links = meta.files.filter((f) => f.symlinkPath !== undefined).map((f) => [f.path.join('/'), f.symlinkPath!.join('/')])
      expect(links, c.label).toEqual([['README', 'docs/README.txt'], ['docs/run', 'bin/run.sh']])
    }
  })

  it('a download from a libtorrent seeder creates the links and the executable bit on disk', async () => {
    const hybrid = created.find((c) => c.label === 'hybrid')!
    const seeder = await startLibtorrentPeer({ torrentPath: hybrid.torrent, savePath: join(dir, 'src'), mode: 'seed' })
    const leechDir = join(dir, 'leech')
    mkdirSync(leechDir)
    const engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off' })
    try {
      await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to check its data and seed')
      const torrent = await engine.addTorrent(await readFile(hybrid.torrent), { downloadPath: leechDir })
      torrent.addPeer(`127.0.0.1:${seeder.port}`)
      await waitCompleted(torrent, 30_000)
    } finally {
      await engine.close()
      await seeder.close()
    }
    const pkg = join(leechDir, 'Pkg')
    expect(readlinkSync(join(pkg, 'README'))).toBe('docs/README.txt')
    expect(readlinkSync(join(pkg, 'docs', 'run'))).toBe('../bin/run.sh')
    expect(lstatSync(join(pkg, 'docs', 'run')).isSymbolicLink()).toBe(true)
    expect(readFileSync(join(pkg, 'README'))).toEqual(readFileSync(join(dir, 'src', 'Pkg', 'docs', 'README.txt')))
    expect(readFileSync(join(pkg, 'docs', 'run'))).toEqual(readFileSync(join(dir, 'src', 'Pkg', 'bin', 'run.sh')))
    expect(statSync(join(pkg, 'bin', 'run.sh')).mode & 0o111).not.toBe(0)
    expect(statSync(join(pkg, 'docs', 'README.txt')).mode & 0o111).toBe(0)
  })
})
