/**
 * Typed errors with stable codes. Callers check `code` (or use {@link hasCode}), not
 * `instanceof`: an app can end up with two copies of this package, and codes survive that.
 *
 * Each code maps to the details it carries. Codes are stable API: never reuse or rename one.
 */

import { restoreStackTraces, stopStackTraces } from './util/stack-traces.js'

/** Details carried by each error code. */
export interface ErrorDetails {
  // --- bencode ---
  /** Bytes are not valid bencode at `offset`. */
  BENCODE_INVALID: { offset: number, reason: string }
  /** A decoder limit (depth, string length, total size) was exceeded at `offset`. */
  BENCODE_LIMIT: { offset: number, limit: string, value: number }
  /** A value cannot be bencoded (e.g. a float or undefined). */
  BENCODE_UNENCODABLE: { path: string, reason: string }

  // --- metainfo ---
  /** The .torrent is structurally wrong: missing or mistyped field. `field` is a dotted path. */
  METAINFO_INVALID: { field: string, reason: string }
  /** A file path in the torrent is unsafe (traversal, absolute, empty, reserved, NUL...). */
  METAINFO_UNSAFE_PATH: { path: string, reason: string }
  /** Lengths, piece counts or piece layers do not add up. */
  METAINFO_INCONSISTENT: { field: string, reason: string }
  /** The torrent uses a feature this version does not support. */
  METAINFO_UNSUPPORTED: { feature: string }
  /** The metainfo exceeds a parser limit (file count, path depth, piece length…); `limit` names the setting. */
  METAINFO_LIMIT: { limit: string, value: number, max: number }
  /** A magnet link cannot be parsed. */
  MAGNET_INVALID: { reason: string }
  /** Creating a torrent failed (empty input, unreadable file...). */
  CREATE_FAILED: { path: string, reason: string }

  // --- wire protocol / peers ---
  /** A peer announced a message longer than the limit. */
  PEER_MESSAGE_TOO_LARGE: { lengthBytes: number, limitBytes: number }
  /** A peer sent something the protocol does not allow. */
  PEER_PROTOCOL_VIOLATION: { reason: string }
  /** The handshake was malformed or for the wrong torrent. */
  PEER_HANDSHAKE_FAILED: { reason: string }
  /** The peer did not answer in time. */
  PEER_TIMEOUT: { what: string, timeoutMs: number }
  /** The peer is banned (repeated hash failures) or filtered. */
  PEER_BANNED: { address: string, reason: string }
  /** We connected to ourselves, or already have a connection to this peer. */
  PEER_DUPLICATE: { address: string, reason: string }
  /** Connection failed at the socket level. */
  PEER_CONNECT_FAILED: { address: string, reason: string }
  /** Connection closed by the remote side or the transport. */
  PEER_CLOSED: { reason: string }
  /**
   * The MSE/PE encryption handshake failed, or the connection's encryption broke our policy.
   * `reason` is a stable token (`MseFailureReason` in transport/mse): 'closed', 'timeout',
   * 'bad-dh-key', 'no-req1', 'unknown-skey', 'no-vc', 'pad-too-long', 'crypto-refused',
   * 'bad-crypto-select', 'plaintext-refused', 'encrypted-refused', 'skey-mismatch'.
   */
  PEER_ENCRYPTION_FAILED: { reason: string }
  /** Metadata (BEP 9) did not match the info hash or broke a limit. */
  METADATA_INVALID: { reason: string }

  // --- torrent lifecycle ---
  /** A torrent state transition that the state machine does not allow. */
  ILLEGAL_TRANSITION: { from: string, to: string }
  /** The torrent is already in the engine. */
  TORRENT_DUPLICATE: { infoHash: string }
  /** No torrent with that id. */
  TORRENT_NOT_FOUND: { id: string }
  /** A piece failed its hash check. */
  PIECE_HASH_FAILED: { piece: number }
  /** The operation was aborted through its signal. */
  ABORTED: { operation: string }
  /** The engine or torrent is closed. */
  CLOSED: { what: string }

  // --- storage ---
  /** The disk is full. */
  STORAGE_FULL: { path: string }
  /** The file or directory does not exist. */
  STORAGE_NOT_FOUND: { path: string }
  /** Any other filesystem failure. */
  STORAGE_IO: { path: string, operation: string, reason: string }
  /** No storage root is assigned and there is no default. */
  STORAGE_NO_ROOT: { torrentId: string }
  /** A storage root token is unknown. */
  STORAGE_ROOT_UNKNOWN: { token: string }

