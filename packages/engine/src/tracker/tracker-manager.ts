/**
 * TrackerManager: one torrent's trackers, announced as BEP 12 says.
 *
 * Tiers: each tier is shuffled once (with the injected IRandom); an announce walks the tiers in
 * order and the trackers of a tier in order, stopping at the first that answers, which then moves
 * to the front of its tier. Every announce starts again from the first tier, so a recovered
 * primary tracker is used again. With `announceToAllTiers` every tier is walked on its own
 * schedule instead (what µTorrent and libtorrent's `announce_to_all_tiers` do).
 *
 * Why a tracker that failed is skipped for a while: BEP 12 alone would retry a dead first tracker
 * before every announce, and a dead UDP tracker takes minutes to time out. Each tracker therefore
 * has its own back-off (`retryBaseMs · 2^(failures-1)`, capped), and each attempt has a time limit
 * (`announceTimeoutMs`) so one silent tracker cannot hold up the fall-through to the next.
 *
 * Events per tracker (BEP 3): the first request to a tracker carries `started`; `completed` goes
 * to the trackers that knew us while we downloaded; `stopped` goes on stop to every tracker that
 * may have registered us. Regular announces carry no event.
 *
 * Time comes from the injected clock only; one timer per walk group is armed at a time.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import { TypedEmitter } from '../util/typed-emitter.js'
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { IHttpClient } from '../interfaces/http-client.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import { formatPeerAddress } from '../peer/peer-address.js'
import {
  defaultTrackerSettings, parseTrackerUrl,
  type AnnounceEvent, type AnnounceParams, type AnnounceResult, type PeerAddress, type TrackerClient, type TrackerSettings
} from './announce.js'
import { HttpTracker } from './http-tracker.js'
import { UdpTracker, type UdpTrackerSocket } from './udp-tracker.js'

/** What the torrent reports for each announce (read just before sending). */
export interface AnnounceState {
  /** 20 bytes. */
  infoHash: Uint8Array
  /** 20 bytes. */
  peerId: Uint8Array
  /** Our listening TCP port. */
  port: number
  uploadedBytes: number
  downloadedBytes: number
  leftBytes: number
  /** Peers wanted (sent as 0 with `stopped`). */
  numWant: number
}

export interface TrackerManagerSettings {
  /** Walk every tier on its own schedule instead of stopping at the first tracker that answers. @default false */
  announceToAllTiers: boolean
  /** A tracker's `interval` below this is raised to it (a hostile 0 must not become a loop). @default 60 */
  minAnnounceIntervalSec: number
  /** A tracker's `interval` above this is lowered to it (timers cannot hold more than ~24 days). @default 86_400 */
  maxAnnounceIntervalSec: number
  /** First back-off after a tracker fails; doubles with each further failure. @default 15_000 */
  retryBaseMs: number
  /** Back-off cap. @default 1_800_000 */
  retryMaxMs: number
  /** Time limit for one announce attempt, over all of its UDP retransmissions. @default 120_000 */
  announceTimeoutMs: number
  /** Default time limit of {@link TrackerManager.stop}. @default 5_000 */
  stopTimeoutMs: number
  /** A peer emitted in the last this-many ms is not emitted again. @default 300_000 */
  peerDedupWindowMs: number
  /** Peers remembered for de-duplication (oldest forgotten first). @default 10_000 */
  maxRememberedPeers: number
}

export const defaultTrackerManagerSettings: Readonly<TrackerManagerSettings> = {
  announceToAllTiers: false,
  minAnnounceIntervalSec: 60,
  maxAnnounceIntervalSec: 86_400,
  retryBaseMs: 15_000,
  retryMaxMs: 30 * 60_000,
  announceTimeoutMs: 120_000,
  stopTimeoutMs: 5_000,
  peerDedupWindowMs: 5 * 60_000,
  maxRememberedPeers: 10_000
}

export interface TrackerManagerDeps {
  clock: IClock
  random: IRandom
  /** Read before every announce. */
  getAnnounceState: () => AnnounceState
  /** For http(s):// trackers; without it they are listed with an error and never announced to. */
  httpClient?: IHttpClient
  /** The engine's shared UDP tracker socket; without it udp:// trackers are listed with an error. */
  udpSocket?: UdpTrackerSocket
  /** Replaces the built-in client construction (tests, custom transports). */
  createClient?: (url: string) => TrackerClient
  /** Limits and timers of the built-in clients. */
  trackerSettings?: Partial<TrackerSettings>
  logger?: Logger
}

