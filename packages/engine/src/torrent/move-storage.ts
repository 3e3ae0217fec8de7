/**
 * Moving a torrent's files to another storage root while it runs (libtorrent's move_storage).
 *
 * Sequence (why this order is crash-safe):
 * 1. storage I/O is suspended: writes and reads in flight finish, handles are flushed and closed,
 *    new ones wait (peers stay connected; received pieces wait in memory, bounded by the
 *    unverified-bytes budget);
 * 2. a marker `.lodestone.parts/<id>.move` (phase `copying`) is written into both roots;
 * 3. every file (and the part file) is moved: renamed when both roots are on one device (the
 *    adapter's optional `moveTo`), else copied, synced, and kept at the old place for now;
 * 4. the markers say `copied`; the torrent's root is switched and storage points at the new
 *    place; I/O resumes;
 * 5. the old copies and the directories they leave empty are deleted, then the markers.
 *
 * A crash before 4 leaves every original intact (renamed files are at the new place, which the
 * marker names), a crash after 4 leaves complete copies at the new place. On the next add,
 * {@link recoverStorageMove} reads the marker in the torrent's root and redoes what is missing:
 * phase `copying` moves again (files already moved are skipped), phase `copied` switches and
 * deletes. A failure (not a crash) rolls back: renamed files go back, copies are deleted.
 *
 * When both roots map to one filesystem object (the memory preset maps every root to one), the
 * files are already "there": only the root assignment changes.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IFileSystem } from '../interfaces/filesystem.js'
import type { StorageRoot, StorageRootManager } from '../storage/storage-root-manager.js'
import { PART_FILE_DIRECTORY, type TorrentContentStorage } from '../storage/torrent-content-storage.js'

/** Bytes copied per read/write when a file cannot be renamed. */
const COPY_CHUNK_BYTES = 1024 * 1024

interface MoveMarker {
  version: 1
  torrentId: string
  from: StorageRoot
  to: StorageRoot
  phase: 'copying' | 'copied'
  /** Paths (in the root) the move covers. */
  paths: string[]
}

/** Path of a torrent's move marker inside a storage root. */
export function moveMarkerPath (torrentId: string): string {
  return `${PART_FILE_DIRECTORY}/${torrentId}.move`
}

export interface MoveStorageDeps {
  storageRoots: StorageRootManager
  storage: TorrentContentStorage
  torrentId: string
}

/**
 * Moves the torrent's files to `target`: a storage root token, or else a directory path that is
 * registered as a root (token = path). Resolves with the new root's token.
 * @throws LodestoneError STORAGE_NO_ROOT (the torrent has no root), STORAGE_MOVE_FAILED (rolled
 *   back), ABORTED (before anything moved).
 */
export async function moveTorrentStorage (deps: MoveStorageDeps, target: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  const { storageRoots: roots, storage, torrentId } = deps
  const to = resolveTarget(roots, target)
  const toFs = roots.getFileSystem(to.token)
  // Suspending first also serializes concurrent moves: each sees where the previous one left the files.
  const release = await storage.suspendIo()
  let copied: string[] = []
  const fromFs = storage.fileSystem
  const from = roots.getRootForTorrent(torrentId)
  // One filesystem object, or one directory under two tokens: the files are there already.
  const samePlace = from === null || from.token === to.token || fromFs === toFs || from.path === to.path
  try {
    if (options.signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'moveStorage' })
    if (from === null) throw new LodestoneError('STORAGE_NO_ROOT', { torrentId })
    if (!samePlace) {
      const paths = storage.storedPaths()
      const marker: MoveMarker = { version: 1, torrentId, from, to, phase: 'copying', paths }
      await writeMarker(fromFs, marker)
      await writeMarker(toFs, marker)
      const moved: Moved[] = []
      try {
        await transfer(fromFs, toFs, paths, moved)
      } catch (error) {
        await rollback(fromFs, toFs, moved)
        await removeMarker(toFs, torrentId)
        await removeMarker(fromFs, torrentId)
        throw moveFailed(torrentId, 'copy', error)
      }
      copied = moved.filter((m) => m.how === 'copied').map((m) => m.path)
      const done: MoveMarker = { ...marker, phase: 'copied' }
      await writeMarker(toFs, done)
      await writeMarker(fromFs, done)
    }
    roots.setRootForTorrent(torrentId, to.token)
    storage.relocate(toFs)
  } finally {
    release()
  }
  if (!samePlace) await finishMove(fromFs, toFs, torrentId, copied)
  return to.token
}

