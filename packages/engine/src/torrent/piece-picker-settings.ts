/**
 * Piece picker settings and their defaults, apart from the picker so `EngineSettings` holds them
 * without importing the class that uses them (no import cycle through session/).
 */
import { LodestoneError } from '../errors.js'

export interface PiecePickerSettings {
  /**
   * Pieces picked at random (not rarest-first) until this many are verified: rare pieces come
   * slowly, and a new peer needs complete pieces to trade. @default 4
   */
  randomFirstPieces: number
  /** Pick new pieces in index order instead of rarest-first (preview / streaming). @default false */
  sequential: boolean
  /** End-game: most peers one block may be requested from at the same time. @default 2 */
  endGameMaxRequestsPerBlock: number
}

export const defaultPiecePickerSettings: Readonly<PiecePickerSettings> = {
  randomFirstPieces: 4,
  sequential: false,
  endGameMaxRequestsPerBlock: 2
}

/**
 * Checks a complete picker section.
 * @throws LodestoneError SETTINGS_INVALID naming `picker.<key>`.
 */
export function validatePiecePickerSettings (s: PiecePickerSettings): PiecePickerSettings {
  if (!Number.isInteger(s.randomFirstPieces) || s.randomFirstPieces < 0) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'picker.randomFirstPieces', reason: 'must be an integer >= 0' })
  }
  if (!Number.isInteger(s.endGameMaxRequestsPerBlock) || s.endGameMaxRequestsPerBlock < 1) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'picker.endGameMaxRequestsPerBlock', reason: 'must be an integer >= 1' })
  }
  if (typeof s.sequential !== 'boolean') throw new LodestoneError('SETTINGS_INVALID', { key: 'picker.sequential', reason: 'must be a boolean' })
  return s
}
