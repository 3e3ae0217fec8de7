/** The shapes of a `PeerConnection`'s API: its state, events, deps, init options and stats. */
import type { LodestoneError } from '../errors.js'
import type { ITcpSocket, ReceivedRange } from '../interfaces/socket.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { ExtendedHandshake, PeerExtensionFactory } from '../protocol/extension-protocol.js'
import type { HandshakeFeatures } from '../protocol/handshake.js'
import type { HashMessage } from '../protocol/hash-messages.js'
import type { BlockRequest } from '../protocol/wire-messages.js'
import type { Bitfield } from '../util/bitfield.js'
import type { CoarseScheduler } from '../util/coarse-scheduler.js'

/** Lifecycle of a connection. */
export type PeerConnectionState = 'handshaking' | 'active' | 'closed'

/** The version string we announce in the extended handshake (`v`). */
export const LODESTONE_CLIENT_NAME = 'Lodestone 0.1.0'

/** The payload of an event that carries nothing. */
export type EmptyEvent = Record<string, never>

/** Events, kebab-case past tense, one object payload each (STYLE.md §2). */
export interface PeerConnectionEvents {
  /** The peer's handshake is complete and valid; the connection is now active. */
  'handshake-received': { peerId: Uint8Array, clientName: string, features: HandshakeFeatures }
  /** The peer's BEP 10 handshake arrived (it may be sent again later). */
  'extended-handshake': { handshake: ExtendedHandshake }
  'choked': EmptyEvent
  'unchoked': EmptyEvent
  'interested': EmptyEvent
  'not-interested': EmptyEvent
  /** The peer announced a piece it did not have before. */
  'have': { piece: number }
  /** The peer's initial availability (only when the piece count is known; else read `bitfield` after `setPieceCount`). */
  'bitfield': { bitfield: Bitfield, source: 'bitfield' | 'have-all' | 'have-none' }
  /**
   * A block we requested. `data` is a view of socket memory that is valid only during the
   * listener call (the socket may reuse it for its next read): copy what you keep. `origin`: where
   * the socket's transport still keeps those bytes (ITcpSocket.receivedRange), when it does.
   */
  'piece-received': { piece: number, begin: number, data: Uint8Array, origin?: ReceivedRange | undefined }
  /** A block we did not request (or no longer had outstanding): counted as wasted, not trusted. */
  'wasted-received': { piece: number, begin: number, lengthBytes: number }
  /** The peer asked us for a block and it was queued (it is served through `readBlock`). */
  'request-received': BlockRequest
  /** Our outstanding requests that the peer will not answer: choke without BEP 6, or close. */
  'requests-dropped': { blocks: BlockRequest[], reason: 'choked' | 'closed' }
  /** Requests unanswered for `requestTimeoutMs`: the picker may give them to other peers. */
  'request-timed-out': { blocks: BlockRequest[] }
  /** BEP 6: the peer refused one of our requests. */
  'rejected': BlockRequest
  /** BEP 6: the peer suggests we download this piece. */
  'suggested': { piece: number }
  /** BEP 6: we may request this piece even while choked. */
  'allowed-fast': { piece: number }
  /** BEP 52: a hash request, hashes or hash reject (only on connections made with `v2`; else ignored as unknown ids). */
  'hash-message-received': HashMessage
  /** BEP 5: the peer's DHT port. */
  'port-received': { port: number }
  /** Nothing arrived for `snubTimeoutMs` while we waited for blocks; pipeline depth drops to 1. */
  'snubbed': EmptyEvent
  /** A block arrived from a snubbed peer. */
  'unsnubbed': EmptyEvent
  /** The socket drained after back-pressure: a good moment to send more requests. */
  'drained': EmptyEvent
  /** A problem that did not close the connection (a listener threw, a block read failed). */
  'warning': { error: unknown }
  /** Emitted once; `reason` is absent when we closed without one. */
  'closed': { reason?: LodestoneError }
}