/** A snapshot of one tracker, for UIs and the torrent's status. Times are wall-clock epoch ms. */
export interface TrackerStatus {
  url: string
  /** Index of its tier in the torrent's announce list. */
  tier: number
  /** True while a request to it is in flight. */
  updating: boolean
  lastAnnounceAtMs: number | null
  /** When the next announce to it is planned; null when none is (another tracker is used, or stopped). */
  nextAnnounceAtMs: number | null
  /** Peers in its last answer. */
  lastPeerCount: number | null
  seeders: number | null
  leechers: number | null
  intervalSec: number | null
  minIntervalSec: number | null
  /** The last failure, cleared by the next success. */
  lastError: LodestoneError | null
  /** The tracker's `warning message` from its last answer. */
  warning: string | null
  consecutiveFailures: number
}

export interface TrackerManagerEvents {
  /** New peers (not emitted by this manager within `peerDedupWindowMs`). */
  'peers': { peers: PeerAddress[], source: 'tracker', url: string }
  /** A tracker failed; the manager falls through and retries on its own. */
  'warning': { url: string, error: LodestoneError }
  'status-changed': { tracker: TrackerStatus }
}

export interface StopOptions {
  /** @default settings.stopTimeoutMs */
  timeoutMs?: number
  signal?: AbortSignal
}

interface Entry {
  readonly url: string
  readonly tier: number
  readonly client: TrackerClient | null
  status: TrackerStatus
  /** A `started` was sent (maybe unanswered): it may know us, so it gets `stopped`. */
  contacted: boolean
  /** It acknowledged `started`. */
  started: boolean
  /** `completed` still to be sent to it. */
  completedPending: boolean
  /** Skip it until then (monotonic ms) after failures. */
  retryAtMs: number
}

interface Group {
  readonly tiers: Entry[][]
  timer: ITimer | null
  /** The run signal of the walk in progress, or null. A walk of an earlier (aborted) run does not block a new one. */
  walking: AbortSignal | null
  /** Run again right after the current walk (a `completed` arrived meanwhile). */
  rerun: boolean
  /** No regular announce before this (monotonic ms): the tracker's `min interval`. */
  earliestMs: number
}

type ManagerState = 'idle' | 'running' | 'stopping' | 'closed'

/** Announces one torrent to its trackers. Construct, subscribe, `start()`; `stop()` when done. */
export class TrackerManager extends TypedEmitter<TrackerManagerEvents> {
  private readonly settings: TrackerManagerSettings
  private readonly entries: Entry[] = []
  private readonly groups: Group[]
  private readonly key: number
  private state: ManagerState = 'idle'
  /** Aborts every in-flight announce of the current run. */
  private runController = new AbortController()
  /** Peer key → when it was last emitted (monotonic ms); Map order is emission order. */
  private readonly emittedPeers = new Map<string, number>()

  /**
   * @param tiers the torrent's announce list (BEP 12), e.g. `metainfo.announce`; empty tiers and
   *   repeated URLs are dropped.
   */
  constructor (tiers: readonly (readonly string[])[], private readonly deps: TrackerManagerDeps, settings: Partial<TrackerManagerSettings> = {}) {
    super()
    this.settings = { ...defaultTrackerManagerSettings, ...settings }
    this.key = Math.floor(deps.random.next() * 0x1_0000_0000) >>> 0
    this.onListenerError = (error, event) => {
      deps.logger?.warn('tracker manager listener threw', { event: String(event), error: String(error) })
    }
    const seen = new Set<string>()
    const builtTiers: Entry[][] = []
    tiers.forEach((urls, tierIndex) => {
      const tier: Entry[] = []
      for (const raw of urls) {
        const url = raw.trim()
        if (url === '' || seen.has(url)) continue
        seen.add(url)
        const entry = this.makeEntry(url, tierIndex)
        this.entries.push(entry)
        tier.push(entry)
      }
      if (tier.length > 0) builtTiers.push(this.shuffle(tier))
    })
    const makeGroup = (t: Entry[][]): Group => ({ tiers: t, timer: null, walking: null, rerun: false, earliestMs: 0 })
    this.groups = this.settings.announceToAllTiers ? builtTiers.map((t) => makeGroup([t])) : [makeGroup(builtTiers)]
  }

  /** Snapshots of every tracker, in announce-list order. */
  trackers (): TrackerStatus[] {
    return this.entries.map((e) => ({ ...e.status }))
  }

  /** True between `start()` and `stop()` / `close()`. */
  get running (): boolean { return this.state === 'running' }

