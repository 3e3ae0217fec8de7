/**
 * `BtEngine.restoreSession()`: every stored torrent back into the engine, in the stored order.
 *
 * Why a pipeline: restoring is mostly waiting on the store and the filesystem (four records, the
 * .torrent parse and one stat per file for each torrent). Done one torrent at a time, 10 000
 * torrents took minutes; here up to {@link RESTORE_READ_AHEAD} torrents are read ahead while the
 * ones already read are added one by one, so the engine still lists them in the stored order.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import { parseTorrent } from '../metainfo/parse-torrent.js'
import type { IPieceHasher } from '../metainfo/create-piece-hasher.js'
import type { PeerSource } from '../peer/peer-address.js'
import type { StorageRootManager } from '../storage/storage-root-manager.js'
import type { Torrent } from '../torrent/torrent.js'
import { MoveMarkerIndex, recoverStorageMove } from '../torrent/move-storage.js'
import type { TorrentSettings } from './engine-settings.js'
import { validRenames, type ProgressRecord, type TorrentIntent, type TorrentResumeHint } from './resume-data.js'
import { resumeHintFor, type SessionPersistence } from './session-persistence.js'

/** Torrents whose records are read ahead of the one being added. */
export const RESTORE_READ_AHEAD = 32

/** What `restoreSession()` did. */
export interface RestoreSessionResult {
  /** Torrents added back (started when they were running before). */
  restored: Torrent[]
  /** Stored torrents that could not be restored, with why. */
  failed: Array<{ id: string, error: LodestoneError }>
}

/** The add options a restore uses (a subset of AddTorrentOptions). */
export interface RestoredAddOptions {
  start: false
  peers: string[]
  peerSource: PeerSource
  settings?: TorrentSettings
  filePriorities?: number[]
  storageRoot?: string
  downloadPath?: string
  resume?: TorrentResumeHint
}

/** The engine, as the restore sees it. */
export interface RestoreHost {
  storageRoots: StorageRootManager
  hasher: IPieceHasher
  has: (id: string) => boolean
  add: (meta: TorrentMetainfo, options: RestoredAddOptions, progress: ProgressRecord | null) => Promise<Torrent>
  addMagnet: (uri: string, options: RestoredAddOptions, progress: ProgressRecord | null) => Promise<Torrent>
  /** Resumes what the user had it do (running → start, paused → paused, stopped → nothing). */
  startRestored: (torrent: Torrent, intent: TorrentIntent) => void
  warn: (error: LodestoneError) => void
}

/** One stored torrent, read and ready to add. */
type Loaded =
  | { kind: 'torrent', meta: TorrentMetainfo, options: RestoredAddOptions, progress: ProgressRecord | null }
  | { kind: 'magnet', uri: string, options: RestoredAddOptions, progress: ProgressRecord | null }

/** See `BtEngine.restoreSession`. */
export async function restoreSession (host: RestoreHost, persistence: SessionPersistence): Promise<RestoreSessionResult> {
  const result: RestoreSessionResult = { restored: [], failed: [] }
  const ids = (await persistence.storedIds()).filter((id) => !host.has(id))
  const reads: Array<Promise<Loaded | LodestoneError> | undefined> = []
  const markers = new MoveMarkerIndex(host.storageRoots)
  const readNext = (): void => {
    const id = ids[reads.length]
    if (id !== undefined) reads.push(load(host, persistence, markers, id).catch(asError))
  }
  for (let i = 0; i < RESTORE_READ_AHEAD; i++) readNext()
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as string
    const read = reads[i]
    reads[i] = undefined // what was read is dropped once added
    readNext()
    const loaded = read === undefined ? new LodestoneError('INTERNAL', { reason: 'restore read missing' }) : await read
    if (!(loaded instanceof LodestoneError) && host.has(id)) continue
    const error = loaded instanceof LodestoneError ? loaded : await addLoaded(host, loaded, result)
    if (error === null) continue
    result.failed.push({ id, error })
    host.warn(error)
  }
  return result
}

/** Adds and starts one read torrent; its error, or null. */
async function addLoaded (host: RestoreHost, loaded: Loaded, result: RestoreSessionResult): Promise<LodestoneError | null> {
  try {
    const torrent = loaded.kind === 'torrent'
      ? await host.add(loaded.meta, loaded.options, loaded.progress)
      : await host.addMagnet(loaded.uri, loaded.options, loaded.progress)
    result.restored.push(torrent)
    host.startRestored(torrent, loaded.progress?.intent ?? 'running')
    return null
  } catch (error) {
    return asError(error)
  }
}

/** Reads one torrent's records and decides what it trusts (one stat per file). */
async function load (host: RestoreHost, persistence: SessionPersistence, markers: MoveMarkerIndex, id: string): Promise<Loaded> {
  // A v2 magnet saved before its piece layers arrived fetches them again (BEP 52).
  const loaded = await persistence.load(id, async (bytes) => parseTorrent(bytes, { hasher: host.hasher, allowMissingPieceLayers: true }))
  if (loaded === null) {
    // A magnet saved before its metadata arrived: added back as a magnet.
    const magnet = await persistence.loadMagnet(id)
    if (magnet === null) throw new LodestoneError('RESUME_DATA_INVALID', { key: `torrent:${id}:metadata`, reason: 'missing' })
    const p = magnet.progress
    const options: RestoredAddOptions = { start: false, peers: magnet.peers, peerSource: 'resume' }
    if (p !== null) {
      options.settings = p.settings
      if (p.rootToken !== null && host.storageRoots.getRoot(p.rootToken) !== null) options.storageRoot = p.rootToken
      else if (p.rootToken !== null && p.rootPath !== null) options.downloadPath = p.rootPath
    }
    return { kind: 'magnet', uri: magnet.uri, options, progress: p }
  }
  const { stored, meta } = loaded
  const progress = stored.progress
  const options: RestoredAddOptions = { start: false, peers: stored.peers, peerSource: 'resume' }
  if (progress !== null) {
    options.settings = progress.settings
    if (progress.filePriorities !== null && progress.filePriorities.length === meta.files.length) options.filePriorities = progress.filePriorities
    if (progress.rootToken !== null && host.storageRoots.getRoot(progress.rootToken) !== null) options.storageRoot = progress.rootToken
    else if (progress.rootToken !== null && progress.rootPath !== null) options.downloadPath = progress.rootPath
  }
  const roots = host.storageRoots
  if (options.storageRoot !== undefined) roots.setRootForTorrent(id, options.storageRoot)
  else if (options.downloadPath !== undefined) {
    const path = options.downloadPath
    if (roots.getRoot(path) === null) roots.addRoot({ token: path, label: path, path })
    roots.setRootForTorrent(id, path)
  }
  // A move a crash interrupted is finished first (it may change the torrent's root). The add then
  // uses the root it finished at: the saved one may be the move's old place, whose copies it just
  // deleted (issue 15's crash campaign: a kill after the copy restarted with every piece gone).
  if (await markers.mayHave(id) && await recoverStorageMove(roots, id)) {
    const movedTo = roots.getRootForTorrent(id)
    if (movedTo !== null) {
      options.storageRoot = movedTo.token
      delete options.downloadPath
    }
  }
  const hint = await resumeHintFor(roots.getFileSystemForTorrent(id), meta, stored.bitfield, validRenames(progress?.renamedPaths, meta.files.length))
  if (hint !== null) options.resume = hint
  return { kind: 'torrent', meta, options, progress }
}

function asError (error: unknown): LodestoneError {
  return isLodestoneError(error) ? error : new LodestoneError('INTERNAL', { reason: String(error) }, { cause: error })
}
