/**
 * Resume data: the records the engine keeps in its {@link ISessionStore} so a restart picks up
 * where it left off (seed 004's key names), and their codec.
 *
 * ```
 * engine:listing               { v }            torrents are listed by their own `listed` keys (below)
 * torrent:{id}:listed:{seq}    empty            the torrent is to be restored; seq orders the restore
 * engine:torrents              { v, ids: [id...] }   the former list of every id (read, migrated, deleted)
 * torrent:{id}:metadata        the .torrent file bytes (as added, or rebuilt from the metainfo)
 * torrent:{id}:bitfield        { v, pieces, bits, files: [[size, mtimeUs] | []...], savedAt }
 * torrent:{id}:progress        { v, uploaded, downloaded, addedAt, completedAt, intent, root, path,
 *                                settings, priorities?, savedAt }
 * torrent:{id}:peers           { v, peers: ["host:port"...] }
 * torrent:{id}:magnet          { v, uri }   a magnet still fetching its metadata (no :metadata yet);
 *                                            deleted once the metadata is stored
 * ```
 *
 * Why bencode: the format is already in the core, canonical (two saves of the same state are the
 * same bytes) and binary-safe (the bitfield is raw bytes). Every record carries a version `v`;
 * a reader refuses versions it does not know instead of guessing.
 *
 * Why the file stamps (size, mtime) live in the bitfield record and not elsewhere: they describe
 * the files at the moment the bitfield was taken, and a store `set` is atomic per key, so the two
 * can never come from different saves.
 *
 * Every decoder is strict: anything not exactly as written (wrong type, wrong length, unknown
 * version, bits past the piece count) throws RESUME_DATA_INVALID naming the key and what is wrong.
 * Stored bytes can be damaged (a disk, a user editing files); damaged resume data must cost a
 * re-check, never a crash or a trusted piece that is not there.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import {
  bencodeDecode, bencodeEncode, getBytes, getDict, getInt, getList, isBencodeBytes, isBencodeList,
  keyToText, type BencodeDict, type BencodeEncodable, type BencodeValue
} from '../protocol/bencode.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import { Bitfield } from '../util/bitfield.js'
import { concatBytes, fromHex, fromUtf8Strict, utf8 } from '../util/bytes.js'
import type { TorrentSettings } from './engine-settings.js'

/** Version written into every record; readers refuse others. */
export const RESUME_DATA_VERSION = 1

/**
 * Key of the former engine-wide list of torrent ids. Rewriting it on every add or remove cost O(n)
 * bytes each (100 MB of records to add 10 000 torrents): stores that still have it are migrated to
 * one `listed` key per torrent on restore.
 */
export const ENGINE_TORRENTS_KEY = 'engine:torrents'

/**
 * Present once torrents are listed by `torrent:{id}:listed:{seq}` keys: a store without it and
 * without the former list restores every id whose metadata is stored (nothing ever listed them).
 */
export const ENGINE_LISTING_KEY = 'engine:listing'

/** The key that lists torrent `id` (added `seq`-th: a restore adds in seq order). */
export function listedKey (id: string, seq: number): string {
  return `torrent:${id.toLowerCase()}:listed:${seq}`
}

/** The id and seq of a {@link listedKey}; null for any other key. */
export function parseListedKey (key: string): { id: string, seq: number } | null {
  const m = /^torrent:([0-9a-f]{40}):listed:(\d{1,15})$/.exec(key)
  return m === null ? null : { id: m[1] as string, seq: Number(m[2]) }
}

export function encodeListingMarker (): Uint8Array {
  return bencodeEncode({ v: RESUME_DATA_VERSION })
}

/** Session-store keys of one torrent (seed 004). */
export function resumeKeys (id: string): { metadata: string, bitfield: string, progress: string, peers: string, magnet: string } {
  const base = `torrent:${id.toLowerCase()}`
  return { metadata: `${base}:metadata`, bitfield: `${base}:bitfield`, progress: `${base}:progress`, peers: `${base}:peers`, magnet: `${base}:magnet` }
}

/** Size and modification time of one file when the bitfield was saved; null for padding or absent files. */
export interface FileStamp {
  sizeBytes: number
  /** Modification time in whole microseconds since the epoch (integer, so it survives bencode). */
  mtimeUs: number
}

/** The verified pieces and the state of the files they were written to. */
export interface BitfieldRecord {
  pieces: Bitfield
  /** One per file of the torrent, in metainfo order. */
  files: Array<FileStamp | null>
  /** Wall-clock ms of the save. */
  savedAtMs: number
}

/** What the user wanted the torrent to do: restored torrents start only when `running`. */
export type TorrentIntent = 'running' | 'paused' | 'stopped'

