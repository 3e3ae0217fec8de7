/**
 * Keeps every torrent's resume data in the engine's {@link ISessionStore} (records and key names
 * in resume-data.ts) and turns stored data back into torrents on restart.
 *
 * When is the bitfield saved:
 * - `bitfieldSaveDelayMs` after a piece verifies or a check of existing data ends (one save per
 *   batch of pieces, not one per piece);
 * - at once when the torrent pauses, stops, fails (a full disk) or completes, and when the engine closes;
 * - every `saveIntervalMs` for torrents whose stats or peers changed;
 * - on `engine.saveState()`.
 *
 * Flush ordering (the invariant the rest depends on): a piece appears in a saved bitfield only
 * once its bytes are on stable storage. A save (1) snapshots the torrent's bitfield — it holds
 * only pieces that were verified AND whose storage write completed (the torrent marks a piece
 * only after `writePiece` resolves) — then (2) fsyncs every file written so far
 * (`storage.sync()`, which covers every piece in the snapshot), then (3) stats the files, then
 * (4) writes the record with the store's atomic `set`. A crash between any two steps leaves the
 * previous record, which was true when it was written and stays true: verified pieces are never
 * rewritten. If the flush fails the record is not written.
 *
 * Fast resume: the record carries each file's size and mtime taken after the flush. On restore a
 * file whose size or mtime differs (touched, truncated, deleted, or written after the last save
 * before a crash) has all its pieces re-checked; pieces of matching files are trusted without
 * hashing. Writes after the stat can leave a file's mtime unchanged (coarse timestamps), which is
 * harmless: they only add pieces that the record does not claim.
 *
 * Intent: a torrent the user stopped is restored stopped; one the user paused is restored paused
 * (its resume data applied, changed files checked, no connections); one that was running when the
 * engine closed (or crashed) is started again. Stops done by `engine.close()` do not count.
 *
 * Magnets: until its metadata arrives a magnet is tracked without storage — its URI (`:magnet`),
 * progress record (intent, root, settings) and peers are saved, so a restore adds the magnet back
 * and fetches the metadata again. Once the metadata arrives it is tracked like any torrent and the
 * `:magnet` record is deleted.
 */
import { isLodestoneError, LodestoneError } from '../errors.js'
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { IFileSystem } from '../interfaces/filesystem.js'
import type { Logger } from '../interfaces/logger.js'
import type { ISessionStore } from '../interfaces/session-store.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import { PieceLayout, type ContentLayout } from '../storage/piece-layout.js'
import { statFiles } from '../storage/stat-files.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import { Bitfield } from '../util/bitfield.js'
import type { SessionSettings } from './engine-settings.js'
import {
  decodeBitfieldRecord, decodeMagnetRecord, decodePeersRecord, decodeProgressRecord,
  encodeBitfieldRecord, encodeMagnetRecord, encodePeersRecord, encodeProgressRecord, encodeTorrentFile, resumeKeys,
  type BitfieldRecord, type FileStamp, type ProgressRecord, type TorrentIntent, type TorrentResumeHint
} from './resume-data.js'
import type { Torrent } from '../torrent/torrent.js'
import { TorrentListing } from './torrent-listing.js'
import { TorrentState } from '../torrent/torrent-state.js'

export interface SessionPersistenceDeps {
  store: ISessionStore
  clock: IClock
  /** The engine's settings section, read on use (run-time changes apply). */
  settings: () => SessionSettings
  /** The filesystem of a torrent's storage root. */
  fileSystemFor: (torrentId: string) => IFileSystem
  /** The storage root token and path a torrent's files are in (null token: the default root). */
  rootOf: (torrentId: string) => { token: string | null, path: string | null }
  /** Failures the engine works around (a save that failed). */
  onWarning: (error: unknown) => void
  logger?: Logger
}

/** Stored state of one torrent, read back for a restore. */
export interface StoredTorrent {
  id: string
  /** The .torrent file bytes. */
  torrentFile: Uint8Array
  /** null when missing or damaged (defaults are used). */
  progress: ProgressRecord | null
  /** null when missing or damaged (the torrent is checked in full). */
  bitfield: BitfieldRecord | null
  peers: string[]
}