  // --- trackers ---
  /** The tracker answered with a failure reason or an unusable response. */
  TRACKER_FAILURE: { url: string, reason: string }
  /** The tracker did not answer in time. */
  TRACKER_TIMEOUT: { url: string, timeoutMs: number }
  /** The tracker URL's scheme is not supported or the URL is malformed. */
  TRACKER_URL_INVALID: { url: string, reason: string }
  /** The tracker response was larger than the limit. */
  TRACKER_RESPONSE_TOO_LARGE: { url: string, limitBytes: number }
  /** The tracker listed more peers than `maxPeersPerResponse` allows. */
  TRACKER_TOO_MANY_PEERS: { url: string, count: number, limit: number }
  /** The tracker has no scrape URL (BEP 48: the announce path's last segment must start with `announce`). */
  TRACKER_SCRAPE_UNSUPPORTED: { url: string }

  // --- web seeds ---
  /**
   * A web seed (BEP 19) failed a request or served a piece that failed its hash check; `kind`
   * says how it is treated (transient / refused / bad-response / bad-data), `dropped` whether it
   * is now resting (`webSeed.dropCooldownMs`) instead of backing off. Emitted as a 'warning'.
   */
  WEBSEED_FAILED: { url: string, kind: string, reason: string, dropped: boolean }

  // --- settings / misc ---
  /** A setting has a wrong type or value; `key` is its dotted path. */
  SETTINGS_INVALID: { key: string, reason: string }
  /** A network address cannot be parsed. */
  ADDRESS_INVALID: { address: string }
  /** Listening or binding failed (port in use, address not available...); `reason` is the errno-like cause, e.g. 'EADDRINUSE'. */
  LISTEN_FAILED: { address: string, port: number, reason: string }
  /** An IP filter list could not be parsed. */
  IP_FILTER_INVALID: { line: number, reason: string }
  /** A caller passed a value outside what an API accepts (a piece index, a priority...): a bug in the caller. */
  ARGUMENT_INVALID: { name: string, reason: string }
  /** An internal invariant broke: a bug in Lodestone. */
  INTERNAL: { reason: string }
  /** A stored resume record (session store `key`) is damaged or of an unknown version; the torrent is re-checked instead. */
  RESUME_DATA_INVALID: { key: string, reason: string }
  /** The torrent was removed from the engine while something (a read stream) still used it. */
  TORRENT_REMOVED: { id: string }
  /** Moving a torrent's files to another storage root failed; `phase` says where. */
  STORAGE_MOVE_FAILED: { torrentId: string, phase: string, reason: string }
  // --- port mapping ---
  /**
   * The gateway refused or did not answer a port mapping (UPnP IGD / NAT-PMP); `method` is the
   * last one tried ('none' when no gateway was found), `reason` the gateway's error or ours.
   */
  PORT_MAPPING_FAILED: { protocol: string, internalPort: number, method: string, reason: string }
  // --- DHT ---
  /** A KRPC message (BEP 5) is malformed or breaks a bound; `transactionId` is its hex `t` when it had one. */
  DHT_MESSAGE_INVALID: { reason: string, transactionId: string | null, query: boolean }

  /** A magnet's metadata is not known yet (the torrent is still fetching it, BEP 9). */
  METADATA_PENDING: { torrentId: string }
  /** `downloadMetadata` did not get the metadata within `timeoutMs`. */
  METADATA_TIMEOUT: { timeoutMs: number }
}

/** Every stable error code. */
export type ErrorCode = keyof ErrorDetails

/** The base of every error Lodestone throws on purpose. */
export class LodestoneError<C extends ErrorCode = ErrorCode> extends Error {
  override name = 'LodestoneError'
  constructor (readonly code: C, readonly details: ErrorDetails[C], options?: { message?: string, cause?: unknown }) {
    super(options?.message ?? `${code}: ${JSON.stringify(details)}`, { cause: options?.cause })
  }
}

/** An error caused by a remote party breaking the protocol. It carries no stack: see util/stack-traces.ts. */
export class ProtocolError<C extends ErrorCode = ErrorCode> extends LodestoneError<C> {
  override name = 'ProtocolError'
  constructor (code: C, details: ErrorDetails[C], options?: { message?: string, cause?: unknown }) {
    const limit = stopStackTraces()
    try {
      super(code, details, options)
    } finally {
      restoreStackTraces(limit)
    }
  }
}

/** True when `err` is a Lodestone error with this code (works across package copies). */
export function hasCode<C extends ErrorCode> (err: unknown, code: C): err is LodestoneError<C> {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}

/** True when `err` looks like any Lodestone error. */
export function isLodestoneError (err: unknown): err is LodestoneError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' &&
    (err as { name?: unknown }).name !== undefined && 'details' in err
}
