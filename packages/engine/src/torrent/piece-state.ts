/**
 * Block-level progress of one piece that is being downloaded (seed 001's PieceManager blocks).
 *
 * Only pieces that have been started get one of these: the picker keeps them in a map keyed by
 * piece index and drops them when the piece is verified or fails, so memory follows the number of
 * pieces in flight, never the torrent size (DESIGN rule 8).
 *
 * Invariants (checked by the unit tests):
 * - every block is in exactly one state: free, requested or received;
 * - `freeCount + requestedCount + receivedCount === blockCount`;
 * - a requested block has at least one requester; a free block has none; a received block
 *   remembers the one peer that delivered it (its contributor) and has no requesters.
 */

import { BLOCK_LENGTH_BYTES } from '../protocol/wire-messages.js'

/**
 * Size of one request (one definition, shared with the wire codec). BEP 3 leaves it open, but every
 * client in the wild uses 16 KiB and many refuse larger requests; BEP 52 fixes v2 merkle leaves at
 * the same size.
 */
export { BLOCK_LENGTH_BYTES }

/** Block states, stored one byte per block. */
export const BlockState = {
  free: 0,
  requested: 1,
  received: 2
} as const
export type BlockState = typeof BlockState[keyof typeof BlockState]

/** Number of blocks in a piece of `pieceLengthBytes` (the last block may be short). */
export function blockCountOf (pieceLengthBytes: number): number {
  return Math.ceil(pieceLengthBytes / BLOCK_LENGTH_BYTES)
}

/**
 * Progress of one started piece. `P` is the caller's peer key (any value with identity, e.g. the
 * PeerConnection object or a string id).
 */
export class PieceProgress<P> {
  readonly blockCount: number
  freeCount: number
  requestedCount = 0
  receivedCount = 0
  private readonly states: Uint8Array
  /** The requester of a requested block (the first one in end-game), or the contributor of a received one. */
  private readonly owners: Array<P | undefined>
  /** Requesters beyond the first, only during end-game: allocated on first use. */
  private extra: Map<number, P[]> | undefined

  constructor (readonly piece: number, readonly lengthBytes: number) {
    this.blockCount = blockCountOf(lengthBytes)
    this.freeCount = this.blockCount
    this.states = new Uint8Array(this.blockCount)
    this.owners = new Array<P | undefined>(this.blockCount)
  }

  /** Length in bytes of block `block` (the last one may be short). */
  blockLength (block: number): number {
    return block < this.blockCount - 1 ? BLOCK_LENGTH_BYTES : this.lengthBytes - block * BLOCK_LENGTH_BYTES
  }

  stateOf (block: number): BlockState {
    return (this.states[block] ?? BlockState.free) as BlockState
  }

  /** All blocks received: the piece is waiting for its hash check. */
  get isComplete (): boolean {
    return this.receivedCount === this.blockCount
  }

  /** Number of peers a block is currently requested from. */
  requesterCount (block: number): number {
    if (this.states[block] !== BlockState.requested) return 0
    return 1 + (this.extra?.get(block)?.length ?? 0)
  }

  isRequestedBy (block: number, peer: P): boolean {
    if (this.states[block] !== BlockState.requested) return false
    return this.owners[block] === peer || (this.extra?.get(block)?.includes(peer) ?? false)
  }

  /** Peers a block is requested from (a new array). */
  requesters (block: number): P[] {
    if (this.states[block] !== BlockState.requested) return []
    const out: P[] = [this.owners[block] as P]
    const more = this.extra?.get(block)
    if (more !== undefined) out.push(...more)
    return out
  }

  /** Records a request of `block` from `peer`: free → requested, or one more requester (end-game). */
  request (block: number, peer: P): void {
    const state = this.states[block]
    if (state === BlockState.free) {
      this.states[block] = BlockState.requested
      this.owners[block] = peer
      this.freeCount--
      this.requestedCount++
    } else if (state === BlockState.requested) {
      if (this.isRequestedBy(block, peer)) return
      this.extra ??= new Map()
      const list = this.extra.get(block)
      if (list === undefined) this.extra.set(block, [peer])
      else list.push(peer)
    }
  }

  /**
   * Forgets `peer`'s request of `block` (time-out, reject, choke, disconnect). Returns true when
   * the block became free (no other requester left).
   */
  release (block: number, peer: P): boolean {
    if (this.states[block] !== BlockState.requested) return false
    const more = this.extra?.get(block)
    if (this.owners[block] === peer) {
      if (more === undefined || more.length === 0) {
        this.states[block] = BlockState.free
        this.owners[block] = undefined
        this.requestedCount--
        this.freeCount++
        return true
      }
      this.owners[block] = more.shift()
      if (more.length === 0) this.extra?.delete(block)
      return false
    }
    if (more !== undefined) {
      const i = more.indexOf(peer)
      if (i >= 0) more.splice(i, 1)
      if (more.length === 0) this.extra?.delete(block)
    }
    return false
  }

  /**
   * Marks `block` received from `peer` and returns the other peers it was requested from (their
   * requests are now redundant: the caller cancels them). Does nothing and returns an empty list
   * when the block was already received.
   */
  receive (block: number, peer: P): P[] {
    const state = this.states[block]
    if (state === BlockState.received) return []
    const others = state === BlockState.requested ? this.requesters(block).filter((p) => p !== peer) : []
    if (state === BlockState.requested) this.requestedCount--
    else this.freeCount--
    this.extra?.delete(block)
    this.states[block] = BlockState.received
    this.owners[block] = peer
    this.receivedCount++
    return others
  }

  /** Distinct peers that delivered received blocks, in block order. */
  contributors (): P[] {
    const out = new Set<P>()
    for (let b = 0; b < this.blockCount; b++) {
      if (this.states[b] === BlockState.received) out.add(this.owners[b] as P)
    }
    return [...out]
  }

  /** Every outstanding (block, peer) request, for releasing them all at once. */
  * outstanding (): IterableIterator<[block: number, peer: P]> {
    for (let b = 0; b < this.blockCount; b++) {
      if (this.states[b] !== BlockState.requested) continue
      yield [b, this.owners[b] as P]
      const more = this.extra?.get(b)
      if (more !== undefined) for (const p of more) yield [b, p]
    }
  }
}
