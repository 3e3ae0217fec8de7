import { describe, expect, it } from 'vitest'
import { ByteRing } from '../../../../src/transport/utp/byte-ring.js'
import { DelayHistory } from '../../../../src/transport/utp/delay-history.js'
import { Ledbat } from '../../../../src/transport/utp/ledbat.js'
import {
  RECEIVED_DUPLICATE, RECEIVED_IN_ORDER, RECEIVED_OUT_OF_ORDER, RECEIVED_OUT_OF_WINDOW, RECEIVED_OVERFLOW, ReceiveBuffer
} from '../../../../src/transport/utp/receive-buffer.js'
import { RttEstimator } from '../../../../src/transport/utp/rtt-estimator.js'

function bytes (n: number, start: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff)
}

describe('ByteRing', () => {
  it('keeps bytes in order across wrap-around and growth, and copies into its scratch area', () => {
    const ring = new ByteRing(16, 8)
    ring.write(bytes(10, 0), 0, 10)
    ring.discard(8)
    ring.write(bytes(12, 10), 0, 12) // wraps
    expect(ring.length).toBe(14)
    ring.copyToScratch(1, 8, 0)
    expect([...ring.scratchView(8)]).toEqual([9, 10, 11, 12, 13, 14, 15, 16])
    ring.write(bytes(40, 22), 0, 40) // grows
    expect(ring.capacity).toBeGreaterThanOrEqual(54)
    const out = new Uint8Array(54)
    ring.copyOut(0, 54, out, 0)
    expect([...out]).toEqual([...bytes(54, 8)])
    const run = ring.firstRun(ring.firstRunLength)
    expect(run[0]).toBe(8)
  })

  it('reuses the scratch view while the length repeats', () => {
    const ring = new ByteRing(64, 32)
    expect(ring.scratchView(20)).toBe(ring.scratchView(20))
    expect(ring.scratchView(21)).not.toBe(ring.scratchView(20))
  })
})

describe('ReceiveBuffer', () => {
  it('orders packets, acks cumulatively, describes gaps in a selective ack, and stops at the FIN', () => {
    const r = new ReceiveBuffer(100_000, 1_000, 1_000)
    r.ackNr = 65_534
    const data = bytes(30, 0)
    expect(r.receive(65_535, data, 0, 10, false)).toBe(RECEIVED_IN_ORDER)
    expect(r.receive(2, data, 20, 10, false)).toBe(RECEIVED_OUT_OF_ORDER)
    expect(r.receive(2, data, 20, 10, false)).toBe(RECEIVED_DUPLICATE)
    expect(r.receive(3, data, 0, 0, true)).toBe(RECEIVED_OUT_OF_ORDER) // FIN after a gap
    expect(r.ackNr).toBe(65_535)
    const sack = new Uint8Array(40)
    expect(r.writeSack(sack, 0)).toBe(6)
    // bit 0 = ackNr + 2 = 1 (missing... 0 is missing), bit 1 = seq 2
    expect([...sack.subarray(0, 6)]).toEqual([0, 4, 0b10, 0, 0, 0])
    expect(r.receive(4, data, 0, 10, false)).toBe(RECEIVED_OUT_OF_WINDOW) // past the FIN
    expect(r.receive(0, data, 10, 10, false)).toBe(RECEIVED_IN_ORDER)
    expect(r.ackNr).toBe(0)
    expect(r.receive(1, data, 20, 5, false)).toBe(RECEIVED_IN_ORDER)
    expect(r.ackNr).toBe(3)
    expect(r.finReached).toBe(true)
    const out = new Uint8Array(r.ring.length)
    r.ring.copyOut(0, out.length, out, 0)
    expect([...out]).toEqual([...data.subarray(0, 25), ...data.subarray(20, 30)])
    expect(r.receive(65_000, data, 0, 1, false)).toBe(RECEIVED_DUPLICATE)
  })

  it('bounds memory by the window: an overrunning sender is dropped', () => {
    const r = new ReceiveBuffer(8_000, 1_000, 1_000)
    r.ackNr = 0
    const data = new Uint8Array(1_000)
    let seq = 1
    let last = RECEIVED_IN_ORDER
    while (last === RECEIVED_IN_ORDER) last = r.receive(seq++, data, 0, 1_000, false)
    expect(last).toBe(RECEIVED_OVERFLOW)
    expect(r.ring.length).toBeLessThanOrEqual(10_000)
    expect(r.window).toBe(0)
    expect(r.receive(5_000, data, 0, 1_000, false)).toBe(RECEIVED_OUT_OF_WINDOW)
  })
})