  /**
   * Starts announcing: `started` now, then regular announces as the trackers ask. Calling it
   * while running does nothing; after `stop()` it starts a new session (trackers get `started` again).
   * @throws CLOSED after `close()`.
   */
  start (): void {
    if (this.state === 'closed') throw new LodestoneError('CLOSED', { what: 'tracker manager' })
    if (this.state === 'running') return
    this.state = 'running'
    this.runController = new AbortController()
    for (const e of this.entries) {
      e.started = false
      e.contacted = false
      e.completedPending = false
      e.retryAtMs = 0
    }
    for (const g of this.groups) {
      g.earliestMs = 0
      this.runWalk(g)
    }
  }

  /** The download finished: announce `completed` now to the trackers that knew us as a leecher. */
  completed (): void {
    if (this.state !== 'running') return
    let any = false
    for (const e of this.entries) {
      // `contacted`, not only `started`: a `started` still in flight is followed by `completed`.
      if (e.contacted) {
        e.completedPending = true
        any = true
      }
    }
    if (!any) return
    for (const g of this.groups) {
      if (this.isWalking(g)) g.rerun = true
      else this.runWalk(g)
    }
  }

  /** Re-announces now, or as soon as the trackers' `min interval` allows. */
  announceNow (): void {
    if (this.state !== 'running') return
    const now = this.deps.clock.now()
    for (const g of this.groups) {
      if (this.isWalking(g)) continue
      if (now >= g.earliestMs) this.runWalk(g)
      else this.arm(g, g.earliestMs - now)
    }
  }

  /**
   * Stops announcing and sends `stopped` to every tracker that may have registered us, waiting at
   * most `timeoutMs` for their answers. Never rejects: a tracker that does not answer only costs
   * the time limit. Resolves at once when not running.
   */
  async stop (options: StopOptions = {}): Promise<void> {
    if (this.state !== 'running') return
    this.state = 'stopping'
    this.halt()
    const targets = this.entries.filter((e) => e.contacted && e.client !== null)
    if (targets.length > 0) {
      const controller = new AbortController()
      const timeoutMs = options.timeoutMs ?? this.settings.stopTimeoutMs
      const timer = this.deps.clock.setTimeout(() => { controller.abort() }, timeoutMs)
      const onAbort = (): void => { controller.abort() }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      if (options.signal?.aborted === true) controller.abort()
      try {
        await Promise.all(targets.map(async (e) => { await this.announceTo(e, 'stopped', controller.signal, null) }))
      } finally {
        timer.cancel()
        options.signal?.removeEventListener('abort', onAbort)
      }
    }
    for (const e of this.entries) {
      e.started = false
      e.contacted = false
      e.completedPending = false
    }
    // close() may have run meanwhile.
    if (this.state === 'stopping') this.state = 'idle'
  }

