/**
 * Magnet links (BEP 9 §magnet URI format, BEP 52 `btmh`, BEP 53 `so`).
 *
 * Parsing is strict about what we act on (the info hashes, peer addresses, file selection) and
 * refuses anything malformed there with `MAGNET_INVALID` and a reason; unknown parameters and
 * non-BitTorrent `xt` URNs are ignored, as other clients do.
 */
import { LodestoneError } from '../errors.js'
import { bytesEqual, fromBase32, fromHex, toHex } from '../util/bytes.js'
import type { InfoHashHex, TorrentMetainfo } from './types.js'
import { normalizeWebSeedUrl } from './web-seed-urls.js'

/** A peer address from `x.pe`. `host` is a hostname, IPv4, or IPv6 without brackets. */
export interface MagnetPeer {
  host: string
  port: number
}

/** An inclusive range of file indices from BEP 53 `so` (`2-4` is first 2, last 4). */
export interface FileIndexRange {
  first: number
  last: number
}

/** A parsed magnet link. */
export interface MagnetLink {
  /** 20-byte SHA-1 info hash from `urn:btih:`, or null. */
  infoHashV1: Uint8Array | null
  /** 32-byte SHA-256 info hash from `urn:btmh:1220…`, or null. */
  infoHashV2: Uint8Array | null
  /** The 20-byte swarm hash: the v1 hash, or the v2 hash truncated (as in TorrentMetainfo). */
  infoHash: Uint8Array
  /** `infoHash` as lowercase hex. */
  id: InfoHashHex
  /** `dn`. */
  displayName?: string
  /** `tr` / `tr.N`, in order, duplicates removed. */
  trackers: string[]
  /** `ws`: BEP 19 web seeds. */
  webSeeds: string[]
  /** `x.pe`: peers to try first. */
  peers: MagnetPeer[]
  /** BEP 53 `so`: only these files are wanted. Absent means all. */
  selectOnly?: FileIndexRange[]
  /** `xl`: exact length in bytes. */
  exactLengthBytes?: number
}

/** What {@link buildMagnet} needs: at least one info hash, the rest optional. */
export interface MagnetBuildInput {
  infoHashV1?: Uint8Array | null
  infoHashV2?: Uint8Array | null
  displayName?: string
  trackers?: readonly string[]
  webSeeds?: readonly string[]
  peers?: readonly MagnetPeer[]
  selectOnly?: readonly FileIndexRange[]
  exactLengthBytes?: number
}

/** Longest magnet URI accepted; real ones with dozens of trackers stay well under. */
export const MAX_MAGNET_LENGTH_CHARS = 65_536

function fail (reason: string): LodestoneError<'MAGNET_INVALID'> {
  return new LodestoneError('MAGNET_INVALID', { reason }, { message: `invalid magnet link: ${reason}` })
}

function decode (raw: string, key: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw fail(`bad percent-encoding in "${key}"`)
  }
}

function parseBtih (value: string): Uint8Array {
  const hash = value.length === 40 ? fromHex(value) : value.length === 32 ? fromBase32(value) : null
  if (hash === null || hash.length !== 20) throw fail(`urn:btih needs 40 hex or 32 base32 characters, got "${value.slice(0, 80)}"`)
  return hash
}

function parseBtmh (value: string): Uint8Array {
  // Multihash: 0x12 = sha2-256, 0x20 = 32 bytes. BEP 52 defines no other.
  const bytes = fromHex(value)
  if (bytes === null) throw fail('urn:btmh is not hex')
  if (bytes.length < 2 || bytes[0] !== 0x12 || bytes[1] !== 0x20) throw fail('urn:btmh is not a sha2-256 multihash (1220…)')
  if (bytes.length !== 34) throw fail(`urn:btmh sha2-256 needs 32 bytes, got ${bytes.length - 2}`)
  return bytes.subarray(2)
}

