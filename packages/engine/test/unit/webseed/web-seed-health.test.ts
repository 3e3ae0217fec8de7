import { describe, expect, it } from 'vitest'
import { WebSeedHealth, defaultWebSeedSettings } from '../../../src/webseed/web-seed-health.js'

const settings = { ...defaultWebSeedSettings, backoffBaseMs: 1000, backoffMaxMs: 8000, maxConsecutiveFailures: 5, maxHashFailures: 2, dropCooldownMs: 60_000 }

describe('web seed health', () => {
  it('backs off exponentially up to the cap, and a success resets the count', () => {
    const h = new WebSeedHealth(settings)
    expect(h.isReady(0)).toBe(true)
    h.onFailure(0)
    expect(h.isReady(999)).toBe(false)
    expect(h.state(999)).toBe('backing-off')
    expect(h.isReady(1000)).toBe(true)
    h.onFailure(1000)
    expect(h.nextReadyAtMs()).toBe(3000)
    h.onFailure(3000)
    expect(h.nextReadyAtMs()).toBe(7000)
    h.onFailure(7000)
    expect(h.nextReadyAtMs()).toBe(15_000)
    h.onSuccess()
    h.onFailure(15_000)
    expect(h.nextReadyAtMs()).toBe(16_000)
  })

  it('honours Retry-After instead of the computed delay', () => {
    const h = new WebSeedHealth(settings)
    h.onFailure(0, 30_000)
    expect(h.isReady(29_999)).toBe(false)
    expect(h.isReady(30_000)).toBe(true)
    h.onFailure(30_000, 0)
    expect(h.isReady(30_000)).toBe(true)
  })

  it('drops after too many failures in a row, then rests and comes back fresh', () => {
    const h = new WebSeedHealth(settings)
    let now = 0
    for (let i = 1; i < 5; i++) {
      expect(h.onFailure(now)).toBe(false)
      now = h.nextReadyAtMs()
    }
    expect(h.onFailure(now)).toBe(true)
    expect(h.state(now + 1)).toBe('dropped')
    expect(h.drops).toBe(1)
    expect(h.isReady(now + 59_999)).toBe(false)
    expect(h.isReady(now + 60_000)).toBe(true)
    expect(h.state(now + 60_000)).toBe('ok')
    // A fresh start: one failure only backs off again.
    expect(h.onFailure(now + 60_000)).toBe(false)
  })

  it('drops after maxHashFailures bad pieces, even with good responses between', () => {
    const h = new WebSeedHealth(settings)
    expect(h.onHashFailure(0)).toBe(false)
    h.onSuccess()
    expect(h.onHashFailure(10)).toBe(true)
    expect(h.state(11)).toBe('dropped')
  })
})
