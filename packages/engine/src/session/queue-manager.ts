/**
 * Lifecycle queueing and seed limits (libtorrent's auto-managed torrents, Transmission's queue
 * and ratio limits). The engine owns one QueueManager; every torrent is managed by it.
 *
 * Slots: torrents starting, checking or downloading (and fetching metadata) take a download
 * slot; seeding torrents take a seed slot. A torrent started or resumed while its class is full
 * goes to state `queued` and waits, in the order torrents were added; when a slot frees (a
 * download finished, a torrent was paused, stopped or removed, a limit was raised) the first
 * queued torrent of that class starts. When a limit is lowered at run time, or a finished
 * download needs a seed slot that is taken, the torrents added last are queued again.
 * Paused and stopped torrents take no slot and are never started by the queue.
 *
 * Seed limits: once a seeding torrent's share ratio reaches `seedRatioLimit`, or it has seeded
 * for `seedTimeLimitSec`, it is paused and emits 'seed-limit-reached' (libtorrent pauses too).
 * Ratio = uploaded / downloaded bytes of this session, or uploaded / verified bytes when nothing
 * was downloaded (it was added complete) — Transmission's rule. A torrent the user resumes after
 * its limit keeps seeding until the limit settings change.
 *
 * Decisions are coalesced into one pass per tick (STYLE.md §6); seed limits are checked once a
 * second on the engine's coarse scheduler.
 */
import type { IClock } from '../interfaces/clock.js'
import type { CoarseScheduler, ScheduledTask } from '../util/coarse-scheduler.js'
import type { Torrent } from '../torrent/torrent.js'
import { TorrentState } from '../torrent/torrent-state.js'
import type { QueueSettings } from './queue-settings.js'

/** How often seed limits are checked. */
const SEED_LIMIT_CHECK_INTERVAL_MS = 1_000

export interface QueueManagerDeps {
  clock: IClock
  scheduler: CoarseScheduler
  /** The engine's queue settings now (read on use: run-time changes apply). */
  settings: () => QueueSettings
}

/** Which kind of active slot a torrent takes. */
export type SlotClass = 'download' | 'seed'

interface Entry {
  readonly torrent: Torrent
  readonly off: () => void
  /** Seeding time accumulated before the current seeding spell, ms. */
  seededMs: number
  /** When the current seeding spell began, or null when not seeding. */
  seedingSinceMs: number | null
  /** The limits that already paused this torrent (so a user resume is respected), as "ratio/time". */
  limitHandled: string | null
}

const DOWNLOAD_STATES: readonly TorrentState[] = [
  TorrentState.Starting, TorrentState.Hashing, TorrentState.HashingPaused, TorrentState.Metadata,
  TorrentState.FetchingHashes, TorrentState.Downloading
]

export class QueueManager {
  /** Insertion order is queue order. */
  private readonly entries = new Map<Torrent, Entry>()
  private task: ScheduledTask | null = null
  /**
   * Torrents holding each kind of slot, and torrents queued, kept up to date from state changes:
   * `admit` and `rebalance` run on every state change, and counting by a scan made starting or
   * restoring n torrents cost O(n²) (minutes for 10 000).
   */
  private readonly holding: Record<SlotClass, number> = { download: 0, seed: 0 }
  private queuedCount = 0
  private scheduled = false
  private closed = false

  constructor (private readonly deps: QueueManagerDeps) {}

  /** Starts managing `torrent` (call before starting it). */
  add (torrent: Torrent): void {
    if (this.closed || this.entries.has(torrent)) return
    const entry: Entry = {
      torrent,
      seededMs: 0,
      seedingSinceMs: null,
      limitHandled: null,
      off: torrent.on('state-changed', ({ from, to }) => {
        this.count(from, -1)
        this.count(to, 1)
        const now = this.deps.clock.now()
        if (from === TorrentState.Seeding && entry.seedingSinceMs !== null) {
          entry.seededMs += now - entry.seedingSinceMs
          entry.seedingSinceMs = null
        }
        if (to === TorrentState.Seeding) entry.seedingSinceMs = now
        this.schedule()
      })
    }
    if (torrent.state === TorrentState.Seeding) entry.seedingSinceMs = this.deps.clock.now()
    this.entries.set(torrent, entry)
    this.count(torrent.state, 1)
    this.task ??= this.deps.scheduler.every(SEED_LIMIT_CHECK_INTERVAL_MS, () => { this.checkSeedLimits() })
  }

