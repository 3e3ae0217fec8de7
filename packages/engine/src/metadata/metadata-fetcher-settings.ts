/**
 * Metadata (BEP 9) fetching limits and their defaults. Kept apart from the class that uses them, so
 * `EngineSettings` can hold them without importing it (no import cycle through session/).
 */
/** Metadata fetching limits and timers. */
export interface MetadataFetcherSettings {
  /**
   * Largest info dict accepted, in bytes. Real ones are a few KiB to a few MiB (about 20 bytes per
   * piece plus the file list); libtorrent's default cap is 3 MiB, we allow torrents with
   * hundreds of thousands of files. The buffer is allocated only up to this. @default 16_777_216
   */
  maxMetadataBytes: number
  /** A request unanswered this long is given to another peer. @default 10_000 */
  requestTimeoutMs: number
  /** Requests in flight per peer. @default 4 */
  maxRequestsPerPeer: number
  /** A peer that rejected (or timed out) is not asked again for this long. @default 10_000 */
  retryBackoffMs: number
}

export const defaultMetadataFetcherSettings: Readonly<MetadataFetcherSettings> = {
  maxMetadataBytes: 16 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  maxRequestsPerPeer: 4,
  retryBackoffMs: 10_000
}
