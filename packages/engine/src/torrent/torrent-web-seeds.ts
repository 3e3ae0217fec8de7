/**
 * The web seeds (BEP 19) of one torrent: each `url-list` URL (a magnet's `ws=` ends up there
 * too) becomes a {@link WebSeedSource} the picker feeds like a peer that has every piece.
 *
 * Why runs of whole pieces (libtorrent's web seeds do the same): an HTTP request costs a round
 * trip and headers, so a seed asks for whole new pieces, extended forward up to
 * `webSeed.requestBytes` ({@link PiecePicker.pickRun}); and a piece is never split between a web
 * seed and the peers, so neither waits on the other for the rest of a piece. Once no new piece is
 * left, a seed takes the free blocks of started pieces, and in end-game it may duplicate blocks
 * outstanding at slow peers: the first copy wins (blockReceived), the peers' requests are
 * cancelled as with any end-game duplicate.
 *
 * Trust: bytes from a web seed go through the same piece assembly as a peer's, with the seed's URL
 * as their sender. A piece that fails its check counts against the seed's health
 * (`maxHashFailures` drops it, in-flight requests aborted); request failures back it off
 * (`Retry-After` honoured), a server refusing the file drops it for `dropCooldownMs`. A dropped
 * seed comes back after its rest: a web seed is a mirror that may be fixed, not a hostile peer.
 *
 * Rate limits: each seed has a child of the torrent's download limiter, and a range is requested
 * only once its bytes are granted (as a peer's blocks are).
 *
 * Bounded memory: at most `maxRequestsInFlight` runs of at most `requestBytes` (or one piece) per
 * seed, and no new run while the pieces started (in memory until verified and written) fill
 * `maxUnverifiedBytes`.
 * Wake-ups: a finished request, freed budget (the torrent's refill), and the torrent's 1 s
 * housekeeping for seeds whose back-off ended.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { IHttpClient } from '../interfaces/http-client.js'
import type { Logger } from '../interfaces/logger.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import { isUnlimited, waitForBytes } from '../peer/rate-limit-wait.js'
import type { RateLimiter } from '../peer/rate-limiter.js'
import type { RateMeter } from '../peer/rate-meter.js'
import type { BlockRequest } from '../protocol/wire-messages.js'
import type { DownloadSettings } from '../session/engine-settings.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import { WebSeedFetchError } from '../webseed/web-seed-client.js'
import type { WebSeedSettings } from '../webseed/web-seed-health.js'
import { PeerSession, type PickerPeer } from './peer-session.js'
import type { PieceAssembly, TorrentCounters } from './piece-assembly.js'
import type { PiecePicker } from './piece-picker.js'
import type { PeerInfo, TorrentEvents } from './torrent-types.js'
import { WebSeedSource } from './web-seed-source.js'

/** What the web seeds need from their torrent. Functions are read on use. */
export interface TorrentWebSeedsHost {
  readonly clock: IClock
  readonly log: Logger | undefined
  readonly counters: TorrentCounters
  readonly downloadMeter: RateMeter
  readonly assembly: PieceAssembly
  /** The torrent's download limiter (each seed gets a child, as each peer does). */
  readonly downloadLimiter: RateLimiter | null
  /** The engine's HTTP client; absent: no web seeds. */
  http: () => IHttpClient | undefined
  isActive: () => boolean
  meta: () => TorrentMetainfo
  picker: () => PiecePicker<PickerPeer>
  storage: () => TorrentContentStorage
  settings: () => WebSeedSettings
  downloadSettings: () => DownloadSettings
  /** Blocks became free (a failed request): the peers may take them. */
  refillPeers: () => void
  emit: <K extends keyof TorrentEvents>(event: K, payload: TorrentEvents[K]) => void
}

export class TorrentWebSeeds {
  private seeds: WebSeedSource[] = []
  private pumpScheduled = false

  constructor (private readonly host: TorrentWebSeedsHost) {}

  /** Web seeds in use (not resting after a drop). */
  get count (): number {
    const now = this.host.clock.now()
    let n = 0
    for (const s of this.seeds) if (s.health.state(now) !== 'dropped') n++
    return n
  }

  /** Web seeds of this session in the swarm, resting or not. */
  get sourceCount (): number { return this.seeds.length }

  /** Peer-list entries of the seeds in use. */
  infos (): PeerInfo[] {
    const now = this.host.clock.now()
    return this.seeds.filter((s) => s.health.state(now) !== 'dropped').map((s) => s.info())
  }

  /** True when `sender` (a piece assembly sender) is one of our web seeds. */
  owns (sender: string): boolean {
    return this.seeds.some((s) => s.url === sender)
  }

  /** Joining the swarm: one source per URL, each a "seed" to the picker. */
  start (): void {
    const http = this.host.http()
    const settings = this.host.settings()
    if (http === undefined || !settings.enabled || this.seeds.length > 0) return
    const meta = this.host.meta()
    const layout = this.host.storage().layout
    for (const url of meta.urlList) {
      const seed = new WebSeedSource(url, { http, clock: this.host.clock, layout, meta, userAgent: 'Lodestone' }, settings, this.host.clock)
      seed.limiter = this.host.downloadLimiter?.createChild() ?? null
      this.host.picker().peerHaveAll(seed)
      this.seeds.push(seed)
    }
    this.schedulePump()
  }

  /** Leaving the swarm: requests aborted, their blocks released, sources forgotten. */
  stop (): void {
    const picker = this.host.picker()
    for (const seed of this.seeds) {
      seed.closed = true
      seed.abort()
      seed.limiter?.close()
      picker.removePeer(seed)
    }
    this.seeds = []
  }