export interface PeerConnectionDeps {
  socket: ITcpSocket
  clock: IClock
  logger?: Logger
  /** The engine's shared coarse scheduler; without one the connection makes its own (one timer). */
  scheduler?: CoarseScheduler
}

export interface PeerConnectionInit {
  /** 20 bytes: the torrent this connection belongs to. */
  infoHash: Uint8Array
  /** Our 20-byte peer id. */
  localPeerId: Uint8Array
  /** True when we dialled: we send our handshake at once. False: we answer after the peer's info hash. */
  outgoing: boolean
  /** Known unless the torrent is a magnet without metadata yet; then call `setPieceCount` later. */
  pieceCount?: number
  /**
   * What we have, read once right after the handshake to send BITFIELD / HAVE ALL / HAVE NONE
   * (BEP 3: it must be the first message). `null` or absent: we have nothing.
   */
  localBitfield?: () => Bitfield | null
  /**
   * Reads a block the peer asked for. Absent: we serve nothing (requests are rejected or dropped).
   * The returned buffer is handed to the socket: do not modify it afterwards. Rejecting with a
   * PEER_PROTOCOL_VIOLATION error closes the connection with it (the request was illegal, e.g. a
   * piece we never announced); any other rejection rejects the request (BEP 6) and emits 'warning'.
   */
  readBlock?: (request: BlockRequest) => Promise<Uint8Array>
  /** A block from `readBlock` is no longer referenced (dropped, or the socket has handed it to the OS). */
  releaseBlock?: (data: Uint8Array) => void
  /** A few pieces `readBlock` likely serves from memory now (-1 entries are ignored): the peer's queued requests for them are read first. */
  cachedPieces?: () => readonly number[]
  /** BEP 10 extensions (ut_metadata, ut_pex...), one instance per connection. */
  extensions?: readonly PeerExtensionFactory[]
  /** Set the v2 reserved bit and take BEP 52 hash messages (v2 and hybrid torrents). @default false */
  v2?: boolean
  /** Set the DHT reserved bit (BEP 5). @default false */
  dht?: boolean
  /** Extended handshake `v`. @default LODESTONE_CLIENT_NAME */
  clientName?: string
  /**
   * When this connection's handshake began (clock ms): an incoming connection's accept time, so
   * the handshake deadline covers the time it spent in the listener too. @default construction
   */
  handshakeStartedAtMs?: number
  /** Extended handshake `p`: our TCP listen port. */
  listenPort?: number
  /**
   * BEP 21: we only upload now (seeding, or every wanted piece had), sent as `upload_only: 1` in
   * our extended handshake. Read each time the handshake is sent (again when it changes).
   */
  uploadOnly?: () => boolean
  /**
   * BEP 10 `e`: whether we prefer encrypted (MSE/PE) connections, read each time the handshake
   * is sent; undefined leaves the field out (we do not speak MSE).
   */
  prefersEncryption?: () => boolean | undefined
  /** Extended handshake `ipv4` / `ipv6`: our own addresses, when known (4 / 16 bytes). */
  ipv4?: Uint8Array
  ipv6?: Uint8Array
}

/** Counters and rates for stats and the choker. */
export interface PeerConnectionStats {
  /** Payload of requested blocks received. */
  downloadedBytes: number
  /** Payload of blocks sent. */
  uploadedBytes: number
  /** Payload of blocks received that matched no outstanding request. */
  wastedBytes: number
  /** Every byte received / sent, protocol overhead included. */
  receivedBytes: number
  sentBytes: number
  downloadRateBytesPerSec: number
  uploadRateBytesPerSec: number
  /** Smallest recent request→block time; null before the first block. */
  latencyMs: number | null
  outstandingRequests: number
  uploadQueueBytes: number
  /** Peer requests we rejected or dropped (choked, queue full, invalid, read failed). */
  refusedRequests: number
  /** Times we stopped reading because our send queue to the peer was over `maxSendQueueBytes`. */
  sendQueuePauses: number
}