function parseNat (text: string, what: string): number {
  if (!/^\d{1,15}$/.test(text)) throw fail(`${what} "${text.slice(0, 40)}" is not a non-negative integer`)
  return Number(text)
}

/** Parses `host:port`, `[v6]:port`; refuses anything else. */
export function parsePeerAddress (text: string): MagnetPeer {
  let host: string
  let portText: string
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0 || text[close + 1] !== ':') throw fail(`x.pe "${text}" is not [ipv6]:port`)
    host = text.slice(1, close)
    portText = text.slice(close + 2)
    if (!/^[0-9a-fA-F:.]+$/.test(host) || !host.includes(':')) throw fail(`x.pe "${text}" has a bad IPv6 address`)
  } else {
    const colon = text.lastIndexOf(':')
    if (colon <= 0) throw fail(`x.pe "${text}" is not host:port`)
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
    if (!/^[A-Za-z0-9.-]+$/.test(host)) throw fail(`x.pe "${text}" has a bad host (IPv6 needs brackets)`)
  }
  const port = parseNat(portText, 'x.pe port')
  if (port < 1 || port > 65_535) throw fail(`x.pe port ${port} is out of range`)
  return { host, port }
}

/** Parses BEP 53 `so`: `0,2,4-6`. */
export function parseSelectOnly (text: string): FileIndexRange[] {
  if (text.length === 0) throw fail('so is empty')
  return text.split(',').map((part) => {
    const dash = part.indexOf('-')
    if (dash < 0) {
      const n = parseNat(part, 'so index')
      return { first: n, last: n }
    }
    const first = parseNat(part.slice(0, dash), 'so range start')
    const last = parseNat(part.slice(dash + 1), 'so range end')
    if (last < first) throw fail(`so range "${part}" is reversed`)
    return { first, last }
  })
}

/** True when file `index` is wanted under `selectOnly` (every file when absent). */
export function isFileSelected (selectOnly: readonly FileIndexRange[] | undefined, index: number): boolean {
  return selectOnly === undefined || selectOnly.some((r) => index >= r.first && index <= r.last)
}

function pushUnique (list: string[], value: string): void {
  if (value.length > 0 && !list.includes(value)) list.push(value)
}

/**
 * Parses a magnet URI.
 * @throws LodestoneError `MAGNET_INVALID` with a reason: not a magnet URI, no BitTorrent `xt`,
 *   malformed or conflicting info hashes, bad `x.pe` / `so` / `xl`, bad percent-encoding, too long.
 */
export function parseMagnet (uri: string): MagnetLink {
  if (uri.length > MAX_MAGNET_LENGTH_CHARS) throw fail(`longer than ${MAX_MAGNET_LENGTH_CHARS} characters`)
  const trimmed = uri.trim()
  if (!/^magnet:\?/i.test(trimmed)) throw fail('does not start with "magnet:?"')
  let v1: Uint8Array | null = null
  let v2: Uint8Array | null = null
  const link: Omit<MagnetLink, 'infoHashV1' | 'infoHashV2' | 'infoHash' | 'id'> = { trackers: [], webSeeds: [], peers: [] }
  const query = trimmed.slice('magnet:?'.length).replace(/#.*$/, '')
  for (const pair of query.split('&')) {
    if (pair.length === 0) continue
    const eq = pair.indexOf('=')
    const rawKey = eq < 0 ? pair : pair.slice(0, eq)
    const key = decode(rawKey, rawKey).toLowerCase().replace(/\.\d+$/, '')
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1)
    switch (key) {
      case 'xt': {
        const value = decode(rawValue, key)
        const lower = value.toLowerCase()
        if (lower.startsWith('urn:btih:')) {
          const hash = parseBtih(value.slice(9))
          if (v1 !== null && !bytesEqual(v1, hash)) throw fail('two different urn:btih hashes')
          v1 = hash
        } else if (lower.startsWith('urn:btmh:')) {
          const hash = parseBtmh(value.slice(9))
          if (v2 !== null && !bytesEqual(v2, hash)) throw fail('two different urn:btmh hashes')
          v2 = hash
        }
        break
      }
      case 'dn':
        // Form encoding: many generators write spaces in dn as '+'.
        link.displayName = decode(rawValue.replace(/\+/g, ' '), key)
        break
      case 'tr':
        pushUnique(link.trackers, decode(rawValue, key).trim())
        break
      case 'ws': {
        // Canonical http(s) only, as in .torrent url-lists (web-seed-urls.ts); others are dropped.
        const url = normalizeWebSeedUrl(decode(rawValue, key))
        if (url !== null) pushUnique(link.webSeeds, url)
        break
      }
      case 'x.pe':
        link.peers.push(parsePeerAddress(decode(rawValue, key)))
        break
      case 'so':
        link.selectOnly = [...(link.selectOnly ?? []), ...parseSelectOnly(decode(rawValue, key))]
        break
      case 'xl':
        link.exactLengthBytes = parseNat(decode(rawValue, key), 'xl')
        break
      default:
        break // unknown parameters are ignored
    }
  }
  const infoHash = v1 ?? (v2 === null ? null : v2.slice(0, 20))
  if (infoHash === null) throw fail('no urn:btih or urn:btmh exact topic (xt)')
  return { infoHashV1: v1, infoHashV2: v2, infoHash, id: toHex(infoHash) as InfoHashHex, ...link }
}