  /** Coalesced: one pump per tick. */
  schedulePump (): void {
    if (this.pumpScheduled || this.seeds.length === 0) return
    this.pumpScheduled = true
    queueMicrotask(() => {
      this.pumpScheduled = false
      this.pump()
    })
  }

  /** Gives every ready seed runs to fetch up to its request bound. */
  pump (): void {
    const host = this.host
    if (!host.isActive() || this.seeds.length === 0) return
    const picker = host.picker()
    if (picker.isFinished) return
    const settings = host.settings()
    const maxBytes = Math.max(settings.requestBytes, host.meta().pieceLengthBytes)
    const now = host.clock.now()
    for (const seed of this.seeds) {
      if (!seed.health.isReady(now)) continue
      while (seed.runsInFlight < settings.maxRequestsInFlight) {
        // The torrent's memory budget: each started piece holds a buffer (TorrentPeers.newPieceAllowance).
        const active = picker.activePieceCount
        if (active > 0 && active * host.meta().pieceLengthBytes >= host.downloadSettings().maxUnverifiedBytes) return
        const run = picker.pickRun(seed, maxBytes)
        if (run.length === 0) break
        this.fetch(seed, run)
      }
    }
  }

  /** Pieces failed their check: each web seed among the senders is charged. */
  onHashFailed (senders: readonly string[]): void {
    for (const seed of this.seeds) {
      if (!senders.includes(seed.url)) continue
      const dropped = seed.health.onHashFailure(this.host.clock.now())
      this.failed(seed, 'bad-data', 'served a piece that failed its hash check', dropped)
    }
  }

  /** The assembly is certain a seed sent bad data (the smart ban): drop it now. */
  punish (sender: string, reason: string): void {
    const seed = this.seeds.find((s) => s.url === sender)
    if (seed === undefined) return
    seed.health.drop(this.host.clock.now())
    this.failed(seed, 'bad-data', reason, true)
  }

  private fetch (seed: WebSeedSource, run: BlockRequest[]): void {
    const pieceLength = this.host.meta().pieceLengthBytes
    const first = run[0]!
    const last = run[run.length - 1]!
    const offset = first.piece * pieceLength + first.begin
    const length = last.piece * pieceLength + last.begin + last.length - offset
    seed.runsInFlight++
    seed.blocksInFlight += run.length
    // Download limits act on requests, as for peers: a range is asked for once its bytes are granted.
    const limiter = seed.limiter !== null && !isUnlimited(seed.limiter) ? seed.limiter : null
    const signal = seed.signal
    let granted: Promise<void> = Promise.resolve()
    if (limiter !== null) {
      granted = seed.limiterTurn.then(async () => { await waitForBytes(limiter, length, signal) })
      seed.limiterTurn = granted.catch(() => {})
    }
    granted.then(async () => seed.client.fetchRange(offset, length, signal)).then(
      (data) => { this.onData(seed, run, offset, data) },
      (error: unknown) => { this.onError(seed, run, error) }
    ).finally(() => {
      seed.runsInFlight--
      seed.blocksInFlight -= run.length
      this.schedulePump()
    }).catch((error: unknown) => { this.host.emit('warning', { error }) })
  }

  private onData (seed: WebSeedSource, run: readonly BlockRequest[], offset: number, data: Uint8Array): void {
    if (seed.closed) return
    const { host } = this
    const picker = host.picker()
    const pieceLength = host.meta().pieceLengthBytes
    seed.health.onSuccess()
    for (const b of run) {
      const at = b.piece * pieceLength + b.begin - offset
      const result = picker.blockReceived(seed, b.piece, b.begin, b.length)
      for (const other of result.cancel) {
        if (other instanceof PeerSession) other.conn.cancel(b.piece, b.begin, b.length)
      }
      if (!result.accepted) {
        host.counters.wastedBytes += b.length
        continue
      }
      host.counters.downloadedBytes += b.length
      host.downloadMeter.add(b.length)
      seed.meter.add(b.length)
      host.assembly.addBlock(b.piece, b.begin, data.subarray(at, at + b.length), seed.url, result.pieceComplete)
    }
    if (!seed.announced) {
      seed.announced = true
      host.emit('peer-connected', { peer: seed.info() })
    }
  }

  private onError (seed: WebSeedSource, run: readonly BlockRequest[], error: unknown): void {
    if (seed.closed) return
    const picker = this.host.picker()
    for (const b of run) picker.blockRequestFailed(seed, b.piece, b.begin)
    this.host.refillPeers()
    // Aborted by a drop (already reported) or by leaving the swarm.
    if (isLodestoneError(error) && error.code === 'ABORTED') return
    const failure = error instanceof WebSeedFetchError ? error.failure : { kind: 'transient' as const, reason: String(error) }
    const now = this.host.clock.now()
    const dropped = failure.kind === 'refused'
      ? seed.health.drop(now)
      : seed.health.onFailure(now, failure.retryAfterMs)
    this.failed(seed, failure.kind, failure.reason, dropped)
  }

  /** Reports a failure as a 'warning'; a drop aborts what the seed still has in flight. */
  private failed (seed: WebSeedSource, kind: string, reason: string, dropped: boolean): void {
    this.host.log?.debug('web seed failed', { url: seed.url, kind, reason, dropped })
    this.host.emit('warning', { error: new LodestoneError('WEBSEED_FAILED', { url: seed.url, kind, reason, dropped }, { message: `web seed ${seed.url}: ${reason}${dropped ? ' (dropped)' : ''}` }) })
    if (!dropped) return
    seed.abort()
    if (seed.announced) this.host.emit('peer-disconnected', { address: seed.url, peerIdHex: null })
    seed.announced = false
  }
}
