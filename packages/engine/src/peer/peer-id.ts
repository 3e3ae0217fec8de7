/**
 * Peer ids: generating ours, and naming the client behind a remote one (seed 000's
 * "peer-id → client name").
 *
 * Conventions recognised (there is no standard, only habits):
 * - Azureus style `-XXabcd-` + 12 random bytes: two-letter client code, four version characters.
 *   How the four characters map to a version differs per client, so each known client has a
 *   formatter. Version characters are digits, with letters standing for 10, 11, ... in some
 *   clients (libtorrent 1.2.10 is `-LT12A0-`, rakshasa's libTorrent 0.13.8 is `-lt0D80-`).
 * - Mainline style `M7-4-2--`: a letter, then version numbers separated by dashes.
 * - Shadow style `S58B-----`: a letter, up to five version characters from the alphabet
 *   `0-9A-Za-z.-` (values 0..63), padded with dashes.
 * Anything else is "Unknown" with the printable prefix, so logs still tell clients apart.
 */
import type { IRandom } from '../interfaces/random.js'
import { LodestoneError } from '../errors.js'

/** Our Azureus-style prefix: Lodestone 0.1.0. */
export const LODESTONE_PEER_ID_PREFIX = '-LS0100-'

/** Version formatters, by how a client packs its version into four characters. */
type VersionStyle =
  /** a.b.c, 4th char ignored (release/build flag) */
  | 'abc'
  /** a.b.c.d */
  | 'abcd'
  /** a.b.c, with .d appended when d is not 0 */
  | 'abc[d]'
  /** Transmission: a.bc, with a trailing "+" for dev builds (Z / X) */
  | 'transmission'
  /** WebTorrent: two decimal digits of major, two of minor */
  | 'aabb'

const AZUREUS_CLIENTS: Record<string, [string, VersionStyle]> = {
  AG: ['Ares', 'abc'],
  AZ: ['Vuze', 'abcd'],
  BB: ['BitBuddy', 'abc'],
  BC: ['BitComet', 'abc'],
  BF: ['Bitflu', 'abc'],
  BI: ['BiglyBT', 'abcd'],
  BN: ['Baidu Netdisk', 'abc'],
  BT: ['BitTorrent', 'abc'],
  BW: ['BitWombat', 'abc'],
  DE: ['Deluge', 'abc'],
  FD: ['Free Download Manager', 'abc'],
  FG: ['FlashGet', 'abc'],
  FW: ['FrostWire', 'abc'],
  HL: ['Halite', 'abc'],
  KG: ['KGet', 'abc'],
  KT: ['KTorrent', 'abc'],
  LH: ['LH-ABC', 'abc'],
  LS: ['Lodestone', 'abc'],
  LT: ['libtorrent', 'abc[d]'],
  lt: ['libTorrent (rakshasa)', 'abc[d]'],
  LW: ['LimeWire', 'abc'],
  ML: ['MLdonkey', 'abc'],
  PI: ['PicoTorrent', 'abc'],
  qB: ['qBittorrent', 'abc'],
  RT: ['Retriever', 'abc'],
  SD: ['Thunder', 'abc'],
  SZ: ['Shareaza', 'abcd'],
  TL: ['Tribler', 'abc'],
  TR: ['Transmission', 'transmission'],
  UM: ['µTorrent Mac', 'abc'],
  UT: ['µTorrent', 'abc'],
  UW: ['µTorrent Web', 'abc'],
  WD: ['WebTorrent Desktop', 'aabb'],
  WW: ['WebTorrent', 'aabb'],
  XL: ['Xunlei', 'abc'],
  XX: ['Xtorrent', 'abc'],
  ZT: ['ZipTorrent', 'abc']
}

const SHADOW_CLIENTS: Record<string, string> = {
  A: 'ABC',
  O: 'Osprey Permaseed',
  Q: 'BTQueue',
  R: 'Tribler',
  S: 'Shadow',
  T: 'BitTornado',
  U: 'UPnP NAT Bit Torrent'
}

const SHADOW_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-'

/** One version character: 0-9, then A-Z = 10..35, a-z = 36..61 (as libtorrent-style ids use them). */
function versionDigit (ch: string): number | null {
  const code = ch.charCodeAt(0)
  if (code >= 48 && code <= 57) return code - 48
  if (code >= 65 && code <= 90) return code - 55
  if (code >= 97 && code <= 122) return code - 61
  return null
}

