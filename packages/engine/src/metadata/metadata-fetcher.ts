/**
 * Fetches a torrent's info dictionary from peers (BEP 9) for a magnet link: decides which peer
 * is asked for which 16 KiB piece, assembles, verifies against the magnet's info hash(es), parses.
 *
 * It sees peers only through {@link UtMetadataPeer} (the ut_metadata plug-in of each connection,
 * which already checked every answer against its request: right piece, right length, matching
 * total_size). It owns no connection and no timer: the owner feeds it peers and calls `tick`.
 *
 * Why the blame rules look like this: a piece of metadata cannot be verified on its own, only the
 * whole dict against the info hash. So:
 * - pieces are fetched from every peer announcing the same size (fast, and the common case);
 * - when the assembled dict does not match and one peer sent it all, that peer is closed;
 * - when several peers contributed, each gets a strike and the fetcher switches to one source per
 *   attempt, so the next mismatch names its culprit. Any honest peer therefore finishes the job.
 *
 * Limits (DESIGN rule 6): a peer announcing more than `maxMetadataBytes` is closed before
 * anything is requested (so memory is bounded by that setting); requests per peer are bounded;
 * unverified bytes are never parsed.
 */
import { LodestoneError, ProtocolError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { IHasher } from '../interfaces/hasher.js'
import type { Logger } from '../interfaces/logger.js'
import type { MagnetLink } from '../metainfo/magnet.js'
import { parseInfoDictionary } from '../metainfo/parse-torrent.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import {
  METADATA_PIECE_BYTES, metadataPieceCount, type UtMetadataPeer, type UtMetadataSink
} from '../protocol/ut-metadata.js'
import { bytesEqual } from '../util/bytes.js'
import { TypedEmitter } from '../util/typed-emitter.js'
import { defaultMetadataFetcherSettings, type MetadataFetcherSettings } from './metadata-fetcher-settings.js'

export interface MetadataFetcherDeps {
  hasher: IHasher
  clock: IClock
  logger?: Logger
}

/** What is fetched: the hashes to check against, and what the magnet adds to the metainfo. */
export type MetadataTarget = Pick<MagnetLink, 'infoHashV1' | 'infoHashV2' | 'trackers' | 'webSeeds'>

export interface MetadataFetcherEvents {
  /** Verified and parsed. `infoBytes` is the info dict's exact bytes (also `meta.infoBytes`). */
  'metadata': { meta: TorrentMetainfo, infoBytes: Uint8Array }
  /** The dict matches the info hash but is not a valid torrent: no peer can fix that. */
  'failed': { error: LodestoneError }
  /** A peer misbehaved (bad data, over-limit size); the fetch goes on. */
  'warning': { error: LodestoneError }
}

interface PeerEntry {
  strikes: number
  /** Not asked again before this time (rejects, time-outs). */
  retryAtMs: number
}

interface Attempt {
  sizeBytes: number
  pieces: Array<Uint8Array | null>
  senders: Array<UtMetadataPeer | null>
  /** Piece → who has it in flight and since when. */
  requested: Map<number, { peer: UtMetadataPeer, atMs: number }>
  received: number
  /** One-source mode: the only peer asked in this attempt. */
  solo: UtMetadataPeer | null
  verifying: boolean
}

export class MetadataFetcher extends TypedEmitter<MetadataFetcherEvents> implements UtMetadataSink {
  private readonly peers = new Map<UtMetadataPeer, PeerEntry>()
  private attempt: Attempt | null = null
  private singleSource = false
  private doneValue = false
  private readonly settings: MetadataFetcherSettings
  private counters = { hashFailures: 0, receivedBytes: 0 }

