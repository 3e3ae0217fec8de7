/**
 * A libtorrent-style alert view (seed 003's alerts, DESIGN rule 10): the engine's and torrents'
 * typed events, flattened into `{ type, category, message, torrentId?, timestampMs }` records in a
 * bounded queue that a consumer polls with `popAlerts()` (a UI refresh loop, the daemon's RPC).
 *
 * Why a queue besides the events: a poller that looks once a second must not miss what happened
 * in between, and must not make the engine hold unbounded history. The queue keeps at most
 * `alerts.maxQueued` alerts; when full the oldest is dropped and counted (`droppedCount`), so a
 * consumer can tell it fell behind. Categories not in `alerts.categoryMask` are never queued (and
 * cost one mask test).
 *
 * Listeners subscribed with `onAlert` see every alert that passes the mask, synchronously, even
 * when the queue is full.
 */
import type { LodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import { ALERT_CATEGORY_BITS, defaultAlertSettings, type AlertCategory, type AlertSettings } from './alert-settings.js'

/** One alert. `data` is the event payload it was made from (shared, do not mutate). */
export interface Alert {
  /** The event name, e.g. 'state-changed', 'peer-blocked', 'stats'. */
  type: string
  category: AlertCategory
  /** One line for people. */
  message: string
  /** The torrent it concerns (info hash hex), when it concerns one. */
  torrentId?: string
  /** From the engine's clock (`wallNow`). */
  timestampMs: number
  data?: unknown
}

export interface AlertQueueDeps {
  clock: Pick<IClock, 'wallNow'>
}

/** A minimal view of the emitters the queue watches (structural, so this file needs no engine import). */
interface Source {
  on: (event: never, listener: never) => () => void
}
type On = (event: string, listener: (payload: never) => void) => () => void

/**
 * An Error keeps its stack as structured frames until `.stack` is first read, and those frames
 * hold the function and receiver of every call on the stack — for a peer's close reason, the
 * whole dead connection (socket, buffers, rate limiters, its torrent session). Queued in an
 * alert, each such reason pinned one dead connection until the alert left the ring (the soak run
 * of issue 15: ~300 closed PeerConnections alive in a seeder with 3 connected peers, heap growing
 * ~5 KB per churned peer). Reading `.stack` formats it into a string and lets the frames go.
 */
function releaseStackFrames (data: unknown): void {
  if (typeof data !== 'object' || data === null) return
  for (const value of Object.values(data)) {
    if (value instanceof Error) void value.stack
  }
}

/** A bounded queue of alerts; `engine.alerts`. */
export class AlertQueue {
  private settings: AlertSettings
  private ring: Array<Alert | undefined>
  private head = 0
  private count = 0
  private dropped = 0
  private readonly listeners = new Set<(alert: Alert) => void>()
  private readonly waiters = new Set<(value: boolean) => void>()
  private closed = false
  /** Re-checks the 'stats' subscription after a mask change (set by `watchEngine`). */
  private statsWatch: (() => void) | null = null

  /** @internal The engine creates its queue (`engine.alerts`). */
  constructor (private readonly deps: AlertQueueDeps, settings: AlertSettings = defaultAlertSettings) {
    this.settings = { ...settings }
    this.ring = new Array<Alert | undefined>(settings.maxQueued).fill(undefined)
  }

  /** Applies new settings; a smaller `maxQueued` drops the oldest alerts beyond it (counted). */
  updateSettings (settings: AlertSettings): void {
    if (settings.maxQueued !== this.settings.maxQueued) {
      const kept = this.drain()
      const excess = Math.max(0, kept.length - settings.maxQueued)
      this.dropped += excess
      this.ring = new Array<Alert | undefined>(settings.maxQueued).fill(undefined)
      for (const a of kept.slice(excess)) this.store(a)
    }
    this.settings = { ...settings }
    this.statsWatch?.()
  }

  get categoryMask (): number { return this.settings.categoryMask }
  get maxQueued (): number { return this.settings.maxQueued }
  /** Alerts waiting to be popped. */
  get size (): number { return this.count }
  /** Alerts dropped because the queue was full, since creation. */
  get droppedCount (): number { return this.dropped }

  /** True when `category` passes the mask (callers skip building costly alerts otherwise). */
  wants (category: AlertCategory): boolean {
    return (this.settings.categoryMask & ALERT_CATEGORY_BITS[category]) !== 0
  }

  /** Queues an alert (stamped now) if its category passes the mask. */
  post (alert: Omit<Alert, 'timestampMs'>): void {
    if (!this.wants(alert.category)) return
    releaseStackFrames(alert.data)
    const full: Alert = { ...alert, timestampMs: this.deps.clock.wallNow() }
    if (this.count === this.ring.length) {
      this.head = (this.head + 1) % this.ring.length
      this.count--
      this.dropped++
    }
    this.store(full)
    for (const l of this.listeners) {
      try { l(full) } catch { /* a consumer's bug must not break the engine's event dispatch */ }
    }
    for (const w of [...this.waiters]) w(true)
  }

  /** Every queued alert, oldest first; the queue is then empty. */
  popAlerts (): Alert[] {
    return this.drain()
  }

  /** Calls `listener` for every alert that passes the mask. Returns the unsubscribe function. */
  onAlert (listener: (alert: Alert) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /**
   * Resolves true once an alert is queued (at once if one is), false when `signal` aborts
   * (libtorrent's `wait_for_alert`).
   */
  async waitForAlert (options: { signal?: AbortSignal } = {}): Promise<boolean> {
    if (this.count > 0) return true
    if (options.signal?.aborted === true || this.closed) return false
    return new Promise<boolean>((resolve) => {
      const done = (value: boolean): void => {
        this.waiters.delete(onAlert)
        options.signal?.removeEventListener('abort', onAbort)
        resolve(value)
      }
      const onAlert = (value: boolean): void => { done(value) }
      const onAbort = (): void => { done(false) }
      this.waiters.add(onAlert)
      options.signal?.addEventListener('abort', onAbort)
    })
  }

  /**
   * Yields alerts as they are queued (popping them), until `signal` aborts or the queue closes
   * (STYLE.md §5: a pull consumer over the bounded queue). One consumer at a time: alerts popped
   * here are not seen by `popAlerts()`.
   *
   * ```ts
   * for await (const alert of engine.alerts.stream({ signal })) console.log(alert.message)
   * ```
   */
  async * stream (options: { signal?: AbortSignal } = {}): AsyncGenerator<Alert, void, undefined> {
    for (;;) {
      if (options.signal?.aborted === true || this.closed) return
      if (!(await this.waitForAlert(options))) return
      for (const alert of this.drain()) yield alert
    }
  }

  /**
   * Subscribes to an engine's events and to those of each of its torrents (present and added
   * later). Returns the function that unsubscribes from all of them. @internal (the engine does it)
   */
  watchEngine (engine: EngineLike): () => void {
    const offs: Array<() => void> = []
    const perTorrent = new Map<string, () => void>()
    const on = engine.on.bind(engine) as unknown as On
    const watchTorrent = (t: TorrentLike): void => {
      if (perTorrent.has(t.id)) return
      perTorrent.set(t.id, this.watchTorrent(t))
    }
    for (const t of engine.torrents) watchTorrent(t)
    offs.push(on('torrent-added', ({ torrent }: { torrent: TorrentLike }) => {
      watchTorrent(torrent)
      this.post({ type: 'torrent-added', category: 'status', message: `${torrent.name}: added`, torrentId: torrent.id })
    }))
    offs.push(on('torrent-removed', ({ id }: { id: string }) => {
      perTorrent.get(id)?.()
      perTorrent.delete(id)
      this.post({ type: 'torrent-removed', category: 'status', message: `${id}: removed`, torrentId: id })
    }))
    offs.push(on('listening', ({ port }: { port: number }) => {
      this.post({ type: 'listening', category: 'status', message: `listening on port ${port}`, data: { port } })
    }))
    offs.push(on('port-mapping', (e: { protocol: string, internalPort: number, state: string, externalPort: number | null, externalAddress: string | null, method: string | null, error?: unknown }) => {
      // libtorrent's portmap_alert / portmap_error_alert.
      const where = e.state === 'mapped' ? ` as ${e.externalAddress ?? '?'}:${e.externalPort ?? '?'} (${e.method ?? '?'})` : ''
      const why = e.error !== undefined ? `: ${describeError(e.error)}` : ''
      this.post({ type: 'port-mapping', category: e.state === 'failed' ? 'error' : 'status', message: `port mapping ${e.protocol.toUpperCase()} ${e.internalPort} ${e.state}${where}${why}`, data: e })
    }))
    offs.push(on('warning', ({ error }: { error: unknown }) => {
      this.post({ type: 'warning', category: categoryOfError(error), message: `warning: ${describeError(error)}`, data: { error } })
    }))
    offs.push(on('error', ({ torrentId, error }: { torrentId: string, error: LodestoneError }) => {
      this.post({ type: 'torrent-error', category: 'error', message: `${torrentId}: ${describeError(error)}`, torrentId, data: { error } })
    }))
    offs.push(on('peer-blocked', (e: { address: string, direction: string, torrentId?: string }) => {
      this.post({
        type: 'peer-blocked',
        category: 'ip-block',
        message: `${e.address}: blocked by the IP filter (${e.direction})`,
        ...(e.torrentId !== undefined ? { torrentId: e.torrentId } : {}),
        data: e
      })
    }))
    // Subscribed only while the category is on: the engine builds its per-second 'stats' event (every
    // torrent's stats) only for a listener, which with 10 000 torrents costs a good part of a core.
    let statsOff: (() => void) | null = null
    const onStats = (e: { torrents: Array<{ torrentId: string, stats: { downloadRateBytesPerSec: number, uploadRateBytesPerSec: number } }> }): void => {
      for (const t of e.torrents) {
        this.post({
          type: 'stats',
          category: 'stats',
          message: `${t.torrentId}: down ${t.stats.downloadRateBytesPerSec} B/s, up ${t.stats.uploadRateBytesPerSec} B/s`,
          torrentId: t.torrentId,
          data: t.stats
        })
      }
    }
    this.statsWatch = () => {
      if (this.wants('stats') && statsOff === null) statsOff = on('stats', onStats)
      else if (!this.wants('stats') && statsOff !== null) { statsOff(); statsOff = null }
    }
    this.statsWatch()
    return () => {
      this.statsWatch = null
      statsOff?.()
      for (const off of offs) off()
      for (const off of perTorrent.values()) off()
      perTorrent.clear()
    }
  }

  /**
   * Subscribes to one torrent's events — one listener for all of them (TypedEmitter.onAny), so an
   * engine with 10 000 torrents does not hold 16 listener sets and closures per torrent. Returns
   * the unsubscribe function. @internal
   */
  watchTorrent (torrent: TorrentLike): () => void {
    const id = torrent.id
    return torrent.onAny((event: string, payload: unknown) => {
      if (event === 'tracker-updated') {
        this.postTrackerAlert(torrent, (payload as { tracker: TrackerStatusLike }).tracker)
        return
      }
      const spec = TORRENT_ALERTS[event]
      if (spec === undefined) return
      const cat = typeof spec.category === 'function' ? spec.category(payload) : spec.category
      if (!this.wants(cat)) return
      this.post({ type: event, category: cat, message: `${torrent.name}: ${spec.message(payload)}`, torrentId: id, data: payload })
    })
  }

  /** One alert per finished announce (libtorrent's tracker_reply / tracker_error / tracker_warning). */
  private postTrackerAlert (torrent: TorrentLike, t: TrackerStatusLike): void {
    if (t.updating || !this.wants('tracker')) return
    const type = t.lastError !== null ? 'tracker-error' : t.warning !== null ? 'tracker-warning' : 'tracker-reply'
    const message = t.lastError !== null
      ? `tracker ${t.url} failed (${t.consecutiveFailures} in a row): ${describeError(t.lastError)}`
      : t.warning !== null
        ? `tracker ${t.url} warns: ${t.warning}`
        : `tracker ${t.url} answered with ${t.lastPeerCount ?? 0} peers`
    this.post({ type, category: 'tracker', message: `${torrent.name}: ${message}`, torrentId: torrent.id, data: t })
  }

  /** Forgets queued alerts, listeners and waiters (waiters resolve false). */
  close (): void {
    this.closed = true
    this.drain()
    this.listeners.clear()
    for (const w of [...this.waiters]) w(false)
    this.waiters.clear()
  }

  private store (alert: Alert): void {
    this.ring[(this.head + this.count) % this.ring.length] = alert
    this.count++
  }

  private drain (): Alert[] {
    const out: Alert[] = []
    for (let i = 0; i < this.count; i++) {
      const k = (this.head + i) % this.ring.length
      out.push(this.ring[k]!)
      this.ring[k] = undefined
    }
    this.head = 0
    this.count = 0
    return out
  }
}

/** What `watchEngine` needs of an engine. */
export interface EngineLike extends Source {
  readonly torrents: readonly TorrentLike[]
}

/** The parts of a tracker status the alerts read. */
interface TrackerStatusLike {
  url: string
  updating: boolean
  lastError: unknown
  warning: string | null
  lastPeerCount: number | null
  consecutiveFailures: number
}

/** What `watchTorrent` needs of a torrent. */
export interface TorrentLike extends Source {
  readonly id: string
  readonly name: string
  onAny (listener: (event: string, payload: unknown) => void): () => void
}

/** How a torrent event becomes an alert: its category (fixed or by payload) and message. */
interface TorrentAlertSpec {
  category: AlertCategory | ((payload: unknown) => AlertCategory)
  message: (payload: unknown) => string
}

function spec<P> (category: AlertCategory | ((payload: P) => AlertCategory), message: (payload: P) => string): TorrentAlertSpec {
  return { category, message } as unknown as TorrentAlertSpec
}

/** The torrent events that become alerts ('tracker-updated' is handled apart). */
const TORRENT_ALERTS: Readonly<Record<string, TorrentAlertSpec>> = {
  'state-changed': spec<{ from: string, to: string }>('status', (p) => `state ${p.from} -> ${p.to}`),
  'piece-verified': spec<{ piece: number }>('progress', (p) => `piece ${p.piece} verified`),
  'hash-failed': spec<{ piece: number, peers: string[] }>('error', (p) => `piece ${p.piece} failed its hash check (from ${p.peers.join(', ')})`),
  'peer-connected': spec<{ peer: { address: string, clientName: string | null } }>('peer', (p) => `peer ${p.peer.address} connected (${p.peer.clientName ?? 'unknown client'})`),
  'peer-disconnected': spec<{ address: string, reason?: LodestoneError }>('peer', (p) => `peer ${p.address} disconnected${p.reason !== undefined ? `: ${p.reason.code}` : ''}`),
  'peer-handshake-failed': spec<{ address: string, reason: LodestoneError }>('peer', (p) => `peer ${p.address} failed its handshake: ${describeError(p.reason)}`),
  'peer-banned': spec<{ host: string, reason: string }>('peer', (p) => `host ${p.host} banned: ${p.reason}`),
  'end-game': spec<{ remainingPieces: number }>('status', (p) => `end-game with ${p.remainingPieces} pieces left`),
  completed: spec('status', () => 'download complete'),
  checked: spec<{ havePieces: number, durationMs: number }>('storage', (p) => `data checked: ${p.havePieces} pieces in ${Math.round(p.durationMs)} ms`),
  warning: spec<{ error: unknown }>((p) => categoryOfError(p.error), (p) => `warning: ${describeError(p.error)}`),
  error: spec<{ error: LodestoneError }>('error', (p) => `error: ${describeError(p.error)}`),
  metadata: spec('status', () => 'metadata received'),
  'seed-limit-reached': spec<{ reason: string }>('status', (p) => `seed ${p.reason} limit reached`),
  'storage-moved': spec<{ token: string }>('storage', (p) => `storage moved to ${p.token}`)
}

/** The category of a warning or error, by its code's prefix. */
export function categoryOfError (error: unknown): AlertCategory {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  if (typeof code !== 'string') return 'error'
  if (code.startsWith('TRACKER_')) return 'tracker'
  if (code.startsWith('STORAGE_')) return 'storage'
  if (code.startsWith('PEER_') || code === 'METADATA_INVALID') return 'peer'
  return 'error'
}

function describeError (error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const e = error as { code?: unknown, message?: unknown }
    if (typeof e.message === 'string') return e.message
    if (typeof e.code === 'string') return e.code
  }
  return String(error)
}
