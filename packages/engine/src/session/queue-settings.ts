/**
 * Queueing (active download / seed slots) and seed limits: settings and defaults. Kept apart from
 * the class that uses them, so `EngineSettings` can hold them without importing it (no import cycle
 * through session/).
 */
export interface QueueSettings {
  /** Torrents starting, checking or downloading at once; 0 = unlimited. @default 0 */
  maxActiveDownloads: number
  /** Torrents seeding at once; 0 = unlimited. @default 0 */
  maxActiveSeeds: number
  /** Pause seeding at this upload/download ratio; 0 = no limit (per-torrent override: TorrentSettings). @default 0 */
  seedRatioLimit: number
  /** Pause seeding after this many seconds of seeding; 0 = no limit (per-torrent override). @default 0 */
  seedTimeLimitSec: number
}

export const defaultQueueSettings: Readonly<QueueSettings> = {
  maxActiveDownloads: 0,
  maxActiveSeeds: 0,
  seedRatioLimit: 0,
  seedTimeLimitSec: 0
}