  constructor (private readonly deps: MetadataFetcherDeps, private readonly target: MetadataTarget, settings: Partial<MetadataFetcherSettings> = {}) {
    super()
    if (target.infoHashV1 === null && target.infoHashV2 === null) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'target', reason: 'needs a v1 or v2 info hash' })
    }
    this.settings = { ...defaultMetadataFetcherSettings, ...settings }
  }

  /** True once the metadata was verified (or found unusable). */
  get done (): boolean { return this.doneValue }

  /** Peers known to support ut_metadata. */
  get peerCount (): number { return this.peers.size }

  stats (): { peers: number, hashFailures: number, receivedBytes: number, sizeBytes: number | null, receivedPieces: number } {
    return {
      peers: this.peers.size,
      ...this.counters,
      sizeBytes: this.attempt?.sizeBytes ?? null,
      receivedPieces: this.attempt?.received ?? 0
    }
  }

  // --- UtMetadataSink ---------------------------------------------------------------------

  onPeerReady (peer: UtMetadataPeer): void {
    if (this.doneValue) return
    const size = peer.metadataSizeBytes
    if (size !== undefined && size > this.settings.maxMetadataBytes) {
      const error = new ProtocolError('METADATA_INVALID', { reason: `metadata_size ${size} is over the limit of ${this.settings.maxMetadataBytes} bytes` })
      this.emit('warning', { error })
      peer.close(error)
      return
    }
    if (!this.peers.has(peer)) this.peers.set(peer, { strikes: 0, retryAtMs: 0 })
    this.pump()
  }

  onData (peer: UtMetadataPeer, piece: number, data: Uint8Array): void {
    const a = this.attempt
    if (this.doneValue || a === null || a.verifying) return
    const req = a.requested.get(piece)
    if (req?.peer !== peer || peer.metadataSizeBytes !== a.sizeBytes || a.pieces[piece] !== null) return
    a.requested.delete(piece)
    a.pieces[piece] = data.slice()
    a.senders[piece] = peer
    a.received++
    this.counters.receivedBytes += data.length
    if (a.received === a.pieces.length) {
      void this.verify(a)
      return
    }
    this.pump()
  }

  onReject (peer: UtMetadataPeer, piece: number): void {
    const entry = this.peers.get(peer)
    if (entry !== undefined) entry.retryAtMs = this.deps.clock.now() + this.settings.retryBackoffMs
    this.release(peer, piece)
    this.pump()
  }

  onPeerClosed (peer: UtMetadataPeer): void {
    this.peers.delete(peer)
    const a = this.attempt
    if (a !== null && !a.verifying) {
      if (a.solo === peer) this.attempt = null
      else for (const [piece, req] of [...a.requested]) if (req.peer === peer) a.requested.delete(piece)
    }
    this.pump()
  }

  /** Time-outs and back-offs; call about once a second. */
  tick (): void {
    const a = this.attempt
    if (this.doneValue || a === null || a.verifying) return
    const now = this.deps.clock.now()
    for (const [piece, req] of [...a.requested]) {
      if (now - req.atMs < this.settings.requestTimeoutMs) continue
      a.requested.delete(piece)
      req.peer.forget(piece)
      const entry = this.peers.get(req.peer)
      if (entry !== undefined) entry.retryAtMs = now + this.settings.retryBackoffMs
      if (a.solo === req.peer) this.attempt = null
    }
    this.pump()
  }

  /** Stops: no more requests; later answers are ignored. */
  close (): void {
    this.doneValue = true
    this.attempt = null
    this.peers.clear()
  }

  // --- internals ------------------------------------------------------------------------------

  private release (peer: UtMetadataPeer, piece: number): void {
    const a = this.attempt
    if (a === null) return
    if (a.requested.get(piece)?.peer === peer) a.requested.delete(piece)
    if (a.solo === peer && !a.verifying) this.attempt = null
  }

  private usable (peer: UtMetadataPeer, entry: PeerEntry, now: number): boolean {
    return peer.metadataSizeBytes !== undefined && entry.retryAtMs <= now
  }

  /** Starts an attempt when none runs, then fills every eligible peer's request slots. */
  private pump (): void {
    if (this.doneValue) return
    const now = this.deps.clock.now()
    if (this.attempt === null) {
      // Multi-source: the first usable peer's size. One source: the peer with the fewest strikes.
      let pick: UtMetadataPeer | null = null
      let best = Infinity
      for (const [peer, entry] of this.peers) {
        if (!this.usable(peer, entry, now)) continue
        if (!this.singleSource) { pick = peer; break }
        if (entry.strikes < best) { best = entry.strikes; pick = peer }
      }
      if (pick === null) return
      const size = pick.metadataSizeBytes ?? 0
      const count = metadataPieceCount(size)
      this.attempt = {
        sizeBytes: size,
        pieces: new Array<Uint8Array | null>(count).fill(null),
        senders: new Array<UtMetadataPeer | null>(count).fill(null),
        requested: new Map(),
        received: 0,
        solo: this.singleSource ? pick : null,
        verifying: false
      }
    }
    const a = this.attempt
    if (a.verifying) return
    let next = 0
    for (const [peer, entry] of this.peers) {
      if (a.solo !== null && peer !== a.solo) continue
      if (peer.metadataSizeBytes !== a.sizeBytes || !this.usable(peer, entry, now)) continue
      while (peer.outstanding.size < this.settings.maxRequestsPerPeer) {
        while (next < a.pieces.length && (a.pieces[next] !== null || a.requested.has(next))) next++
        if (next >= a.pieces.length) return
        if (!peer.request(next)) break
        a.requested.set(next, { peer, atMs: now })
      }
    }
    // Nobody can serve this attempt's size any more: start over with whoever is left.
    if (a.requested.size === 0 && a.solo === null && a.received === 0) {
      let anyone = false
      for (const peer of this.peers.keys()) if (peer.metadataSizeBytes === a.sizeBytes) anyone = true
      if (!anyone) {
        this.attempt = null
        if ([...this.peers].some(([p, e]) => this.usable(p, e, now))) this.pump()
      }
    }
  }

  private async verify (a: Attempt): Promise<void> {
    a.verifying = true
    const bytes = new Uint8Array(a.sizeBytes)
    a.pieces.forEach((p, i) => { if (p !== null) bytes.set(p, i * METADATA_PIECE_BYTES) })
    let ok: boolean
    try {
      const { infoHashV1, infoHashV2 } = this.target
      const [v1, v2] = await Promise.all([
        infoHashV1 === null ? null : this.deps.hasher.digest('sha1', bytes),
        infoHashV2 === null ? null : this.deps.hasher.digest('sha256', bytes)
      ])
      ok = (infoHashV1 === null || (v1 !== null && bytesEqual(v1, infoHashV1))) &&
        (infoHashV2 === null || (v2 !== null && bytesEqual(v2, infoHashV2)))
    } catch (error) {
      this.finishFailed(new LodestoneError('INTERNAL', { reason: `hashing metadata failed: ${String(error)}` }, { cause: error }))
      return
    }
    if (this.doneValue || this.attempt !== a) return
    if (!ok) {
      this.onMismatch(a)
      return
    }
    let meta: TorrentMetainfo
    try {
      meta = await parseInfoDictionary(bytes, { hasher: this.deps.hasher, limits: { maxTorrentBytes: Math.max(bytes.length, 1) } })
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      this.finishFailed(new LodestoneError('METADATA_INVALID', { reason: `the info dict matches the info hash but is not valid: ${reason}` }, { cause: error }))
      return
    }
    if (this.doneValue) return
    this.doneValue = true
    this.attempt = null
    meta.announce = this.target.trackers.map((url) => [url])
    meta.urlList = [...this.target.webSeeds]
    this.deps.logger?.info('metadata verified', { sizeBytes: bytes.length, pieces: a.pieces.length })
    this.emit('metadata', { meta, infoBytes: meta.infoBytes })
  }

  private onMismatch (a: Attempt): void {
    this.counters.hashFailures++
    this.attempt = null
    const senders = [...new Set(a.senders.filter((p): p is UtMetadataPeer => p !== null))]
    if (senders.length === 1) {
      const peer = senders[0]!
      const error = new ProtocolError('METADATA_INVALID', { reason: 'the metadata the peer sent does not match the info hash' })
      this.emit('warning', { error })
      this.peers.delete(peer)
      peer.close(error)
    } else {
      this.singleSource = true
      for (const peer of senders) {
        const entry = this.peers.get(peer)
        if (entry !== undefined) entry.strikes++
      }
      this.emit('warning', { error: new LodestoneError('METADATA_INVALID', { reason: `assembled metadata from ${senders.length} peers does not match the info hash; retrying one peer at a time` }) })
    }
    this.pump()
  }

  private finishFailed (error: LodestoneError): void {
    if (this.doneValue) return
    this.doneValue = true
    this.attempt = null
    this.emit('failed', { error })
  }
}
