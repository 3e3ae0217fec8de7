/**
 * Round-trip time and retransmission time-out (RFC 6298, as BEP 29 asks): smoothed RTT and its
 * mean deviation from samples of packets sent once (Karn), RTO = srtt + 4·rttvar with a floor,
 * doubled per consecutive time-out and capped.
 */

export class RttEstimator {
  private srtt = 0
  private rttvar = 0
  private hasSample = false
  /** Consecutive time-outs without progress; each doubles the time-out. */
  timeouts = 0

  constructor (private readonly minRtoMs: number, private readonly initialRtoMs: number, private readonly maxRtoMs: number) {}

  get smoothedMs (): number { return this.srtt }
  get varianceMs (): number { return this.rttvar }
  get sampled (): boolean { return this.hasSample }

  sample (rttMs: number): void {
    if (!(rttMs >= 0)) return
    if (!this.hasSample) {
      this.hasSample = true
      this.srtt = rttMs
      this.rttvar = rttMs / 2
      return
    }
    const delta = this.srtt - rttMs
    this.rttvar += ((delta < 0 ? -delta : delta) - this.rttvar) / 4
    this.srtt += (rttMs - this.srtt) / 8
  }

  /** The current time-out, back-off included. */
  get rtoMs (): number {
    const base = this.hasSample ? Math.max(this.minRtoMs, this.srtt + 4 * this.rttvar) : this.initialRtoMs
    const backedOff = this.timeouts === 0 ? base : base * 2 ** Math.min(this.timeouts, 16)
    return Math.min(backedOff, this.maxRtoMs)
  }
}