export interface ProgressRecord {
  /** Payload bytes uploaded over the torrent's whole life. */
  uploadedBytes: number
  /** Payload bytes downloaded over the torrent's whole life. */
  downloadedBytes: number
  /** Wall-clock ms when it was first added. */
  addedAtMs: number
  /** Wall-clock ms when it completed, or null. */
  completedAtMs: number | null
  intent: TorrentIntent
  /** Storage root token the files live in (null: the engine's default root). */
  rootToken: string | null
  /** The root's path when it was saved (display; and re-registered for path-token roots). */
  rootPath: string | null
  /** Per-torrent setting overrides. */
  settings: TorrentSettings
  /** Per-file priorities when the torrent has them (extension point: restored when the API exists). */
  filePriorities: number[] | null
  /** Paths (in the storage root) of files renamed by Torrent.renamePath, by file index; null when none. */
  renamedPaths?: Record<number, string> | null
  savedAtMs: number
}

/**
 * How a torrent starts from resume data instead of checking everything: `trusted` pieces are
 * marked verified without hashing, `recheck` pieces are hashed first (the Hashing state is
 * skipped when there are none). The two never overlap.
 */
export interface TorrentResumeHint {
  trusted: Bitfield
  recheck: Bitfield | null
}

export interface PeersRecord {
  /** `host:port` strings, most useful first. */
  peers: string[]
}

/** A magnet whose metadata has not arrived: restored as a magnet, fetching again. */
export interface MagnetRecord {
  uri: string
}

// ---------------------------------------------------------------- encoders

export function encodeTorrentList (ids: readonly string[]): Uint8Array {
  return bencodeEncode({ v: RESUME_DATA_VERSION, ids: ids.map((id) => id.toLowerCase()) })
}

export function encodeBitfieldRecord (record: BitfieldRecord): Uint8Array {
  return bencodeEncode({
    v: RESUME_DATA_VERSION,
    pieces: record.pieces.length,
    bits: record.pieces.bytes,
    files: record.files.map((f) => (f === null ? [] : [f.sizeBytes, f.mtimeUs])),
    savedAt: Math.floor(record.savedAtMs)
  })
}

export function encodeProgressRecord (record: ProgressRecord): Uint8Array {
  const settings: Record<string, BencodeEncodable> = {}
  for (const [key, value] of Object.entries(record.settings)) {
    if (typeof value === 'number') settings[key] = value
    else if (typeof value === 'boolean') settings[key] = value ? 1 : 0
  }
  return bencodeEncode({
    v: RESUME_DATA_VERSION,
    uploaded: Math.floor(record.uploadedBytes),
    downloaded: Math.floor(record.downloadedBytes),
    addedAt: Math.floor(record.addedAtMs),
    ...(record.completedAtMs !== null ? { completedAt: Math.floor(record.completedAtMs) } : {}),
    intent: record.intent,
    ...(record.rootToken !== null ? { root: record.rootToken } : {}),
    ...(record.rootPath !== null ? { path: record.rootPath } : {}),
    settings,
    ...(record.filePriorities !== null ? { priorities: record.filePriorities } : {}),
    ...(record.renamedPaths != null ? { renamed: Object.entries(record.renamedPaths).map(([i, path]) => [Number(i), path]) } : {}),
    savedAt: Math.floor(record.savedAtMs)
  })
}

export function encodePeersRecord (record: PeersRecord): Uint8Array {
  return bencodeEncode({ v: RESUME_DATA_VERSION, peers: record.peers })
}

export function encodeMagnetRecord (record: MagnetRecord): Uint8Array {
  return bencodeEncode({ v: RESUME_DATA_VERSION, uri: record.uri })
}

/**
 * The .torrent file for `meta`: the info dictionary's exact bytes (so the info hash is unchanged)
 * inside a canonical outer dict with the trackers, web seeds, comment and v2 piece layers.
 * Used when a torrent was added as parsed metainfo rather than as file bytes.
 */
