/**
 * .torrent parsing: v1 (BEP 3), v2 (BEP 52) and hybrid, into the one {@link TorrentMetainfo} shape.
 *
 * Policy, and why:
 * - Hostile input. Essential fields (name, piece length, pieces, files / file tree, piece layers) are
 *   validated and a problem is refused with a typed error naming the dotted field:
 *   `METAINFO_INVALID` (missing / mistyped), `METAINFO_INCONSISTENT` (counts and sizes do not add up),
 *   `METAINFO_UNSAFE_PATH` (see path-safety.ts), `METAINFO_UNSUPPORTED`, `METAINFO_LIMIT`, or the
 *   decoder's `BENCODE_INVALID` / `BENCODE_LIMIT`. Informational fields (comment, created by,
 *   creation date, announce-list, url-list) of the wrong type are ignored rather than refused, as
 *   real torrents carry junk there and nothing depends on it.
 * - Dict key order is not enforced (some creators write unsorted keys), duplicates are. Hashes are
 *   taken over the raw info bytes, never a re-encoding, so leniency cannot change an info hash.
 * - v2 piece layers are checked against each file's `pieces root` (a few hashes per file) so a
 *   corrupt layer is refused here instead of failing every piece later.
 * - Metainfo edge cases seen in the wild load (see file-names.ts and symlink-target.ts): empty
 *   path components are dropped, names over 255 UTF-8 bytes shortened keeping the extension, pad
 *   files recognised by attribute `p` or by BitComet's `_____padding_file_` name (a pad entry
 *   needs no path), BEP 47 symlinks (`l` + `symlink path`) count 0 bytes whatever their `length`
 *   says and may only point inside the torrent, and bytes after the top-level dict are ignored.
 *   Web seed URLs are canonicalised and de-duplicated (web-seed-urls.ts).
 * - Text prefers the `.utf-8` variant of a key when present (old creators wrote names in a local
 *   code page there and in UTF-8 under `name.utf-8`); invalid UTF-8 is replaced with U+FFFD.
 *
 * Ownership: the parser copies its input once; every byte array in the result is a view of that
 * private copy, so the caller may reuse its buffer.
 */
import {
  bencodeDecode, bencodeDecodeWithSpans, isBencodeDict, keyToText, type BencodeDecodeOptions, type BencodeDict, type BencodeValue
} from '../protocol/bencode.js'
import { LodestoneError } from '../errors.js'
import type { IHasher } from '../interfaces/hasher.js'
import { createDefaultHasher } from '../hashing/web-crypto-hasher.js'
import { bytesEqual, fromUtf8, fromUtf8Strict, toHex } from '../util/bytes.js'
import { assertNoPathConflicts, assertSafePath } from './path-safety.js'
import { cleanPath, isPadFileName, shortenName } from './file-names.js'
import { resolveSymlinkTargets } from './symlink-target.js'
import { normalizeWebSeedUrls } from './web-seed-urls.js'
import { MERKLE_BLOCK_LENGTH_BYTES, MERKLE_HASH_LENGTH_BYTES, isPowerOfTwo, rootFromPieceLayer } from './merkle.js'
import type { InfoHashHex, MetaVersion, TorrentFileEntry, TorrentMetainfo } from './types.js'

/** Parser limits; anything beyond them throws `METAINFO_LIMIT` (or `BENCODE_LIMIT` for raw size). */
export interface MetainfoLimits {
  /** Largest accepted .torrent (or BEP 9 info dict). libtorrent's default is 30 MiB. @default 64 MiB */
  maxTorrentBytes: number
  /** Most file entries, padding included. @default 500_000 */
  maxFileCount: number
  /** Most components in one file path (also bounds v2 file-tree nesting). @default 128 */
  maxPathDepth: number
  /** Largest piece length; a bigger piece would make one piece buffer absurd. @default 256 MiB */
  maxPieceLengthBytes: number
}

