/**
 * BEP 10 extension protocol: the extended handshake (extended id 0) and the plug-in shape that
 * extensions such as ut_metadata (BEP 9) and ut_pex (BEP 11) implement.
 *
 * Why extensions are plug-ins: the peer connection only frames extended messages and routes them
 * by id. Each extension owns its own per-peer state and message format, so adding one never
 * touches the peer connection: the torrent passes a list of {@link PeerExtensionFactory} when it
 * creates the connection, and each factory gets a {@link PeerExtensionContext} to send with.
 *
 * Ids: in BEP 10 each side picks the ids it wants to *receive* messages under and announces
 * them in its handshake's `m` dict. So we send a message under the peer's id for that extension,
 * and receive under our own (`localId`).
 */
import { LodestoneError, ProtocolError } from '../errors.js'
import type { Logger } from '../interfaces/logger.js'
import {
  bencodeDecode, bencodeEncode, getBytes, getDict, getInt, getText, isBencodeDict,
  type BencodeDict, type BencodeEncodable
} from './bencode.js'

/** Extended message id of the BEP 10 handshake. */
export const EXTENDED_HANDSHAKE_ID = 0

/**
 * Decoder limits for a peer's extended handshake: real ones are well under 1 KiB and a few
 * dozen items; these leave room for clients that add their own fields without letting a hostile
 * one make us build a deep or huge tree.
 */
const HANDSHAKE_DECODE_LIMITS = { maxDepth: 8, maxItems: 4_096, maxStringBytes: 65_536, strictKeyOrder: false } as const

/** A peer's (or our) extended handshake, decoded. Absent or mistyped optional fields are undefined. */
export interface ExtendedHandshake {
  /** Extension name → the id the sender receives it under. Entries with id 0 (disabled) are left out. */
  m: Map<string, number>
  /** Client name and version, e.g. "Transmission 3.00". */
  v?: string
  /** The sender's TCP listen port. */
  p?: number
  /** How many outstanding requests the sender queues before dropping. */
  reqq?: number
  /** Our address as the sender sees it: 4 or 16 bytes. */
  yourip?: Uint8Array
  /** The sender's own IPv4 address (4 bytes). */
  ipv4?: Uint8Array
  /** The sender's own IPv6 address (16 bytes). */
  ipv6?: Uint8Array
  /** BEP 9: size of the info dict in bytes. */
  metadataSize?: number
  /** BEP 21: the sender only uploads (a seed, or a partial download that has all it wants). */
  uploadOnly?: boolean
  /** BEP 10 `e`: the sender prefers encrypted (MSE/PE) connections (1) or not (0). */
  prefersEncryption?: boolean
  /** The whole decoded dict (byte strings are views of the message), for extensions with their own fields. */
  dict: BencodeDict
}

/** Fields of the handshake we send. */
export interface ExtendedHandshakeFields {
  m: ReadonlyMap<string, number>
  v?: string
  p?: number
  reqq?: number
  yourip?: Uint8Array
  ipv4?: Uint8Array
  ipv6?: Uint8Array
  metadataSize?: number
  /** BEP 21 `upload_only` (1 or 0; omitted when undefined). */
  uploadOnly?: boolean
  /** BEP 10 `e` (1 or 0; omitted when undefined): whether we prefer encrypted connections. */
  prefersEncryption?: boolean
  /** More top-level fields (binary-string keys), contributed by extensions. The named fields above win. */
  extra?: ReadonlyMap<string, BencodeEncodable>
}

