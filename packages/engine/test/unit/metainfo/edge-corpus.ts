// Real-world-shaped .torrent files for the metainfo edge cases (issue 12): each is built here from
// a real payload with real SHA-1 piece hashes, in the shape a known creator writes. The unit test
// (edge-corpus.test.ts) checks what we load from each; the interop test
// (interop/libtorrent/metainfo-edge-cases.test.ts) checks it against what libtorrent 2.0.8 loads
// from the same bytes.
import { bencodeEncode, type BencodeEncodable } from '../../../src/protocol/bencode.js'
import { content, sha1 } from './helpers.js'

export const PIECE_LENGTH = 16384
export const BITCOMET_PAD = '_____padding_file_0_if you see this file, please update to BitComet 0.85 or above____'

/** One file entry of a v1 `files` list as a creator wrote it, plus what it holds. */
interface RawFile {
  /** The `path` list; null for no `path` key. */
  path: string[] | null
  /** The declared `length` (a symlink's is ignored by readers). */
  length: number
  attr?: string
  symlinkPath?: string[]
  /** The payload bytes (zeros for pad files, none for symlinks). */
  data: Uint8Array
  extra?: Record<string, BencodeEncodable>
}

/** What we expect to load, file by file (pads included), in piece-space order. */
export interface ExpectedFile {
  path: string
  lengthBytes: number
  padding: boolean
  attr: string
  /** Symlink target under the torrent root. */
  symlink?: string
}

export interface EdgeCase {
  label: string
  /** What it is and which creator writes it. */
  about: string
  bytes: Uint8Array
  /** The info dict's bencoding, for an independent info hash. */
  infoBytes: Uint8Array
  name: string
  files: ExpectedFile[]
  urlList: string[]
  /**
   * Paths where we knowingly differ from libtorrent 2.0.8 (ours → libtorrent's, both relative to
   * the save path); the interop test checks libtorrent still says exactly that.
   */
  libtorrentPaths?: Record<string, string>
  /** Web seeds where libtorrent's canonical form differs from ours. */
  libtorrentUrlList?: string[]
}

const file = (path: string[] | null, data: Uint8Array, more: Partial<RawFile> = {}): RawFile => ({ path, length: data.length, data, ...more })
const pad = (length: number, path: string[] | null = ['.pad', String(length)]): RawFile => ({ path, length, attr: 'p', data: new Uint8Array(length) })
const bitcometPad = (length: number): RawFile => ({ path: [BITCOMET_PAD.replace('_0_', `_${length % 7}_`)], length, data: new Uint8Array(length) })

/** SHA-1 of every piece of the piece space (files back to back, symlinks taking no room). */
function pieceHashes (files: readonly RawFile[]): Uint8Array {
  const parts = files.filter((f) => f.attr?.includes('l') !== true).map((f) => f.data)
  const total = parts.reduce((n, p) => n + p.length, 0)
  const space = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    space.set(p, at)
    at += p.length
  }
  const out = new Uint8Array(Math.ceil(total / PIECE_LENGTH) * 20)
  for (let i = 0; i * PIECE_LENGTH < total; i++) out.set(sha1(space.subarray(i * PIECE_LENGTH, (i + 1) * PIECE_LENGTH)), i * 20)
  return out
}

function v1MultiFile (name: string, files: readonly RawFile[], opts: { top?: Record<string, BencodeEncodable>, info?: Record<string, BencodeEncodable>, trailing?: Uint8Array } = {}): { bytes: Uint8Array, infoBytes: Uint8Array } {
  const info = {
    name,
    'piece length': PIECE_LENGTH,
    pieces: pieceHashes(files),
    files: files.map((f) => ({
      length: f.length,
      ...(f.path !== null ? { path: f.path } : {}),
      ...(f.attr !== undefined ? { attr: f.attr } : {}),
      ...(f.symlinkPath !== undefined ? { 'symlink path': f.symlinkPath } : {}),
      ...f.extra
    })),
    ...opts.info
  }
  const infoBytes = bencodeEncode(info)
  const body = bencodeEncode({ announce: 'http://127.0.0.1:6969/announce', 'created by': 'edge corpus', 'creation date': 1_700_000_000, info, ...opts.top })
  const bytes = opts.trailing === undefined ? body : new Uint8Array([...body, ...opts.trailing])
  return { bytes, infoBytes }
}

const data = (n: number, k: number): Uint8Array => content(n, k)
const expectFile = (path: string, lengthBytes: number, more: Partial<ExpectedFile> = {}): ExpectedFile => ({ path, lengthBytes, padding: false, attr: '', ...more })
const expectPad = (path: string, lengthBytes: number, attr = 'p'): ExpectedFile => ({ path, lengthBytes, padding: true, attr })