/** Default {@link MetainfoLimits}. */
export const defaultMetainfoLimits: Readonly<MetainfoLimits> = {
  maxTorrentBytes: 64 * 1024 * 1024,
  maxFileCount: 500_000,
  maxPathDepth: 128,
  maxPieceLengthBytes: 256 * 1024 * 1024
}

/** Options of {@link parseTorrent} and {@link parseInfoDictionary}. */
export interface ParseTorrentOptions {
  /** Computes the info hashes and checks v2 piece layers. @default a WebCryptoHasher */
  hasher?: IHasher
  limits?: Partial<MetainfoLimits>
  /** Aborts between the decode and the hashing steps (`ABORTED`). */
  signal?: AbortSignal
  /**
   * Load a pure v2 torrent that has no `piece layers` (resume data of a v2 magnet saved before its
   * layers were fetched); they are then fetched from peers (BEP 52). Layers that are present are
   * still checked. @default false
   * @internal the engine's session restore
   */
  allowMissingPieceLayers?: boolean
}

function checkAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'parseTorrent' }, { cause: signal.reason })
}

const SHA1_LENGTH_BYTES = 20

// ---------------------------------------------------------------------------------------------
// Field readers: typed access that throws METAINFO_INVALID with the dotted field name.

function invalid (field: string, reason: string): LodestoneError<'METAINFO_INVALID'> {
  return new LodestoneError('METAINFO_INVALID', { field, reason }, { message: `invalid torrent: ${field}: ${reason}` })
}

function inconsistent (field: string, reason: string): LodestoneError<'METAINFO_INCONSISTENT'> {
  return new LodestoneError('METAINFO_INCONSISTENT', { field, reason }, { message: `inconsistent torrent: ${field}: ${reason}` })
}

function overLimit (limit: keyof MetainfoLimits, value: number, max: number): LodestoneError<'METAINFO_LIMIT'> {
  return new LodestoneError('METAINFO_LIMIT', { limit, value, max }, { message: `torrent exceeds ${limit}: ${value} > ${max}` })
}

function typeName (v: BencodeValue | undefined): string {
  if (v === undefined) return 'missing'
  if (typeof v === 'number') return 'an integer'
  if (v instanceof Uint8Array) return 'a string'
  return Array.isArray(v) ? 'a list' : 'a dictionary'
}

function reqDict (dict: BencodeDict, key: string, field: string): BencodeDict {
  const v = dict.get(key)
  if (!isBencodeDict(v)) throw invalid(field, `expected a dictionary, got ${typeName(v)}`)
  return v
}

function reqInt (dict: BencodeDict, key: string, field: string): number {
  const v = dict.get(key)
  if (typeof v !== 'number') throw invalid(field, `expected an integer, got ${typeName(v)}`)
  return v
}

function reqBytes (dict: BencodeDict, key: string, field: string): Uint8Array {
  const v = dict.get(key)
  if (!(v instanceof Uint8Array)) throw invalid(field, `expected a string, got ${typeName(v)}`)
  return v
}

function reqList (dict: BencodeDict, key: string, field: string): BencodeValue[] {
  const v = dict.get(key)
  if (!Array.isArray(v)) throw invalid(field, `expected a list, got ${typeName(v)}`)
  return v
}

function reqLength (dict: BencodeDict, key: string, field: string): number {
  const n = reqInt(dict, key, field)
  if (n < 0) throw invalid(field, `negative length ${n}`)
  return n
}

/** Text of `key`, preferring a valid UTF-8 `key.utf-8`; undefined when absent or not a string. */
function optText (dict: BencodeDict, key: string): string | undefined {
  const alt = dict.get(`${key}.utf-8`)
  if (alt instanceof Uint8Array) {
    const text = fromUtf8Strict(alt)
    if (text !== null) return text
  }
  const v = dict.get(key)
  return v instanceof Uint8Array ? fromUtf8(v) : undefined
}