/** What `track` needs beyond the torrent. */
export interface TrackOptions {
  /** The .torrent bytes to store (written once). Absent: already stored (a restore). */
  torrentFile?: Uint8Array
  /** The stored progress of a restored torrent (totals, dates, intent). */
  restored?: ProgressRecord | null
  /** A restore: the stored bitfield stays until the torrent has applied it (first start). */
  restoring?: boolean
  /** What the user asked for when adding (`start: false` → stopped). @default the restored intent, else 'stopped' */
  intent?: TorrentIntent
  /** A magnet without metadata yet (tracked with `storage` null): its URI, stored once. */
  magnetUri?: string
}

/** A stored magnet that had no metadata yet, read back for a restore. */
export interface StoredMagnet {
  id: string
  uri: string
  progress: ProgressRecord | null
  peers: string[]
}

interface Tracked {
  readonly torrent: Torrent
  /** null: a magnet whose metadata has not arrived (no files, no bitfield). */
  readonly storage: TorrentContentStorage | null
  readonly keys: ReturnType<typeof resumeKeys>
  baseUploaded: number
  baseDownloaded: number
  addedAtMs: number
  completedAtMs: number | null
  intent: TorrentIntent
  filePriorities: number[] | null
  /** Restored renames, kept while a magnet's storage does not exist yet. */
  renamedPaths: Record<number, string> | null
  /** Pieces verified since the last save. */
  bitfieldDirty: boolean
  /**
   * A restored torrent whose stored pieces are not applied yet (it has not started): its stored
   * bitfield must not be overwritten by the still empty one.
   */
  holdBitfield: boolean
  /**
   * What is on disk is not known yet: a torrent added but not started or checked, or a check that
   * runs, is paused, or was stopped part way. Pieces not checked are neither had nor missing, so the
   * bitfield record stamps no file and a restore checks the files rather than trusting the record's
   * missing pieces (after a kill mid-check, a torrent added to seed existing data would otherwise
   * download it all again).
   */
  checkIncomplete: boolean
  bitfieldTimer: ITimer | null
  /**
   * What the last save wrote, to skip saves that would change nothing. null: a restored torrent
   * whose stored records still hold (taken as written once its resume hint is applied).
   */
  lastSignature: string | null
  lastPeers: string
  queued: Promise<void> | null
  tail: Promise<void>
  offs: Array<() => void>
}

export class SessionPersistence {
  private readonly tracked = new Map<string, Tracked>()
  private interval: ITimer | null = null
  private intervalMs = 0
  /** Engine closing: stops no longer change intents, and no new timers start. */
  private closing = false
  private readonly listing: TorrentListing

  constructor (private readonly deps: SessionPersistenceDeps) {
    this.listing = new TorrentListing(deps.store, deps.onWarning)
  }

  get store (): ISessionStore { return this.deps.store }