/** Encodes our extended handshake payload (without the message framing). */
export function encodeExtendedHandshake (fields: ExtendedHandshakeFields): Uint8Array {
  const dict = new Map<string, BencodeEncodable>(fields.extra ?? [])
  dict.set('m', new Map(fields.m))
  if (fields.v !== undefined) dict.set('v', fields.v)
  if (fields.p !== undefined) dict.set('p', fields.p)
  if (fields.reqq !== undefined) dict.set('reqq', fields.reqq)
  if (fields.yourip !== undefined) dict.set('yourip', fields.yourip)
  if (fields.ipv4 !== undefined) dict.set('ipv4', fields.ipv4)
  if (fields.ipv6 !== undefined) dict.set('ipv6', fields.ipv6)
  if (fields.metadataSize !== undefined) dict.set('metadata_size', fields.metadataSize)
  if (fields.uploadOnly !== undefined) dict.set('upload_only', fields.uploadOnly ? 1 : 0)
  if (fields.prefersEncryption !== undefined) dict.set('e', fields.prefersEncryption ? 1 : 0)
  return bencodeEncode(dict)
}

/**
 * Decodes a peer's extended handshake. Lenient about optional fields (a wrong type means "absent",
 * as real clients disagree on details) and strict about structure.
 * @throws ProtocolError PEER_PROTOCOL_VIOLATION when the payload is not a bencoded dict (the
 *   bencode error is the `cause`).
 */
export function decodeExtendedHandshake (payload: Uint8Array): ExtendedHandshake {
  let value
  try {
    value = bencodeDecode(payload, { ...HANDSHAKE_DECODE_LIMITS, maxTotalBytes: payload.length })
  } catch (error) {
    throw new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: 'extended handshake is not valid bencode' }, { cause: error })
  }
  if (!isBencodeDict(value)) throw new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: 'extended handshake is not a dict' })
  const m = new Map<string, number>()
  for (const [name, id] of getDict(value, 'm') ?? []) {
    // BEP 10: id 0 means "disabled"; ids are one byte on the wire.
    if (typeof id === 'number' && Number.isInteger(id) && id > 0 && id <= 255) m.set(name, id)
  }
  const out: ExtendedHandshake = { m, dict: value }
  const v = getText(value, 'v')
  if (v !== undefined) out.v = v.length > 256 ? v.slice(0, 256) : v
  const p = getInt(value, 'p')
  if (p !== undefined && p > 0 && p <= 65_535) out.p = p
  const reqq = getInt(value, 'reqq')
  if (reqq !== undefined && reqq > 0) out.reqq = reqq
  const yourip = getBytes(value, 'yourip')
  if (yourip !== undefined && (yourip.length === 4 || yourip.length === 16)) out.yourip = yourip.slice()
  const ipv4 = getBytes(value, 'ipv4')
  if (ipv4?.length === 4) out.ipv4 = ipv4.slice()
  const ipv6 = getBytes(value, 'ipv6')
  if (ipv6?.length === 16) out.ipv6 = ipv6.slice()
  const metadataSize = getInt(value, 'metadata_size')
  if (metadataSize !== undefined && metadataSize >= 0) out.metadataSize = metadataSize
  // BEP 21: any non-zero integer means upload-only (libtorrent sends 1).
  const uploadOnly = getInt(value, 'upload_only')
  if (uploadOnly !== undefined) out.uploadOnly = uploadOnly !== 0
  const e = getInt(value, 'e')
  if (e !== undefined) out.prefersEncryption = e !== 0
  return out
}

// --- plug-ins ---------------------------------------------------------------------------------

/** What a peer connection gives each extension instance. */
export interface PeerExtensionContext {
  /**
   * Sends `payload` as an extended message under the id the peer gave this extension. Returns
   * false (and sends nothing) when the peer has not announced the extension or the connection is
   * not open. The connection takes ownership of `payload` only for the duration of the call (it is copied into the frame).
   */
  send (payload: Uint8Array): boolean
  /** The id the peer receives this extension under; undefined before its handshake or when it lacks the extension. */
  readonly remoteId: number | undefined
  /** The peer's extended handshake, once received. */
  readonly remoteHandshake: ExtendedHandshake | null
  /** Closes the connection, e.g. after the peer broke this extension's rules. */
  close (reason: LodestoneError): void
  /** Scoped to the connection and this extension, when the connection has a logger. */
  readonly logger: Logger | undefined
}

