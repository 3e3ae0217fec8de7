/**
 * Content storage settings (section `storage`) and their defaults. Kept apart from the class that
 * uses them, so `EngineSettings` can hold them without importing it (no import cycle through
 * session/).
 */
import { LodestoneError } from '../errors.js'

export interface TorrentContentStorageSettings {
  /**
   * Open file handles the engine keeps at most, shared by all its torrents: one least-recently-used
   * order over every torrent's files, so a downloading torrent may use most of the budget while
   * torrents that stopped using files give theirs up first. It bounds the engine's descriptors
   * however many torrents it holds (a handle in use is never closed, so the count may exceed it
   * briefly). A TorrentContentStorage made outside an engine keeps this many of its own.
   * Changeable at run time. @default 256
   */
  maxOpenFiles: number
  /** Upload read cache, in bytes of whole pieces; 0 disables it. @default 8_388_608 */
  readCacheBytes: number
  /** Set each file to its full length when first written (rather than growing sparsely). @default false */
  preallocate: boolean
  /** Pieces read ahead by `TorrentContentStorage.readPieces`. @default 2 */
  readAheadPieces: number
}

export const defaultTorrentContentStorageSettings: Readonly<TorrentContentStorageSettings> = {
  maxOpenFiles: 256,
  readCacheBytes: 8 * 1024 * 1024,
  preallocate: false,
  readAheadPieces: 2
}

/**
 * Checks a complete storage section.
 * @throws LodestoneError SETTINGS_INVALID naming `storage.<key>`.
 */
export function validateStorageSettings (s: TorrentContentStorageSettings): TorrentContentStorageSettings {
  const check = (key: keyof TorrentContentStorageSettings, ok: boolean, reason: string): void => {
    if (!ok) throw new LodestoneError('SETTINGS_INVALID', { key: `storage.${key}`, reason })
  }
  check('maxOpenFiles', Number.isInteger(s.maxOpenFiles) && s.maxOpenFiles >= 1, 'must be an integer >= 1')
  check('readCacheBytes', Number.isInteger(s.readCacheBytes) && s.readCacheBytes >= 0, 'must be an integer >= 0')
  check('readAheadPieces', Number.isInteger(s.readAheadPieces) && s.readAheadPieces >= 0, 'must be an integer >= 0')
  check('preallocate', typeof s.preallocate === 'boolean', 'must be a boolean')
  return s
}

