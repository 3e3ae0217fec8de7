/**
 * TypedEmitter.onAny (issue 13, scale): one listener for every event, after the event's own
 * listeners; unsubscribes; a throwing listener goes to onListenerError and the others still run.
 * And the alert queue watches a torrent through it: one listener, not one per event.
 */
import { describe, expect, it } from 'vitest'
import { AlertQueue } from '../../../src/session/alerts.js'
import { TypedEmitter } from '../../../src/util/typed-emitter.js'

interface Events { a: { n: number }, b: { s: string } }

class Emitter extends TypedEmitter<Events> {
  readonly errors: unknown[] = []
  constructor () {
    super()
    this.onListenerError = (error) => { this.errors.push(error) }
  }

  fire<K extends keyof Events> (event: K, payload: Events[K]): void { this.emit(event, payload) }
  get listenerSets (): number { return (this as unknown as { listeners: Map<unknown, unknown> }).listeners.size }
}

describe('TypedEmitter.onAny', () => {
  it('sees every event after its own listeners, and stops when unsubscribed', () => {
    const e = new Emitter()
    const seen: string[] = []
    e.on('a', ({ n }) => { seen.push(`a:${n}`) })
    expect(e.hasListeners('b')).toBe(false)
    const off = e.onAny((event, payload) => { seen.push(`any:${String(event)}:${JSON.stringify(payload)}`) })
    expect(e.hasListeners('b')).toBe(true)
    e.fire('a', { n: 1 })
    e.fire('b', { s: 'x' })
    expect(seen).toEqual(['a:1', 'any:a:{"n":1}', 'any:b:{"s":"x"}'])
    off()
    e.fire('b', { s: 'y' })
    expect(seen).toHaveLength(3)
    expect(e.hasListeners('b')).toBe(false)
  })

  it('a throwing listener is reported and the others still run', () => {
    const e = new Emitter()
    const seen: string[] = []
    e.onAny(() => { throw new Error('boom') })
    e.onAny((event) => { seen.push(String(event)) })
    e.fire('a', { n: 1 })
    expect(seen).toEqual(['a'])
    expect(e.errors).toHaveLength(1)
  })

  it('the alert queue watches a torrent with one listener and still posts its alerts', () => {
    const torrent = Object.assign(new Emitter(), { id: 'ab'.repeat(20), name: 't' })
    const q = new AlertQueue({ clock: { wallNow: () => 0 } })
    const off = q.watchTorrent(torrent)
    expect(torrent.listenerSets).toBe(0)
    ;(torrent as unknown as { emit: (event: string, payload: unknown) => void }).emit('state-changed', { from: 'checking', to: 'seeding' })
    ;(torrent as unknown as { emit: (event: string, payload: unknown) => void }).emit('no-such-alert', {})
    expect(q.popAlerts().map((a) => [a.type, a.message])).toEqual([['state-changed', 't: state checking -> seeding']])
    off()
  })
})
