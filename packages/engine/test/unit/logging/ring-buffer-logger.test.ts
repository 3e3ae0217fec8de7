import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import type { LogEntry } from '../../../src/interfaces/logger.js'
import { RingBufferLogger } from '../../../src/logging/ring-buffer-logger.js'

describe('RingBufferLogger', () => {
  it('keeps the last `capacity` entries, oldest first, and counts the overwritten ones', () => {
    const log = new RingBufferLogger(3)
    for (let i = 0; i < 5; i++) log.info(`m${i}`)
    expect(log.getEntries().map((e) => e.message)).toEqual(['m2', 'm3', 'm4'])
    expect(log.size).toBe(3)
    expect(log.capacity).toBe(3)
    expect(log.droppedCount).toBe(2)
    log.clear()
    expect(log.getEntries()).toEqual([])
    expect(log.droppedCount).toBe(0)
    log.warn('after')
    expect(log.getEntries().map((e) => e.message)).toEqual(['after'])
  })

  it('filters by minimum level, component, instance, time and limit (seed 004)', () => {
    const clock = new ManualClock({ wallStartMs: 0 })
    const log = new RingBufferLogger(100, { level: 'trace', clock })
    const t1 = log.child('torrent', 'abc')
    const t2 = log.child('torrent', 'def')
    t1.child('peer').debug('p-abc-debug')
    clock.advance(10)
    t1.child('peer').info('p-abc-info')
    t2.child('peer').warn('p-def-warn')
    clock.advance(10)
    t1.error('t-abc-error')
    const messages = (f: Parameters<RingBufferLogger['getEntries']>[0]): string[] => log.getEntries(f).map((e) => e.message)
    expect(messages({ level: 'info', component: 'peer', instanceValue: 'abc' })).toEqual(['p-abc-info'])
    expect(messages({ component: 'peer' })).toEqual(['p-abc-debug', 'p-abc-info', 'p-def-warn'])
    expect(messages({ instanceValue: 'abc' })).toEqual(['p-abc-debug', 'p-abc-info', 't-abc-error'])
    expect(messages({ level: 'warn' })).toEqual(['p-def-warn', 't-abc-error'])
    expect(messages({ sinceMs: 10 })).toEqual(['p-abc-info', 'p-def-warn', 't-abc-error'])
    expect(messages({ limit: 2 })).toEqual(['p-def-warn', 't-abc-error'])
    expect(messages({ limit: 0 })).toEqual([])
  })

  it('notifies subscribers of each entry after storing it; unsubscribe stops it; a throwing one is ignored', () => {
    const log = new RingBufferLogger(10)
    const seen: LogEntry[] = []
    log.onEntry(() => { throw new Error('ui gone') })
    const off = log.onEntry((e) => { seen.push(e); expect(log.getEntries().at(-1)).toBe(e) })
    log.info('one')
    off()
    log.info('two')
    expect(seen.map((e) => e.message)).toEqual(['one'])
    expect(log.size).toBe(2)
  })

  it('applies its level before storing', () => {
    const log = new RingBufferLogger(10, { level: 'warn' })
    log.info('no')
    log.child('peer').debug('no')
    log.warn('yes')
    expect(log.getEntries().map((e) => e.message)).toEqual(['yes'])
  })

  it('refuses a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new RingBufferLogger(bad)).toThrow(expect.objectContaining({ code: 'SETTINGS_INVALID' }))
    }
  })
})
