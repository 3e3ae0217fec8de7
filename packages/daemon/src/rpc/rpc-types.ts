/**
 * What RPC methods are given (the daemon, seen through a narrow interface) and how they fail.
 * A method throws `RpcError` for anything the caller got wrong or the engine refused; the
 * dispatcher turns it into Transmission's `result` string. Nothing a caller sends becomes an
 * HTTP 500.
 */
import type { BtEngine, Torrent } from '@lodestone/engine'
import type { StorageRoots } from '../storage-roots.js'
import type { TorrentRegistry, TrackedTorrent } from '../torrent-registry.js'
import type { SessionState } from '../session-state.js'

/** A failed call: `message` becomes the response's `result`. */
export class RpcError extends Error {
  override name = 'RpcError'
}

export interface AddOptions {
  paused: boolean
  downloadDir: string | null
  filePriorities: ((fileCount: number) => number[]) | null
  peerLimit: number | null
  labels: string[] | null
}

/** The daemon as RPC methods see it. */
export interface RpcHost {
  readonly engine: BtEngine
  readonly registry: TorrentRegistry
  readonly session: SessionState
  readonly roots: StorageRoots
  readonly version: string
  readonly configDir: string
  /** Adds a .torrent's bytes or a magnet link; TORRENT_DUPLICATE errors carry the existing entry. */
  addTorrent: (input: Uint8Array | string, options: AddOptions) => Promise<{ entry: TrackedTorrent, duplicate: boolean }>
  /** Stops tracking and removes from the engine (optionally deleting the files). */
  removeTorrent: (entry: TrackedTorrent, deleteData: boolean) => Promise<void>
  /** The storage-root directory of a torrent. */
  downloadDirOf: (torrent: Torrent) => string
  /** Path where the daemon keeps a copy of the torrent's .torrent file ('' when none). */
  torrentFileOf: (torrent: Torrent) => string
  /** Applies the session's speed limits and flags to the engine; saves the session state. */
  applySession: () => void
  /** Re-adds a torrent whose data is (to be) at `target` (set-location without move). */
  relocate: (entry: TrackedTorrent, target: string) => Promise<void>
  /** `session-close`: asks the daemon's owner to shut it down. */
  requestClose: () => void
  /** Reports a failure of work an RPC call started but did not wait for. */
  warn: (error: unknown) => void
  /** Saves registry records soon (after a mutation). */
  saveSoon: () => void
  /** Session statistics: bytes and seconds this run and over all runs. */
  sessionStats: () => { current: CumulativeStats, cumulative: CumulativeStats }
}

export interface CumulativeStats {
  uploadedBytes: number
  downloadedBytes: number
  filesAdded: number
  sessionCount: number
  secondsActive: number
}

// ------------------------------------------------------------------ argument readers

export type Args = Record<string, unknown>

export function optBool (args: Args, key: string): boolean | undefined {
  const v = args[key]
  if (v === undefined) return undefined
  if (typeof v === 'boolean') return v
  if (v === 0 || v === 1) return v === 1
  throw new RpcError(`argument "${key}" must be a boolean`)
}

export function optInt (args: Args, key: string, min = -Infinity, max = Infinity): number | undefined {
  const v = args[key]
  if (v === undefined) return undefined
  if (typeof v === 'boolean') return v ? 1 : 0
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new RpcError(`argument "${key}" must be an integer${Number.isFinite(min) ? ` >= ${min}` : ''}`)
  return v
}

export function optNumber (args: Args, key: string, min = -Infinity): number | undefined {
  const v = args[key]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new RpcError(`argument "${key}" must be a number`)
  return v
}

export function optString (args: Args, key: string): string | undefined {
  const v = args[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw new RpcError(`argument "${key}" must be a string`)
  return v
}

export function optIntList (args: Args, key: string): number[] | undefined {
  const v = args[key]
  if (v === undefined) return undefined
  if (!Array.isArray(v) || v.length > 1_000_000 || !v.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 0)) {
    throw new RpcError(`argument "${key}" must be a list of file indices`)
  }
  return v as number[]
}

export function optStringList (args: Args, key: string): string[] | undefined {
  const v = args[key]
  if (v === undefined) return undefined
  if (!Array.isArray(v) || v.length > 10_000 || !v.every((s) => typeof s === 'string')) throw new RpcError(`argument "${key}" must be a list of strings`)
  return v
}