/** The corpus, built fresh (deterministic bytes) on each call. */
export function edgeCorpus (): EdgeCase[] {
  const cases: EdgeCase[] = []

  {
    // BitComet (before BEP 47): pad files named `_____padding_file_N_...`, no attributes, with
    // `name.utf-8` / `path.utf-8` beside the local-code-page originals and a `publisher` field.
    const a = data(20_000, 1)
    const b = data(5_000, 2)
    const c = data(40_000, 3)
    const pa = bitcometPad(2 * PIECE_LENGTH - a.length)
    const pb = bitcometPad(PIECE_LENGTH - b.length)
    const files = [
      file(['Disc 1', 'track01.flac'], a, { extra: { 'path.utf-8': ['Disc 1', 'track01.flac'] } }),
      { ...pa, extra: { 'path.utf-8': pa.path! } },
      file(['Disc 1', 'cover ü.jpg'], b, { extra: { 'path.utf-8': ['Disc 1', 'cover ü.jpg'] } }),
      { ...pb, extra: { 'path.utf-8': pb.path! } },
      file(['Disc 2', 'track01.flac'], c, { extra: { 'path.utf-8': ['Disc 2', 'track01.flac'] } })
    ]
    const built = v1MultiFile('Album (BitComet)', files, { info: { 'name.utf-8': 'Album (BitComet)', publisher: 'someone', 'publisher-url': 'http://example.invalid/' }, top: { encoding: 'UTF-8' } })
    cases.push({
      label: 'bitcomet-pad-names',
      about: 'BitComet 0.85+ pad files recognised by their name',
      ...built,
      name: 'Album (BitComet)',
      files: [
        expectFile('Disc 1/track01.flac', a.length),
        expectPad(pa.path!.join('/'), pa.length, ''),
        expectFile('Disc 1/cover ü.jpg', b.length),
        expectPad(pb.path!.join('/'), pb.length, ''),
        expectFile('Disc 2/track01.flac', c.length)
      ],
      urlList: []
    })
  }

  {
    // libtorrent / qBittorrent with "optimize alignment": BEP 47 pad files `.pad/N`, attribute p;
    // and an older creator that wrote pad entries with the attribute and no path at all.
    const a = data(10_000, 4)
    const b = data(30_000, 5)
    const c = data(3, 6)
    const files = [file(['a.bin'], a), pad(PIECE_LENGTH - a.length), file(['b.bin'], b), pad(2 * PIECE_LENGTH - b.length, null), file(['c.txt'], c)]
    cases.push({
      label: 'bep47-pads-with-and-without-path',
      about: 'pad files by attribute, one with no path',
      ...v1MultiFile('Aligned', files),
      name: 'Aligned',
      files: [
        expectFile('a.bin', a.length),
        expectPad(`.pad/${PIECE_LENGTH - a.length}`, PIECE_LENGTH - a.length),
        expectFile('b.bin', b.length),
        expectPad(`.pad/${2 * PIECE_LENGTH - b.length}`, 2 * PIECE_LENGTH - b.length),
        expectFile('c.txt', c.length)
      ],
      urlList: [],
      // libtorrent files a path-less pad under the save path's .pad, not the torrent's directory.
      libtorrentPaths: { [`Aligned/.pad/${2 * PIECE_LENGTH - b.length}`]: `.pad/${2 * PIECE_LENGTH - b.length}` }
    })
  }

  {
    // BEP 47 symlinks (libtorrent's create_torrent with the symlinks flag writes length 0; a
    // sloppier creator wrote the target file's length, which must count as 0), executable and
    // hidden attributes.
    const readme = data(1_000, 7)
    const run = data(2_000, 8)
    const hidden = data(300, 9)
    const lib = data(25_000, 10)
    const files = [
      file(['bin', 'run.sh'], run, { attr: 'x' }),
      file(['bin', 'tool'], new Uint8Array(0), { attr: 'l', symlinkPath: ['bin', 'run.sh'] }),
      file(['docs', 'README.txt'], readme),
      file(['README'], readme, { attr: 'l', symlinkPath: ['docs', 'README.txt'] }),
      file(['desktop.ini'], hidden, { attr: 'h' }),
      file(['lib', 'libx.so.1'], lib, { attr: 'xh' }),
      file(['lib', 'libx.so'], new Uint8Array(0), { attr: 'l', symlinkPath: ['lib', 'libx.so.1'] }),
      file(['latest'], new Uint8Array(0), { attr: 'l', symlinkPath: ['lib'] })
    ]
    cases.push({
      label: 'bep47-symlink-executable-hidden',
      about: 'symlinks (one with a bogus length), executable and hidden files',
      ...v1MultiFile('Package', files),
      name: 'Package',
      files: [
        expectFile('bin/run.sh', run.length, { attr: 'x' }),
        expectFile('bin/tool', 0, { attr: 'l', symlink: 'bin/run.sh' }),
        expectFile('docs/README.txt', readme.length),
        expectFile('README', 0, { attr: 'l', symlink: 'docs/README.txt' }),
        expectFile('desktop.ini', hidden.length, { attr: 'h' }),
        expectFile('lib/libx.so.1', lib.length, { attr: 'xh' }),
        expectFile('lib/libx.so', 0, { attr: 'l', symlink: 'lib/libx.so.1' }),
        expectFile('latest', 0, { attr: 'l', symlink: 'lib' })
      ],
      urlList: []
    })
  }

  {
    // A torrent served with a trailing newline (and one with junk after the dict): the info
    // hash is over the info dict only, so those bytes cannot change it.
    const a = data(17_000, 11)
    const built = v1MultiFile('Trailing', [file(['a.bin'], a), file(['b.txt'], data(10, 12))], { trailing: new TextEncoder().encode('\r\n<!-- served by a forum -->\n') })
    cases.push({
      label: 'trailing-bytes',
      about: 'bytes after the top-level dictionary',
      ...built,
      name: 'Trailing',
      files: [expectFile('a.bin', a.length), expectFile('b.txt', 10)],
      urlList: []
    })
  }

  {
    // Empty path components (a creator joining "dir//file"): dropped.
    const a = data(9_000, 13)
    const b = data(8_000, 14)
    const files = [file(['', 'Season 1', '', 'e01.mkv'], a), file(['Season 2', 'e01.mkv', ''], b)]
    cases.push({
      label: 'empty-path-components',
      about: 'empty components dropped',
      ...v1MultiFile('Show', files),
      name: 'Show',
      files: [expectFile('Season 1/e01.mkv', a.length), expectFile('Season 2/e01.mkv', b.length)],
      urlList: [],
      // libtorrent 2.0.8 writes "_" for each empty component instead.
      libtorrentPaths: { 'Show/Season 1/e01.mkv': 'Show/_/Season 1/_/e01.mkv', 'Show/Season 2/e01.mkv': 'Show/Season 2/e01.mkv/_' }
    })
  }

  {
    // Names over 255 UTF-8 bytes (scene names, CJK titles): shortened to 240 bytes plus the
    // extension, cut on a code point.
    const ascii = `${'Very.Long.Release.Name.'.repeat(13)}1080p.mkv`
    const emoji = `a${'🎵'.repeat(70)}.flac`
    const noExt = `${'x'.repeat(290)}.information`
    const longDir = 'D'.repeat(300)
    const a = data(1_000, 15)
    const b = data(2_000, 16)
    const c = data(3_000, 17)
    const files = [file([ascii], a), file([longDir, emoji], b), file([noExt], c)]
    const enc = new TextEncoder()
    const dec = new TextDecoder()
    const asciiShort = `${ascii.slice(0, 240)}.mkv`
    // 'a' + 60 four-byte notes is 241 bytes: the first code point boundary at or past 240.
    const emojiShort = `a${'🎵'.repeat(60)}.flac`
    if (enc.encode(emojiShort).length !== 246 || dec.decode(enc.encode(emojiShort)) !== emojiShort) throw new Error('corpus arithmetic')
    cases.push({
      label: 'long-names',
      about: 'names over 255 UTF-8 bytes shortened keeping the extension',
      ...v1MultiFile(`Long ${'N'.repeat(260)}`, files),
      name: `Long ${'N'.repeat(235)}`,
      files: [
        expectFile(asciiShort, a.length),
        expectFile(`${'D'.repeat(240)}/${emojiShort}`, b.length),
        expectFile('x'.repeat(240), c.length)
      ],
      urlList: []
    })
  }

  {
    // Web seeds as a mirror list repeats them: duplicates, stray spaces, a raw space in a path.
    const a = data(12_000, 18)
    const built = v1MultiFile('Mirrored', [file(['a.bin'], a), file(['b b.bin'], data(100, 19))], {
      top: { 'url-list': ['http://mirror.example/pub/', ' http://mirror.example/pub/', 'http://mirror.example/pub/', 'http://other.example/a dir/', 'ftp://old.example/pub/', 'HTTP://Mirror.Example:80/pub/'] }
    })
    cases.push({
      label: 'web-seed-urls',
      about: 'url-list de-duplicated and canonicalised',
      ...built,
      name: 'Mirrored',
      files: [expectFile('a.bin', a.length), expectFile('b b.bin', 100)],
      urlList: ['http://mirror.example/pub/', 'http://other.example/a%20dir/'],
      // libtorrent de-duplicates exact text only, keeps a leading space, what it cannot fetch (ftp)
      // and another spelling of the same URL.
      libtorrentUrlList: ['http://mirror.example/pub/', ' http://mirror.example/pub/', 'http://other.example/a%20dir/', 'ftp://old.example/pub/', 'HTTP://Mirror.Example:80/pub/']
    })
  }

  return cases
}
