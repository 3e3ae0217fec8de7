import { describe, expect, it } from 'vitest'
import { RateLimiter } from '../../../src/peer/rate-limiter.js'
import { hasCode } from '../../../src/errors.js'
import type { IClock, ITimer } from '../../../src/interfaces/clock.js'

/** Minimal virtual clock: timers run in due order while advancing. */
class TestClock implements IClock {
  private t = 0
  private seq = 0
  private timers: Array<{ due: number, seq: number, cb: () => void, live: boolean }> = []
  now (): number { return this.t }
  wallNow (): number { return this.t }
  setTimeout (cb: () => void, delayMs: number): ITimer {
    const entry = { due: this.t + Math.max(0, delayMs), seq: this.seq++, cb, live: true }
    this.timers.push(entry)
    return { cancel: () => { entry.live = false } }
  }

  setInterval (): ITimer { throw new Error('unused') }
  get pending (): number { return this.timers.filter((x) => x.live).length }
  advance (ms: number): void {
    const end = this.t + ms
    for (;;) {
      this.timers = this.timers.filter((x) => x.live)
      this.timers.sort((a, b) => a.due - b.due || a.seq - b.seq)
      const next = this.timers[0]
      if (next === undefined || next.due > end) break
      next.live = false
      this.t = Math.max(this.t, next.due)
      next.cb()
    }
    this.t = end
  }
}

const CHUNK = 16_384

/** A consumer that always wants more: takes what it can, waits, repeats (like a busy upload queue). */
function greedy (limiter: RateLimiter, chunk = CHUNK): { bytes: number, stop: () => void } {
  const state = { bytes: 0, stop: () => {} }
  let stopped = false
  const pump = (): void => {
    for (let guard = 0; guard < 10_000 && !stopped; guard++) {
      const got = limiter.request(chunk)
      state.bytes += got
      if (got < chunk) {
        state.stop = limiter.onAvailable(pump)
        return
      }
    }
  }
  const stop = (): void => { stopped = true; state.stop() }
  pump()
  return { get bytes () { return state.bytes }, stop }
}

function within (actual: number, expected: number, tolerance: number): boolean {
  return Math.abs(actual - expected) <= expected * tolerance
}

