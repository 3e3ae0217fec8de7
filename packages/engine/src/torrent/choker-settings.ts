/**
 * Choking settings and their defaults. Kept apart from the Choker so `EngineSettings` can hold
 * and validate them without importing the class that uses them (no import cycle through session/).
 */
import { LodestoneError } from '../errors.js'

export type SeedingChokeAlgorithm = 'round-robin' | 'fastest-upload'

/**
 * The first three keys match `EngineSettings.choking`, so that section can be passed as is.
 */
export interface ChokerSettings {
  /** Regular unchoke slots, besides the optimistic ones. @default 4 */
  uploadSlots: number
  /** How often the torrent should call `Choker.rechoke`; informational here. @default 10_000 */
  rechokeIntervalMs: number
  /** How long an optimistic unchoke lasts before it rotates. @default 30_000 */
  optimisticUnchokeIntervalMs: number
  /** Optimistic unchoke slots. @default 1 */
  optimisticSlots: number
  /** A peer connected less than this long ago counts as new for the optimistic draw. @default 60_000 */
  newPeerWindowMs: number
  /** How much likelier a new peer is to be drawn optimistically (BEP 3 says 3×). @default 3 */
  newPeerWeight: number
  /** How regular slots are given while seeding. @default 'round-robin' */
  seedingAlgorithm: SeedingChokeAlgorithm
  /** Round-robin: how long a peer keeps its slot before the next one in line gets it. @default 30_000 */
  seedingSlotMs: number
}

export const defaultChokerSettings: Readonly<ChokerSettings> = {
  uploadSlots: 4,
  rechokeIntervalMs: 10_000,
  optimisticUnchokeIntervalMs: 30_000,
  optimisticSlots: 1,
  newPeerWindowMs: 60_000,
  newPeerWeight: 3,
  seedingAlgorithm: 'round-robin',
  seedingSlotMs: 30_000
}


/**
 * Checks a complete choking section.
 * @throws LodestoneError SETTINGS_INVALID naming `choking.<key>`.
 */
export function validateChokerSettings (s: ChokerSettings): ChokerSettings {
  const ints: Array<[keyof ChokerSettings, number]> = [
    ['uploadSlots', 0], ['rechokeIntervalMs', 1], ['optimisticUnchokeIntervalMs', 1], ['optimisticSlots', 0],
    ['newPeerWindowMs', 0], ['seedingSlotMs', 1]
  ]
  for (const [key, min] of ints) {
    const v = s[key]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new LodestoneError('SETTINGS_INVALID', { key: `choking.${key}`, reason: `must be an integer >= ${min}` })
    }
  }
  if (!(s.newPeerWeight >= 1) || !Number.isFinite(s.newPeerWeight)) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'choking.newPeerWeight', reason: 'must be a number >= 1' })
  }
  if (s.seedingAlgorithm !== 'round-robin' && s.seedingAlgorithm !== 'fastest-upload') {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'choking.seedingAlgorithm', reason: "must be 'round-robin' or 'fastest-upload'" })
  }
  return s
}