/**
 * Path components from `path` / `path.utf-8` (a list of strings), preferring a valid UTF-8 list,
 * cleaned (file-names.ts: empty components dropped, long names shortened). Null when the entry has
 * no path at all (allowed for pad files only; the caller decides).
 */
function readPathList (file: BencodeDict, field: string, key = 'path'): string[] | null {
  const alt = file.get(`${key}.utf-8`)
  if (Array.isArray(alt) && alt.length > 0 && alt.every((c) => c instanceof Uint8Array)) {
    const texts = (alt as Uint8Array[]).map((c) => fromUtf8Strict(c))
    if (texts.every((t) => t !== null)) return cleanPath(texts)
  }
  if (!file.has(key)) return null
  const list = reqList(file, key, `${field}.${key}`)
  return cleanPath(list.map((c, i) => {
    if (!(c instanceof Uint8Array)) throw invalid(`${field}.${key}.${i}`, `expected a string, got ${typeName(c)}`)
    return fromUtf8(c)
  }))
}

/**
 * BEP 47 symlink fields of an entry whose attributes include `l`: its raw target (resolved and
 * checked once every file is known, by resolveSymlinkTargets) and its attributes. An `l` without
 * a `symlink path` is a plain empty file, as in libtorrent, so `l` is dropped from the attributes.
 */
function readSymlink (entry: BencodeDict, attr: string, field: string): { attr: string, symlinkPath?: string[] } {
  const raw = readPathList(entry, field, 'symlink path')
  if (raw === null) return { attr: attr.replaceAll('l', '') }
  return { attr, symlinkPath: raw }
}

function readAttr (dict: BencodeDict): string {
  const v = dict.get('attr')
  return v instanceof Uint8Array ? fromUtf8(v) : ''
}

// ---------------------------------------------------------------------------------------------
// Info dictionary

interface V2File {
  path: string[]
  lengthBytes: number
  attr: string
  piecesRoot?: Uint8Array
  symlinkPath?: string[]
}

interface InfoParse {
  version: MetaVersion
  name: string
  pieceLengthBytes: number
  pieceCount: number
  totalLengthBytes: number
  files: TorrentFileEntry[]
  multiFile: boolean
  pieceHashesV1: Uint8Array | null
  private: boolean
  source?: string
}

function resolveLimits (partial: Partial<MetainfoLimits> | undefined): MetainfoLimits {
  return { ...defaultMetainfoLimits, ...partial }
}

function addLength (total: number, length: number, field: string): number {
  const sum = total + length
  if (!Number.isSafeInteger(sum)) throw inconsistent(field, 'total length exceeds 2^53-1 bytes')
  return sum
}

