/**
 * KRPC (BEP 5): the bencoded query / response / error messages the DHT exchanges over UDP, with
 * BEP 32 (`nodes6`, `want`), BEP 42 (`ip`), BEP 43 (`ro`) and BEP 51 (`sample_infohashes`) fields.
 *
 * Every datagram is hostile until this decoder accepts it, so decoding is bounded before anything
 * is allocated per item: the datagram size, the bencode depth and item count, and then each field
 * (ids exactly 20 bytes, transaction ids and tokens short, node and peer lists capped). Lists
 * longer than the caps are cut, not refused: a reply with 20 nodes is still useful. Anything
 * malformed throws `DHT_MESSAGE_INVALID` (with the transaction id when there was one, so a bad
 * query can still get a KRPC error back); nothing else escapes.
 *
 * Decoded byte strings are copies: the datagram may be a view of a receive buffer the socket reuses.
 */
import { LodestoneError, ProtocolError } from '../errors.js'
import type { PeerAddress } from '../peer/peer-address.js'
import {
  bencodeDecode, bencodeEncode, getBytes, getDict, getInt, getList, isBencodeDict,
  type BencodeDict, type BencodeEncodable
} from '../protocol/bencode.js'
import { decodeCompactPeers, encodeCompactPeers, type IpFamily } from '../tracker/compact-peers.js'
import { toHex } from '../util/bytes.js'
import { withoutStackTrace } from '../util/stack-traces.js'
import { decodeCompactNodes, type NodeContact } from './compact-nodes.js'
import { NODE_ID_BYTES, type NodeId } from './node-id.js'

/** Bounds applied while decoding. */
export interface KrpcLimits {
  /** Larger datagrams are refused unread. @default 4096 */
  maxMessageBytes: number
  /** Longest transaction id accepted. @default 16 */
  maxTransactionIdBytes: number
  /** Longest token accepted (libtorrent sends 4 bytes, others up to 20). @default 64 */
  maxTokenBytes: number
  /** Nodes taken from each of `nodes` / `nodes6`; more are ignored. @default 32 */
  maxNodesPerMessage: number
  /** Peers taken from `values`; more are ignored. @default 200 */
  maxValuesPerMessage: number
  /** Info hashes taken from BEP 51 `samples`. @default 256 */
  maxSamplesPerMessage: number
}

export const defaultKrpcLimits: Readonly<KrpcLimits> = {
  maxMessageBytes: 4096,
  maxTransactionIdBytes: 16,
  maxTokenBytes: 64,
  maxNodesPerMessage: 32,
  maxValuesPerMessage: 200,
  maxSamplesPerMessage: 256
}

/** BEP 32 `want`: which address families the querier wants nodes of. */
export interface KrpcWant { n4: boolean, n6: boolean }

export interface KrpcQuery {
  kind: 'query'
  t: Uint8Array
  /** The method name as sent (`ping`, `find_node`, `get_peers`, `announce_peer`, `sample_infohashes`, or unknown). */
  method: string
  id: NodeId
  /** BEP 43: the querier is read-only and must not enter routing tables. */
  readOnly: boolean
  /** `find_node` / `sample_infohashes` target. */
  target?: NodeId
  /** `get_peers` / `announce_peer` info hash. */
  infoHash?: NodeId
  /** `announce_peer` port (already checked to be 1..65535 unless `impliedPort`). */
  port?: number
  /** `announce_peer`: use the UDP source port instead of `port`. */
  impliedPort: boolean
  token?: Uint8Array
  /** BEP 32 `want`, or null when absent. */
  want: KrpcWant | null
}

export interface KrpcResponse {
  kind: 'response'
  t: Uint8Array
  id: NodeId
  nodes: NodeContact[]
  nodes6: NodeContact[]
  values: PeerAddress[]
  token?: Uint8Array
  /** BEP 42: the address the responder saw us at. */
  ip?: PeerAddress
  /** BEP 51. */
  samples?: NodeId[]
  num?: number
  interval?: number
}

export interface KrpcErrorMessage {
  kind: 'error'
  t: Uint8Array
  code: number
  message: string
}

export type KrpcMessage = KrpcQuery | KrpcResponse | KrpcErrorMessage

/** BEP 5 error codes. */
export const KRPC_ERROR = { generic: 201, server: 202, protocol: 203, methodUnknown: 204 } as const

// KRPC nests at most dict > dict > list > string; a little slack for unknown extensions.
const MAX_DEPTH = 5
const MAX_ITEMS = 1024

function invalid (reason: string, t: Uint8Array | undefined, query: boolean): ProtocolError<'DHT_MESSAGE_INVALID'> {
  return new ProtocolError('DHT_MESSAGE_INVALID', { reason, transactionId: t === undefined ? null : toHex(t), query },
    { message: `invalid KRPC message: ${reason}` })
}

/**
 * Decodes one datagram.
 * @throws ProtocolError `DHT_MESSAGE_INVALID` for anything that is not a well-formed KRPC message
 *   within `limits` (bencode errors included, as the cause).
 */