  /**
   * Starts keeping `torrent`'s resume data: stores its metadata (when given) and first records,
   * then saves on its events. Store failures are reported as warnings, never thrown: a torrent
   * runs fine without resume data.
   */
  async track (torrent: Torrent, storage: TorrentContentStorage | null, options: TrackOptions = {}): Promise<void> {
    const id = torrent.id
    // A magnet tracked before its metadata arrived: this entry takes over its dates and intent.
    const previous = this.tracked.get(id)
    if (previous !== undefined) this.untrack(previous)
    const restored = options.restored ?? null
    const now = this.deps.clock.wallNow()
    const t: Tracked = {
      torrent,
      storage,
      keys: resumeKeys(id),
      baseUploaded: restored?.uploadedBytes ?? previous?.baseUploaded ?? 0,
      baseDownloaded: restored?.downloadedBytes ?? previous?.baseDownloaded ?? 0,
      addedAtMs: restored?.addedAtMs ?? previous?.addedAtMs ?? now,
      completedAtMs: restored?.completedAtMs ?? null,
      intent: options.intent ?? restored?.intent ?? previous?.intent ?? 'stopped',
      filePriorities: restored?.filePriorities ?? null,
      renamedPaths: restored?.renamedPaths ?? null,
      bitfieldDirty: false,
      holdBitfield: options.restoring === true,
      // A restored torrent's disk state is its records' (the resume hint re-checks what changed).
      checkIncomplete: options.restoring !== true,
      bitfieldTimer: null,
      lastSignature: options.restoring === true ? null : '',
      // A restore added the stored peers: nothing to write until they change.
      lastPeers: options.restoring === true ? this.peersToSave(torrent).join(',') : '',
      queued: null,
      // After the magnet entry's last save, so that save cannot land after this entry's first.
      tail: previous?.tail ?? Promise.resolve(),
      offs: []
    }
    this.tracked.set(id, t)
    t.offs.push(torrent.on('piece-verified', () => { this.pieceVerified(t) }))
    t.offs.push(torrent.on('completed', () => {
      t.completedAtMs ??= this.deps.clock.wallNow()
      void this.requestSave(t)
    }))
    t.offs.push(torrent.on('state-changed', ({ from, to }) => {
      // BEP 52: a v2 magnet's piece layers arrived: keep them, so a restore need not fetch them again.
      if (from === TorrentState.FetchingHashes && torrent.metadata !== null) this.storeMetadata(t, encodeTorrentFile(torrent.metadata))
      this.stateChanged(t, to)
    }))
    t.offs.push(torrent.on('path-renamed', () => { void this.requestSave(t) }))
    // A check marks pieces without 'piece-verified': save its result before a crash can cost it.
    t.offs.push(torrent.on('checked', () => {
      t.checkIncomplete = false
      this.pieceVerified(t)
    }))
    this.updateInterval()
    // On the save chain, so a remove (which waits for it) cannot run between these writes.
    const stored = t.tail.then(async () => {
      if (options.torrentFile !== undefined) await this.deps.store.set(t.keys.metadata, options.torrentFile)
      if (options.magnetUri !== undefined) await this.deps.store.set(t.keys.magnet, encodeMagnetRecord({ uri: options.magnetUri }))
      // Listed only once its metadata (or magnet) is stored. A restored torrent is listed already.
      if (options.torrentFile !== undefined || options.magnetUri !== undefined) await this.listing.add(id)
      if (storage !== null && previous?.storage === null) await this.deps.store.delete(t.keys.magnet)
    })
    t.tail = stored.catch(() => {})
    try {
      await stored
    } catch (error) {
      this.deps.onWarning(error)
    }
    // A restored torrent's records are what was just read: nothing to write until something changes.
    if (options.restoring !== true) await this.requestSave(t)
  }

  /** Stops tracking `id` and deletes its records (the torrent was removed). */
  async forget (id: string): Promise<void> {
    const t = this.tracked.get(id)
    if (t === undefined) return
    this.untrack(t)
    await t.tail
    try {
      await this.listing.remove(id)
    } catch (error) {
      this.deps.onWarning(error)
    }
  }

  /** Saves every tracked torrent now; resolves when written. Failures are warnings. */
  async saveAll (): Promise<void> {
    await Promise.all([...this.tracked.values()].map(async (t) => { await this.requestSave(t) }))
  }

  /** Saves one torrent now. */
  async save (id: string): Promise<void> {
    const t = this.tracked.get(id)
    if (t !== undefined) await this.requestSave(t)
  }

  /** The engine starts closing: the stops that follow are not the user's. */
  beginClose (): void {
    this.closing = true
    this.interval?.cancel()
    this.interval = null
  }

  /** Final save of everything (torrents are stopped, storage still open), then no more timers. */
  async close (): Promise<void> {
    this.beginClose()
    await this.saveAll()
    for (const t of [...this.tracked.values()]) this.untrack(t)
  }

  // ---------------------------------------------------------------- restore

  /**
   * The ids to restore, in the order they were added (torrent-listing.ts).
   * @throws whatever the store throws.
   */
  async storedIds (): Promise<string[]> {
    return this.listing.read((id) => this.tracked.has(id))
  }