/**
 * Which torrents have a move marker, read with one listing per storage root: a restore asks for
 * every torrent, and the usual answer — no marker — cost a failed stat each (an error object with
 * a stack: 3.5 s of main thread for 10 000 torrents in bench/scale).
 */
export class MoveMarkerIndex {
  /** Marker file names per root token; null: the listing failed, so every torrent is checked. */
  private readonly byRoot = new Map<string, Promise<Set<string> | null>>()

  constructor (private readonly roots: StorageRootManager) {}

  /** True when `torrentId` may have a marker in its root (then run {@link recoverStorageMove}). */
  async mayHave (torrentId: string): Promise<boolean> {
    const here = this.roots.getRootForTorrent(torrentId)
    if (here === null) return false
    let names = this.byRoot.get(here.token)
    if (names === undefined) {
      names = listMarkers(this.roots.getFileSystem(here.token))
      this.byRoot.set(here.token, names)
    }
    return (await names)?.has(`${torrentId}.move`) ?? true
  }
}

async function listMarkers (fs: IFileSystem): Promise<Set<string> | null> {
  try {
    return new Set((await fs.readdir(PART_FILE_DIRECTORY)).filter((name) => name.endsWith('.move')))
  } catch (error) {
    return isLodestoneError(error) && error.code === 'STORAGE_NOT_FOUND' ? new Set() : null
  }
}

/**
 * Completes a move a crash interrupted, before the torrent's storage is opened: reads the marker
 * in the torrent's root and redoes the missing steps. Resolves true when it did something.
 * @throws LodestoneError STORAGE_MOVE_FAILED when the files cannot be moved.
 */
export async function recoverStorageMove (roots: StorageRootManager, torrentId: string): Promise<boolean> {
  const here = roots.getRootForTorrent(torrentId)
  if (here === null) return false
  const marker = await readMarker(roots.getFileSystem(here.token), torrentId)
  if (marker === null) return false
  for (const root of [marker.from, marker.to]) if (roots.getRoot(root.token) === null) roots.addRoot(root)
  const fromFs = roots.getFileSystem(marker.from.token)
  const toFs = roots.getFileSystem(marker.to.token)
  if (fromFs === toFs || marker.from.path === marker.to.path) {
    roots.setRootForTorrent(torrentId, marker.to.token)
    await removeMarker(fromFs, torrentId)
    return true
  }
  let copied = marker.paths
  if (marker.phase === 'copying') {
    const moved: Moved[] = []
    try {
      await transfer(fromFs, toFs, marker.paths, moved)
    } catch (error) {
      throw moveFailed(torrentId, 'recover-copy', error)
    }
    copied = moved.filter((m) => m.how === 'copied').map((m) => m.path)
    const done: MoveMarker = { ...marker, phase: 'copied' }
    await writeMarker(toFs, done)
    await writeMarker(fromFs, done)
  }
  roots.setRootForTorrent(torrentId, marker.to.token)
  await finishMove(fromFs, toFs, torrentId, copied)
  return true
}

interface Moved { path: string, how: 'renamed' | 'copied' }

function resolveTarget (roots: StorageRootManager, target: string): StorageRoot {
  if (typeof target !== 'string' || target === '') throw new LodestoneError('ARGUMENT_INVALID', { name: 'target', reason: 'must be a storage root token or a path' })
  const known = roots.getRoot(target)
  if (known !== null) return known
  const root = { token: target, label: target, path: target }
  roots.addRoot(root)
  return root
}

/** Moves each existing path (renaming when possible); paths already gone from `from` were moved before. */
async function transfer (fromFs: IFileSystem, toFs: IFileSystem, paths: readonly string[], moved: Moved[]): Promise<void> {
  const dirs = new Set<string>()
  for (const path of paths) {
    if (!await fromFs.exists(path)) continue
    const cut = path.lastIndexOf('/')
    if (cut > 0 && !dirs.has(path.slice(0, cut))) {
      await toFs.mkdir(path.slice(0, cut), { recursive: true })
      dirs.add(path.slice(0, cut))
    }
    if (fromFs.moveTo !== undefined && await fromFs.moveTo(path, toFs, path)) {
      moved.push({ path, how: 'renamed' })
      continue
    }
    // Listed before copying: a copy that fails halfway is deleted by the rollback too.
    moved.push({ path, how: 'copied' })
    await copyFile(fromFs, toFs, path)
  }
}

