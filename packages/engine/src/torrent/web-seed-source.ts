/**
 * One web seed (BEP 19) as its torrent sees it: the HTTP client that fetches its ranges, its
 * health (back-off, drop), its rate, and what it has in flight. It is a key of the torrent's
 * piece picker beside the peer sessions (a peer that has every piece), and its URL is the sender
 * recorded for the blocks it delivered, so a piece that fails its hash check is charged to it.
 */
import type { IClock } from '../interfaces/clock.js'
import type { RateLimiter } from '../peer/rate-limiter.js'
import { RateMeter } from '../peer/rate-meter.js'
import { WebSeedClient, type WebSeedClientDeps } from '../webseed/web-seed-client.js'
import { WebSeedHealth, type WebSeedSettings } from '../webseed/web-seed-health.js'
import type { PeerInfo } from './torrent-types.js'

export class WebSeedSource {
  readonly client: WebSeedClient
  readonly health: WebSeedHealth
  readonly meter: RateMeter
  /** Range requests (runs of blocks) in flight. */
  runsInFlight = 0
  /** Blocks those requests cover. */
  blocksInFlight = 0
  /** Set when the torrent stops using this instance: late answers are ignored. */
  closed = false
  /** 'peer-connected' was emitted (after the first good answer). */
  announced = false
  /** The seed's share of the torrent's download limit (a child limiter), closed with the seed. */
  limiter: RateLimiter | null = null
  /** The tail of this seed's queue of limiter waits (one wake-up callback per limiter: they take turns). */
  limiterTurn: Promise<void> = Promise.resolve()
  /** Aborts the requests in flight (on a drop or when the torrent leaves the swarm). */
  private controller = new AbortController()

  constructor (readonly url: string, deps: WebSeedClientDeps, settings: WebSeedSettings, private readonly clock: IClock) {
    this.client = new WebSeedClient(url, deps, settings)
    this.health = new WebSeedHealth(settings)
    this.meter = new RateMeter(clock)
  }

  get signal (): AbortSignal { return this.controller.signal }

  /** Aborts what is in flight; later requests get a fresh signal. */
  abort (): void {
    this.controller.abort()
    this.controller = new AbortController()
  }

  /** A peer-list entry: address is the URL, source 'webseed'. */
  info (): PeerInfo {
    const ready = this.health.state(this.clock.now()) === 'ok'
    return {
      address: this.url,
      peerIdHex: null,
      clientName: 'Web seed',
      direction: 'outgoing',
      transport: 'tcp', // HTTP(S)
      downloadRateBytesPerSec: this.meter.rateBytesPerSec(),
      uploadRateBytesPerSec: 0,
      downloadedBytes: this.client.downloadedBytes,
      uploadedBytes: 0,
      amChoking: true,
      amInterested: true,
      // A seed backing off or dropped is as good as choking us.
      peerChoking: !ready,
      peerInterested: false,
      snubbed: false,
      progress: 1,
      outstandingRequests: this.blocksInFlight,
      latencyMs: null,
      source: 'webseed',
      encryption: 'none'
    }
  }
}
