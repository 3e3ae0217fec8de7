// Interop: torrents created by libtorrent (python3-libtorrent 2.0.8) parse to exactly what
// libtorrent reports: info hashes, file list and offsets, piece length and count, v1 piece hashes,
// v2 piece layers; and every v2 piece of the real payload verifies with our merkle code.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseTorrent } from '../../packages/engine/src/metainfo/parse-torrent.js'
import { hashV2Piece, v2PieceExpectation, type V2VerifiableExpectation } from '../../packages/engine/src/metainfo/merkle.js'
import { WebCryptoHasher } from '../../packages/engine/src/hashing/web-crypto-hasher.js'
import type { TorrentMetainfo } from '../../packages/engine/src/metainfo/types.js'

interface LtFile { path: string, size: number, offset: number, pad: boolean, root: string | null }
interface LtTorrent {
  label: string
  torrent: string
  v1: string | null
  v2: string | null
  pieceLength: number
  numPieces: number
  name: string
  files: LtFile[]
  pieceHashes: string[]
  layers: Record<string, string>
}

// Builds the payloads and torrents, and prints what libtorrent itself reads back from each torrent.
const SCRIPT = String.raw`
import json, os, sys
import libtorrent as lt
root = sys.argv[1]
def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f: f.write(data)
def data(n, seed):
    return bytes(((i * 131 + seed * 7 + (i >> 12)) & 0xff) for i in range(n))
write(os.path.join(root, 'single', 'video.bin'), data(300000, 1))
tree = os.path.join(root, 'tree', 'Tree ü')
write(os.path.join(tree, 'empty.txt'), b'')
write(os.path.join(tree, 'one-byte'), b'x')
write(os.path.join(tree, 'ünïcødé 日本.bin'), data(50000, 2))
write(os.path.join(tree, 'a', 'b', 'c', 'deep.bin'), data(200000, 3))
write(os.path.join(tree, 'a', 'exact.bin'), data(65536, 4))
write(os.path.join(tree, 'z-last.bin'), data(16385, 5))
out = []
for src_parent, src_name in [(os.path.join(root, 'single'), 'video.bin'), (os.path.join(root, 'tree'), 'Tree ü')]:
    for piece in (16384, 65536):
        for flags, version in ((lt.create_torrent.v1_only, 'v1'), (lt.create_torrent.v2_only, 'v2'), (0, 'hybrid')):
            fs = lt.file_storage()
            lt.add_files(fs, os.path.join(src_parent, src_name))
            t = lt.create_torrent(fs, piece, flags=flags)
            t.add_tracker('http://127.0.0.1:1/announce', 0)
            lt.set_piece_hashes(t, src_parent)
            e = t.generate()
            b = lt.bencode(e)
            label = '%s-%d-%s' % (src_name, piece, version)
            path = os.path.join(root, label + '.torrent')
            with open(path, 'wb') as f: f.write(b)
            ti = lt.torrent_info(b)
            ih = ti.info_hashes()
            fst = ti.files()
            files = []
            for i in range(fst.num_files()):
                r = fst.root(i)
                files.append({'path': fst.file_path(i), 'size': fst.file_size(i), 'offset': fst.file_offset(i),
                              'pad': bool(fst.file_flags(i) & lt.file_storage.flag_pad_file),
                              'root': None if r.is_all_zeros() else str(r)})
            hashes = [ti.hash_for_piece(i).hex() for i in range(ti.num_pieces())] if ih.has_v1() else []
            layers = {k.hex(): v.hex() for k, v in e.get(b'piece layers', {}).items()}
            out.append({'label': label, 'torrent': path, 'v1': str(ih.v1) if ih.has_v1() else None,
                        'v2': str(ih.v2) if ih.has_v2() else None, 'pieceLength': ti.piece_length(),
                        'numPieces': ti.num_pieces(), 'name': ti.name(), 'files': files,
                        'pieceHashes': hashes, 'layers': layers, 'srcParent': src_parent})
print(json.dumps(out))
`