/** Copies one file and syncs the copy to stable storage. */
async function copyFile (fromFs: IFileSystem, toFs: IFileSystem, path: string): Promise<void> {
  const src = await fromFs.open(path, 'r')
  try {
    const dst = await toFs.open(path, 'w')
    try {
      const buf = new Uint8Array(COPY_CHUNK_BYTES)
      for (let position = 0; ;) {
        const n = await src.read(buf, position)
        if (n <= 0) break
        await dst.write(buf.subarray(0, n), position)
        position += n
      }
      await dst.sync()
    } finally {
      await dst.close()
    }
  } finally {
    await src.close()
  }
}

/** Undoes a failed move: renamed files go back, copies (and the directories made for them) are deleted. Best effort. */
async function rollback (fromFs: IFileSystem, toFs: IFileSystem, moved: readonly Moved[]): Promise<void> {
  const dirs = new Set<string>()
  for (const m of moved) {
    try {
      if (m.how === 'copied') await toFs.unlink(m.path)
      else if (toFs.moveTo === undefined || !await toFs.moveTo(m.path, fromFs, m.path)) await copyFile(toFs, fromFs, m.path)
    } catch {}
    for (let cut = m.path.lastIndexOf('/'); cut > 0; cut = m.path.lastIndexOf('/', cut - 1)) dirs.add(m.path.slice(0, cut))
  }
  for (const dir of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
    try {
      await toFs.rmdir(dir)
    } catch {}
  }
}

/** Deletes the old copies and the directories they leave empty, then both markers. */
async function finishMove (fromFs: IFileSystem, toFs: IFileSystem, torrentId: string, copied: readonly string[]): Promise<void> {
  const dirs = new Set<string>()
  // Every path the move covers: renamed ones are gone already (not found is fine).
  const marker = await readMarker(fromFs, torrentId).catch(() => null)
  for (const path of marker?.paths ?? copied) {
    try {
      await fromFs.unlink(path)
    } catch (err) {
      if (!isLodestoneError(err) || err.code !== 'STORAGE_NOT_FOUND') throw moveFailed(torrentId, 'delete-old', err)
    }
    for (let cut = path.lastIndexOf('/'); cut > 0; cut = path.lastIndexOf('/', cut - 1)) dirs.add(path.slice(0, cut))
  }
  await removeMarker(fromFs, torrentId)
  // Deepest first; a directory that still holds something (user files) stays.
  for (const dir of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
    try {
      await fromFs.rmdir(dir)
    } catch {}
  }
  await removeMarker(toFs, torrentId)
}

async function writeMarker (fs: IFileSystem, marker: MoveMarker): Promise<void> {
  const path = moveMarkerPath(marker.torrentId)
  const tmp = `${path}.tmp`
  await fs.mkdir(PART_FILE_DIRECTORY, { recursive: true })
  const h = await fs.open(tmp, 'w')
  try {
    await h.write(new TextEncoder().encode(JSON.stringify(marker)), 0)
    await h.sync()
  } finally {
    await h.close()
  }
  await fs.rename(tmp, path)
}

async function readMarker (fs: IFileSystem, torrentId: string): Promise<MoveMarker | null> {
  const path = moveMarkerPath(torrentId)
  if (!await fs.exists(path)) return null
  const size = (await fs.stat(path)).size
  if (size > 16 * 1024 * 1024) return null
  const h = await fs.open(path, 'r')
  const buf = new Uint8Array(size)
  try {
    await h.read(buf, 0)
  } finally {
    await h.close()
  }
  try {
    const m = JSON.parse(new TextDecoder().decode(buf)) as Partial<MoveMarker>
    const isRoot = (r: unknown): r is StorageRoot => typeof r === 'object' && r !== null && typeof (r as StorageRoot).token === 'string' &&
      typeof (r as StorageRoot).path === 'string' && typeof (r as StorageRoot).label === 'string'
    if (m.version !== 1 || m.torrentId !== torrentId || !isRoot(m.from) || !isRoot(m.to) || (m.phase !== 'copying' && m.phase !== 'copied') ||
      !Array.isArray(m.paths) || !m.paths.every((p) => typeof p === 'string')) return null
    return m as MoveMarker
  } catch {
    return null
  }
}

async function removeMarker (fs: IFileSystem, torrentId: string): Promise<void> {
  try {
    await fs.unlink(moveMarkerPath(torrentId))
  } catch {}
  try {
    await fs.rmdir(PART_FILE_DIRECTORY)
  } catch {}
}

function moveFailed (torrentId: string, phase: string, error: unknown): LodestoneError {
  if (isLodestoneError(error) && error.code === 'STORAGE_MOVE_FAILED') return error
  return new LodestoneError('STORAGE_MOVE_FAILED', { torrentId, phase, reason: error instanceof Error ? error.message : String(error) }, { cause: error })
}
