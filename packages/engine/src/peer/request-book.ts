/**
 * Our outstanding requests to one peer (seed 002's per-peer request coordinator), and what they
 * measure: latency, snubbing, time-outs.
 *
 * Invariant: the book holds every request we sent and have neither received, cancelled, seen
 * rejected nor dropped (choke without the fast extension). Map order is send order. Entries that
 * timed out stay (a late block is still accepted) but no longer count toward the pipeline, and are
 * forgotten after `TIMED_OUT_RETENTION_FACTOR` request time-outs (or two snub time-outs).
 *
 * Latency is the smallest request→block time in the last one or two 10 s windows: the round trip
 * without our own queueing (an average would feed queueing delay back into the pipeline depth).
 */
import type { BlockRequest } from '../protocol/wire-messages.js'
import { blockKey } from './block-key.js'

/** Latency is the smallest request→block time seen in the last one or two of these windows. */
const LATENCY_WINDOW_MS = 10_000
/** Timed-out requests are forgotten this many request time-outs (or two snub time-outs) after they were sent. */
const TIMED_OUT_RETENTION_FACTOR = 4

interface Outstanding {
  piece: number
  begin: number
  length: number
  sentAtMs: number
  timedOut: boolean
}

export class RequestBook {
  private readonly outstanding = new Map<number | string, Outstanding>()
  private live = 0
  private snubbedValue = false
  private waitingSinceMs: number
  private latencyCurMinMs = Infinity
  private latencyPrevMinMs = Infinity
  private latencyWindowStartMs: number

  constructor (nowMs: number) {
    this.waitingSinceMs = nowMs
    this.latencyWindowStartMs = nowMs
  }

  /** Requests counting toward the pipeline (timed-out ones excluded). */
  get liveCount (): number { return this.live }
  get snubbed (): boolean { return this.snubbedValue }

  /** Smallest request→block time in the last 10–20 s; null before the first block. */
  get latencyMs (): number | null {
    const min = Math.min(this.latencyCurMinMs, this.latencyPrevMinMs)
    return Number.isFinite(min) ? min : null
  }

  /** True when this block is requested and not yet answered (timed-out requests included). */
  has (piece: number, begin: number): boolean {
    return this.outstanding.has(blockKey(piece, begin))
  }

  /** False while the block is outstanding and not timed out (a timed-out one may be asked again). */
  canRequest (piece: number, begin: number): boolean {
    const existing = this.outstanding.get(blockKey(piece, begin))
    return existing === undefined || existing.timedOut
  }

  /** Records a request just sent (replacing a timed-out one for the same block). */
  add (piece: number, begin: number, length: number, nowMs: number): void {
    const key = blockKey(piece, begin)
    const existing = this.outstanding.get(key)
    if (existing !== undefined) this.outstanding.delete(key)
    if (this.live === 0) this.waitingSinceMs = nowMs
    this.outstanding.set(key, { piece, begin, length, sentAtMs: nowMs, timedOut: false })
    this.live++
  }

  /** Forgets a request (cancelled or rejected); false when no such request was outstanding. */
  remove (piece: number, begin: number, length: number): boolean {
    const key = blockKey(piece, begin)
    const entry = this.outstanding.get(key)
    if (entry === undefined || entry.length !== length) return false
    this.delete(key, entry)
    return true
  }

  /**
   * Any block arrived at `nowMs`: the peer is sending, which ends a snub (returns true when one ended).
   */
  blockArrived (nowMs: number): boolean {
    this.waitingSinceMs = nowMs
    if (!this.snubbedValue) return false
    this.snubbedValue = false
    return true
  }

  /** A block arrived: true when it answers an outstanding request (which it removes), false when wasted. */
  received (piece: number, begin: number, length: number, nowMs: number): boolean {
    const key = blockKey(piece, begin)
    const entry = this.outstanding.get(key)
    if (entry === undefined || entry.length !== length) return false
    this.delete(key, entry)
    // Timed-out requests would report queueing delay, not the round trip: leave them out.
    if (!entry.timedOut && nowMs - entry.sentAtMs < this.latencyCurMinMs) this.latencyCurMinMs = nowMs - entry.sentAtMs
    return true
  }

  /** Live requests, oldest first. */
  requests (): BlockRequest[] {
    const out: BlockRequest[] = []
    for (const r of this.outstanding.values()) if (!r.timedOut) out.push({ piece: r.piece, begin: r.begin, length: r.length })
    return out
  }

  /** Forgets every request; returns the live ones (they will not be answered). */
  dropAll (): BlockRequest[] {
    const out = this.requests()
    this.live = 0
    this.outstanding.clear()
    return out
  }

  /** Starts a new latency window when the current one is over. */
  rotateLatency (nowMs: number): void {
    if (nowMs - this.latencyWindowStartMs < LATENCY_WINDOW_MS) return
    this.latencyPrevMinMs = this.latencyCurMinMs
    this.latencyCurMinMs = Infinity
    this.latencyWindowStartMs = nowMs
  }

  /** True when the peer just became snubbed: requests outstanding and nothing arrived for `snubTimeoutMs`. */
  checkSnub (nowMs: number, snubTimeoutMs: number): boolean {
    if (this.snubbedValue || this.outstanding.size === 0 || nowMs - this.waitingSinceMs < snubTimeoutMs) return false
    this.snubbedValue = true
    return true
  }

  /** Marks requests older than `requestTimeoutMs` timed out (returns them) and forgets very old ones. */
  expire (nowMs: number, requestTimeoutMs: number, snubTimeoutMs: number): BlockRequest[] | null {
    const retentionMs = Math.max(requestTimeoutMs * TIMED_OUT_RETENTION_FACTOR, snubTimeoutMs * 2)
    let timedOut: BlockRequest[] | null = null
    for (const [key, r] of this.outstanding) {
      if (r.timedOut) {
        if (nowMs - r.sentAtMs >= retentionMs) this.outstanding.delete(key)
        continue
      }
      if (nowMs - r.sentAtMs < requestTimeoutMs) continue
      r.timedOut = true
      this.live--
      ;(timedOut ??= []).push({ piece: r.piece, begin: r.begin, length: r.length })
    }
    return timedOut
  }

  private delete (key: number | string, entry: Outstanding): void {
    this.outstanding.delete(key)
    if (!entry.timedOut) this.live--
  }
}