describe('DelayHistory', () => {
  it('measures above the base, wraps at 32 bits, and forgets old minima after the history', () => {
    const h = new DelayHistory()
    expect(h.addSample(0xffff_ff00, 0)).toBe(0)
    expect(h.addSample(0x0000_0100, 1_000)).toBe(0x200)
    expect(h.addSample(0xffff_fe00, 2_000)).toBe(0) // new base
    // Eleven minutes later the old base has left the history.
    expect(h.addSample(0x0000_1000, 11 * 60_000)).toBe(0)
    expect(h.addSample(0x0000_1100, 11 * 60_000 + 1)).toBe(0x100)
  })
})

describe('Ledbat', () => {
  const settings = { targetDelayMs: 100, gainBytes: 3_000, lossFactor: 0.5, maxWindowBytes: 1_000_000 }

  it('slow-starts, leaves slow start near the target, grows linearly below it and shrinks above it', () => {
    const c = new Ledbat(settings, 1_000)
    const w0 = c.cwnd
    c.onAck(w0, w0, 0, true)
    expect(c.cwnd).toBe(w0 + Math.max(w0, 3_000)) // slow start: the larger of doubling and the linear gain
    c.onAck(1_000, 4_000, 80_000, true) // 80 ms ≥ 3/4 of the target
    expect(c.slowStart).toBe(false)
    const w1 = c.cwnd
    c.onAck(w1, w1, 0, true)
    expect(c.cwnd).toBeCloseTo(w1 + 3_000)
    c.onAck(4_000, 4_000, 50_000, false) // not saturated: no growth
    expect(c.cwnd).toBeCloseTo(w1 + 3_000)
    const w2 = c.cwnd
    c.onAck(w2, w2, 150_000, true) // 50 % over the target for a full round trip
    expect(c.cwnd).toBeCloseTo(w2 * 0.5)
  })

  it('below the target a large window grows by up to 1/8 a round trip, scaled by the distance to the target', () => {
    const c = new Ledbat(settings, 1_000)
    c.slowStart = false
    c.cwnd = 400_000
    c.onAck(400_000, 400_000, 0, true) // a round trip with no queue
    expect(c.cwnd).toBeCloseTo(450_000)
    c.onAck(450_000, 450_000, 50_000, true) // half the target: half the growth
    expect(c.cwnd).toBeCloseTo(450_000 + 450_000 / 16)
    const w = c.cwnd
    c.onAck(w, w, 100_000, true) // at the target: none
    expect(c.cwnd).toBeCloseTo(w)
  })

  it('halves on loss, collapses on a time-out, never leaves [one packet, max]', () => {
    const c = new Ledbat(settings, 1_000)
    for (let i = 0; i < 40; i++) c.onAck(c.cwnd, c.cwnd, 0, true)
    expect(c.cwnd).toBe(1_000_000)
    c.onLoss()
    expect(c.cwnd).toBe(500_000)
    c.onTimeout(false)
    expect(c.cwnd).toBe(1_000)
    expect(c.slowStart).toBe(true)
    c.onAck(1_000, 1_000, 10_000_000, true)
    expect(c.cwnd).toBe(1_000)
  })
})

describe('RttEstimator', () => {
  it('smooths samples, floors and backs off the time-out', () => {
    const r = new RttEstimator(500, 1_000, 60_000)
    expect(r.rtoMs).toBe(1_000)
    r.sample(100)
    expect(r.rtoMs).toBe(500)
    for (let i = 0; i < 50; i++) r.sample(800)
    expect(r.smoothedMs).toBeGreaterThan(780)
    r.timeouts = 2
    expect(r.rtoMs).toBeGreaterThan(4 * 800)
    r.timeouts = 30
    expect(r.rtoMs).toBe(60_000)
  })
})
