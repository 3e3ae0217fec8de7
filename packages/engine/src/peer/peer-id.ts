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
 * - Quirky ones, checked first because they would pass for one of the above: aria2
 *   `A2-1-36-0-` (not Mainline-style client "A", nor Shadow's ABC), BitComet / BitLord `exbc` +
 *   two version bytes, MLdonkey `-ML2.7.2-`, Tixati `TIX0283-`, XBT `XBT054d-`, Opera `OP1234`,
 *   BitTyrant `AZ2500BT`, and a few fixed strings (see {@link QUIRKY_PREFIXES}).
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
  /** Transmission: a.bc before 4.0, a.b.c from 4.0 on, "+" for dev builds (Z / X) */
  | 'transmission'
  /** WebTorrent: two decimal digits of major, two of minor */
  | 'aabb'

const AZUREUS_CLIENTS: Record<string, [string, VersionStyle]> = {
  '7T': ['aTorrent', 'abc'],
  AG: ['Ares', 'abc'],
  AT: ['Artemis', 'abc'],
  AX: ['BitPump', 'abc'],
  AZ: ['Vuze', 'abcd'],
  BB: ['BitBuddy', 'abc'],
  BC: ['BitComet', 'abc'],
  BF: ['Bitflu', 'abc'],
  BI: ['BiglyBT', 'abcd'],
  BN: ['Baidu Netdisk', 'abc'],
  BT: ['BitTorrent', 'abc'],
  BR: ['BitRocket', 'abc'],
  BW: ['BitWombat', 'abc'],
  BX: ['BitTorrent X', 'abc'],
  CD: ['Enhanced CTorrent', 'abc'],
  CT: ['CTorrent', 'abc'],
  DE: ['Deluge', 'abc'],
  ES: ['Electric Sheep', 'abc'],
  FD: ['Free Download Manager', 'abc'],
  FG: ['FlashGet', 'abc'],
  FL: ['Folx', 'abc'],
  FT: ['FoxTorrent', 'abc'],
  FW: ['FrostWire', 'abc'],
  FX: ['Freebox BitTorrent', 'abc'],
  GR: ['GetRight', 'abc'],
  GS: ['GSTorrent', 'abc'],
  GT: ['anacrolix/torrent', 'abc'],
  HL: ['Halite', 'abc'],
  HN: ['Hydranode', 'abc'],
  KG: ['KGet', 'abc'],
  KT: ['KTorrent', 'abc'],
  LC: ['LeechCraft', 'abc'],
  LH: ['LH-ABC', 'abc'],
  LP: ['Lphant', 'abc'],
  LS: ['Lodestone', 'abc'],
  LT: ['libtorrent', 'abc[d]'],
  lt: ['libTorrent (rakshasa)', 'abc[d]'],
  LW: ['LimeWire', 'abc'],
  MG: ['MediaGet', 'abc'],
  ML: ['MLdonkey', 'abc'],
  MO: ['MonoTorrent', 'abc'],
  MR: ['Miro', 'abc'],
  NX: ['Net Transport', 'abc'],
  OS: ['OneSwarm', 'abc'],
  PB: ['Protocol::BitTorrent', 'abc'],
  PD: ['Pando', 'abc'],
  PI: ['PicoTorrent', 'abc'],
  PT: ['Popcorn Time', 'abc'],
  QD: ['QQDownload', 'abc'],
  QT: ['Qt 4 Torrent example', 'abc'],
  qB: ['qBittorrent', 'abc'],
  RT: ['Retriever', 'abc'],
  RZ: ['RezTorrent', 'abc'],
  SD: ['Thunder', 'abc'],
  SP: ['BitSpirit', 'abc'],
  ST: ['SymTorrent', 'abc'],
  st: ['SharkTorrent', 'abc'],
  SZ: ['Shareaza', 'abcd'],
  TB: ['Torch', 'abc'],
  TL: ['Tribler', 'abc'],
  TN: ['TorrentDotNET', 'abc'],
  TR: ['Transmission', 'transmission'],
  TS: ['Torrentstorm', 'abc'],
  TT: ['TuoTu', 'abc'],
  tT: ['tTorrent', 'abc'],
  UM: ['µTorrent Mac', 'abc'],
  UT: ['µTorrent', 'abc'],
  UW: ['µTorrent Web', 'abc'],
  VG: ['Vagaa', 'abc'],
  WD: ['WebTorrent Desktop', 'aabb'],
  WW: ['WebTorrent', 'aabb'],
  WY: ['FireTorrent', 'abc'],
  XF: ['Xfplay', 'abc'],
  XL: ['Xunlei', 'abc'],
  XT: ['XanTorrent', 'abc'],
  XX: ['Xtorrent', 'abc'],
  ZO: ['Zona', 'abc'],
  ZT: ['ZipTorrent', 'abc']
}

/** Fixed prefixes of clients with no version in their id (checked after the quirky formats). */
const QUIRKY_PREFIXES: Array<[string, string]> = [
  ['AZ2500BT', 'BitTyrant'],
  ['Deadman Walking-', 'Deadman'],
  ['Pando-', 'Pando'],
  ['Plus', 'Plus!'],
  ['LIME', 'LimeWire'],
  ['turbobt', 'TurboBT'],
  ['btuga', 'BTugaXP'],
  ['BTuga', 'BTugaXP'],
  ['martini', 'Martini Man'],
  ['QVOD', 'QVOD'],
  ['FUTB', 'FUTB'],
  ['xUTB', 'xUTB'],
  ['eX', 'eXeem']
]

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

/**
 * One version character: 0-9, then letters for 10 and up in either case (libtorrent 1.2.10 is
 * `-LT12A0-`, BitTorrent 7.10.5 is `-BT7a5W-`).
 */
function versionDigit (ch: string): number | null {
  const code = ch.charCodeAt(0)
  if (code >= 48 && code <= 57) return code - 48
  if (code >= 65 && code <= 90) return code - 55
  if (code >= 97 && code <= 122) return code - 87
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
      // Before 1.0 Transmission wrote 0.xy as "0xy?"; from 1.0 to 3.00 "abc?" means a.bc; 4.0 went
      // to semantic versions, so "405?" is 4.0.5.
      if (v[0] === '0') return `0.${Number(v.slice(1, 3))}${dev}`
      if (Number(v[0]) >= 4) return `${v[0]}.${v[1]}.${v[2]}${dev}`
      return `${v[0]}.${v.slice(1, 3)}${dev}`
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

/** The formats that would pass for Azureus, Mainline or Shadow style but mean something else. */
function parseQuirky (peerId: Uint8Array, head: string): PeerClient | null {
  // aria2: A2-<major>-<minor>-<patch>- (before Mainline style, which would read client "A").
  const aria2 = /^A2-(\d+)-(\d+)-(\d+)-/.exec(ascii(peerId, 0, 20))
  if (aria2 !== null) return { client: 'aria2', version: `${Number(aria2[1])}.${Number(aria2[2])}.${Number(aria2[3])}` }
  // BitComet / BitLord: "exbc" then two binary version bytes (0.58 is 0x00 0x3a); BitLord adds "LORD".
  if (head.startsWith('exbc')) {
    const major = peerId[4] ?? 0
    const minor = peerId[5] ?? 0
    const lord = ascii(peerId, 6, 10) === 'LORD'
    // Ids from old code paths put letters there instead of a version.
    if (major < 10 && minor < 100) return { client: lord ? 'BitLord' : 'BitComet', version: `${major}.${String(minor).padStart(2, '0')}` }
    return { client: lord ? 'BitLord' : 'BitComet', version: null }
  }
  // MLdonkey writes its version with dots: -ML2.7.2-
  const ml = /^-ML(\d+\.\d+\.\d+)-/.exec(ascii(peerId, 0, 16))
  if (ml !== null) return { client: 'MLdonkey', version: ml[1] ?? null }
  // Tixati: TIX + two digits of major, two of minor (TIX0283 is 2.83).
  const tix = /^TIX(\d\d)(\d\d)/.exec(head)
  if (tix !== null) return { client: 'Tixati', version: `${Number(tix[1])}.${tix[2]}` }
  // XBT: XBT + three digits, with "d" for a debug build.
  const xbt = /^XBT(\d)(\d)(\d)(d?)/.exec(head)
  if (xbt !== null) return { client: 'XBT Client', version: `${xbt[1]}.${xbt[2]}.${xbt[3]}${xbt[4] === 'd' ? ' (debug)' : ''}` }
  // Opera: OP + build number.
  const opera = /^OP(\d{4})/.exec(head)
  if (opera !== null) return { client: 'Opera', version: `build ${opera[1]}` }
  const fixed = QUIRKY_PREFIXES.find(([prefix]) => ascii(peerId, 0, prefix.length) === prefix)
  if (fixed !== undefined) return { client: fixed[1], version: null }
  return null
}

/** Identifies the client behind a 20-byte peer id (never throws; unknown ids give "Unknown"). */
export function parsePeerClient (peerId: Uint8Array): PeerClient {
  const head = ascii(peerId, 0, 8)
  const quirky = parseQuirky(peerId, head)
  if (quirky !== null) return quirky
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