export function decodeKrpc (bytes: Uint8Array, limits: KrpcLimits = defaultKrpcLimits): KrpcMessage {
  if (bytes.length > limits.maxMessageBytes) throw invalid(`message of ${bytes.length} bytes over ${limits.maxMessageBytes}`, undefined, false)
  let top
  try {
    // Key order is not checked: several DHT implementations send unsorted dicts.
    // Datagrams are untrusted: a bad one costs no stack capture (a flood would pay it per datagram).
    top = withoutStackTrace(() => bencodeDecode(bytes, { maxDepth: MAX_DEPTH, maxItems: MAX_ITEMS, maxTotalBytes: limits.maxMessageBytes, maxStringBytes: limits.maxMessageBytes, strictKeyOrder: false }))
  } catch (error) {
    throw new ProtocolError('DHT_MESSAGE_INVALID', { reason: 'bencode', transactionId: null, query: false }, { message: 'invalid KRPC message: not bencode', cause: error })
  }
  if (!isBencodeDict(top)) throw invalid('not a dict', undefined, false)
  const tView = getBytes(top, 't')
  const y = getBytes(top, 'y')
  const isQuery = y?.length === 1 && y[0] === 0x71 // 'q'
  if (tView === undefined || tView.length === 0 || tView.length > limits.maxTransactionIdBytes) throw invalid('bad transaction id', undefined, isQuery)
  const t = tView.slice()
  if (y === undefined || y.length !== 1) throw invalid('bad y', t, false)
  const kind = y[0]
  if (kind === 0x71) return decodeQuery(top, t, limits) // 'q'
  if (kind === 0x72) return decodeResponse(top, t, limits) // 'r'
  if (kind === 0x65) return decodeError(top, t) // 'e'
  throw invalid('unknown y', t, false)
}

function readId (dict: BencodeDict, key: string, t: Uint8Array, query: boolean): NodeId {
  const v = getBytes(dict, key)
  if (v === undefined || v.length !== NODE_ID_BYTES) throw invalid(`bad ${key}`, t, query)
  return v.slice()
}

function decodeQuery (top: BencodeDict, t: Uint8Array, limits: KrpcLimits): KrpcQuery {
  const q = getBytes(top, 'q')
  const a = getDict(top, 'a')
  if (q === undefined || q.length === 0 || q.length > 32) throw invalid('bad q', t, true)
  if (a === undefined) throw invalid('missing a', t, true)
  const method = String.fromCharCode(...q)
  const query: KrpcQuery = { kind: 'query', t, method, id: readId(a, 'id', t, true), readOnly: getInt(top, 'ro') === 1, impliedPort: false, want: null }
  const want = getList(a, 'want')
  if (want !== undefined) {
    query.want = { n4: false, n6: false }
    for (const w of want.slice(0, 8)) {
      if (!(w instanceof Uint8Array) || w.length !== 2 || w[0] !== 0x6e) continue // 'n'
      if (w[1] === 0x34) query.want.n4 = true
      if (w[1] === 0x36) query.want.n6 = true
    }
  }
  if (a.has('target')) query.target = readId(a, 'target', t, true)
  if (a.has('info_hash')) query.infoHash = readId(a, 'info_hash', t, true)
  switch (method) {
    case 'find_node':
    case 'sample_infohashes':
      if (query.target === undefined) throw invalid('missing target', t, true)
      break
    case 'get_peers':
      if (query.infoHash === undefined) throw invalid('missing info_hash', t, true)
      break
    case 'announce_peer': {
      if (query.infoHash === undefined) throw invalid('missing info_hash', t, true)
      const token = getBytes(a, 'token')
      if (token === undefined || token.length > limits.maxTokenBytes) throw invalid('bad token', t, true)
      query.token = token.slice()
      query.impliedPort = getInt(a, 'implied_port') === 1
      const port = getInt(a, 'port')
      if (!query.impliedPort && (port === undefined || port < 1 || port > 65535)) throw invalid('bad port', t, true)
      if (port !== undefined && port >= 1 && port <= 65535) query.port = port
      break
    }
    default:
      break
  }
  return query
}