  /**
   * Reads one torrent's records; damaged ones become null (reported as warnings).
   * Returns null when its metadata is missing.
   */
  async load (id: string, parse: (torrentFile: Uint8Array) => Promise<TorrentMetainfo>): Promise<{ stored: StoredTorrent, meta: TorrentMetainfo } | null> {
    const keys = resumeKeys(id)
    const torrentFile = await this.deps.store.get(keys.metadata)
    if (torrentFile === null) return null
    const meta = await parse(torrentFile)
    if (meta.id.toLowerCase() !== id) {
      throw new LodestoneError('RESUME_DATA_INVALID', { key: keys.metadata, reason: `holds torrent ${meta.id}` })
    }
    const read = async <T>(key: string, decode: (bytes: Uint8Array) => T): Promise<T | null> => {
      const bytes = await this.deps.store.get(key)
      if (bytes === null) return null
      try {
        return decode(bytes)
      } catch (error) {
        if (!isLodestoneError(error)) throw error
        this.deps.onWarning(error)
        return null
      }
    }
    const progress = await read(keys.progress, (b) => decodeProgressRecord(b, keys.progress))
    const bitfield = await read(keys.bitfield, (b) => decodeBitfieldRecord(b, keys.bitfield, meta.pieceCount, meta.files.length))
    const peers = await read(keys.peers, (b) => decodePeersRecord(b, keys.peers))
    return { stored: { id, torrentFile, progress, bitfield, peers: peers?.peers ?? [] }, meta }
  }

  /**
   * Reads a stored magnet (one whose metadata never arrived); null when there is none. A damaged
   * progress or peers record becomes null / empty (reported as a warning).
   * @throws LodestoneError RESUME_DATA_INVALID when the magnet record is damaged; the store's errors.
   */
  async loadMagnet (id: string): Promise<StoredMagnet | null> {
    const keys = resumeKeys(id)
    const bytes = await this.deps.store.get(keys.magnet)
    if (bytes === null) return null
    const { uri } = decodeMagnetRecord(bytes, keys.magnet)
    const read = async <T>(key: string, decode: (b: Uint8Array) => T): Promise<T | null> => {
      const b = await this.deps.store.get(key)
      if (b === null) return null
      try {
        return decode(b)
      } catch (error) {
        if (!isLodestoneError(error)) throw error
        this.deps.onWarning(error)
        return null
      }
    }
    const progress = await read(keys.progress, (b) => decodeProgressRecord(b, keys.progress))
    const peers = await read(keys.peers, (b) => decodePeersRecord(b, keys.peers))
    return { id, uri, progress, peers: peers?.peers ?? [] }
  }

  // ---------------------------------------------------------------- internals

  private untrack (t: Tracked): void {
    if (this.tracked.get(t.torrent.id) !== t) return
    this.tracked.delete(t.torrent.id)
    for (const off of t.offs) off()
    t.offs = []
    t.bitfieldTimer?.cancel()
    t.bitfieldTimer = null
    this.updateInterval()
  }

  private pieceVerified (t: Tracked): void {
    t.bitfieldDirty = true
    if (t.bitfieldTimer !== null || this.closing) return
    const delay = this.deps.settings().bitfieldSaveDelayMs
    if (delay === 0) {
      void this.requestSave(t)
      return
    }
    t.bitfieldTimer = this.deps.clock.setTimeout(() => {
      t.bitfieldTimer = null
      void this.requestSave(t)
    }, delay)
  }

