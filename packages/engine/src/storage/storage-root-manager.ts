/**
 * Download locations (seed 004's StorageRootManager). A storage root is a place torrents' files go
 * (the Downloads folder, an external disk, an OPFS directory), identified by an opaque token: for
 * the daemon the token comes from the native host, for Node it can simply be the path. The engine
 * never builds paths to roots itself; it asks this manager for the {@link IFileSystem} rooted at a
 * torrent's root, made once per token by the injected factory and cached.
 *
 * Torrent ids are info hashes; they are normalized to lowercase hex so "ABC…" and "abc…" are one
 * torrent. A torrent uses its own root if assigned, else the default root; with neither it gets
 * STORAGE_NO_ROOT and waits (the torrent listens for 'root-added', 'default-root-changed' and
 * 'torrent-root-changed' to retry). A torrent assigned to a root that was removed gets
 * STORAGE_ROOT_UNKNOWN until a root with that token comes back (an unplugged disk, re-plugged):
 * the assignment is kept on purpose.
 */
import { LodestoneError } from '../errors.js'
import type { IFileSystem } from '../interfaces/filesystem.js'
import { TypedEmitter } from '../util/typed-emitter.js'

export interface StorageRoot {
  /** Opaque identifier (from the native host for daemon roots; may be the path for Node). */
  token: string
  /** Human-readable: "Downloads", "External SSD". */
  label: string
  /** Full path, for display only. */
  path: string
}

/** Makes the filesystem rooted at a storage root; called once per token (then cached). */
export type CreateFileSystem = (token: string, root: StorageRoot) => IFileSystem

export interface StorageRootManagerEvents {
  /** A root was added, or replaced (`replaced`: same token, new label or path). */
  'root-added': { root: StorageRoot, replaced: boolean }
  /** A root was removed; `torrentIds` were assigned to it (they now get STORAGE_ROOT_UNKNOWN). */
  'root-removed': { root: StorageRoot, torrentIds: string[], wasDefault: boolean }
  'default-root-changed': { token: string | null }
  'torrent-root-changed': { torrentId: string, token: string | null }
}

/** Lowercase form of an info-hash id, the key used everywhere a torrent is indexed (seed 004). */
export function normalizeTorrentId (id: string): string {
  return id.toLowerCase()
}

export class StorageRootManager extends TypedEmitter<StorageRootManagerEvents> {
  private readonly roots = new Map<string, StorageRoot>()
  private readonly torrentRoots = new Map<string, string>()
  private defaultToken: string | null = null
  private readonly fsCache = new Map<string, IFileSystem>()

  constructor (private readonly createFileSystem: CreateFileSystem) {
    super()
  }

  // ---------------------------------------------------------------- roots

  /**
   * Adds a root, or replaces the one with the same token (a changed path drops its cached filesystem).
   * @throws LodestoneError ARGUMENT_INVALID for an empty token.
   */
  addRoot (root: StorageRoot): void {
    if (typeof root.token !== 'string' || root.token === '') {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'root.token', reason: 'must be a non-empty string' })
    }
    const copy = { token: root.token, label: root.label, path: root.path }
    const old = this.roots.get(copy.token)
    if (old !== undefined && old.path !== copy.path) this.fsCache.delete(copy.token)
    this.roots.set(copy.token, copy)
    this.emit('root-added', { root: { ...copy }, replaced: old !== undefined })
  }

  /**
   * Removes a root (clearing the default if it was the default). Torrents assigned to it keep the
   * assignment. Returns false when no root had that token.
   */
  removeRoot (token: string): boolean {
    const root = this.roots.get(token)
    if (root === undefined) return false
    this.roots.delete(token)
    this.fsCache.delete(token)
    const torrentIds = [...this.torrentRoots].filter(([, t]) => t === token).map(([id]) => id)
    const wasDefault = this.defaultToken === token
    if (wasDefault) this.defaultToken = null
    this.emit('root-removed', { root: { ...root }, torrentIds, wasDefault })
    if (wasDefault) this.emit('default-root-changed', { token: null })
    return true
  }

  /** Every root, in the order added (copies). */
  getRoots (): StorageRoot[] {
    return [...this.roots.values()].map((r) => ({ ...r }))
  }

  getRoot (token: string): StorageRoot | null {
    const root = this.roots.get(token)
    return root === undefined ? null : { ...root }
  }

  /** @throws LodestoneError STORAGE_ROOT_UNKNOWN when no root has this token. */
  setDefaultRoot (token: string): void {
    this.requireRoot(token)
    if (this.defaultToken === token) return
    this.defaultToken = token
    this.emit('default-root-changed', { token })
  }

  clearDefaultRoot (): void {
    if (this.defaultToken === null) return
    this.defaultToken = null
    this.emit('default-root-changed', { token: null })
  }

  getDefaultRoot (): StorageRoot | null {
    return this.defaultToken === null ? null : this.getRoot(this.defaultToken)
  }

  // ---------------------------------------------------------------- torrents

  /** @throws LodestoneError STORAGE_ROOT_UNKNOWN when no root has this token. */
  setRootForTorrent (torrentId: string, token: string): void {
    this.requireRoot(token)
    const id = normalizeTorrentId(torrentId)
    if (this.torrentRoots.get(id) === token) return
    this.torrentRoots.set(id, token)
    this.emit('torrent-root-changed', { torrentId: id, token })
  }

  /** Forgets the torrent's own root: it falls back to the default (call when a torrent is removed). */
  clearRootForTorrent (torrentId: string): void {
    const id = normalizeTorrentId(torrentId)
    if (!this.torrentRoots.delete(id)) return
    this.emit('torrent-root-changed', { torrentId: id, token: null })
  }

  /** The token the torrent is assigned to (even if that root is gone), or null when it uses the default. */
  getAssignedToken (torrentId: string): string | null {
    return this.torrentRoots.get(normalizeTorrentId(torrentId)) ?? null
  }

  /** The root the torrent's files go to: its own, else the default; null when there is none (yet). */
  getRootForTorrent (torrentId: string): StorageRoot | null {
    const token = this.resolveToken(torrentId)
    return token === null ? null : this.getRoot(token)
  }

  /**
   * The filesystem for the torrent's root, made by the factory on first use per token.
   * @throws LodestoneError STORAGE_NO_ROOT when the torrent has no root and there is no default;
   *   STORAGE_ROOT_UNKNOWN when its root was removed.
   */
  getFileSystemForTorrent (torrentId: string): IFileSystem {
    const token = this.resolveToken(torrentId)
    if (token === null) throw new LodestoneError('STORAGE_NO_ROOT', { torrentId: normalizeTorrentId(torrentId) })
    return this.getFileSystem(token)
  }

  /**
   * The filesystem of one root (cached per token).
   * @throws LodestoneError STORAGE_ROOT_UNKNOWN when no root has this token.
   */
  getFileSystem (token: string): IFileSystem {
    const root = this.requireRoot(token)
    let fs = this.fsCache.get(token)
    if (fs === undefined) {
      fs = this.createFileSystem(token, { ...root })
      this.fsCache.set(token, fs)
    }
    return fs
  }

  private resolveToken (torrentId: string): string | null {
    return this.torrentRoots.get(normalizeTorrentId(torrentId)) ?? this.defaultToken
  }

  private requireRoot (token: string): StorageRoot {
    const root = this.roots.get(token)
    if (root === undefined) throw new LodestoneError('STORAGE_ROOT_UNKNOWN', { token })
    return root
  }
}