export function encodeTorrentFile (meta: TorrentMetainfo): Uint8Array {
  // Keys in bencode order; `info` is spliced in raw between `creation date` and `piece layers`.
  const before: Array<[string, BencodeEncodable]> = []
  const firstTracker = meta.announce[0]?.[0]
  if (firstTracker !== undefined) before.push(['announce', firstTracker])
  if (meta.announce.length > 1 || (meta.announce[0]?.length ?? 0) > 1) before.push(['announce-list', meta.announce])
  if (meta.comment !== undefined) before.push(['comment', meta.comment])
  if (meta.createdBy !== undefined) before.push(['created by', meta.createdBy])
  if (meta.creationDate !== undefined) before.push(['creation date', meta.creationDate])
  const after: Array<[string, BencodeEncodable]> = []
  if (meta.pieceLayers.size > 0) {
    const layers = new Map<string, BencodeEncodable>()
    for (const [rootHex, layer] of meta.pieceLayers) {
      const root = fromHex(rootHex)
      if (root === null) continue
      layers.set(String.fromCharCode(...root), layer)
    }
    after.push(['piece layers', new Map([...layers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))])
  }
  if (meta.urlList.length > 0) after.push(['url-list', meta.urlList])
  const pair = (key: string, value: BencodeEncodable): Uint8Array => {
    const encoded = bencodeEncode(new Map([[key, value]]))
    return encoded.subarray(1, encoded.length - 1) // strip the one-entry dict's `d` … `e`
  }
  return concatBytes([
    utf8('d'),
    ...before.map(([k, v]) => pair(k, v)),
    utf8('4:info'), meta.infoBytes,
    ...after.map(([k, v]) => pair(k, v)),
    utf8('e')
  ])
}

// ---------------------------------------------------------------- decoders

/** @throws LodestoneError RESUME_DATA_INVALID */
export function decodeTorrentList (bytes: Uint8Array): string[] {
  const key = ENGINE_TORRENTS_KEY
  const dict = decodeRecord(bytes, key)
  const ids = requireList(dict, 'ids', key)
  return ids.map((value, i) => {
    const id = isBencodeBytes(value) ? fromUtf8Strict(value) : null
    if (id === null || !/^[0-9a-f]{40}$/.test(id)) throw invalid(key, `ids[${i}] is not a 40-character lowercase hex info hash`)
    return id
  })
}

/**
 * @param pieceCount the torrent's piece count; @param fileCount its file count (both from the metainfo).
 * @throws LodestoneError RESUME_DATA_INVALID
 */
export function decodeBitfieldRecord (bytes: Uint8Array, key: string, pieceCount: number, fileCount: number): BitfieldRecord {
  const dict = decodeRecord(bytes, key)
  const pieces = requireInt(dict, 'pieces', key)
  if (pieces !== pieceCount) throw invalid(key, `pieces is ${pieces}, the torrent has ${pieceCount}`)
  const bits = getBytes(dict, 'bits')
  if (bits === undefined) throw invalid(key, 'bits missing or not a byte string')
  if (bits.length !== Math.ceil(pieceCount / 8)) throw invalid(key, `bits is ${bits.length} bytes, expected ${Math.ceil(pieceCount / 8)}`)
  const spare = bits.length * 8 - pieceCount
  if (spare > 0 && ((bits[bits.length - 1] ?? 0) & ((1 << spare) - 1)) !== 0) throw invalid(key, 'bits set past the last piece')
  const list = requireList(dict, 'files', key)
  if (list.length !== fileCount) throw invalid(key, `files has ${list.length} entries, the torrent has ${fileCount}`)
  const files = list.map((entry, i): FileStamp | null => {
    if (!isBencodeList(entry)) throw invalid(key, `files[${i}] is not a list`)
    if (entry.length === 0) return null
    const [size, mtime] = entry
    if (entry.length !== 2 || !isNonNegativeInt(size) || !isNonNegativeInt(mtime)) throw invalid(key, `files[${i}] is not [size, mtime]`)
    return { sizeBytes: size, mtimeUs: mtime }
  })
  return { pieces: new Bitfield(pieceCount, bits), files, savedAtMs: requireInt(dict, 'savedAt', key) }
}

/** @throws LodestoneError RESUME_DATA_INVALID */
export function decodeProgressRecord (bytes: Uint8Array, key: string): ProgressRecord {
  const dict = decodeRecord(bytes, key)
  const intent = optionalText(dict, 'intent', key)
  if (intent !== 'running' && intent !== 'paused' && intent !== 'stopped') throw invalid(key, 'intent must be running, paused or stopped')
  const settingsDict = getDict(dict, 'settings')
  if (settingsDict === undefined) throw invalid(key, 'settings missing or not a dict')
  const settings: Record<string, number | boolean> = {}
  for (const [k, value] of settingsDict) {
    if (typeof value !== 'number') throw invalid(key, `settings.${keyToText(k)} is not an integer`)
    // Booleans are stored as 0/1; resolveTorrentSettings (called on restore) checks the types.
    settings[keyToText(k)] = k === 'checkExistingData' ? value !== 0 : value
  }
  let filePriorities: number[] | null = null
  if (dict.has('priorities')) {
    filePriorities = requireList(dict, 'priorities', key).map((p, i) => {
      if (!isNonNegativeInt(p)) throw invalid(key, `priorities[${i}] is not a non-negative integer`)
      return p
    })
  }
  let renamedPaths: Record<number, string> | null = null
  if (dict.has('renamed')) {
    renamedPaths = {}
    for (const [i, entry] of requireList(dict, 'renamed', key).entries()) {
      const [index, path] = Array.isArray(entry) ? entry : []
      const text = isBencodeBytes(path) ? fromUtf8Strict(path) : null
      if (!isNonNegativeInt(index) || text === null || !isSafeRelativePath(text)) throw invalid(key, `renamed[${i}] is not a file index and a safe relative path`)
      renamedPaths[index] = text
    }
  }
  const completedAt = dict.get('completedAt')
  if (completedAt !== undefined && !isNonNegativeInt(completedAt)) throw invalid(key, 'completedAt is not an integer')
  return {
    uploadedBytes: requireInt(dict, 'uploaded', key),
    downloadedBytes: requireInt(dict, 'downloaded', key),
    addedAtMs: requireInt(dict, 'addedAt', key),
    completedAtMs: completedAt ?? null,
    intent,
    rootToken: optionalText(dict, 'root', key) ?? null,
    rootPath: optionalText(dict, 'path', key) ?? null,
    settings: settings,
    filePriorities,
    ...(renamedPaths !== null ? { renamedPaths } : {}),
    savedAtMs: requireInt(dict, 'savedAt', key)
  }
}