/** v1 `files` / `length` into entries laid out back to back (BEP 47 pad files kept, flagged). */
function readV1Files (info: BencodeDict, name: string, limits: MetainfoLimits): { files: TorrentFileEntry[], multiFile: boolean } {
  const hasLength = info.has('length')
  const hasFiles = info.has('files')
  if (hasLength && hasFiles) throw invalid('info', 'has both "length" and "files"')
  if (!hasLength && !hasFiles) throw invalid('info.files', 'neither "length" nor "files" present')
  if (hasLength) {
    // A lone symlink cannot point inside a torrent that has no directory: its attributes are kept
    // for display, and the torrent (then 0 bytes long) is refused as holding no data.
    const attr = readAttr(info)
    const lengthBytes = attr.includes('l') ? 0 : reqLength(info, 'length', 'info.length')
    return { files: [{ path: [name], lengthBytes, offsetBytes: 0, padding: false, attr }], multiFile: false }
  }
  const list = reqList(info, 'files', 'info.files')
  if (list.length === 0) throw invalid('info.files', 'empty file list')
  if (list.length > limits.maxFileCount) throw overLimit('maxFileCount', list.length, limits.maxFileCount)
  const files: TorrentFileEntry[] = []
  let offset = 0
  for (let i = 0; i < list.length; i++) {
    const field = `info.files.${i}`
    const entry = list[i]
    if (!isBencodeDict(entry)) throw invalid(field, `expected a dictionary, got ${typeName(entry)}`)
    let attr = readAttr(entry)
    // BEP 47: a symlink takes no room in the piece space, whatever `length` says.
    const lengthBytes = attr.includes('l') ? 0 : reqLength(entry, 'length', `${field}.length`)
    let path = readPathList(entry, field)
    if (path === null || path.length === 0) {
      // A pad file needs no name (libtorrent files it under `.pad/<length>`, and so do we).
      if (attr.includes('p')) path = ['.pad', String(lengthBytes)]
      else if (path === null) throw invalid(`${field}.path`, 'expected a list, got missing')
    }
    if (path.length > limits.maxPathDepth) throw overLimit('maxPathDepth', path.length, limits.maxPathDepth)
    assertSafePath(path)
    const padding = attr.includes('p') || isPadFileName(path)
    let symlinkPath: string[] | undefined
    if (attr.includes('l') && !padding) ({ attr, symlinkPath } = readSymlink(entry, attr, field))
    const file: TorrentFileEntry = { path, lengthBytes, offsetBytes: offset, padding, attr }
    if (symlinkPath !== undefined) file.symlinkPath = symlinkPath
    files.push(file)
    offset = addLength(offset, lengthBytes, `${field}.length`)
  }
  return { files, multiFile: true }
}