function decodeResponse (top: BencodeDict, t: Uint8Array, limits: KrpcLimits): KrpcResponse {
  const r = getDict(top, 'r')
  if (r === undefined) throw invalid('missing r', t, false)
  const response: KrpcResponse = { kind: 'response', t, id: readId(r, 'id', t, false), nodes: [], nodes6: [], values: [] }
  const nodes = getBytes(r, 'nodes')
  if (nodes !== undefined) response.nodes = decodeCompactNodes(nodes, 4, limits.maxNodesPerMessage)
  const nodes6 = getBytes(r, 'nodes6')
  if (nodes6 !== undefined) response.nodes6 = decodeCompactNodes(nodes6, 6, limits.maxNodesPerMessage)
  const values = getList(r, 'values')
  if (values !== undefined) {
    for (const v of values) {
      if (response.values.length >= limits.maxValuesPerMessage) break
      if (!(v instanceof Uint8Array)) continue
      const family: IpFamily | null = v.length === 6 ? 4 : v.length === 18 ? 6 : null
      if (family !== null) response.values.push(...decodeCompactPeers(v, family))
    }
  }
  const token = getBytes(r, 'token')
  if (token !== undefined) {
    if (token.length > limits.maxTokenBytes) throw invalid('token too long', t, false)
    response.token = token.slice()
  }
  const ip = getBytes(top, 'ip') ?? getBytes(r, 'ip')
  if (ip !== undefined && (ip.length === 6 || ip.length === 18)) {
    const [address] = decodeCompactPeers(ip, ip.length === 6 ? 4 : 6)
    if (address !== undefined) response.ip = address
  }
  const samples = getBytes(r, 'samples')
  if (samples !== undefined) {
    const count = Math.min(Math.floor(samples.length / NODE_ID_BYTES), limits.maxSamplesPerMessage)
    response.samples = []
    for (let i = 0; i < count; i++) response.samples.push(samples.slice(i * NODE_ID_BYTES, (i + 1) * NODE_ID_BYTES))
  }
  const num = getInt(r, 'num')
  if (num !== undefined && num >= 0) response.num = num
  const interval = getInt(r, 'interval')
  if (interval !== undefined && interval >= 0) response.interval = interval
  return response
}

function decodeError (top: BencodeDict, t: Uint8Array): KrpcErrorMessage {
  const e = getList(top, 'e')
  const code = e?.[0]
  const text = e?.[1]
  return {
    kind: 'error',
    t,
    code: typeof code === 'number' ? code : KRPC_ERROR.generic,
    message: text instanceof Uint8Array ? new TextDecoder().decode(text.subarray(0, 200)) : ''
  }
}

// --- encoding -----------------------------------------------------------------------------------

/** What we send in `v` (BEP 20 style client id "LO" and a version). */
const CLIENT_VERSION = Uint8Array.of(0x4c, 0x4f, 0x00, 0x01)

/** Arguments of an outgoing query (the `id` is added by {@link encodeQuery}). */
export interface KrpcQueryArgs {
  target?: NodeId
  info_hash?: NodeId
  port?: number
  implied_port?: number
  token?: Uint8Array
  want?: string[]
}

/** Encodes a query; `readOnly` adds BEP 43's `ro: 1`. */
export function encodeQuery (t: Uint8Array, method: string, id: NodeId, args: KrpcQueryArgs, readOnly: boolean): Uint8Array {
  const a: Record<string, BencodeEncodable | undefined> = { id, ...args }
  const message: Record<string, BencodeEncodable | undefined> = { t, y: 'q', q: method, a, v: CLIENT_VERSION }
  if (readOnly) message.ro = 1
  return bencodeEncode(message)
}

/** Response fields (the `id` is added by {@link encodeResponse}). */
export interface KrpcResponseFields {
  nodes?: Uint8Array
  nodes6?: Uint8Array
  values?: readonly PeerAddress[]
  token?: Uint8Array
  samples?: Uint8Array
  num?: number
  interval?: number
}

/** Encodes a response; `requester` becomes BEP 42's top-level `ip` (the address we saw). */
export function encodeResponse (t: Uint8Array, id: NodeId, fields: KrpcResponseFields, requester: PeerAddress | null): Uint8Array {
  const r: Record<string, BencodeEncodable | undefined> = { id }
  if (fields.nodes !== undefined) r.nodes = fields.nodes
  if (fields.nodes6 !== undefined) r.nodes6 = fields.nodes6
  if (fields.token !== undefined) r.token = fields.token
  if (fields.samples !== undefined) r.samples = fields.samples
  if (fields.num !== undefined) r.num = fields.num
  if (fields.interval !== undefined) r.interval = fields.interval
  if (fields.values !== undefined && fields.values.length > 0) {
    // BEP 5: a list of compact peers, one string each.
    r.values = fields.values.map((p) => encodeCompactPeers([p], p.host.includes(':') ? 6 : 4)).filter((v) => v.length > 0)
  }
  const message: Record<string, BencodeEncodable | undefined> = { t, y: 'r', r, v: CLIENT_VERSION }
  if (requester !== null) {
    const ip = encodeCompactPeers([requester], requester.host.includes(':') ? 6 : 4)
    if (ip.length > 0) message.ip = ip
  }
  return bencodeEncode(message)
}

/** Encodes a KRPC error. */
export function encodeError (t: Uint8Array, code: number, message: string): Uint8Array {
  return bencodeEncode({ t, y: 'e', e: [code, message], v: CLIENT_VERSION })
}

/** True for the error {@link decodeKrpc} throws (for callers that count rather than rethrow). */
export function isKrpcDecodeError (error: unknown): error is LodestoneError<'DHT_MESSAGE_INVALID'> {
  return error instanceof LodestoneError && error.code === 'DHT_MESSAGE_INVALID'
}