  /** Stops at once without telling the trackers, and forgets the listeners. Idempotent. */
  close (): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.halt()
    this.removeAllListeners()
  }

  // -------------------------------------------------------------------------------------------

  private makeEntry (url: string, tier: number): Entry {
    const status: TrackerStatus = {
      url, tier, updating: false, lastAnnounceAtMs: null, nextAnnounceAtMs: null, lastPeerCount: null,
      seeders: null, leechers: null, intervalSec: null, minIntervalSec: null, lastError: null, warning: null,
      consecutiveFailures: 0
    }
    let client: TrackerClient | null = null
    try {
      client = this.createClient(url)
    } catch (error) {
      status.lastError = asTrackerError(error, url)
    }
    return { url, tier, client, status, contacted: false, started: false, completedPending: false, retryAtMs: 0 }
  }

  private createClient (url: string): TrackerClient {
    if (this.deps.createClient !== undefined) return this.deps.createClient(url)
    const settings = { ...defaultTrackerSettings, ...this.deps.trackerSettings }
    const parsed = parseTrackerUrl(url)
    if (parsed.protocol === 'udp') {
      if (this.deps.udpSocket === undefined) throw new LodestoneError('TRACKER_URL_INVALID', { url, reason: 'UDP trackers are not available here' })
      return new UdpTracker(url, { socket: this.deps.udpSocket }, settings)
    }
    if (this.deps.httpClient === undefined) throw new LodestoneError('TRACKER_URL_INVALID', { url, reason: 'HTTP trackers are not available here' })
    return new HttpTracker(url, { httpClient: this.deps.httpClient }, settings)
  }

  private shuffle (tier: Entry[]): Entry[] {
    for (let i = tier.length - 1; i > 0; i--) {
      const j = Math.floor(this.deps.random.next() * (i + 1))
      const a = tier[i]
      const b = tier[j]
      if (a === undefined || b === undefined) continue
      tier[i] = b
      tier[j] = a
    }
    return tier
  }

  /** Cancels timers and in-flight announces of the current run. */
  private halt (): void {
    this.runController.abort()
    for (const g of this.groups) {
      g.timer?.cancel()
      g.timer = null
      g.rerun = false
    }
    for (const e of this.entries) {
      if (e.status.nextAnnounceAtMs !== null) {
        e.status.nextAnnounceAtMs = null
        this.emitStatus(e)
      }
    }
  }

  private arm (g: Group, delayMs: number): void {
    g.timer?.cancel()
    const at = this.deps.clock.wallNow() + delayMs
    g.timer = this.deps.clock.setTimeout(() => {
      g.timer = null
      this.runWalk(g)
    }, delayMs)
    // Show the plan on the tracker the next walk tries first.
    const first = this.firstCandidate(g)
    for (const tier of g.tiers) {
      for (const e of tier) {
        const next = e === first ? at : null
        if (e.status.nextAnnounceAtMs !== next) {
          e.status.nextAnnounceAtMs = next
          this.emitStatus(e)
        }
      }
    }
  }

  private firstCandidate (g: Group): Entry | undefined {
    const now = this.deps.clock.now()
    let fallback: Entry | undefined
    for (const tier of g.tiers) {
      for (const e of tier) {
        if (e.client === null) continue
        if (e.retryAtMs <= now) return e
        if (fallback === undefined || e.retryAtMs < fallback.retryAtMs) fallback = e
      }
    }
    return fallback
  }

  private isWalking (g: Group): boolean {
    return g.walking !== null && !g.walking.aborted
  }

  private runWalk (g: Group): void {
    if (this.state !== 'running' || this.isWalking(g)) return
    g.timer?.cancel()
    g.timer = null
    const signal = this.runController.signal
    g.walking = signal
    void this.walkLoop(g, signal)
      .catch((error: unknown) => { this.deps.logger?.error('tracker walk failed', { error: String(error) }) })
      .finally(() => { if (g.walking === signal) g.walking = null })
  }

  private async walkLoop (g: Group, signal: AbortSignal): Promise<void> {
    do {
      g.rerun = false
      const answered = await this.walk(g, signal)
      if (signal.aborted || this.state !== 'running') return
      if (g.rerun) continue
      const now = this.deps.clock.now()
      if (answered !== null) {
        const s = this.settings
        const intervalSec = clamp(answered.result.intervalSec, s.minAnnounceIntervalSec, s.maxAnnounceIntervalSec)
        const minSec = clamp(answered.result.minIntervalSec ?? 0, 0, intervalSec)
        g.earliestMs = now + minSec * 1000
        this.arm(g, intervalSec * 1000)
      } else {
        // Everything failed or is backing off: come back when the first back-off ends.
        const nextMs = this.firstCandidate(g)?.retryAtMs
        if (nextMs !== undefined) this.arm(g, Math.max(0, nextMs - now))
      }
    } while (g.rerun && this.state === 'running' && !signal.aborted)
  }

  /** One BEP 12 pass; returns the tracker that answered, or null. */
  private async walk (g: Group, signal: AbortSignal): Promise<{ entry: Entry, result: AnnounceResult } | null> {
    for (const tier of g.tiers) {
      for (const entry of [...tier]) {
        if (entry.client === null || entry.retryAtMs > this.deps.clock.now()) continue
        const event: AnnounceEvent = !entry.started ? 'started' : entry.completedPending ? 'completed' : 'none'
        const result = await this.announceTo(entry, event, signal, this.settings.announceTimeoutMs)
        if (signal.aborted) return null
        if (result !== null) {
          // BEP 12: a tracker that answers moves to the front of its tier.
          const at = tier.indexOf(entry)
          if (at > 0) {
            tier.splice(at, 1)
            tier.unshift(entry)
          }
          return { entry, result }
        }
      }
    }
    return null
  }

  /**
   * One announce to one tracker, with status updates, back-off and events. Returns the result, or
   * null on failure (already reported) or abort (silent).
   */
  private async announceTo (entry: Entry, event: AnnounceEvent, outer: AbortSignal, timeoutMs: number | null): Promise<AnnounceResult | null> {
    const client = entry.client
    if (client === null) return null
    let params: AnnounceParams
    try {
      const s = this.deps.getAnnounceState()
      params = {
        infoHash: s.infoHash, peerId: s.peerId, port: s.port,
        uploadedBytes: s.uploadedBytes, downloadedBytes: s.downloadedBytes, leftBytes: s.leftBytes,
        numWant: event === 'stopped' ? 0 : s.numWant, event, key: this.key
      }
    } catch (error) {
      this.fail(entry, new LodestoneError('INTERNAL', { reason: `announce state unavailable: ${String(error)}` }, { cause: error }))
      return null
    }
    if (event === 'started') entry.contacted = true
    const controller = new AbortController()
    const onOuterAbort = (): void => { controller.abort() }
    if (outer.aborted) return null
    outer.addEventListener('abort', onOuterAbort, { once: true })
    let timedOut = false
    const timer = timeoutMs === null
      ? null
      : this.deps.clock.setTimeout(() => { timedOut = true; controller.abort() }, timeoutMs)
    entry.status.updating = true
    this.emitStatus(entry)
    try {
      const result = await client.announce(params, { signal: controller.signal })
      if (outer.aborted && event !== 'stopped') return null
      this.succeed(entry, event, result)
      return result
    } catch (error) {
      if (timedOut) {
        this.fail(entry, new LodestoneError('TRACKER_TIMEOUT', { url: entry.url, timeoutMs: timeoutMs ?? 0 }, { cause: error }))
      } else if (!controller.signal.aborted) {
        this.fail(entry, asTrackerError(error, entry.url))
      }
      return null
    } finally {
      timer?.cancel()
      outer.removeEventListener('abort', onOuterAbort)
      entry.status.updating = false
      this.emitStatus(entry)
    }
  }

  private succeed (entry: Entry, event: AnnounceEvent, result: AnnounceResult): void {
    const st = entry.status
    st.lastAnnounceAtMs = this.deps.clock.wallNow()
    st.lastPeerCount = result.peers.length
    st.seeders = result.seeders ?? st.seeders
    st.leechers = result.leechers ?? st.leechers
    st.intervalSec = result.intervalSec
    st.minIntervalSec = result.minIntervalSec ?? null
    st.lastError = null
    st.warning = result.warning ?? null
    st.consecutiveFailures = 0
    entry.retryAtMs = 0
    if (event === 'started') entry.started = true
    if (event === 'completed') entry.completedPending = false
    if (event === 'stopped') {
      entry.started = false
      entry.contacted = false
    }
    if (result.warning !== undefined) this.deps.logger?.info('tracker warning', { url: entry.url, warning: result.warning })
    if (event !== 'stopped') this.emitPeers(entry.url, result.peers)
  }

  private fail (entry: Entry, error: LodestoneError): void {
    const st = entry.status
    st.lastError = error
    st.consecutiveFailures++
    const backoffMs = Math.min(this.settings.retryMaxMs, this.settings.retryBaseMs * 2 ** Math.min(30, st.consecutiveFailures - 1))
    entry.retryAtMs = this.deps.clock.now() + backoffMs
    this.deps.logger?.debug('tracker failed', { url: entry.url, code: error.code, failures: st.consecutiveFailures })
    this.emit('warning', { url: entry.url, error })
  }

  private emitPeers (url: string, peers: readonly PeerAddress[]): void {
    const now = this.deps.clock.now()
    const fresh: PeerAddress[] = []
    for (const p of peers) {
      const key = formatPeerAddress(p)
      const last = this.emittedPeers.get(key)
      if (last !== undefined && now - last < this.settings.peerDedupWindowMs) continue
      // Re-insert so Map order stays oldest-first for eviction.
      this.emittedPeers.delete(key)
      this.emittedPeers.set(key, now)
      fresh.push({ host: p.host, port: p.port })
    }
    while (this.emittedPeers.size > this.settings.maxRememberedPeers) {
      const oldest = this.emittedPeers.keys().next()
      if (oldest.done === true) break
      this.emittedPeers.delete(oldest.value)
    }
    if (fresh.length > 0) this.emit('peers', { peers: fresh, source: 'tracker', url })
  }

  private emitStatus (entry: Entry): void {
    if (this.hasListeners('status-changed')) this.emit('status-changed', { tracker: { ...entry.status } })
  }
}

function clamp (v: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, v))
}

function asTrackerError (error: unknown, url: string): LodestoneError {
  if (isLodestoneError(error)) return error
  return new LodestoneError('TRACKER_FAILURE', { url, reason: String(error) }, { cause: error })
}
