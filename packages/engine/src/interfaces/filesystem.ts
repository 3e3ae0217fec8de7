/**
 * Filesystem port. Paths are relative, '/'-separated and already validated by the caller
 * (metainfo refuses unsafe paths); an implementation is rooted at one directory (a storage root).
 *
 * Errors: implementations throw LodestoneError with STORAGE_NOT_FOUND (missing file or directory),
 * STORAGE_FULL (no space left, ENOSPC / QuotaExceeded) or STORAGE_IO (anything else).
 */

export interface IFileStat {
  /** Size in bytes. */
  size: number
  isFile: boolean
  isDirectory: boolean
  /** Last modification time, milliseconds since the epoch (0 where unknown). */
  mtimeMs: number
}

/**
 * 'r': read only, the file must exist.
 * 'r+': read and write; created empty when missing, never truncated.
 * 'w': read and write; created, or truncated to 0 bytes.
 */
export type FileOpenMode = 'r' | 'r+' | 'w'

import type { ReceivedRange } from './socket.js'

/** Bytes `[at, at + range.lengthBytes)` of a buffer being written are the received bytes `range`. */
export interface ReceivedPart {
  /** Offset of the part in the buffer being written. */
  at: number
  /** Where those bytes were received. */
  range: ReceivedRange
}

/** What IFileHandle.writeVerifiedReceived did. */
export type VerifiedWriteResult = 'written' | 'mismatch' | 'unavailable'

export interface IFileHandle {
  /** Reads up to `buffer.length` bytes at `position` into `buffer`; returns the count read (less at end of file). */
  read (buffer: Uint8Array, position: number): Promise<number>
  /** Writes all of `buffer` at `position` (the file grows as needed); returns `buffer.length`. The caller keeps ownership of `buffer` but must not modify it until the promise settles. */
  write (buffer: Uint8Array, position: number): Promise<number>
  /**
   * Optional (feature-detected): writes all of `buffer` at `position`, as `write` does, knowing
   * that the parts listed in `received` (ascending, not overlapping) are bytes a transport still
   * keeps (ITcpSocket.receivedRange): a handle of that transport's storage may write those parts
   * from its copy instead of carrying them again, and writes the rest (and whatever its transport
   * no longer keeps) from `buffer`. Returns `buffer.length`.
   */
  writeWithReceived? (buffer: Uint8Array, position: number, received: readonly ReceivedPart[]): Promise<number>
  /**
   * Optional (feature-detected): writes `lengthBytes` at `position` made of the `received` parts
   * (contiguous from 0, bytes a transport still keeps, as for writeWithReceived) only if they have
   * the SHA-1 `sha1`, checked by whoever holds the bytes (the io-daemon bridge). 'mismatch': they
   * do not, nothing written. 'unavailable': not checked, nothing written (the bytes are no longer
   * kept, or the transport cannot): the caller checks and writes them itself. Why: a v1 piece is
   * checked against exactly such a digest, so the engine need not hash bytes its transport holds.
   */
  writeVerifiedReceived? (position: number, received: readonly ReceivedPart[], lengthBytes: number, sha1: Uint8Array): Promise<VerifiedWriteResult>
  truncate (lengthBytes: number): Promise<void>
  /** Flushes data and metadata to stable storage. */
  sync (): Promise<void>
  close (): Promise<void>
}

/** BEP 47 attributes storage applies to a file it created. */
export interface FileAttributes {
  /** Make the file executable (POSIX: add an x bit wherever an r bit is set). Never removes one. */
  executable?: boolean
  /** Mark the file hidden where the platform has such a flag (none on POSIX, where only names hide). */
  hidden?: boolean
}

export interface IFileSystem {
  open (path: string, mode: FileOpenMode): Promise<IFileHandle>
  /** @throws STORAGE_NOT_FOUND when missing. */
  stat (path: string): Promise<IFileStat>
  /**
   * Optional (feature-detected): the stats of many paths in one call, null for a path that does not
   * exist (where `stat` throws STORAGE_NOT_FOUND); other failures throw as `stat`'s do. For
   * filesystems where one call per path costs more than the stat (restoring 10 000 torrents stats
   * 10 000 files).
   */
  statMany? (paths: readonly string[]): Promise<Array<IFileStat | null>>
  exists (path: string): Promise<boolean>
  /** Creates the directory and, with `recursive`, its parents; no error when it exists. */
  mkdir (path: string, options?: { recursive?: boolean }): Promise<void>
  /** Names (not paths) of the entries of a directory. */
  readdir (path: string): Promise<string[]>
  unlink (path: string): Promise<void>
  /** Removes a directory; with `recursive`, everything below it too. */
  rmdir (path: string, options?: { recursive?: boolean }): Promise<void>
  /** Atomically replaces `to` with `from` where the platform allows (same filesystem). */
  rename (from: string, to: string): Promise<void>
  /**
   * Optional fast path for moving storage between roots: moves file `from` of this filesystem
   * to `to` in `target` without copying (a rename), replacing `to`. Resolves false, touching
   * nothing, when it cannot (`target` is another kind of filesystem, or on another device):
   * the caller then copies. `to`'s directory must exist.
   * @throws STORAGE_NOT_FOUND when `from` or `to`'s directory is missing; STORAGE_IO otherwise.
   */
  moveTo? (from: string, target: IFileSystem, to: string): Promise<boolean>
  /**
   * Optional (BEP 47 symlinks): creates a symbolic link at `path` whose content is `target`, a
   * relative '/'-separated path resolved from `path`'s directory. When anything already exists at
   * `path` (a link from an earlier run, or a user's file) it is left as it is and this resolves.
   * `path`'s directory must exist. A platform without symlinks leaves the method out; links are
   * then not created.
   * @throws STORAGE_IO when `target` would resolve outside the root (never created), or the
   *   platform refuses the link; STORAGE_NOT_FOUND when the directory is missing.
   */
  symlink? (target: string, path: string): Promise<void>
  /**
   * Optional (BEP 47 `x` / `h`): applies attributes to an existing file. Attributes the platform
   * has no notion of are ignored.
   * @throws STORAGE_NOT_FOUND when missing; STORAGE_IO otherwise.
   */
  setAttributes? (path: string, attributes: FileAttributes): Promise<void>
}
