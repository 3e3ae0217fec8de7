/**
 * Transmission's torrent status numbers from the engine's states. Transmission has no paused,
 * metadata or error state: a paused or failed torrent is stopped (0) — errors are reported in
 * `error`/`errorString` instead — and fetching metadata counts as downloading (4).
 */
import type { Torrent } from '@lodestone/engine'

export const TR_STATUS = { stopped: 0, checkWait: 1, check: 2, downloadWait: 3, download: 4, seedWait: 5, seed: 6 } as const

export function transmissionStatus (torrent: Torrent): number {
  switch (torrent.state) {
    case 'stopped':
    case 'stopping':
    case 'paused':
    case 'error':
      return TR_STATUS.stopped
    case 'starting':
      return TR_STATUS.checkWait
    case 'hashing':
    case 'hashing-paused':
      return TR_STATUS.check
    case 'queued':
      return torrent.queuedSlotClass === 'seed' ? TR_STATUS.seedWait : TR_STATUS.downloadWait
    case 'metadata':
    case 'fetching-hashes':
    case 'downloading':
      return TR_STATUS.download
    case 'seeding':
      return TR_STATUS.seed
  }
}

/** Transmission's error kinds: 0 none, 1 tracker warning, 2 tracker error, 3 local error. */
export function transmissionError (torrent: Torrent): { error: number, errorString: string } {
  const err = torrent.error
  if (err !== null) return { error: 3, errorString: err.message }
  for (const tracker of torrent.trackers()) {
    if (tracker.lastError !== null && tracker.consecutiveFailures > 0 && torrent.state !== 'stopped') {
      return { error: 2, errorString: `Tracker gave an error: ${tracker.lastError.message}` }
    }
  }
  return { error: 0, errorString: '' }
}