function formatPeer (peer: MagnetPeer): string {
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`
}

/**
 * Builds a magnet URI: `xt` for each known hash (btih as hex, btmh as `1220` + hex), then `dn`,
 * `xl`, `tr`, `ws`, `x.pe`, `so`. Values are percent-encoded.
 * @throws LodestoneError `MAGNET_INVALID` when neither hash is given or a hash has the wrong length.
 */
export function buildMagnet (input: MagnetBuildInput): string {
  const parts: string[] = []
  const v1 = input.infoHashV1 ?? null
  const v2 = input.infoHashV2 ?? null
  if (v1 === null && v2 === null) throw fail('no info hash to build from')
  if (v1 !== null) {
    if (v1.length !== 20) throw fail(`v1 info hash must be 20 bytes, got ${v1.length}`)
    parts.push(`xt=urn:btih:${toHex(v1)}`)
  }
  if (v2 !== null) {
    if (v2.length !== 32) throw fail(`v2 info hash must be 32 bytes, got ${v2.length}`)
    parts.push(`xt=urn:btmh:1220${toHex(v2)}`)
  }
  if (input.displayName !== undefined) parts.push(`dn=${encodeURIComponent(input.displayName)}`)
  if (input.exactLengthBytes !== undefined) parts.push(`xl=${input.exactLengthBytes}`)
  for (const tr of input.trackers ?? []) parts.push(`tr=${encodeURIComponent(tr)}`)
  for (const ws of input.webSeeds ?? []) parts.push(`ws=${encodeURIComponent(ws)}`)
  for (const peer of input.peers ?? []) parts.push(`x.pe=${encodeURIComponent(formatPeer(peer))}`)
  if (input.selectOnly !== undefined && input.selectOnly.length > 0) {
    parts.push(`so=${input.selectOnly.map((r) => (r.first === r.last ? String(r.first) : `${r.first}-${r.last}`)).join(',')}`)
  }
  return `magnet:?${parts.join('&')}`
}

/** The magnet link of a parsed torrent: its hashes, name, trackers (all tiers, in order) and web seeds. */
export function magnetFromMetainfo (meta: TorrentMetainfo): MagnetLink {
  const trackers: string[] = []
  for (const tier of meta.announce) for (const url of tier) pushUnique(trackers, url)
  return {
    infoHashV1: meta.infoHashV1,
    infoHashV2: meta.infoHashV2,
    infoHash: meta.infoHash,
    id: meta.id,
    displayName: meta.name,
    trackers,
    webSeeds: [...meta.urlList],
    peers: []
  }
}