let dir = ''
let torrents: Array<LtTorrent & { srcParent: string }> = []
const hasher = new WebCryptoHasher()

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lodestone-lt-parse-'))
  const scriptPath = join(dir, 'make.py')
  writeFileSync(scriptPath, SCRIPT)
  const run = spawnSync('/usr/bin/python3', [scriptPath, dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (run.status !== 0) throw new Error(`libtorrent script failed (${run.status}): ${run.error?.message ?? ''} ${run.stderr}`)
  torrents = JSON.parse(run.stdout) as typeof torrents
})

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

/** Our file path as libtorrent prints it: multi-file torrents live under the torrent name. */
function ltPath (meta: TorrentMetainfo, path: string[]): string {
  return (meta.multiFile ? [meta.name, ...path] : path).join('/')
}

/** The payload laid out in piece space, read from the files libtorrent hashed. */
function pieceSpace (meta: TorrentMetainfo, srcParent: string): Uint8Array {
  const space = new Uint8Array(meta.pieceCount * meta.pieceLengthBytes)
  for (const f of meta.files) {
    if (f.padding || f.lengthBytes === 0) continue
    space.set(readFileSync(join(srcParent, ltPath(meta, f.path))), f.offsetBytes)
  }
  return space
}

describe('parseTorrent agrees with libtorrent', () => {
  it('generated the expected set of torrents', () => {
    expect(torrents.map((t) => t.label)).toHaveLength(12)
  })

  it('every torrent: hashes, files, pieces, layers and piece verification', async () => {
    for (const lt of torrents) {
      const meta = await parseTorrent(new Uint8Array(readFileSync(lt.torrent)))
      const version = lt.label.split('-').at(-1)
      expect(meta.version, lt.label).toBe(version)
      expect(meta.infoHashV1 === null ? null : Buffer.from(meta.infoHashV1).toString('hex'), lt.label).toBe(lt.v1)
      expect(meta.infoHashV2 === null ? null : Buffer.from(meta.infoHashV2).toString('hex'), lt.label).toBe(lt.v2)
      expect(meta.id, lt.label).toBe(lt.v1 ?? lt.v2!.slice(0, 40))
      expect(meta.pieceLengthBytes, lt.label).toBe(lt.pieceLength)
      expect(meta.pieceCount, lt.label).toBe(lt.numPieces)
      expect(meta.name, lt.label).toBe(lt.name)
      expect(meta.announce).toEqual([['http://127.0.0.1:1/announce']])

      // Same data files, same order, same offsets, same v2 roots.
      const ours = meta.files.filter((f) => !f.padding).map((f) => ({
        path: ltPath(meta, f.path), size: f.lengthBytes, offset: f.offsetBytes,
        root: f.piecesRoot === undefined ? null : Buffer.from(f.piecesRoot).toString('hex')
      }))
      const theirs = lt.files.filter((f) => !f.pad).map((f) => ({ path: f.path, size: f.size, offset: f.offset, root: f.root }))
      expect(ours, lt.label).toEqual(theirs)

      if (lt.pieceHashes.length > 0) {
        expect(Buffer.from(meta.pieceHashesV1!).toString('hex'), lt.label).toBe(lt.pieceHashes.join(''))
      } else {
        expect(meta.pieceHashesV1, lt.label).toBeNull()
      }
      const layers = Object.fromEntries([...meta.pieceLayers].map(([k, v]) => [k, Buffer.from(v).toString('hex')]))
      expect(layers, lt.label).toEqual(lt.layers)

      if (meta.version !== 'v1') {
        const space = pieceSpace(meta, lt.srcParent)
        for (let p = 0; p < meta.pieceCount; p++) {
          const exp = v2PieceExpectation(meta, p)
          expect(exp.kind, `${lt.label} piece ${p}`).not.toBe('layer-unknown')
          const piece = space.subarray(p * meta.pieceLengthBytes, (p + 1) * meta.pieceLengthBytes)
          expect(await hashV2Piece(hasher, piece, exp as V2VerifiableExpectation), `${lt.label} piece ${p}`).toBe(true)
        }
      }
    }
  })
})
