/**
 * A logger that keeps the last `capacity` entries in memory (seed 004's RingBufferLogger): the
 * memory preset and the daemon UI read recent history from it and subscribe to new entries.
 *
 * Why a fixed ring and not an array with shift(): memory stays bounded (DESIGN rule 8) and
 * recording is O(1) however long the engine runs; the oldest entry is overwritten and counted
 * in `droppedCount`.
 */
import { LodestoneError } from '../errors.js'
import type { LogEntry, LogLevel } from '../interfaces/logger.js'
import { isLevelAtLeast, SinkLogger, type SinkLoggerOptions } from './logger.js'

/** Filters of {@link RingBufferLogger.getEntries}; every given filter must match. */
export interface LogEntryFilter {
  /** Minimum level: `'info'` returns info, warn and error entries. */
  level?: LogLevel
  /** Exact component name, e.g. `'peer'`, or any of several. */
  component?: string | readonly string[]
  /** Exact instance, e.g. a torrent's info hash (seed 004's `instanceValue`). */
  instanceValue?: string
  /**
   * Entries about one torrent (its info hash hex, or a prefix of at least 8 characters): those
   * logged in the torrent's scope or below it (its peers, trackers), or carrying its id in a
   * `torrentId` / `infoHash` field. Case-insensitive.
   */
  torrent?: string
  /** Case-insensitive substring of the message, component, instance or the fields' JSON. */
  text?: string
  /** Only entries with `timeMs >= sinceMs`. */
  sinceMs?: number
  /** Only the most recent `limit` matching entries. */
  limit?: number
}

/** Options of {@link RingBufferLogger}: those of {@link SinkLogger} without the sink. */
export type RingBufferLoggerOptions = Omit<SinkLoggerOptions, 'sink'>

class EntryRing {
  readonly slots: Array<LogEntry | undefined>
  /** Index of the oldest entry. */
  start = 0
  size = 0
  dropped = 0
  readonly listeners = new Set<(entry: LogEntry) => void>()

  constructor (readonly capacity: number) {
    this.slots = new Array<LogEntry | undefined>(capacity).fill(undefined)
  }

  push (entry: LogEntry): void {
    if (this.size < this.capacity) {
      this.slots[(this.start + this.size) % this.capacity] = entry
      this.size++
    } else {
      this.slots[this.start] = entry
      this.start = (this.start + 1) % this.capacity
      this.dropped++
    }
    for (const listener of this.listeners) {
      try {
        listener(entry)
      } catch {
        // A subscriber (e.g. a UI push) failing must not break logging or the other subscribers.
      }
    }
  }
}

/**
 * A {@link SinkLogger} whose sink is an in-memory ring of the last `capacity` entries.
 * Children (`log.child('peer', addr)`) record into the same ring.
 *
 * @throws SETTINGS_INVALID when `capacity` is not a positive integer.
 */
export class RingBufferLogger extends SinkLogger {
  private readonly ring: EntryRing

  constructor (capacity: number, options: RingBufferLoggerOptions = {}) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new LodestoneError('SETTINGS_INVALID', { key: 'capacity', reason: `must be a positive integer, got ${capacity}` })
    }
    const ring = new EntryRing(capacity)
    super({ ...options, sink: (entry) => { ring.push(entry) } })
    this.ring = ring
  }

  /** Maximum number of entries kept. */
  get capacity (): number { return this.ring.capacity }
  /** Number of entries currently kept. */
  get size (): number { return this.ring.size }
  /** Entries overwritten because the ring was full, since creation or the last `clear()`. */
  get droppedCount (): number { return this.ring.dropped }

  /**
   * Calls `listener` synchronously for every new entry (after it is stored). A listener that
   * throws is ignored. Returns the unsubscribe function.
   */
  onEntry (listener: (entry: LogEntry) => void): () => void {
    this.ring.listeners.add(listener)
    return () => { this.ring.listeners.delete(listener) }
  }

  /** Matching entries, oldest first. The entries are the stored objects: do not mutate them. */
  getEntries (filter: LogEntryFilter = {}): LogEntry[] {
    const { slots, start, size, capacity } = this.ring
    const out: LogEntry[] = []
    for (let i = 0; i < size; i++) {
      const entry = slots[(start + i) % capacity]
      if (entry !== undefined && matches(entry, filter)) out.push(entry)
    }
    if (filter.limit !== undefined && out.length > filter.limit) return out.slice(out.length - Math.max(0, filter.limit))
    return out
  }

  /** Forgets every entry and resets `droppedCount`. */
  clear (): void {
    this.ring.slots.fill(undefined)
    this.ring.start = 0
    this.ring.size = 0
    this.ring.dropped = 0
  }
}

/** True when `entry` passes every filter in `filter` but `limit` (for sinks that keep their own entries). */
export function matchesLogFilter (entry: LogEntry, filter: LogEntryFilter): boolean {
  return matches(entry, filter)
}

function matches (entry: LogEntry, filter: LogEntryFilter): boolean {
  if (filter.level !== undefined && !isLevelAtLeast(entry.level, filter.level)) return false
  if (filter.component !== undefined) {
    if (typeof filter.component === 'string' ? entry.component !== filter.component : !filter.component.includes(entry.component)) return false
  }
  if (filter.instanceValue !== undefined && entry.instance !== filter.instanceValue) return false
  if (filter.sinceMs !== undefined && entry.timeMs < filter.sinceMs) return false
  if (filter.torrent !== undefined && !aboutTorrent(entry, filter.torrent.toLowerCase())) return false
  if (filter.text !== undefined && !containsText(entry, filter.text.toLowerCase())) return false
  return true
}

/** Torrent scopes use the info hash or its first 8 hex characters as their instance. */
const MIN_TORRENT_PREFIX = 8

function sameTorrent (value: unknown, id: string): boolean {
  if (typeof value !== 'string' || value.length < MIN_TORRENT_PREFIX || id.length < MIN_TORRENT_PREFIX) return false
  const v = value.toLowerCase()
  return v.startsWith(id) || id.startsWith(v)
}

function aboutTorrent (entry: LogEntry, id: string): boolean {
  if (sameTorrent(entry.instance, id)) return true
  if (entry.parentInstances?.some((p) => sameTorrent(p, id)) === true) return true
  return sameTorrent(entry.fields?.torrentId, id) || sameTorrent(entry.fields?.infoHash, id)
}

function containsText (entry: LogEntry, needle: string): boolean {
  if (entry.message.toLowerCase().includes(needle) || entry.component.toLowerCase().includes(needle)) return true
  if (entry.instance?.toLowerCase().includes(needle) === true) return true
  if (entry.fields === undefined) return false
  let json: string
  try {
    json = JSON.stringify(entry.fields, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value instanceof Uint8Array ? '' : value))
  } catch {
    return false
  }
  return json.toLowerCase().includes(needle)
}
