/**
 * What the daemon knows about each torrent beyond the engine: Transmission's small integer id
 * (assigned in add order, from 1 again after a restart, as Transmission does), dates, labels,
 * per-torrent limits as the RPC expresses them, queue position, and which torrents changed
 * recently (`ids: "recently-active"`). The engine owns the torrent; this is bookkeeping around it.
 *
 * The dates, labels and limits outlive a restart: they are saved as one small JSON file in the
 * state directory (written whole, through a temporary file and a rename, so a crash leaves the
 * old or the new file, never half of one).
 */
import { rename, readFile, writeFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Torrent } from '@lodestone/engine'

/** How long a torrent counts as recently active after it moved bytes or changed (Transmission: 60 s). */
export const RECENTLY_ACTIVE_MS = 60_000

/** Per-torrent RPC-level values that survive restarts. */
export interface TorrentRecord {
  addedDateSec: number
  doneDateSec: number
  activityDateSec: number
  labels: string[]
  /** kB/s (1000 B/s), as the RPC speaks. */
  downloadLimitKBps: number
  downloadLimited: boolean
  uploadLimitKBps: number
  uploadLimited: boolean
  honorsSessionLimits: boolean
  bandwidthPriority: number
  /** 0 global, 1 this torrent's limit, 2 unlimited (Transmission's seedRatioMode). */
  seedRatioMode: number
  seedRatioLimit: number
  /** Bytes moved in earlier runs (the engine counts this session only). */
  downloadedBeforeBytes: number
  uploadedBeforeBytes: number
  /** Seconds spent downloading / seeding in earlier runs. */
  secondsDownloadingBefore: number
  secondsSeedingBefore: number
}

/** One torrent as the RPC sees it. */
export interface TrackedTorrent {
  readonly id: number
  /** The engine's torrent; replaced when the daemon re-adds it elsewhere (set-location without move). */
  torrent: Torrent
  record: TorrentRecord
  /** When it last started (s), 0 while stopped. */
  startDateSec: number
  /** A seed limit stopped it (Transmission's isFinished). */
  finished: boolean
  /** Set when a verify was asked for while it was stopped (it goes back to stopped after). */
  stopAfterVerify: boolean
  lastChangeMs: number
}

function newRecord (nowSec: number): TorrentRecord {
  return {
    addedDateSec: nowSec,
    doneDateSec: 0,
    activityDateSec: 0,
    labels: [],
    downloadLimitKBps: 100,
    downloadLimited: false,
    uploadLimitKBps: 100,
    uploadLimited: false,
    honorsSessionLimits: true,
    bandwidthPriority: 0,
    seedRatioMode: 0,
    seedRatioLimit: 2,
    downloadedBeforeBytes: 0,
    uploadedBeforeBytes: 0,
    secondsDownloadingBefore: 0,
    secondsSeedingBefore: 0
  }
}

export class TorrentRegistry {
  private readonly byId = new Map<number, TrackedTorrent>()
  private readonly byHash = new Map<string, TrackedTorrent>()
  /** Queue order: torrent hashes, first = position 0. */
  private readonly order: string[] = []
  private nextId = 1
  /** Ids removed within RECENTLY_ACTIVE_MS, for `recently-active` answers. */
  private readonly removed: Array<{ id: number, atMs: number }> = []
  private saved: Record<string, TorrentRecord> = {}
  private saveChain: Promise<void> = Promise.resolve()

  constructor (private readonly file: string, private readonly now: () => number = Date.now) {}

