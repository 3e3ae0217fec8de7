/**
 * Tunables of one peer connection (STYLE.md §8). Connection-count limits live in
 * `ConnectionSettings` (connection-manager.ts); these are about what happens on a connection.
 */
import { LodestoneError } from '../errors.js'
import { DEFAULT_MAX_MESSAGE_LENGTH_BYTES } from '../protocol/message-parser.js'
import { BLOCK_LENGTH_BYTES } from '../protocol/wire-messages.js'

export interface PeerSettings {
  /**
   * Close a peer that announces a longer message (PEER_MESSAGE_TOO_LARGE). 1 MiB: a bitfield of a
   * torrent with 8 M pieces; see `DEFAULT_MAX_MESSAGE_LENGTH_BYTES`. @default 1_048_576
   */
  maxMessageLengthBytes: number
  /**
   * The whole handshake must arrive within this, counted from the connect (incoming: from the
   * accept, time in the listener included). libtorrent uses 10 s too. @default 10_000
   */
  handshakeTimeoutMs: number
  /** Send a keep-alive when we sent nothing for this long (BEP 3 suggests 2 minutes). @default 120_000 */
  keepAliveIntervalMs: number
  /** Close a peer we received nothing from (not even a keep-alive) for this long. @default 300_000 */
  idleTimeoutMs: number
  /**
   * A request not answered this long after it was sent is reported as timed out (`'request-timed-out'`)
   * so the picker can give the block to another peer. It stays recorded, so a late block is still accepted.
   * @default 30_000
   */
  requestTimeoutMs: number
  /** With requests outstanding and no block received for this long, the peer is snubbed (pipeline of 1). @default 60_000 */
  snubTimeoutMs: number
  /** Pipeline depth before a rate is measured, and its floor. @default 4 */
  minPipelineDepth: number
  /** Pipeline depth ceiling (also capped by the peer's `reqq`). @default 500 */
  maxPipelineDepth: number
  /**
   * How much download time the pipeline should cover beyond one round trip: depth =
   * rate × (latency + this) / block length. Covers the peer's disk and scheduling jitter. @default 2_000
   */
  requestQueueTimeMs: number
  /**
   * Peer requests we queue (not yet served); more are rejected (BEP 6) or dropped. Announced as
   * `reqq`, which bounds how many requests a peer keeps out to us: Transmission 3.00 keeps `reqq`
   * out and its rate from one peer follows it — 7 MB/s at 500, 20 at 2 000 (libtorrent's
   * `max_allowed_in_request_queue`), 25–28 at 4 000 and no more at 8 000, where Transmission's own
   * CPU is the bound (bench/seed/RESULTS.md). A queued request is an entry, not data: reads stay
   * within `maxUploadReadAheadBytes`. @default 4000
   */
  maxIncomingRequests: number
  /** Bytes of queued peer requests (sum of their lengths); more are rejected or dropped. @default 67_108_864 */
  maxIncomingRequestBytes: number
  /** Longest block a peer may request; longer requests are rejected or dropped. @default 131_072 */
  maxRequestLengthBytes: number
  /**
   * Bytes of blocks read for this peer and not yet handed to the socket. Reads start only while the
   * socket is writable and below this, so a slow peer holds at most this much upload memory. @default 1_048_576
   */
  maxUploadReadAheadBytes: number
  /**
   * Bytes waiting in the socket's send queue above which we stop reading from the peer until the
   * queue drains. Blocks never push the queue this far (they wait for the socket to drain below its
   * high-water mark, 256 KiB with the Node adapter, plus at most one block), so only replies to a
   * peer that sends without reading get here: a flood of REQUESTs answered with REJECTs, of
   * ut_metadata requests... Without it each reply stayed queued in memory (issue 15). Keep it above
   * the socket's high-water mark plus `maxRequestLengthBytes`. @default 524_288
   */
  maxSendQueueBytes: number
  /**
   * A peer whose send queue stayed over `maxSendQueueBytes` this long (it does not read what we
   * send) is closed with PEER_TIMEOUT `what: 'send'`. @default 60_000
   */
  sendStallTimeoutMs: number
  /** Window of the upload and download rate meters. @default 5_000 */
  rateWindowMs: number
  /** Announce and use the BEP 6 fast extension. @default true */
  enableFastExtension: boolean
  /** Announce and use the BEP 10 extension protocol. @default true */
  enableExtensionProtocol: boolean
  /** Suggested pieces remembered per peer (oldest dropped first). @default 64 */
  maxSuggestedPieces: number
  /** Allowed-fast pieces remembered per peer (further ones ignored). @default 64 */
  maxAllowedFastPieces: number
}