/** One extension's state for one peer connection. */
export interface PeerExtension {
  /** BEP 10 name, e.g. 'ut_metadata'. */
  readonly name: string
  /** The id we receive this extension's messages under (1..255, unique on the connection). */
  readonly localId: number
  /**
   * Extra top-level fields for our extended handshake, e.g. `metadata_size` for ut_metadata.
   * Called each time the handshake is sent (it may be re-sent when a value changes).
   */
  handshakeFields? (): ReadonlyMap<string, BencodeEncodable>
  /** The peer's extended handshake arrived (again); `remoteId` is undefined when it lacks this extension. */
  onHandshake? (handshake: ExtendedHandshake, remoteId: number | undefined): void
  /**
   * A message the peer sent for this extension. `payload` is a view the extension may keep.
   * Throw a LodestoneError (e.g. ProtocolError) to close the peer with it as the reason.
   */
  onMessage (payload: Uint8Array): void
  /** The connection closed; release per-peer state. */
  onClose? (): void
}

/** Creates an extension's per-peer instance. Called once per connection, in its constructor. */
export type PeerExtensionFactory = (context: PeerExtensionContext) => PeerExtension

/**
 * The extensions of one connection, by local id and name, plus what the peer announced.
 * @throws LodestoneError SETTINGS_INVALID (constructor) on a duplicate name or id, or an id outside 1..255.
 */
export class ExtensionRegistry {
  private readonly byLocalId = new Map<number, PeerExtension>()
  private readonly byName = new Map<string, PeerExtension>()
  private remote: ExtendedHandshake | null = null

  constructor (extensions: readonly PeerExtension[] = []) {
    for (const ext of extensions) this.add(ext)
  }

  add (ext: PeerExtension): void {
    if (!Number.isInteger(ext.localId) || ext.localId < 1 || ext.localId > 255) {
      throw new LodestoneError('SETTINGS_INVALID', { key: `extensions.${ext.name}.localId`, reason: `${ext.localId} is not in 1..255` })
    }
    if (this.byName.has(ext.name)) throw new LodestoneError('SETTINGS_INVALID', { key: `extensions.${ext.name}`, reason: 'registered twice' })
    const other = this.byLocalId.get(ext.localId)
    if (other !== undefined) {
      throw new LodestoneError('SETTINGS_INVALID', { key: `extensions.${ext.name}.localId`, reason: `id ${ext.localId} is already used by ${other.name}` })
    }
    this.byLocalId.set(ext.localId, ext)
    this.byName.set(ext.name, ext)
  }

  get size (): number { return this.byName.size }
  get (localId: number): PeerExtension | undefined { return this.byLocalId.get(localId) }
  named (name: string): PeerExtension | undefined { return this.byName.get(name) }
  all (): IterableIterator<PeerExtension> { return this.byName.values() }

  /** Our `m` dict: name → local id. */
  localMap (): Map<string, number> {
    const m = new Map<string, number>()
    for (const ext of this.byName.values()) m.set(ext.name, ext.localId)
    return m
  }

  /** Extra handshake fields from every extension (later extensions win on a clash). */
  handshakeExtra (): Map<string, BencodeEncodable> {
    const extra = new Map<string, BencodeEncodable>()
    for (const ext of this.byName.values()) {
      for (const [key, value] of ext.handshakeFields?.() ?? []) extra.set(key, value)
    }
    return extra
  }

  get remoteHandshake (): ExtendedHandshake | null { return this.remote }

  /** Records the peer's handshake (a later one replaces it, as BEP 10 allows). */
  setRemote (handshake: ExtendedHandshake): void { this.remote = handshake }

  /** The id the peer receives `name` under, if it announced it. */
  remoteId (name: string): number | undefined { return this.remote?.m.get(name) }
}