  /** Reads the saved records (a missing or unreadable file is an empty registry). */
  async load (): Promise<void> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as { torrents?: unknown }
      if (typeof parsed.torrents === 'object' && parsed.torrents !== null) this.saved = parsed.torrents as Record<string, TorrentRecord>
    } catch {
      this.saved = {}
    }
  }

  /**
   * Starts tracking an engine torrent; returns its entry. A torrent whose hash is tracked already
   * takes over that entry (same id, dates and limits): the daemon re-added it.
   */
  track (torrent: Torrent): TrackedTorrent {
    const existing = this.byHash.get(torrent.id)
    if (existing !== undefined) {
      existing.torrent = torrent
      return existing
    }
    const nowMs = this.now()
    const stored = this.saved[torrent.id]
    const entry: TrackedTorrent = {
      id: this.nextId++,
      torrent,
      record: { ...newRecord(Math.floor(nowMs / 1000)), ...stored },
      startDateSec: 0,
      finished: false,
      stopAfterVerify: false,
      lastChangeMs: nowMs
    }
    this.byId.set(entry.id, entry)
    this.byHash.set(torrent.id, entry)
    this.order.push(torrent.id)
    return entry
  }

  untrack (hash: string): void {
    const entry = this.byHash.get(hash)
    if (entry === undefined) return
    this.byHash.delete(hash)
    this.byId.delete(entry.id)
    const at = this.order.indexOf(hash)
    if (at >= 0) this.order.splice(at, 1)
    this.removed.push({ id: entry.id, atMs: this.now() })
    delete this.saved[hash]
  }

  get (hashOrId: string | number): TrackedTorrent | undefined {
    return typeof hashOrId === 'number' ? this.byId.get(hashOrId) : this.byHash.get(hashOrId.toLowerCase())
  }

  /** Every tracked torrent in id order. */
  all (): TrackedTorrent[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id)
  }

  /** Torrents that moved bytes or changed within RECENTLY_ACTIVE_MS. */
  recentlyActive (): TrackedTorrent[] {
    const since = this.now() - RECENTLY_ACTIVE_MS
    return this.all().filter((t) => t.lastChangeMs >= since || t.record.activityDateSec * 1000 >= since)
  }

  /** Ids removed within RECENTLY_ACTIVE_MS. */
  recentlyRemoved (): number[] {
    const since = this.now() - RECENTLY_ACTIVE_MS
    while (this.removed.length > 0 && this.removed[0]!.atMs < since) this.removed.shift()
    return this.removed.map((r) => r.id)
  }

  touch (entry: TrackedTorrent): void {
    entry.lastChangeMs = this.now()
  }

  queuePosition (entry: TrackedTorrent): number {
    return this.order.indexOf(entry.torrent.id)
  }

  /** Moves torrents in the queue order (Transmission's queue-move-top/up/down/bottom). */
  moveInQueue (entries: TrackedTorrent[], how: 'top' | 'up' | 'down' | 'bottom'): void {
    const hashes = entries.map((e) => e.torrent.id)
    if (how === 'top' || how === 'bottom') {
      const rest = this.order.filter((h) => !hashes.includes(h))
      const moved = this.order.filter((h) => hashes.includes(h))
      this.order.splice(0, this.order.length, ...(how === 'top' ? [...moved, ...rest] : [...rest, ...moved]))
      return
    }
    const positions = hashes.map((h) => this.order.indexOf(h)).filter((p) => p >= 0).sort((a, b) => how === 'up' ? a - b : b - a)
    for (const p of positions) {
      const q = how === 'up' ? p - 1 : p + 1
      if (q < 0 || q >= this.order.length) continue
      if (hashes.includes(this.order[q]!)) continue
      const tmp = this.order[q]!
      this.order[q] = this.order[p]!
      this.order[p] = tmp
    }
  }

  /** Writes every tracked torrent's record (queued behind earlier writes). */
  async save (): Promise<void> {
    const torrents: Record<string, TorrentRecord> = { ...this.saved }
    for (const entry of this.byHash.values()) {
      const stats = entry.torrent.stats()
      torrents[entry.torrent.id] = {
        ...entry.record,
        downloadedBeforeBytes: entry.record.downloadedBeforeBytes + stats.downloadedBytes,
        uploadedBeforeBytes: entry.record.uploadedBeforeBytes + stats.uploadedBytes
      }
    }
    const text = JSON.stringify({ version: 1, torrents })
    const write = async (): Promise<void> => {
      await mkdir(dirname(this.file), { recursive: true })
      const tmp = `${this.file}.tmp`
      await writeFile(tmp, text)
      await rename(tmp, this.file)
    }
    this.saveChain = this.saveChain.then(write, write)
    await this.saveChain
  }
}