  private stateChanged (t: Tracked, to: TorrentState): void {
    if (to === TorrentState.Hashing) t.checkIncomplete = true
    // Running without a check (or after one): the picker is what the torrent holds from now on.
    else if (to === TorrentState.Downloading || to === TorrentState.Seeding || to === TorrentState.FetchingHashes || to === TorrentState.Paused) t.checkIncomplete = false
    // The resume hint is applied before any of these states.
    if (to === TorrentState.Hashing || to === TorrentState.Downloading || to === TorrentState.Seeding || to === TorrentState.Paused) {
      t.holdBitfield = false
      // Trusted pieces are the stored ones (a changed file's are re-checked, and the check's end saves).
      t.lastSignature ??= this.signatureOf(t)
    }
    if (this.closing) return
    const before = t.intent
    if (to === TorrentState.Paused || to === TorrentState.HashingPaused) t.intent = 'paused'
    else if (to === TorrentState.Stopping) t.intent = 'stopped'
    else if (to !== TorrentState.Stopped && to !== TorrentState.Error) t.intent = 'running'
    if (t.intent !== before) {
      void this.requestSave(t)
      return
    }
    // Moments worth a save at once: progress must not be lost across them.
    if (to === TorrentState.Paused || to === TorrentState.Stopped || to === TorrentState.Error || to === TorrentState.Seeding) {
      void this.requestSave(t)
    }
  }

  /** Replaces the stored .torrent, after the saves already queued. */
  private storeMetadata (t: Tracked, torrentFile: Uint8Array): void {
    t.tail = t.tail.then(async () => { await this.deps.store.set(t.keys.metadata, torrentFile) }).catch((error: unknown) => { this.deps.onWarning(error) })
  }

  /** One save at a time per torrent; a request during a save queues exactly one more. */
  private async requestSave (t: Tracked): Promise<void> {
    if (t.queued !== null) return t.queued
    const run = t.tail.then(async () => {
      t.queued = null
      await this.saveNow(t)
    })
    t.queued = run
    t.tail = run.catch(() => {})
    return run
  }

  private async saveNow (t: Tracked): Promise<void> {
    const { torrent, storage } = t
    try {
      const dirty = t.bitfieldDirty
      t.bitfieldDirty = false
      // (1) Snapshot: only pieces verified and written.
      const pieces = torrent.bitfield()
      const checkIncomplete = t.checkIncomplete
      const stats = torrent.stats()
      const savedAtMs = this.deps.clock.wallNow()
      const renamedPaths = renamedPathsOf(t)
      const signature = this.signatureOf(t, pieces.count, stats)
      if (dirty || signature !== (t.lastSignature ?? '')) {
        // (2) Flush every file written so far, (3) stamp the files, (4) write the record.
        // A magnet without metadata has neither files nor pieces: only its progress record.
        if (storage !== null) {
          try {
            await storage.sync()
          } catch (error) {
            t.bitfieldDirty = true
            throw error
          }
          if (!t.holdBitfield) {
            const files = checkIncomplete ? storage.layout.files.map(() => null) : await stampFiles(this.deps.fileSystemFor(torrent.id), storage.layout)
            await this.deps.store.set(t.keys.bitfield, encodeBitfieldRecord({ pieces, files, savedAtMs }))
          }
        }
        const root = this.deps.rootOf(torrent.id)
        const priorities = (storage === null ? null : filePrioritiesOf(torrent)) ?? t.filePriorities
        await this.deps.store.set(t.keys.progress, encodeProgressRecord({
          uploadedBytes: t.baseUploaded + stats.uploadedBytes,
          downloadedBytes: t.baseDownloaded + stats.downloadedBytes,
          addedAtMs: t.addedAtMs,
          completedAtMs: t.completedAtMs,
          intent: t.intent,
          rootToken: root.token,
          rootPath: root.path,
          settings: torrent.settingsOverrides,
          filePriorities: priorities,
          renamedPaths,
          savedAtMs
        }))
        t.lastSignature = signature
      }
      const peers = this.peersToSave(torrent)
      const peerKey = peers.join(',')
      if (peerKey !== t.lastPeers) {
        await this.deps.store.set(t.keys.peers, encodePeersRecord({ peers }))
        t.lastPeers = peerKey
      }
    } catch (error) {
      if (isLodestoneError(error) && error.code === 'CLOSED') return
      this.deps.logger?.warn('saving resume data failed', { torrent: torrent.id, error: String(error) })
      this.deps.onWarning(error)
    }
  }

