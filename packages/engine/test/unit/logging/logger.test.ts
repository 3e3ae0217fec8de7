import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import type { LogEntry } from '../../../src/interfaces/logger.js'
import { createLogger, formatLogEntry, nullLogger, SinkLogger } from '../../../src/logging/logger.js'

function collect (): { entries: LogEntry[], sink: (e: LogEntry) => void } {
  const entries: LogEntry[] = []
  return { entries, sink: (e) => { entries.push(e) } }
}

describe('SinkLogger', () => {
  it('records entries at or above its level, with time, scope and fields', () => {
    const clock = new ManualClock({ wallStartMs: 1_000 })
    const { entries, sink } = collect()
    const log = new SinkLogger({ sink, clock, level: 'debug' })
    log.trace('hidden')
    log.debug('shown', { piece: 3 })
    clock.advance(5)
    log.error('bad')
    expect(entries).toEqual([
      { timeMs: 1_000, level: 'debug', component: 'engine', message: 'shown', fields: { piece: 3 } },
      { timeMs: 1_005, level: 'error', component: 'engine', message: 'bad' }
    ])
    expect(log.enabled('trace')).toBe(false)
    expect(log.enabled('debug')).toBe(true)
  })

  it('children carry their component and instance; a child without instance inherits it', () => {
    const { entries, sink } = collect()
    const root = createLogger({ sink, level: 'info', component: 'engine' })
    const torrent = root.child('torrent', 'abc123')
    const peer = torrent.child('peer')
    const named = torrent.child('peer', '1.2.3.4:6881')
    torrent.info('t')
    peer.info('p')
    named.info('n')
    expect(entries.map((e) => [e.component, e.instance, e.message])).toEqual([
      ['torrent', 'abc123', 't'], ['peer', 'abc123', 'p'], ['peer', '1.2.3.4:6881', 'n']
    ])
    expect(entries[0]).not.toHaveProperty('fields')
  })

  it('a level change on the root reaches children created before it; per-component overrides win', () => {
    const { entries, sink } = collect()
    const root = new SinkLogger({ sink, level: 'warn', componentLevels: { peer: 'debug' } })
    const peer = root.child('peer')
    const tracker = root.child('tracker')
    peer.debug('p1')
    tracker.info('t1')
    root.setLevel('trace')
    tracker.trace('t2')
    root.setComponentLevels({ tracker: 'off' })
    tracker.error('t3')
    peer.trace('p2')
    root.setLevel('off')
    peer.error('p3')
    expect(entries.map((e) => e.message)).toEqual(['p1', 't2', 'p2'])
    expect(peer.enabled('error')).toBe(false)
  })

  it('a throwing sink never breaks the caller', () => {
    const log = new SinkLogger({ sink: () => { throw new Error('sink down') } })
    expect(() => { log.error('x') }).not.toThrow()
  })

  it('nullLogger records nothing and says so', () => {
    expect(nullLogger.enabled('error')).toBe(false)
    expect(nullLogger.child('a', 'b')).toBe(nullLogger)
    expect(() => { nullLogger.error('x', { a: 1 }) }).not.toThrow()
  })

  it('formats an entry as one line', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(formatLogEntry({ timeMs: 0, level: 'warn', component: 'peer', instance: 'x', message: 'slow', fields: { n: 1n, b: new Uint8Array(3) } }))
      .toBe('1970-01-01T00:00:00.000Z WARN  peer[x] slow {"n":"1","b":"<3 bytes>"}')
    expect(formatLogEntry({ timeMs: 0, level: 'info', component: 'c', message: 'm', fields: cyclic })).toMatch(/\[unserializable\]$/)
    expect(formatLogEntry({ timeMs: 0, level: 'info', component: 'c', message: 'm', fields: { err: new Error('boom') } })).toContain('"message":"boom"')
  })
})
