/**
 * One-way delay bookkeeping of a uTP connection (BEP 29, RFC 6817 §4), both directions:
 *
 * - Theirs → ours: each packet's timestamp against our clock is the delay we echo back
 *   (`replyMicro`), which the peer's LEDBAT steers by. A packet that sat unread in our socket
 *   while this process was busy elsewhere (an event-loop stall: garbage collection, disk and hash
 *   callbacks, or the CPU given to other processes) would read as queueing on the path, and the
 *   peer would halve its window for a delay no network has. The manager tells how long the packet
 *   may have waited in our socket (since the last receive batch that drained it, at most the
 *   LEDBAT target); that much, but never more than the sample's distance above the base, is taken
 *   off. Under a real queue packets keep arriving, so batches follow each other within
 *   milliseconds and the correction stays small; after a stall every packet read in the burst is
 *   corrected. The cost: the first packet after an idle spell can read as less delayed than it
 *   was (one sample; the sender filters), and a receiver that stays behind hides up to the target
 *   of a real queue (it then backs off at a queue of twice the target).
 * - Ours → theirs: the peer echoes our packets' delay; each sample is measured above the lowest
 *   of the history (`DelayHistory`) and the controller takes the minimum of the last three, so a
 *   single delayed ack does not count as a queue.
 * - Clock drift: when their base goes down, our clock runs slower than theirs, and our samples of
 *   their echoed delay drift up by as much; our base follows (at most 10 ms a step, §4.3).
 */
import { DelayHistory } from './delay-history.js'
import { u32Less } from './utp-packet.js'

/** Samples the current-delay filter takes its minimum over. */
const CURRENT_DELAY_SAMPLES = 3

export class OneWayDelay {
  private readonly ours = new DelayHistory()
  private readonly theirs = new DelayHistory()
  private readonly recent = new Float64Array(CURRENT_DELAY_SAMPLES).fill(Infinity)
  private recentIndex = 0
  /** Our receive time minus their send time of the last packet, corrected for our own waits (µs, uint32): echoed to the peer. */
  replyMicro = 0

  /** The peer's SYN: the first echo, before any history. */
  onSyn (timestampUs: number, nowUs: number): void {
    this.replyMicro = (nowUs - timestampUs) >>> 0
  }

  /**
   * A packet stamped `timestampUs` (their clock) was read at `nowUs` (ours) after waiting in our
   * socket for at most `waitedUs`.
   */
  onRemoteTimestamp (timestampUs: number, nowUs: number, waitedUs: number, nowMs: number): void {
    let sample = (nowUs - timestampUs) >>> 0
    const theirs = this.theirs
    const prevBase = theirs.initialized ? theirs.base : -1
    if (waitedUs > 0 && prevBase >= 0 && !u32Less(sample, prevBase)) {
      const above = (sample - prevBase) >>> 0
      sample = (sample - (waitedUs < above ? waitedUs : above)) >>> 0
    }
    theirs.addSample(sample, nowMs)
    this.replyMicro = sample
    if (prevBase >= 0) {
      const change = (prevBase - theirs.base) >>> 0
      if (change > 0 && change < 10_000) this.ours.adjustBase(change)
    }
  }

  /**
   * The peer echoed `sampleUs`, the one-way delay of our packets on the way to it; returns the
   * current queueing delay (µs above the base, minimum of the last samples).
   */
  onEchoedDelay (sampleUs: number, nowMs: number): number {
    const recent = this.recent
    recent[this.recentIndex] = this.ours.addSample(sampleUs, nowMs)
    this.recentIndex = (this.recentIndex + 1) % CURRENT_DELAY_SAMPLES
    let min = recent[0]!
    for (let i = 1; i < CURRENT_DELAY_SAMPLES; i++) if (recent[i]! < min) min = recent[i]!
    return min
  }
}