  /** What a save compares to skip writing nothing new: pieces, totals, intent, completion, renames. */
  private signatureOf (t: Tracked, pieceCount = t.torrent.bitfield().count, stats = t.torrent.stats()): string {
    return `${pieceCount}:${stats.uploadedBytes}:${stats.downloadedBytes}:${t.intent}:${t.completedAtMs ?? ''}:${JSON.stringify(renamedPathsOf(t))}`
  }

  /** The peers a save keeps: the most recently known, newest first. */
  private peersToSave (torrent: Torrent): string[] {
    return torrent.knownPeerAddresses().slice(-this.deps.settings().maxSavedPeers).reverse()
  }

  /** The periodic save timer exists only while there are torrents (a quiet engine holds no timer). */
  private updateInterval (): void {
    const ms = this.deps.settings().saveIntervalMs
    const want = !this.closing && this.tracked.size > 0 && ms > 0
    if (want && this.interval !== null && this.intervalMs === ms) return
    this.interval?.cancel()
    this.interval = null
    if (!want) return
    this.intervalMs = ms
    this.interval = this.deps.clock.setInterval(() => {
      for (const t of this.tracked.values()) void this.requestSave(t)
    }, ms)
  }
}

/**
 * Decides what a restored torrent trusts: stored pieces whose files all still have the stored size
 * and mtime are trusted; every piece of a file that changed is re-checked (whether or not it was
 * stored as verified). No record: null (the torrent checks everything, as without resume data).
 */
export async function resumeHintFor (fs: IFileSystem, layout: ContentLayout, record: BitfieldRecord | null, renamedPaths: Readonly<Record<number, string>> | null = null): Promise<TorrentResumeHint | null> {
  if (record === null) return null
  const pieceLayout = new PieceLayout(layout)
  for (const [index, path] of Object.entries(renamedPaths ?? {})) pieceLayout.setFilePath(Number(index), path)
  const now = await stampFiles(fs, pieceLayout)
  const trusted = record.pieces.clone()
  const recheck = new Bitfield(layout.pieceCount)
  pieceLayout.files.forEach((file, i) => {
    if (file.padding || file.lengthBytes === 0) return
    if (sameStamp(record.files[i] ?? null, now[i] ?? null)) return
    const { firstPiece, lastPiece } = pieceLayout.filePieceRange(i)
    for (let piece = firstPiece; piece <= lastPiece; piece++) {
      trusted.set(piece, false)
      recheck.set(piece)
    }
  })
  return { trusted, recheck: recheck.isEmpty ? null : recheck }
}

/** Size and mtime of every file of the layout (null: padding, or not on disk). */
export async function stampFiles (fs: IFileSystem, layout: PieceLayout): Promise<Array<FileStamp | null>> {
  const indices: number[] = []
  layout.files.forEach((file, i) => { if (!file.padding) indices.push(i) })
  const stats = await statFiles(fs, indices.map((i) => layout.filePath(i)))
  const out: Array<FileStamp | null> = layout.files.map(() => null)
  indices.forEach((fileIndex, k) => {
    const s = stats[k] ?? null
    if (s !== null && s.isFile) out[fileIndex] = { sizeBytes: s.size, mtimeUs: Math.round(s.mtimeMs * 1000) }
  })
  return out
}

function sameStamp (a: FileStamp | null, b: FileStamp | null): boolean {
  if (a === null || b === null) return a === b
  return a.sizeBytes === b.sizeBytes && a.mtimeUs === b.mtimeUs
}

/** The torrent's renamed files (index → path), or null when none. */
function renamedPathsOf (t: Tracked): Record<number, string> | null {
  const renamed = t.storage === null ? t.renamedPaths : t.storage.renamedPaths()
  return renamed === null || Object.keys(renamed).length === 0 ? null : renamed
}

/** Per-file priorities, from `torrent.files` (each with a numeric `priority`) when the torrent has them. */
function filePrioritiesOf (torrent: Torrent): number[] | null {
  const files: unknown = (torrent as unknown as { files?: unknown }).files
  if (!Array.isArray(files)) return null
  const out: number[] = []
  for (const f of files as unknown[]) {
    const p: unknown = (f as { priority?: unknown } | null)?.priority
    if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0) return null
    out.push(p)
  }
  return out
}