  /** Stops managing `torrent` (removed); its slot goes to the next queued torrent. */
  remove (torrent: Torrent): void {
    const entry = this.entries.get(torrent)
    if (entry === undefined) return
    entry.off()
    this.entries.delete(torrent)
    this.count(torrent.state, -1)
    this.schedule()
  }

  /**
   * May `torrent` take a slot of `kind` now? The torrent asks before starting or resuming; on
   * false it goes to state `queued`.
   */
  admit (torrent: Torrent, kind: SlotClass): boolean {
    const limit = this.limitOf(kind)
    if (limit === 0) return true
    const used = this.holding[kind] - (this.entries.has(torrent) && this.classOf(torrent.state) === kind ? 1 : 0)
    return used < limit
  }

  /** Seconds `torrent` has seeded (this session). */
  seedingTimeSec (torrent: Torrent): number {
    const e = this.entries.get(torrent)
    if (e === undefined) return 0
    const current = e.seedingSinceMs === null ? 0 : this.deps.clock.now() - e.seedingSinceMs
    return (e.seededMs + current) / 1000
  }

  /** Settings changed (limits raised or lowered): re-balance now and re-arm seed limits. */
  settingsChanged (): void {
    this.schedule()
    this.checkSeedLimits()
  }

  close (): void {
    this.closed = true
    this.task?.cancel()
    this.task = null
    for (const e of this.entries.values()) e.off()
    this.entries.clear()
    this.holding.download = 0
    this.holding.seed = 0
    this.queuedCount = 0
  }

  /** Re-balances slots once per tick. */
  schedule (): void {
    if (this.scheduled || this.closed) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      if (!this.closed) this.rebalance()
    })
  }

  private rebalance (): void {
    for (const kind of ['download', 'seed'] as const) {
      const limit = this.limitOf(kind)
      if (limit === 0 || this.holding[kind] <= limit) continue
      const active = [...this.entries.keys()].filter((t) => this.classOf(t.state) === kind)
      if (active.length > limit) {
        // Over the limit: queue the most recently added torrents that can be queued.
        let excess = active.length - limit
        for (const t of active.reverse()) {
          if (excess === 0) break
          if (t.queue()) excess--
        }
      }
    }
    if (this.queuedCount === 0) return
    for (const t of this.entries.keys()) {
      if (t.state !== TorrentState.Queued) continue
      const kind = t.queuedSlotClass
      if (this.admit(t, kind)) t.dequeue()
    }
  }

  private checkSeedLimits (): void {
    const s = this.deps.settings()
    for (const e of this.entries.values()) {
      const t = e.torrent
      if (t.state !== TorrentState.Seeding) continue
      const o = t.settingsOverrides
      const ratioLimit = o.seedRatioLimit ?? s.seedRatioLimit
      const timeLimitSec = o.seedTimeLimitSec ?? s.seedTimeLimitSec
      if (ratioLimit <= 0 && timeLimitSec <= 0) {
        e.limitHandled = null
        continue
      }
      const key = `${ratioLimit}/${timeLimitSec}`
      if (e.limitHandled === key) continue
      e.limitHandled = null
      const stats = t.stats()
      const base = stats.downloadedBytes > 0 ? stats.downloadedBytes : stats.verifiedBytes
      const ratio = base > 0 ? stats.uploadedBytes / base : 0
      const seedingTimeSec = this.seedingTimeSec(t)
      const reason = ratioLimit > 0 && ratio >= ratioLimit ? 'ratio' : timeLimitSec > 0 && seedingTimeSec >= timeLimitSec ? 'time' : null
      if (reason === null) continue
      e.limitHandled = key
      t.seedLimitReached({ reason, ratio, seedingTimeSec })
    }
  }

  private classOf (state: TorrentState): SlotClass | null {
    if (state === TorrentState.Seeding) return 'seed'
    return DOWNLOAD_STATES.includes(state) ? 'download' : null
  }

  /** Keeps `holding` and `queuedCount` in step as a torrent leaves (-1) or enters (+1) `state`. */
  private count (state: TorrentState, delta: 1 | -1): void {
    const kind = this.classOf(state)
    if (kind !== null) this.holding[kind] += delta
    if (state === TorrentState.Queued) this.queuedCount += delta
  }

  private limitOf (kind: SlotClass): number {
    const s = this.deps.settings()
    return kind === 'download' ? s.maxActiveDownloads : s.maxActiveSeeds
  }
}