export const defaultPeerSettings: Readonly<PeerSettings> = {
  maxMessageLengthBytes: DEFAULT_MAX_MESSAGE_LENGTH_BYTES,
  handshakeTimeoutMs: 10_000,
  keepAliveIntervalMs: 120_000,
  idleTimeoutMs: 300_000,
  requestTimeoutMs: 30_000,
  snubTimeoutMs: 60_000,
  minPipelineDepth: 4,
  maxPipelineDepth: 500,
  requestQueueTimeMs: 2_000,
  maxIncomingRequests: 4000,
  maxIncomingRequestBytes: 64 * 1024 * 1024,
  maxRequestLengthBytes: 128 * 1024,
  maxUploadReadAheadBytes: 1024 * 1024,
  maxSendQueueBytes: 512 * 1024,
  sendStallTimeoutMs: 60_000,
  rateWindowMs: 5_000,
  enableFastExtension: true,
  enableExtensionProtocol: true,
  maxSuggestedPieces: 64,
  maxAllowedFastPieces: 64
}

/**
 * Merges `partial` over the defaults and validates every field.
 * @throws LodestoneError SETTINGS_INVALID naming the key (`peer.<key>`).
 */
export function resolvePeerSettings (partial: Partial<PeerSettings> = {}): PeerSettings {
  const settings: PeerSettings = { ...defaultPeerSettings, ...partial }
  const positive: Array<keyof PeerSettings> = [
    'maxMessageLengthBytes', 'handshakeTimeoutMs', 'keepAliveIntervalMs', 'idleTimeoutMs', 'requestTimeoutMs',
    'snubTimeoutMs', 'minPipelineDepth', 'maxPipelineDepth', 'maxIncomingRequests', 'maxIncomingRequestBytes',
    'maxRequestLengthBytes', 'maxUploadReadAheadBytes', 'rateWindowMs', 'maxSendQueueBytes', 'sendStallTimeoutMs'
  ]
  for (const key of positive) {
    const value = settings[key]
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new LodestoneError('SETTINGS_INVALID', { key: `peer.${key}`, reason: 'must be a positive number' })
    }
  }
  for (const key of ['requestQueueTimeMs', 'maxSuggestedPieces', 'maxAllowedFastPieces'] as const) {
    if (!Number.isFinite(settings[key]) || settings[key] < 0) {
      throw new LodestoneError('SETTINGS_INVALID', { key: `peer.${key}`, reason: 'must be a number >= 0' })
    }
  }
  if (settings.minPipelineDepth > settings.maxPipelineDepth) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'peer.minPipelineDepth', reason: 'must not exceed maxPipelineDepth' })
  }
  if (settings.maxMessageLengthBytes < BLOCK_LENGTH_BYTES + 13) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'peer.maxMessageLengthBytes', reason: `must be at least ${BLOCK_LENGTH_BYTES + 13} (one 16 KiB block)` })
  }
  for (const key of ['enableFastExtension', 'enableExtensionProtocol'] as const) {
    if (typeof settings[key] !== 'boolean') throw new LodestoneError('SETTINGS_INVALID', { key: `peer.${key}`, reason: 'must be a boolean' })
  }
  return settings
}
