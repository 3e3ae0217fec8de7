import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import {
  TORRENT_STATES, TorrentState, TorrentStateMachine, allowedTransitions, canTransition, type StateChange
} from '../../../src/torrent/torrent-state.js'

describe('TorrentStateMachine', () => {
  it('starts stopped and reports each change synchronously', () => {
    const changes: StateChange[] = []
    const sm = new TorrentStateMachine((c) => { changes.push(c); expect(sm.state).toBe(c.to) })
    expect(sm.state).toBe('stopped')
    sm.transition(TorrentState.Starting)
    sm.transition(TorrentState.Hashing)
    sm.transition(TorrentState.Downloading)
    sm.transition(TorrentState.Seeding)
    sm.transition(TorrentState.Stopping)
    sm.transition(TorrentState.Stopped)
    expect(changes.map((c) => `${c.from}>${c.to}`)).toEqual([
      'stopped>starting', 'starting>hashing', 'hashing>downloading', 'downloading>seeding', 'seeding>stopping', 'stopping>stopped'
    ])
  })

  it('throws ILLEGAL_TRANSITION with from/to and leaves the state unchanged', () => {
    const sm = new TorrentStateMachine(() => {})
    let thrown: unknown
    try { sm.transition(TorrentState.Seeding) } catch (err) { thrown = err }
    expect(hasCode(thrown, 'ILLEGAL_TRANSITION')).toBe(true)
    if (hasCode(thrown, 'ILLEGAL_TRANSITION')) expect(thrown.details).toEqual({ from: 'stopped', to: 'seeding' })
    expect(sm.state).toBe('stopped')
    expect(sm.tryTransition(TorrentState.Downloading)).toBe(false)
  })

  it('allows error from every state and never a self transition', () => {
    for (const s of TORRENT_STATES) {
      expect(canTransition(s, s)).toBe(false)
      if (s !== 'error') expect(canTransition(s, 'error')).toBe(true)
    }
  })

  it('only leaves stopped through starting, queued (no free slot) or error', () => {
    expect([...allowedTransitions('stopped')].sort()).toEqual(['error', 'queued', 'starting'])
    expect(canTransition('stopping', 'downloading')).toBe(false)
    expect(canTransition('hashing-paused', 'downloading')).toBe(false)
    expect(canTransition('paused', 'seeding')).toBe(true)
  })

  it('queued: entered from stopped, paused, downloading and seeding; left to start, resume, pause or stop', () => {
    for (const from of ['stopped', 'paused', 'downloading', 'seeding'] as const) expect(canTransition(from, 'queued'), from).toBe(true)
    for (const from of ['starting', 'hashing', 'stopping', 'metadata'] as const) expect(canTransition(from, 'queued'), from).toBe(false)
    // → fetching-hashes: a v2 magnet paused and queued before its piece layers arrived resumes fetching them.
    expect([...allowedTransitions('queued')].sort()).toEqual(['downloading', 'error', 'fetching-hashes', 'paused', 'seeding', 'starting', 'stopped', 'stopping'])
    expect(canTransition('queued', 'hashing')).toBe(false)
  })

  it('every state can reach stopped', () => {
    for (const start of TORRENT_STATES) {
      const seen = new Set<string>([start])
      const queue = [start]
      while (queue.length > 0) {
        const s = queue.shift()!
        for (const t of allowedTransitions(s)) if (!seen.has(t)) { seen.add(t); queue.push(t) }
      }
      expect(seen.has('stopped')).toBe(true)
    }
  })
})
