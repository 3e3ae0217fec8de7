/**
 * Torrent creation against libtorrent 2.0.8:
 * 1. Every torrent the Lodestone CLI creates (single file and a tree with 0-byte, 1-byte,
 *    unicode-named and nested files; v1, v2 and hybrid) loads in libtorrent with the same info
 *    hash(es), the same file list and fields, and passes libtorrent's own full hash check of the data.
 * 2. libtorrent creates from the same data with the same piece length, and the info hashes are
 *    compared where the formats make them comparable:
 *    - v2 and hybrid: always (both lay files out in canonical order with the same padding);
 *    - v1 single file: always;
 *    - v1 tree: libtorrent's `add_files` keeps the directory listing order while Lodestone sorts,
 *      so the hashes are equal exactly when the orders agree; fed the files in canonical order,
 *      libtorrent's v1 hash equals ours.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseTorrent } from '@lodestone/engine'
import { runLibtorrent, libtorrentVersion } from '../helpers/libtorrent.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))
const KINDS = ['v1', 'v2', 'hybrid'] as const
type Kind = typeof KINDS[number]

function bytes (length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed * 2654435761 >>> 0
  for (let i = 0; i < length; i++) {
    x = (x ^ (x << 13)) >>> 0
    x = (x ^ (x >>> 17)) >>> 0
    x = (x ^ (x << 5)) >>> 0
    out[i] = x & 0xff
  }
  return out
}

const PIECE = 32_768
// Corners: 0-byte files (first, middle, last), 1-byte files, a file of exactly one piece, files
// spanning several pieces with short tails, unicode and spaces, nesting, names sorting differently
// as strings and as path components ('a/…' vs 'a.txt'), upper before lower case.
const TREE: Record<string, Uint8Array> = {
  '0-empty-first': new Uint8Array(0),
  'B-upper.bin': bytes(PIECE, 1),
  'a/inner/deep.bin': bytes(100_000, 2),
  'a/one': bytes(1, 3),
  'a.txt': bytes(5, 4),
  'z-empty-middle/none': new Uint8Array(0),
  'ünï cödé/名前 ☃.txt': bytes(40_000, 5),
  'ünï cödé/x': bytes(1, 6),
  'zz/last-empty': new Uint8Array(0),
  'zz/big.bin': bytes(3 * PIECE + 17, 7)
}

interface LtTorrent {
  v1: string | null
  v2: string | null
  name: string
  pieceLength: number
  pieces: number
  files: Array<{ path: string, size: number, pad: boolean }>
  trackers: Array<{ url: string, tier: number }>
  webSeeds: string[]
  private: boolean
  comment: string
  creator: string
  checked: { state: string, progress: number, piecesHave: number, error: string }
}

let work = ''
const made: Record<string, { path: string, v1: string | null, v2: string | null }> = {}

async function hashesOf (path: string): Promise<{ path: string, v1: string | null, v2: string | null }> {
  const meta = await parseTorrent(new Uint8Array(readFileSync(path)))
  const hex = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('hex'))
  return { path, v1: hex(meta.infoHashV1), v2: hex(meta.infoHashV2) }
}

function lodestoneCreate (source: string, kind: Kind, out: string, extra: string[] = []): void {
  execFileSync(process.execPath, [CLI, 'create', source, '-o', out, `--${kind}`, '--piece-length', String(PIECE), '--no-date', ...extra], { stdio: 'pipe' })
}

beforeAll(async () => {
  expect(await libtorrentVersion()).toMatch(/^2\.0\./)
  work = mkdtempSync(join(tmpdir(), 'lodestone-lt-create-'))
  mkdirSync(join(work, 'data'))
  writeFileSync(join(work, 'data', 'single.bin'), bytes(5 * PIECE + 1234, 9))
  for (const [path, data] of Object.entries(TREE)) {
    mkdirSync(dirname(join(work, 'data', 'tree', path)), { recursive: true })
    writeFileSync(join(work, 'data', 'tree', path), data)
  }
  for (const kind of KINDS) {
    for (const source of ['single.bin', 'tree']) {
      const out = join(work, `${source}-${kind}.torrent`)
      lodestoneCreate(join(work, 'data', source), kind, out)
      made[`${source}-${kind}`] = await hashesOf(out)
    }
  }
  // One more with every optional field, to see libtorrent read them.
  const fields = join(work, 'tree-fields.torrent')
  lodestoneCreate(join(work, 'data', 'tree'), 'hybrid', fields, ['--tracker', 'http://127.0.0.1:6969/announce,http://127.0.0.1:6970/announce',
    '--tracker', 'udp://127.0.0.1:6969', '--web-seed', 'http://127.0.0.1:8000/', '--private', '--comment', 'commentaire ✓', '--creator', 'lodestone-interop'])
  made['tree-fields'] = await hashesOf(fields)
}, 120_000)

afterAll(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true })
})

/** Loads each torrent in libtorrent and has it hash-check the data on disk. */
const LOAD_AND_CHECK = `
ses = loopback_session()
out = {}
handles = {}
for key, item in INPUT['torrents'].items():
    ti = lt.torrent_info(item['path'])
    fs = ti.files()
    files = [{'path': fs.file_path(i).replace('\\\\', '/'), 'size': fs.file_size(i), 'pad': bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)} for i in range(fs.num_files())]
    ih = ti.info_hashes()
    out[key] = {'v1': hex_v1(ih), 'v2': hex_v2(ih), 'name': ti.name(), 'pieceLength': ti.piece_length(), 'pieces': ti.num_pieces(),
                'files': files, 'trackers': [{'url': t.url, 'tier': t.tier} for t in ti.trackers()],
                'webSeeds': [w['url'] for w in ti.web_seeds()], 'private': ti.priv(), 'comment': ti.comment(), 'creator': ti.creator()}
    p = lt.add_torrent_params()
    p.ti = ti
    p.save_path = INPUT['savePath']
    p.flags &= ~lt.torrent_flags.auto_managed
    p.flags &= ~lt.torrent_flags.paused
    p.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
    handles[key] = ses.add_torrent(p)
deadline = time.time() + 60
while time.time() < deadline:
    states = [h.status() for h in handles.values()]
    if all(s.state in (lt.torrent_status.seeding, lt.torrent_status.finished) or s.errc.value() != 0 for s in states):
        break
    time.sleep(0.1)
for key, h in handles.items():
    s = h.status()
    out[key]['checked'] = {'state': str(s.state), 'progress': s.progress, 'piecesHave': s.num_pieces, 'error': s.errc.message() if s.errc.value() != 0 else ''}
emit(out)
`

