/** Piece priorities (libtorrent's scale), shared by the picker, file priorities and the rarity order. */
import { LodestoneError } from '../errors.js'

/** Piece priorities, libtorrent's scale: 0 never downloads, 7 is most urgent. */
export const PiecePriority = { skip: 0, low: 1, normal: 4, high: 6, top: 7 } as const
/** Highest priority value. */
export const MAX_PIECE_PRIORITY = 7
/** Priority of every piece until told otherwise. */
export const DEFAULT_PIECE_PRIORITY = PiecePriority.normal

/** @throws LodestoneError ARGUMENT_INVALID unless `priority` is an integer in 0..MAX_PIECE_PRIORITY. */
export function checkPiecePriority (priority: number): void {
  if (!Number.isInteger(priority) || priority < 0 || priority > MAX_PIECE_PRIORITY) {
    throw new LodestoneError('ARGUMENT_INVALID', { name: 'priority', reason: `${priority} is not an integer in 0..${MAX_PIECE_PRIORITY}` })
  }
}
