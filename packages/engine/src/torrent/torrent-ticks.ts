/**
 * A torrent's periodic work while it is in the swarm — the rechoke, and the housekeeping pass (the
 * request refill safety net, the web seed pump, and a connect-queue pump, which is what re-dials
 * candidates whose back-off elapsed) — scheduled only while the torrent has something for it to do:
 * peers connected or being dialled, candidates queued, or web seeds. An engine seeding 10 000
 * torrents that nobody is connected to held 20 000 scheduler tasks and ran 10 000 housekeeping
 * passes a second for nobody (issue 13).
 *
 * The torrent wakes its ticks when work appears (a candidate is queued, a connection is attached,
 * web seeds start); housekeeping puts them back to sleep once a pass finds none. Work appearing
 * in between always comes through one of those wake calls: a dial can only fail, and a hung-up
 * peer can only be queued for a re-dial, while the torrent holds a connection slot, so awake.
 */
import type { ConnectionManager } from '../peer/connection-manager.js'
import type { EngineSettings } from '../session/engine-settings.js'
import type { CoarseScheduler, ScheduledTask } from '../util/coarse-scheduler.js'
import type { TorrentPeers } from './torrent-peers.js'
import type { TorrentWebSeeds } from './torrent-web-seeds.js'

/** How often housekeeping runs (request refill safety net, web seeds, connect queue). */
export const HOUSEKEEPING_INTERVAL_MS = 1_000

export interface TorrentTicksHost {
  readonly id: string
  readonly scheduler: CoarseScheduler
  readonly connections: ConnectionManager
  readonly swarm: TorrentPeers
  readonly webSeeds: TorrentWebSeeds
  readonly settings: () => EngineSettings
}

export class TorrentTicks {
  private rechokeTask: ScheduledTask | null = null
  private housekeepingTask: ScheduledTask | null = null

  constructor (private readonly host: TorrentTicksHost) {}

  /** True while the tasks are scheduled. */
  get awake (): boolean { return this.housekeepingTask !== null }

  /** Schedules the rechoke and housekeeping (nothing when they are). */
  wake (): void {
    if (this.housekeepingTask !== null) return
    const { scheduler, settings } = this.host
    this.rechokeTask = scheduler.every(settings().choking.rechokeIntervalMs, () => { this.host.swarm.rechoke() })
    this.housekeepingTask = scheduler.every(HOUSEKEEPING_INTERVAL_MS, () => { this.housekeeping() })
  }

  /** Wakes only when there is work now (joining the swarm with nothing to dial sleeps). */
  wakeIfBusy (): void {
    if (this.busy()) this.wake()
  }

  /** Cancels the tasks (leaving the swarm, or nothing left to do). */
  sleep (): void {
    this.rechokeTask?.cancel()
    this.housekeepingTask?.cancel()
    this.rechokeTask = null
    this.housekeepingTask = null
  }

  private housekeeping (): void {
    const { swarm, webSeeds, connections } = this.host
    // Safety net for missed wake-ups (snub recovery, budget freed by a failed write...).
    swarm.scheduleRefillAll()
    webSeeds.pump()
    // Candidates whose dial back-off elapsed are dialled only on a pump.
    connections.schedulePump()
    if (!this.busy()) this.sleep()
  }

  /** Peers (connected, handshaking or dialled), queued candidates, or web seeds. */
  private busy (): boolean {
    const { id, swarm, webSeeds, connections } = this.host
    return swarm.sessionCount > 0 || webSeeds.sourceCount > 0 || connections.connectionCount(id) > 0 || connections.queuedCount(id) > 0
  }
}