/** libtorrent creates torrents from the same data: with add_files (its own order) and, for v1, from a file list in the given order. */
const LT_CREATE = `
FLAGS = {'v1': lt.create_torrent.v1_only, 'v2': lt.create_torrent.v2_only, 'hybrid': 0}
out = {}
for job in INPUT['jobs']:
    fs = lt.file_storage()
    if job.get('order') is None:
        lt.add_files(fs, job['path'])
    else:
        for rel, size in job['order']:
            fs.add_file(job['name'] + '/' + rel, size)
    ct = lt.create_torrent(fs, job['pieceLength'], flags=FLAGS[job['kind']])
    lt.set_piece_hashes(ct, INPUT['parent'])
    ti = lt.torrent_info(ct.generate())
    ih = ti.info_hashes()
    order = [ti.files().file_path(i).replace('\\\\', '/') for i in range(ti.files().num_files()) if not ti.files().file_flags(i) & lt.file_storage.flag_pad_file]
    out[job['key']] = {'v1': hex_v1(ih), 'v2': hex_v2(ih), 'order': order}
emit(out)
`

describe('libtorrent loads what Lodestone creates', () => {
  let loaded: Record<string, LtTorrent> = {}
  beforeAll(async () => {
    const torrents = Object.fromEntries(Object.entries(made).map(([k, v]) => [k, { path: v.path }]))
    loaded = await runLibtorrent<Record<string, LtTorrent>>(LOAD_AND_CHECK, { input: { torrents, savePath: join(work, 'data') }, timeoutMs: 90_000 })
  }, 120_000)

  for (const source of ['single.bin', 'tree']) {
    for (const kind of KINDS) {
      it(`${source} ${kind}: same info hashes and files, and libtorrent's hash check passes`, async () => {
        const key = `${source}-${kind}`
        const lt = loaded[key]!
        expect(lt.v1).toBe(made[key]!.v1)
        expect(lt.v2).toBe(made[key]!.v2)
        expect(lt.v1 === null).toBe(kind === 'v2')
        expect(lt.v2 === null).toBe(kind === 'v1')
        const meta = await parseTorrent(new Uint8Array(readFileSync(made[key]!.path)))
        expect(lt.name).toBe(meta.name)
        expect(lt.pieceLength).toBe(PIECE)
        expect(lt.pieces).toBe(meta.pieceCount)
        // libtorrent paths include the torrent name for multi-file torrents.
        const ours = meta.files.filter((f) => !f.padding).map((f) => ({ path: source === 'tree' ? `${meta.name}/${f.path.join('/')}` : f.path.join('/'), size: f.lengthBytes }))
        expect(lt.files.filter((f) => !f.pad).map(({ path, size }) => ({ path, size }))).toEqual(ours)
        if (source === 'tree') {
          expect(new Set(ours.map((f) => f.path.slice('tree/'.length)))).toEqual(new Set(Object.keys(TREE)))
          // v1 has no padding; hybrid lists pad files; for v2 libtorrent inserts the implied ones.
          expect(lt.files.some((f) => f.pad)).toBe(kind !== 'v1')
        }
        expect(lt.checked.error).toBe('')
        expect(lt.checked.progress).toBe(1)
        expect(lt.checked.piecesHave).toBe(lt.pieces)
      })
    }
  }

  it('libtorrent reads trackers in tiers, web seeds, private, comment and creator', () => {
    const lt = loaded['tree-fields']!
    expect(lt.v1).toBe(made['tree-fields']!.v1)
    expect(lt.v2).toBe(made['tree-fields']!.v2)
    expect(lt.v1).not.toBe(made['tree-hybrid']!.v1) // private changes the info dict
    // BEP 12: libtorrent may shuffle URLs within a tier, so compare each tier as a set.
    const byUrl = (a: { url: string }, b: { url: string }): number => a.url.localeCompare(b.url)
    expect([...lt.trackers].sort(byUrl)).toEqual([
      { url: 'http://127.0.0.1:6969/announce', tier: 0 },
      { url: 'http://127.0.0.1:6970/announce', tier: 0 },
      { url: 'udp://127.0.0.1:6969', tier: 1 }
    ])
    expect(lt.webSeeds).toEqual(['http://127.0.0.1:8000/'])
    expect(lt.private).toBe(true)
    expect(lt.comment).toBe('commentaire ✓')
    expect(lt.creator).toBe('lodestone-interop')
  })
})