function formatAzureusVersion (v: string, style: VersionStyle): string | null {
  const d = [...v].map(versionDigit)
  const [a, b, c, e] = d
  switch (style) {
    case 'abc':
      return a == null || b == null || c == null ? null : `${a}.${b}.${c}`
    case 'abcd':
      return a == null || b == null || c == null || e == null ? null : `${a}.${b}.${c}.${e}`
    case 'abc[d]':
      if (a == null || b == null || c == null) return null
      return e == null || e === 0 ? `${a}.${b}.${c}` : `${a}.${b}.${c}.${e}`
    case 'transmission': {
      if (!/^\d{3}/.test(v)) return null
      const dev = v[3] === 'Z' || v[3] === 'X' ? '+' : ''
      // Before 1.0 Transmission wrote 0.xy as "0xy?"; from 1.0 on, "abc?" means a.bc.
      return v[0] === '0' ? `0.${Number(v.slice(1, 3))}${dev}` : `${v[0]}.${v.slice(1, 3)}${dev}`
    }
    case 'aabb':
      return /^\d{4}$/.test(v) ? `${Number(v.slice(0, 2))}.${Number(v.slice(2, 4))}` : null
  }
}

function ascii (bytes: Uint8Array, from: number, to: number): string {
  let out = ''
  for (let i = from; i < to && i < bytes.length; i++) out += String.fromCharCode(bytes[i] ?? 0)
  return out
}

function printablePrefix (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < 8 && i < bytes.length; i++) {
    const b = bytes[i] ?? 0
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'
  }
  return out
}

/** Client and version behind a peer id; `version` is null when unknown. */
export interface PeerClient {
  client: string
  version: string | null
}

/** Identifies the client behind a 20-byte peer id (never throws; unknown ids give "Unknown"). */
export function parsePeerClient (peerId: Uint8Array): PeerClient {
  const head = ascii(peerId, 0, 8)
  // Azureus style: -XXabcd-
  if (head.length === 8 && head[0] === '-' && head[7] === '-') {
    const code = head.slice(1, 3)
    const version = head.slice(3, 7)
    const known = AZUREUS_CLIENTS[code]
    if (known !== undefined) return { client: known[0], version: formatAzureusVersion(version, known[1]) }
    if (/^[A-Za-z0-9]{2}$/.test(code)) return { client: `Unknown (${code})`, version: formatAzureusVersion(version, 'abc') }
  }
  // Mainline style: M7-4-2-- (a letter, then numbers separated by dashes)
  const mainline = /^([A-Z])(\d{1,2})-(\d{1,2})-(\d{1,2})-/.exec(head)
  if (mainline !== null) {
    const name = mainline[1] === 'M' ? 'Mainline' : mainline[1] === 'Q' ? 'Queen Bee' : `Unknown (${mainline[1] ?? ''})`
    return { client: name, version: `${mainline[2]}.${mainline[3]}.${mainline[4]}` }
  }
  // Shadow style: a letter, then version characters, then '---'
  const shadowName = SHADOW_CLIENTS[head[0] ?? '']
  if (shadowName !== undefined) {
    const rest = ascii(peerId, 1, 6)
    const dashes = rest.indexOf('-')
    const digits = dashes < 0 ? rest : rest.slice(0, dashes)
    const values = [...digits].map((c) => SHADOW_ALPHABET.indexOf(c))
    if (digits.length > 0 && values.every((v) => v >= 0) && ascii(peerId, 6, 9) === '---') {
      return { client: shadowName, version: values.join('.') }
    }
  }
  if (head.startsWith('exbc')) return { client: 'BitComet', version: null }
  return { client: `Unknown (${printablePrefix(peerId)})`, version: null }
}

/** Display name of the client behind a peer id, e.g. "Transmission 3.00", "libtorrent 2.0.8". */
export function clientNameFromPeerId (peerId: Uint8Array): string {
  const { client, version } = parsePeerClient(peerId)
  return version === null ? client : `${client} ${version}`
}

/**
 * A new 20-byte peer id: `prefix` (Azureus style, 8 ASCII bytes) followed by random bytes.
 * @throws LodestoneError SETTINGS_INVALID when the prefix is not 1..20 ASCII characters.
 */
export function generatePeerId (random: IRandom, prefix: string = LODESTONE_PEER_ID_PREFIX): Uint8Array {
  if (prefix.length === 0 || prefix.length > 20 || !/^[\x20-\x7e]+$/.test(prefix)) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'peerIdPrefix', reason: 'must be 1..20 printable ASCII characters' })
  }
  const id = new Uint8Array(20)
  for (let i = 0; i < prefix.length; i++) id[i] = prefix.charCodeAt(i)
  random.fill(id.subarray(prefix.length))
  return id
}
