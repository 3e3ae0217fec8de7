/**
 * The torrent lifecycle as an explicit state machine (seed 000's TorrentState, DESIGN rule 5).
 *
 * Why a table and not ad-hoc flags: the torrent's start/stop/pause paths are async (hashing,
 * disk, final announces), and a user can press pause while hashing or stop while stopping. A
 * table makes every such race either a defined transition or an ILLEGAL_TRANSITION error that a
 * test can see, instead of a torrent that silently sits half-started.
 *
 * ```
 *  stopped ─► starting ─┬─► hashing ─┬─► downloading ◄──► seeding
 *     ▲                 ├─► metadata ─┤        │ ▲            │ ▲
 *     │                 │   (magnet)  │        ▼ │            ▼ │
 *     │                 └─► fetching-hashes ┘  paused ◄───────┘
 *     └──── stopping ◄── (any active state)        error ◄── (any state)
 * ```
 */
import { LodestoneError } from '../errors.js'

/** Every state a torrent can be in. */
export const TorrentState = {
  /** Inactive: no connections, no hashing, no timers. */
  Stopped: 'stopped',
  /** Transient: opening storage, deciding whether to hash, fetch metadata or download. */
  Starting: 'starting',
  /** Checking existing data against the piece hashes. */
  Hashing: 'hashing',
  /** Hashing suspended by the user; resumes where it stopped. */
  HashingPaused: 'hashing-paused',
  /** Fetching the info dictionary from peers (BEP 9, magnets). */
  Metadata: 'metadata',
  /** Fetching v2 piece layers from peers (BEP 52 hash requests). */
  FetchingHashes: 'fetching-hashes',
  /** Connected to the swarm and downloading. */
  Downloading: 'downloading',
  /** Complete and uploading. */
  Seeding: 'seeding',
  /** Connections dropped, progress kept; resumes to downloading or seeding. */
  Paused: 'paused',
  /** Transient: closing peers, flushing storage, final announces. */
  Stopping: 'stopping',
  /** A fatal problem (disk error, bad metadata); see `torrent.error`. */
  Error: 'error',
  /**
   * Waiting for a free slot (`queue.maxActiveDownloads` / `maxActiveSeeds`): no connections, no
   * hashing. The engine's queue starts or resumes it when a slot frees.
   */
  Queued: 'queued'
} as const

export type TorrentState = typeof TorrentState[keyof typeof TorrentState]

/** All states, in declaration order. */
export const TORRENT_STATES: readonly TorrentState[] = Object.values(TorrentState)

const S = TorrentState

/**
 * Allowed transitions: `from → [to...]`. Error is reachable from every state (a disk can fail at
 * any time); leaving Error needs a stop (→ stopped) or a stop in progress.
 */
const TRANSITIONS: Readonly<Record<TorrentState, readonly TorrentState[]>> = {
  // Stopped → Queued: started while every slot is taken.
  [S.Stopped]: [S.Starting, S.Queued, S.Error],
  [S.Starting]: [S.Hashing, S.Metadata, S.FetchingHashes, S.Downloading, S.Seeding, S.Paused, S.Stopping, S.Error],
  // Hashing → FetchingHashes: a v2 magnet whose layers are not known yet after the check.
  [S.Hashing]: [S.HashingPaused, S.FetchingHashes, S.Downloading, S.Seeding, S.Paused, S.Stopping, S.Error],
  [S.HashingPaused]: [S.Hashing, S.Stopping, S.Error],
  [S.Metadata]: [S.Hashing, S.FetchingHashes, S.Downloading, S.Seeding, S.Paused, S.Stopping, S.Error],
  [S.FetchingHashes]: [S.Hashing, S.Downloading, S.Seeding, S.Paused, S.Stopping, S.Error],
  // Downloading → Hashing: a forced re-check.
  // Downloading / Seeding → Queued: over the queue's limit (lowered at run time, or a slot's owner came back).
  [S.Downloading]: [S.Seeding, S.Paused, S.Hashing, S.Queued, S.Stopping, S.Error],
  // Seeding → Downloading: a piece went missing (re-check failed) or more files were selected.
  [S.Seeding]: [S.Downloading, S.Paused, S.Hashing, S.Queued, S.Stopping, S.Error],
  // Paused → Queued: resumed while every slot is taken.
  [S.Paused]: [S.Downloading, S.Seeding, S.Metadata, S.FetchingHashes, S.Hashing, S.Queued, S.Stopping, S.Error],
  // Queued → Starting (it was never started), → Downloading / Seeding (it was running before),
  // → Paused / Stopped (the user paused or stopped it while it waited).
  [S.Queued]: [S.Starting, S.FetchingHashes, S.Downloading, S.Seeding, S.Paused, S.Stopped, S.Stopping, S.Error],
  [S.Stopping]: [S.Stopped, S.Error],
  [S.Error]: [S.Stopping, S.Stopped]
}

/** True when the table allows `from → to`. A state never transitions to itself. */
export function canTransition (from: TorrentState, to: TorrentState): boolean {
  return TRANSITIONS[from].includes(to)
}

/** The states reachable from `from` in one step. */
export function allowedTransitions (from: TorrentState): readonly TorrentState[] {
  return TRANSITIONS[from]
}

/** States in which the torrent talks to peers (connections, choking, requests). */
export function isActiveState (state: TorrentState): boolean {
  return state === S.Downloading || state === S.Seeding || state === S.Metadata || state === S.FetchingHashes
}

/** A state change: the payload of the `'state-changed'` event. */
export interface StateChange {
  from: TorrentState
  to: TorrentState
}

/**
 * Holds the current state and enforces the table. The owner (Torrent) passes `onChange`, called
 * synchronously after each change so listeners see the new state through `state`.
 */
export class TorrentStateMachine {
  private current: TorrentState

  constructor (private readonly onChange: (change: StateChange) => void, initial: TorrentState = S.Stopped) {
    this.current = initial
  }

  get state (): TorrentState { return this.current }

  /** True when `to` is allowed from the current state. */
  can (to: TorrentState): boolean {
    return canTransition(this.current, to)
  }

  /**
   * Moves to `to` and reports the change.
   * @throws LodestoneError ILLEGAL_TRANSITION when the table does not allow it.
   */
  transition (to: TorrentState): StateChange {
    const from = this.current
    if (!canTransition(from, to)) {
      throw new LodestoneError('ILLEGAL_TRANSITION', { from, to }, {
        message: `torrent cannot go from ${from} to ${to}`
      })
    }
    this.current = to
    const change = { from, to }
    this.onChange(change)
    return change
  }

  /** Like `transition`, but returns false instead of throwing: for races the caller expects. */
  tryTransition (to: TorrentState): boolean {
    if (!canTransition(this.current, to)) return false
    this.transition(to)
    return true
  }

  /** True in any of `states`. */
  is (...states: TorrentState[]): boolean {
    return states.includes(this.current)
  }
}