/** @throws LodestoneError RESUME_DATA_INVALID */
export function decodePeersRecord (bytes: Uint8Array, key: string): PeersRecord {
  const dict = decodeRecord(bytes, key)
  const peers = requireList(dict, 'peers', key).map((p, i) => {
    const text = isBencodeBytes(p) ? fromUtf8Strict(p) : null
    if (text === null) throw invalid(key, `peers[${i}] is not a UTF-8 string`)
    return text
  })
  return { peers }
}

/** @throws LodestoneError RESUME_DATA_INVALID */
export function decodeMagnetRecord (bytes: Uint8Array, key: string): MagnetRecord {
  const uri = optionalText(decodeRecord(bytes, key), 'uri', key)
  if (uri === undefined || !uri.startsWith('magnet:?')) throw invalid(key, 'uri missing or not a magnet link')
  return { uri }
}

// ---------------------------------------------------------------- helpers

/** Records are small; anything near this is damage, not data. */
const MAX_RECORD_BYTES = 16 * 1024 * 1024

function decodeRecord (bytes: Uint8Array, key: string): BencodeDict {
  let value: BencodeValue
  try {
    value = bencodeDecode(bytes, { maxTotalBytes: MAX_RECORD_BYTES, maxDepth: 8 })
  } catch (error) {
    const reason = isLodestoneError(error) ? error.message : String(error)
    throw new LodestoneError('RESUME_DATA_INVALID', { key, reason: `not bencode: ${reason}` }, { cause: error })
  }
  if (!(value instanceof Map)) throw invalid(key, 'not a dict')
  const version = getInt(value, 'v')
  if (version === undefined) throw invalid(key, 'no version')
  if (version !== RESUME_DATA_VERSION) throw invalid(key, `version ${version} is not supported (this build reads ${RESUME_DATA_VERSION})`)
  return value
}

function requireInt (dict: BencodeDict, field: string, key: string): number {
  const value = dict.get(field)
  if (!isNonNegativeInt(value)) throw invalid(key, `${field} missing or not a non-negative integer`)
  return value
}

function requireList (dict: BencodeDict, field: string, key: string): BencodeValue[] {
  const value = getList(dict, field)
  if (value === undefined) throw invalid(key, `${field} missing or not a list`)
  return value
}

function optionalText (dict: BencodeDict, field: string, key: string): string | undefined {
  if (!dict.has(field)) return undefined
  const bytes = getBytes(dict, field)
  const text = bytes === undefined ? null : fromUtf8Strict(bytes)
  if (text === null) throw invalid(key, `${field} is not a UTF-8 string`)
  return text
}

function isNonNegativeInt (value: BencodeValue | undefined): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function invalid (key: string, reason: string): LodestoneError<'RESUME_DATA_INVALID'> {
  return new LodestoneError('RESUME_DATA_INVALID', { key, reason }, { message: `resume data ${key}: ${reason}` })
}

/** A '/'-separated path that stays inside its root: no empty, `.` or `..` component, no NUL or backslash. */
function isSafeRelativePath (path: string): boolean {
  return path !== '' && !/[\0\\]/.test(path) && path.split('/').every((c) => c !== '' && c !== '.' && c !== '..')
}

/** A progress record's renames when every index names one of `fileCount` files, else null (ignored). */
export function validRenames (renamed: Record<number, string> | null | undefined, fileCount: number): Record<number, string> | null {
  if (renamed == null || !Object.keys(renamed).every((i) => Number(i) < fileCount)) return null
  return renamed
}