/** Walks a v2 `file tree` depth-first in key byte order (BEP 52's order, whatever the input order). */
function readFileTree (tree: BencodeDict, limits: MetainfoLimits): V2File[] {
  const out: V2File[] = []
  const walk = (node: BencodeDict, path: string[], field: string): void => {
    if (node.size === 0) throw invalid(field, 'empty directory in file tree')
    const keys = [...node.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    for (const key of keys) {
      const childField = `${field}.${keyToText(key)}`
      const child = node.get(key)
      if (key === '') {
        // A file entry at the tree root would have an empty path.
        throw new LodestoneError('METAINFO_UNSAFE_PATH', { path: path.join('/'), reason: path.length === 0 ? 'file with an empty name at the root of the file tree' : 'file entry mixed with directory entries' })
      }
      if (!isBencodeDict(child)) throw invalid(childField, `expected a dictionary, got ${typeName(child)}`)
      const childPath = [...path, shortenName(keyToText(key))]
      if (childPath.length > limits.maxPathDepth) throw overLimit('maxPathDepth', childPath.length, limits.maxPathDepth)
      assertSafePath(childPath)
      const leaf = child.get('')
      if (leaf === undefined) {
        walk(child, childPath, childField)
        continue
      }
      if (child.size !== 1) throw invalid(childField, 'file entry has other keys beside ""')
      if (!isBencodeDict(leaf)) throw invalid(`${childField}.`, `expected a dictionary, got ${typeName(leaf)}`)
      let attr = readAttr(leaf)
      let symlinkPath: string[] | undefined
      if (attr.includes('l')) ({ attr, symlinkPath } = readSymlink(leaf, attr, `${childField}.`))
      // BEP 47 / libtorrent: a symlink takes no room in the piece space and has no pieces root.
      const lengthBytes = symlinkPath !== undefined ? 0 : reqLength(leaf, 'length', `${childField}..length`)
      const file: V2File = { path: childPath, lengthBytes, attr }
      if (symlinkPath !== undefined) file.symlinkPath = symlinkPath
      if (lengthBytes > 0) {
        const root = reqBytes(leaf, 'pieces root', `${childField}..pieces root`)
        if (root.length !== MERKLE_HASH_LENGTH_BYTES) throw invalid(`${childField}..pieces root`, `expected 32 bytes, got ${root.length}`)
        file.piecesRoot = root
      }
      out.push(file)
      if (out.length > limits.maxFileCount) throw overLimit('maxFileCount', out.length, limits.maxFileCount)
    }
  }
  walk(tree, [], 'info.file tree')
  return out
}

/** Pure v2 layout: files in tree order, each non-empty file starting on a piece boundary. */
function layoutV2 (v2Files: readonly V2File[], pieceLengthBytes: number, limits: MetainfoLimits): TorrentFileEntry[] {
  const files: TorrentFileEntry[] = []
  let offset = 0
  for (const f of v2Files) {
    const misalignment = offset % pieceLengthBytes
    if (f.lengthBytes > 0 && misalignment !== 0) {
      const padLength = pieceLengthBytes - misalignment
      // Synthetic: pure v2 has no pad files; this one stands for the gap BEP 52 implies.
      files.push({ path: ['.pad', String(padLength)], lengthBytes: padLength, offsetBytes: offset, padding: true, attr: 'p' })
      offset += padLength
    }
    const entry: TorrentFileEntry = { path: f.path, lengthBytes: f.lengthBytes, offsetBytes: offset, padding: false, attr: f.attr }
    if (f.piecesRoot !== undefined) entry.piecesRoot = f.piecesRoot
    if (f.symlinkPath !== undefined) entry.symlinkPath = f.symlinkPath
    files.push(entry)
    offset = addLength(offset, f.lengthBytes, 'info.file tree')
    if (files.length > limits.maxFileCount) throw overLimit('maxFileCount', files.length, limits.maxFileCount)
  }
  return files
}

/** Hybrid: the v1 layout (with its pad files) must place the same files at the same offsets as v2. */
function mergeHybrid (v1: readonly TorrentFileEntry[], v2: readonly V2File[], pieceLengthBytes: number): TorrentFileEntry[] {
  const dataFiles = v1.filter((f) => !f.padding)
  if (dataFiles.length !== v2.length) {
    throw inconsistent('info.files', `v1 lists ${dataFiles.length} files, the v2 file tree ${v2.length}`)
  }
  let i = 0
  return v1.map((entry) => {
    if (entry.padding) return entry
    const field = `info.files.${i}`
    const other = v2[i++]
    if (other === undefined) throw inconsistent(field, 'no matching v2 file')
    if (entry.path.join('/') !== other.path.join('/')) {
      throw inconsistent(field, `v1 path "${entry.path.join('/')}" differs from v2 path "${other.path.join('/')}"`)
    }
    if (entry.lengthBytes !== other.lengthBytes) {
      throw inconsistent(field, `v1 length ${entry.lengthBytes} differs from v2 length ${other.lengthBytes}`)
    }
    if (entry.lengthBytes > 0 && entry.offsetBytes % pieceLengthBytes !== 0) {
      throw inconsistent(field, 'file does not start on a piece boundary (missing BEP 47 padding)')
    }
    const merged: TorrentFileEntry = { ...entry }
    if (other.piecesRoot !== undefined) merged.piecesRoot = other.piecesRoot
    return merged
  })
}

function parseInfoDict (info: BencodeDict, limits: MetainfoLimits): InfoParse {
  const rawName = optText(info, 'name')
  if (rawName === undefined) throw invalid('info.name', `expected a string, got ${typeName(info.get('name'))}`)
  const name = shortenName(rawName)
  assertSafePath([name])

  const pieceLengthBytes = reqInt(info, 'piece length', 'info.piece length')
  if (pieceLengthBytes <= 0) throw invalid('info.piece length', `must be positive, got ${pieceLengthBytes}`)
  if (pieceLengthBytes > limits.maxPieceLengthBytes) throw overLimit('maxPieceLengthBytes', pieceLengthBytes, limits.maxPieceLengthBytes)

  const metaVersion = info.get('meta version')
  const hasV2 = metaVersion !== undefined
  const hasV1 = info.has('pieces')
  if (hasV2) {
    if (metaVersion !== 2) throw new LodestoneError('METAINFO_UNSUPPORTED', { feature: `meta version ${typeof metaVersion === 'number' ? metaVersion : typeName(metaVersion)}` })
    if (!isPowerOfTwo(pieceLengthBytes) || pieceLengthBytes < MERKLE_BLOCK_LENGTH_BYTES) {
      throw invalid('info.piece length', `v2 needs a power of two >= 16384, got ${pieceLengthBytes}`)
    }
  }
  const version: MetaVersion = hasV2 ? (hasV1 ? 'hybrid' : 'v2') : 'v1'

  let files: TorrentFileEntry[]
  let multiFile: boolean
  let v2Files: V2File[] = []
  if (hasV2) {
    v2Files = readFileTree(reqDict(info, 'file tree', 'info.file tree'), limits)
    if (v2Files.length === 0) throw invalid('info.file tree', 'no files')
  }
  if (hasV1) {
    // Hybrid: the v1 side decides the on-disk layout (libtorrent does the same).
    const v1 = readV1Files(info, name, limits)
    files = hasV2 ? mergeHybrid(v1.files, v2Files, pieceLengthBytes) : v1.files
    multiFile = v1.multiFile
  } else if (hasV2) {
    files = layoutV2(v2Files, pieceLengthBytes, limits)
    // One file at the root of the tree is a single-file torrent, whatever `name` says.
    multiFile = !(v2Files.length === 1 && v2Files[0]?.path.length === 1)
  } else {
    throw invalid('info.pieces', 'missing (and no v2 "meta version")')
  }
  assertNoPathConflicts(files.filter((f) => !f.padding).map((f) => f.path))
  resolveSymlinkTargets(files)

  let totalLengthBytes = 0
  for (const f of files) totalLengthBytes = addLength(totalLengthBytes, f.lengthBytes, 'info')
  if (totalLengthBytes === 0) throw invalid('info', 'the torrent holds no data (total length 0)')
  const pieceCount = Math.ceil(totalLengthBytes / pieceLengthBytes)

  let pieceHashesV1: Uint8Array | null = null
  if (hasV1) {
    pieceHashesV1 = reqBytes(info, 'pieces', 'info.pieces')
    if (pieceHashesV1.length % SHA1_LENGTH_BYTES !== 0) {
      throw invalid('info.pieces', `length ${pieceHashesV1.length} is not a multiple of 20`)
    }
    if (pieceHashesV1.length / SHA1_LENGTH_BYTES !== pieceCount) {
      throw inconsistent('info.pieces', `${pieceHashesV1.length / SHA1_LENGTH_BYTES} piece hashes for ${pieceCount} pieces (${totalLengthBytes} bytes / ${pieceLengthBytes})`)
    }
  }

  const out: InfoParse = {
    version, name, pieceLengthBytes, pieceCount, totalLengthBytes, files, multiFile, pieceHashesV1,
    private: info.get('private') === 1
  }
  const source = optText(info, 'source')
  if (source !== undefined) out.source = source
  return out
}

/**
 * Reads `piece layers` and checks that every file larger than one piece has a layer of the right
 * size that hashes up to its `pieces root`. A hybrid may leave them out altogether.
 */
async function readPieceLayers (top: BencodeDict, parsed: InfoParse, hasher: IHasher, allowMissing: boolean): Promise<Map<string, Uint8Array>> {
  const layers = new Map<string, Uint8Array>()
  const needed = parsed.files.filter((f) => f.piecesRoot !== undefined && f.lengthBytes > parsed.pieceLengthBytes)
  if (needed.length === 0) return layers
  const raw = top.get('piece layers')
  // A hybrid's v1 hashes verify every piece on their own, so a hybrid saved from metadata fetched
  // with BEP 9 (which carries no layers) stays usable; its v2 layers are then `layer-unknown`.
  // A pure v2 torrent without them could verify nothing and is refused, unless the caller fetches them.
  if (raw === undefined && (parsed.pieceHashesV1 !== null || allowMissing)) return layers
  if (!isBencodeDict(raw)) throw inconsistent('piece layers', raw === undefined ? 'missing, but files larger than a piece need them' : `expected a dictionary, got ${typeName(raw)}`)
  // Sizes first (synchronously), hashes after: a throw must not leave hash checks unobserved.
  const toCheck: Array<{ root: Uint8Array, layer: Uint8Array, field: string, path: string }> = []
  for (const file of needed) {
    const root = file.piecesRoot
    if (root === undefined) continue
    const key = String.fromCharCode(...root)
    const field = `piece layers.${toHex(root)}`
    const path = file.path.join('/')
    const layer = raw.get(key)
    if (!(layer instanceof Uint8Array)) {
      if (allowMissing && layer === undefined) continue
      throw inconsistent(field, `missing for "${path}"`)
    }
    const expected = Math.ceil(file.lengthBytes / parsed.pieceLengthBytes) * MERKLE_HASH_LENGTH_BYTES
    if (layer.length !== expected) throw inconsistent(field, `${layer.length} bytes, expected ${expected} for "${path}"`)
    layers.set(toHex(root), layer)
    toCheck.push({ root, layer, field, path })
  }
  const computed = await Promise.all(toCheck.map(async ({ layer }) => rootFromPieceLayer(hasher, layer, parsed.pieceLengthBytes)))
  toCheck.forEach(({ root, field, path }, i) => {
    const c = computed[i]
    if (c === undefined || !bytesEqual(c, root)) throw inconsistent(field, `does not hash to the pieces root of "${path}"`)
  })
  return layers
}

async function buildMetainfo (parsed: InfoParse, infoBytes: Uint8Array, hasher: IHasher): Promise<TorrentMetainfo> {
  const [v1, v2] = await Promise.all([
    parsed.version === 'v2' ? null : hasher.digest('sha1', infoBytes),
    parsed.version === 'v1' ? null : hasher.digest('sha256', infoBytes)
  ])
  const infoHash = v1 ?? (v2 as Uint8Array).slice(0, SHA1_LENGTH_BYTES)
  const meta: TorrentMetainfo = {
    name: parsed.name,
    version: parsed.version,
    infoHashV1: v1,
    infoHashV2: v2,
    infoHash,
    id: toHex(infoHash) as InfoHashHex,
    pieceLengthBytes: parsed.pieceLengthBytes,
    pieceCount: parsed.pieceCount,
    totalLengthBytes: parsed.totalLengthBytes,
    multiFile: parsed.multiFile,
    files: parsed.files,
    pieceHashesV1: parsed.pieceHashesV1,
    pieceLayers: new Map(),
    announce: [],
    urlList: [],
    private: parsed.private,
    infoBytes
  }
  if (parsed.source !== undefined) meta.source = parsed.source
  return meta
}

function decodeLimits (limits: MetainfoLimits): { maxTotalBytes: number, maxDepth: number, strictKeyOrder: false } {
  // A file tree nests one dict per path component plus the file's own two levels and the top two.
  return { maxTotalBytes: limits.maxTorrentBytes, maxDepth: limits.maxPathDepth + 6, strictKeyOrder: false }
}

/** A .torrent may end with bytes after its dict (a newline, a signature block): ignored. */
function torrentFileDecodeOptions (limits: MetainfoLimits): BencodeDecodeOptions {
  return { ...decodeLimits(limits), allowTrailingBytes: true }
}

// ---------------------------------------------------------------------------------------------
// Top level

function readAnnounce (top: BencodeDict): string[][] {
  const tiers: string[][] = []
  const list = top.get('announce-list')
  if (Array.isArray(list)) {
    for (const tier of list) {
      if (!Array.isArray(tier)) continue
      const urls = tier.filter((u): u is Uint8Array => u instanceof Uint8Array).map((u) => fromUtf8(u).trim()).filter((u) => u.length > 0)
      if (urls.length > 0) tiers.push(urls)
    }
  }
  // BEP 12: announce-list, when usable, replaces announce.
  if (tiers.length === 0) {
    const lone = top.get('announce')
    if (lone instanceof Uint8Array) {
      const url = fromUtf8(lone).trim()
      if (url.length > 0) tiers.push([url])
    }
  }
  return tiers
}

function readUrlList (top: BencodeDict): string[] {
  const raw = top.get('url-list')
  const items = raw instanceof Uint8Array ? [raw] : Array.isArray(raw) ? raw : []
  return normalizeWebSeedUrls(items.filter((u): u is Uint8Array => u instanceof Uint8Array).map((u) => fromUtf8(u)))
}

/**
 * Parses a .torrent file.
 * @param bytes the file's bytes; copied once, so the caller keeps ownership.
 * @throws LodestoneError `BENCODE_INVALID` / `BENCODE_LIMIT` (not bencode, too big),
 *   `METAINFO_INVALID` (missing or mistyped field; `field` is a dotted path such as
 *   `info.files.3.length`), `METAINFO_INCONSISTENT` (piece count, lengths, piece layers, hybrid
 *   v1/v2 mismatch), `METAINFO_UNSAFE_PATH`, `METAINFO_UNSUPPORTED` (meta version other than 2),
 *   `METAINFO_LIMIT`, `ABORTED`.
 */
export async function parseTorrent (bytes: Uint8Array, options: ParseTorrentOptions = {}): Promise<TorrentMetainfo> {
  const limits = resolveLimits(options.limits)
  const hasher = options.hasher ?? createDefaultHasher()
  const own = bytes.slice()
  const { value, spans } = bencodeDecodeWithSpans(own, torrentFileDecodeOptions(limits), ['info'])
  if (!isBencodeDict(value)) throw invalid('', `a torrent is a dictionary, got ${typeName(value)}`)
  const info = reqDict(value, 'info', 'info')
  const span = spans.get('info')
  if (span === undefined) throw new LodestoneError('INTERNAL', { reason: 'info dict without a span' })
  const infoBytes = own.subarray(span.start, span.end)

  const parsed = parseInfoDict(info, limits)
  checkAborted(options.signal)
  const meta = await buildMetainfo(parsed, infoBytes, hasher)
  checkAborted(options.signal)
  if (parsed.version !== 'v1') meta.pieceLayers = await readPieceLayers(value, parsed, hasher, options.allowMissingPieceLayers === true)
  checkAborted(options.signal)
  meta.announce = readAnnounce(value)
  meta.urlList = readUrlList(value)
  const comment = optText(value, 'comment')
  if (comment !== undefined) meta.comment = comment
  const createdBy = optText(value, 'created by')
  if (createdBy !== undefined) meta.createdBy = createdBy
  const creationDate = value.get('creation date')
  if (typeof creationDate === 'number') meta.creationDate = creationDate
  return meta
}

/**
 * Parses a bare info dictionary, as fetched from peers with BEP 9: no trackers, no comment and, for
 * v2, no `piece layers` (v2 pieces of multi-piece files then verify as `layer-unknown`, see
 * merkle.ts, until the layers are fetched). The caller checks the info hash against the magnet's.
 * @param infoBytes the exact info dict bytes; copied once.
 * @throws LodestoneError as {@link parseTorrent}.
 */
export async function parseInfoDictionary (infoBytes: Uint8Array, options: ParseTorrentOptions = {}): Promise<TorrentMetainfo> {
  const limits = resolveLimits(options.limits)
  const hasher = options.hasher ?? createDefaultHasher()
  const own = infoBytes.slice()
  const value = bencodeDecode(own, decodeLimits(limits))
  if (!isBencodeDict(value)) throw invalid('info', `expected a dictionary, got ${typeName(value)}`)
  const parsed = parseInfoDict(value, limits)
  checkAborted(options.signal)
  const meta = await buildMetainfo(parsed, own, hasher)
  checkAborted(options.signal)
  return meta
}
