/**
 * Whether a peer connection reads from its socket. Two independent reasons stop it: the owner
 * asked (pauseReading, e.g. the disk queue is full), or our send queue to the peer is over its
 * bound — the peer sends without reading what we answer. Every reply (REJECT, PIECE, extension
 * answers...) then waits in memory; refusing to read more from that peer is what bounds it
 * (issue 15: a REQUEST flood from a peer that never read grew the process by hundreds of MB).
 * Reading resumes only when neither reason holds.
 */
import type { ITcpSocket } from '../interfaces/socket.js'

export class ReadGate {
  private ownerPaused = false
  private sendQueueFullSinceMs: number | null = null
  private pauses = 0

  constructor (private readonly socket: Pick<ITcpSocket, 'pause' | 'resume' | 'bufferedBytes'>) {}

  /** Times reading stopped because the send queue was over its bound. */
  get sendQueuePauses (): number { return this.pauses }

  pauseByOwner (): void {
    this.ownerPaused = true
    this.socket.pause()
  }

  resumeByOwner (): void {
    this.ownerPaused = false
    if (this.sendQueueFullSinceMs === null) this.socket.resume()
  }

  /** A send was refused (socket over its high-water mark): stop reading when the queue is over `limitBytes`. */
  sendRefused (limitBytes: number, nowMs: number): void {
    if (this.sendQueueFullSinceMs !== null || this.socket.bufferedBytes <= limitBytes) return
    this.sendQueueFullSinceMs = nowMs
    this.pauses++
    this.socket.pause()
  }

  /** The socket drained its send queue. */
  drained (): void {
    if (this.sendQueueFullSinceMs === null) return
    this.sendQueueFullSinceMs = null
    if (!this.ownerPaused) this.socket.resume()
  }

  /** How long reading has been stopped by a full send queue (0: it is not). */
  sendStalledForMs (nowMs: number): number {
    return this.sendQueueFullSinceMs === null ? 0 : nowMs - this.sendQueueFullSinceMs
  }
}