describe('RateLimiter', () => {
  it('grants everything when unlimited', () => {
    const clock = new TestClock()
    const global = new RateLimiter({ clock })
    const peer = global.createChild().createChild()
    expect(peer.request(1_000_000)).toBe(1_000_000)
    expect(global.totalGrantedBytes).toBe(1_000_000)
  })

  it('holds a global limit within 5 % over 10 virtual seconds with several consumers, shared fairly', () => {
    const clock = new TestClock()
    const global = new RateLimiter({ clock }, { rateBytesPerSec: 100_000 })
    const torrent = global.createChild()
    const consumers = [0, 1, 2, 3].map(() => greedy(torrent.createChild()))
    clock.advance(10_000)
    const total = consumers.reduce((a, c) => a + c.bytes, 0)
    expect(within(total, 1_000_000, 0.05)).toBe(true)
    for (const c of consumers) expect(within(c.bytes, total / 4, 0.1)).toBe(true)
  })

  it('shares fairly between consumers that ask for very different amounts', () => {
    const clock = new TestClock()
    const global = new RateLimiter({ clock }, { rateBytesPerSec: 200_000 })
    const big = greedy(global.createChild(), 256 * 1024)
    const small = greedy(global.createChild(), 1024)
    clock.advance(10_000)
    expect(within(big.bytes + small.bytes, 2_000_000, 0.05)).toBe(true)
    expect(within(big.bytes, small.bytes, 0.15)).toBe(true)
  })

  it('applies every level of the hierarchy: global, torrent, peer', () => {
    const clock = new TestClock()
    const global = new RateLimiter({ clock }, { rateBytesPerSec: 300_000 })
    const slowTorrent = global.createChild({ rateBytesPerSec: 100_000 })
    const freeTorrent = global.createChild()
    const cappedPeer = freeTorrent.createChild({ rateBytesPerSec: 20_000 })
    const a = [greedy(slowTorrent.createChild()), greedy(slowTorrent.createChild())]
    const b = [greedy(freeTorrent.createChild()), greedy(cappedPeer)]
    clock.advance(10_000)
    const slowTotal = a[0]!.bytes + a[1]!.bytes
    expect(within(slowTotal, 1_000_000, 0.05)).toBe(true)
    expect(within(b[1]!.bytes, 200_000, 0.05)).toBe(true)
    expect(within(slowTotal + b[0]!.bytes + b[1]!.bytes, 3_000_000, 0.05)).toBe(true)
    // The unlimited torrent's other peer gets what the global limit leaves: 300 - 100 - 20 kB/s.
    expect(within(b[0]!.bytes, 1_800_000, 0.05)).toBe(true)
  })

  it('follows rate changes at run time, including to and from unlimited', () => {
    const clock = new TestClock()
    const global = new RateLimiter({ clock }, { rateBytesPerSec: 50_000 })
    const c = greedy(global.createChild())
    clock.advance(10_000)
    const first = c.bytes
    expect(within(first, 500_000, 0.05)).toBe(true)
    global.setRate(200_000)
    clock.advance(10_000)
    expect(within(c.bytes - first, 2_000_000, 0.05)).toBe(true)
    c.stop()
    global.setRate(0)
    const peer = global.createChild()
    expect(peer.request(5_000_000)).toBe(5_000_000)
    global.setRate(10_000)
    const d = greedy(peer)
    clock.advance(10_000)
    expect(within(d.bytes, 100_000, 0.05)).toBe(true)
  })

  it('wakes waiters at once when their level becomes unlimited', () => {
    const clock = new TestClock()
    const global = new RateLimiter({ clock }, { rateBytesPerSec: 1000 })
    const peer = global.createChild()
    peer.request(1_000_000)
    let woke = 0
    peer.onAvailable(() => { woke++ })
    global.setRate(0)
    clock.advance(0)
    expect(woke).toBe(1)
    expect(peer.request(1_000_000)).toBe(1_000_000)
  })

  it('makes newcomers queue behind waiting consumers', () => {
    const clock = new TestClock()
    const global = new RateLimiter({ clock }, { rateBytesPerSec: 10_000, burstMs: 1000 })
    const first = global.createChild()
    expect(first.request(100_000)).toBe(10_000)
    first.onAvailable(() => {})
    clock.advance(100) // 1000 tokens accrue, but 'first' is queued
    const late = global.createChild()
    expect(late.request(500)).toBe(0)
  })

  it('stops calling back after cancel and close, and leaves no timers behind', () => {
    const clock = new TestClock()
    const global = new RateLimiter({ clock }, { rateBytesPerSec: 10_000 })
    const a = global.createChild()
    const b = global.createChild()
    a.request(100_000)
    b.request(100_000)
    let calls = 0
    const cancel = a.onAvailable(() => { calls++ })
    b.onAvailable(() => { calls++ })
    cancel()
    b.close()
    clock.advance(5_000)
    expect(calls).toBe(0)
    expect(clock.pending).toBe(0)
    expect(b.request(10)).toBe(0)
  })

  it('lets consumers of a closed level through', () => {
    const clock = new TestClock()
    const global = new RateLimiter({ clock })
    const torrent = global.createChild({ rateBytesPerSec: 1000 })
    const peer = torrent.createChild()
    peer.request(1_000_000)
    let woke = false
    peer.onAvailable(() => { woke = true })
    torrent.close()
    clock.advance(0)
    expect(woke).toBe(true)
  })

  it('refuses invalid rates with SETTINGS_INVALID', () => {
    const clock = new TestClock()
    const bad = (f: () => unknown): boolean => {
      try { f() } catch (err) { return hasCode(err, 'SETTINGS_INVALID') }
      return false
    }
    expect(bad(() => new RateLimiter({ clock }, { rateBytesPerSec: -1 }))).toBe(true)
    expect(bad(() => { new RateLimiter({ clock }).setRate(Number.NaN) })).toBe(true)
    expect(bad(() => new RateLimiter({ clock }, { burstMs: 0 }))).toBe(true)
  })
})
