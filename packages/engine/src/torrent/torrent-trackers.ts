/**
 * A torrent's trackers while it is in the swarm (BEP 12 tiers through {@link TrackerManager}), and
 * the `stopped` announces and closings still in flight after it left, which a stop waits for
 * (bounded by the trackers' stop time-out).
 */
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import type { PeerAddress } from '../peer/peer-address.js'
import { TrackerManager, type AnnounceState, type TrackerManagerDeps, type TrackerStatus } from '../tracker/tracker-manager.js'
import { SparseSet } from '../util/sparse-collections.js'

/** What the trackers need from their torrent. */
export interface TorrentTrackersHost {
  readonly clock: IClock
  readonly random: IRandom
  readonly log: Logger | undefined
  /** Tracker transports; absent: the torrent announces to no tracker. */
  readonly transports: Pick<TrackerManagerDeps, 'httpClient' | 'udpSocket'> | undefined
  /** The torrent's counters and wishes, read for every announce. */
  announceState: () => AnnounceState
  /** A tracker returned peers. */
  onPeers: (peers: readonly PeerAddress[]) => void
  onWarning: (error: unknown) => void
  onStatus: (status: TrackerStatus) => void
}

export class TorrentTrackers {
  private tracker: TrackerManager | null = null
  private readonly stops = new SparseSet<Promise<unknown>>()

  constructor (private readonly host: TorrentTrackersHost) {}

  /** Starts announcing to `announce` (tiers of URLs); nothing without transports or URLs. */
  start (announce: readonly (readonly string[])[]): void {
    const host = this.host
    if (host.transports === undefined || announce.length === 0) return
    const tracker = new TrackerManager(announce, {
      clock: host.clock,
      random: host.random,
      ...host.transports,
      ...(host.log !== undefined ? { logger: host.log.child('tracker') } : {}),
      getAnnounceState: host.announceState
    })
    tracker.on('peers', ({ peers }) => { host.onPeers(peers) })
    tracker.on('warning', ({ error }) => { host.onWarning(error) })
    tracker.on('status-changed', ({ tracker: status }) => { host.onStatus(status) })
    this.tracker = tracker
    tracker.start()
  }

  /** Sends `stopped` to the trackers (bounded by their stop time-out) and forgets them. */
  stop (): void {
    const tracker = this.tracker
    if (tracker === null) return
    this.tracker = null
    this.track(tracker.stop().finally(() => { tracker.close() }))
  }

  /** The download finished: `completed` to the trackers. */
  completed (): void {
    this.tracker?.completed()
  }

  /** Announces now, or as soon as each tracker's `min interval` allows. */
  announceNow (): void {
    this.tracker?.announceNow()
  }

  /** Snapshots of the trackers (empty when announcing to none). */
  list (): TrackerStatus[] {
    return this.tracker?.trackers() ?? []
  }

  /** Waits for `closing` at the next stop (e.g. the metadata phase's trackers). */
  track (closing: Promise<unknown>): void {
    const tracked = closing.finally(() => { this.stops.delete(tracked) })
    this.stops.add(tracked)
  }

  /** Announces and closings still in flight. */
  pending (): Array<Promise<unknown>> {
    return [...this.stops]
  }
}
