/**
 * Whether a connection ended because the peer closed it (not because we refused it): a plain
 * close, or a close in the middle of the MSE handshake. Such a peer accepted our dial a moment
 * ago, so it is worth dialling again soon (ConnectionManager.redialLater's `hungUp`).
 */
import type { LodestoneError } from '../errors.js'

export function peerHungUp (reason: LodestoneError | undefined): boolean {
  if (reason === undefined) return false
  if (reason.code === 'PEER_CLOSED') return true
  return reason.code === 'PEER_ENCRYPTION_FAILED' && (reason.details as { reason?: string }).reason === 'closed'
}
