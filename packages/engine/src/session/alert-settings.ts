/**
 * Alert categories and the alert queue's settings (section `alerts`). Kept apart from the queue so
 * `EngineSettings` can hold them without importing the class that uses them.
 */
/** Alert categories (libtorrent's alert category bits, named). */
export type AlertCategory = 'error' | 'peer' | 'tracker' | 'storage' | 'status' | 'progress' | 'stats' | 'performance' | 'ip-block'

/** The bit of each category in `alerts.categoryMask`. */
export const ALERT_CATEGORY_BITS: Readonly<Record<AlertCategory, number>> = {
  error: 1,
  peer: 2,
  tracker: 4,
  storage: 8,
  status: 16,
  progress: 32,
  stats: 64,
  performance: 128,
  'ip-block': 256
}

/** Every category. */
export const ALL_ALERT_CATEGORIES = 511

/** The mask with exactly these categories. */
export function alertCategoryMask (...categories: AlertCategory[]): number {
  let mask = 0
  for (const c of categories) mask |= ALERT_CATEGORY_BITS[c]
  return mask
}

/** Settings section `alerts`. */
export interface AlertSettings {
  /** Alerts kept until popped; beyond it the oldest are dropped (and counted). @default 1_000 */
  maxQueued: number
  /**
   * Categories queued, as a bit mask of {@link ALERT_CATEGORY_BITS}. The default is every category
   * but `stats` (one alert per torrent per second) and `progress` (one per piece).
   * @default 415 (error | peer | tracker | storage | status | performance | ip-block)
   */
  categoryMask: number
}

export const defaultAlertSettings: Readonly<AlertSettings> = {
  maxQueued: 1_000,
  categoryMask: ALL_ALERT_CATEGORIES & ~ALERT_CATEGORY_BITS.stats & ~ALERT_CATEGORY_BITS.progress
}