describe('libtorrent creates from the same data: comparable info hashes match', () => {
  let created: Record<string, { v1: string | null, v2: string | null, order: string[] }> = {}
  beforeAll(async () => {
    const sortedTree = (await parseTorrent(new Uint8Array(readFileSync(made['tree-v1']!.path)))).files.map((f) => [f.path.join('/'), f.lengthBytes])
    const jobs = []
    for (const kind of KINDS) {
      jobs.push({ key: `single.bin-${kind}`, path: join(work, 'data', 'single.bin'), kind, pieceLength: PIECE })
      jobs.push({ key: `tree-${kind}`, path: join(work, 'data', 'tree'), kind, pieceLength: PIECE })
    }
    jobs.push({ key: 'tree-v1-canonical', name: 'tree', order: sortedTree, kind: 'v1', pieceLength: PIECE })
    created = await runLibtorrent(LT_CREATE, { input: { jobs, parent: join(work, 'data') }, timeoutMs: 90_000 })
  }, 120_000)

  for (const kind of KINDS) {
    it(`single file, ${kind}: identical info hashes`, () => {
      expect(created[`single.bin-${kind}`]).toMatchObject({ v1: made[`single.bin-${kind}`]!.v1, v2: made[`single.bin-${kind}`]!.v2 })
    })
  }

  for (const kind of ['v2', 'hybrid'] as const) {
    it(`tree, ${kind}: identical info hashes (same canonical order and padding)`, () => {
      expect(created[`tree-${kind}`]).toMatchObject({ v1: made[`tree-${kind}`]!.v1, v2: made[`tree-${kind}`]!.v2 })
    })
  }

  it('tree, v1: equal when the file order agrees; fed canonical order, libtorrent gives our hash', async () => {
    const ours = (await parseTorrent(new Uint8Array(readFileSync(made['tree-v1']!.path)))).files.map((f) => `tree/${f.path.join('/')}`)
    const lt = created['tree-v1']!
    if (JSON.stringify(lt.order) === JSON.stringify(ours)) expect(lt.v1).toBe(made['tree-v1']!.v1)
    else expect(lt.v1).not.toBe(made['tree-v1']!.v1)
    expect(created['tree-v1-canonical']!.order).toEqual(ours)
    expect(created['tree-v1-canonical']!.v1).toBe(made['tree-v1']!.v1)
  })
})
