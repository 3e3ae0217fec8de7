import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { ALERT_CATEGORY_BITS, alertCategoryMask, defaultAlertSettings } from '../../../src/session/alert-settings.js'
import { AlertQueue, categoryOfError } from '../../../src/session/alerts.js'
import type { EngineStatsEvent } from '../../../src/session/bt-engine.js'
import { TypedEmitter } from '../../../src/util/typed-emitter.js'
import { LodestoneError } from '../../../src/errors.js'
import { SwarmWorld, makeTorrent, payload, writeFile } from '../../swarm/swarm-world.js'

const PIECE = 32_768
const clock = { wallNow: () => 1234 }

describe('AlertQueue', () => {
  it('queues alerts that pass the category mask, stamps them, and pops them oldest first', () => {
    const q = new AlertQueue({ clock }, { maxQueued: 10, categoryMask: alertCategoryMask('error', 'peer') })
    q.post({ type: 'a', category: 'error', message: 'one' })
    q.post({ type: 'b', category: 'stats', message: 'filtered out' })
    q.post({ type: 'c', category: 'peer', message: 'two', torrentId: 'abc' })
    expect(q.size).toBe(2)
    expect(q.popAlerts()).toEqual([
      { type: 'a', category: 'error', message: 'one', timestampMs: 1234 },
      { type: 'c', category: 'peer', message: 'two', torrentId: 'abc', timestampMs: 1234 }
    ])
    expect(q.popAlerts()).toEqual([])
    expect(q.wants('stats')).toBe(false)
    q.updateSettings({ maxQueued: 10, categoryMask: ALERT_CATEGORY_BITS.stats })
    expect(q.wants('stats')).toBe(true)
    expect(q.wants('error')).toBe(false)
  })

  it('is bounded: drops the oldest when full and counts the drops', () => {
    const q = new AlertQueue({ clock }, { maxQueued: 3, categoryMask: 511 })
    const seen: string[] = []
    q.onAlert((a) => seen.push(a.type))
    for (let i = 0; i < 7; i++) q.post({ type: `t${i}`, category: 'status', message: '' })
    expect(q.droppedCount).toBe(4)
    expect(q.popAlerts().map((a) => a.type)).toEqual(['t4', 't5', 't6'])
    expect(seen).toHaveLength(7)
    for (let i = 0; i < 3; i++) q.post({ type: `u${i}`, category: 'status', message: '' })
    q.updateSettings({ maxQueued: 2, categoryMask: 511 })
    expect(q.droppedCount).toBe(5)
    expect(q.popAlerts().map((a) => a.type)).toEqual(['u1', 'u2'])
  })

  it('a queued alert does not keep alive what its error\'s stack frames referenced (a dead connection)', async () => {
    // V8 keeps an unread stack as frames holding each call's receiver: here the "connection".
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    class Connection {
      readonly buffer = new Uint8Array(1 << 20)
      close (): LodestoneError { return new LodestoneError('PEER_TIMEOUT', { what: 'idle', timeoutMs: 1 }) }
    }
    const q = new AlertQueue({ clock }, { maxQueued: 10, categoryMask: 511 })
    const post = (): WeakRef<Connection> => {
      const conn = new Connection()
      const reason = [conn].map((c) => c.close())[0]
      q.post({ type: 'peer-disconnected', category: 'peer', message: '', data: { address: '10.0.0.1:1', reason } })
      return new WeakRef(conn)
    }
    const ref = post()
    for (let i = 0; i < 3 && ref.deref() !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      gc()
    }
    expect(ref.deref()).toBeUndefined()
    // The alert and its typed reason are still there, with a readable stack.
    const [alert] = q.popAlerts()
    expect((alert?.data as { reason: LodestoneError }).reason).toMatchObject({ code: 'PEER_TIMEOUT' })
    expect((alert?.data as { reason: LodestoneError }).reason.stack).toContain('PEER_TIMEOUT')
  })

  it('waitForAlert resolves on the next alert, false on abort or close', async () => {
    const q = new AlertQueue({ clock }, defaultAlertSettings)
    const waiting = q.waitForAlert()
    q.post({ type: 'x', category: 'error', message: '' })
    expect(await waiting).toBe(true)
    expect(await q.waitForAlert()).toBe(true)
    q.popAlerts()
    const abort = new AbortController()
    const aborted = q.waitForAlert({ signal: abort.signal })
    abort.abort()
    expect(await aborted).toBe(false)
    const closed = q.waitForAlert()
    q.close()
    expect(await closed).toBe(false)
  })

  it('stream() yields alerts as they come until aborted, and ends when the queue closes', async () => {
    const q = new AlertQueue({ clock }, defaultAlertSettings)
    q.post({ type: 'first', category: 'error', message: '' })
    const abort = new AbortController()
    const got: string[] = []
    const consumer = (async () => {
      for await (const a of q.stream({ signal: abort.signal })) {
        got.push(a.type)
        if (got.length === 3) abort.abort()
      }
    })()
    await Promise.resolve()
    q.post({ type: 'second', category: 'error', message: '' })
    await new Promise((resolve) => setTimeout(resolve, 0))
    q.post({ type: 'third', category: 'error', message: '' })
    await consumer
    expect(got).toEqual(['first', 'second', 'third'])
    const ended = (async () => { for await (const a of q.stream()) got.push(a.type) })()
    q.close()
    await ended
    expect(got).toHaveLength(3)
  })

  it('turns tracker status changes into one reply / warning / error alert per finished announce', () => {
    class FakeTorrent extends TypedEmitter<{ 'tracker-updated': { tracker: Record<string, unknown> } }> {
      readonly id = 'ab'.repeat(20)
      readonly name = 'fake'
      update (tracker: Record<string, unknown>): void { this.emit('tracker-updated', { tracker }) }
    }
    const q = new AlertQueue({ clock }, defaultAlertSettings)
    const t = new FakeTorrent()
    const off = q.watchTorrent(t)
    const base = { url: 'http://t/announce', updating: false, lastError: null, warning: null, lastPeerCount: 7, consecutiveFailures: 0 }
    t.update({ ...base, updating: true })
    t.update(base)
    t.update({ ...base, warning: 'slow down' })
    t.update({ ...base, lastError: new LodestoneError('TRACKER_TIMEOUT', { url: 'http://t/announce', timeoutMs: 1 }, { message: 'timed out' }), consecutiveFailures: 2 })
    const alerts = q.popAlerts()
    expect(alerts.map((a) => a.type)).toEqual(['tracker-reply', 'tracker-warning', 'tracker-error'])
    expect(alerts.every((a) => a.category === 'tracker' && a.torrentId === t.id)).toBe(true)
    expect(alerts[0]!.message).toBe('fake: tracker http://t/announce answered with 7 peers')
    expect(alerts[2]!.message).toContain('failed (2 in a row): timed out')
    off()
    t.update(base)
    expect(q.size).toBe(0)
  })

  it('classifies errors by code', () => {
    expect(categoryOfError(new LodestoneError('TRACKER_TIMEOUT', { url: 'x', timeoutMs: 1 }))).toBe('tracker')
    expect(categoryOfError(new LodestoneError('STORAGE_FULL', { path: 'x' }))).toBe('storage')
    expect(categoryOfError(new LodestoneError('PEER_CLOSED', { reason: 'x' }))).toBe('peer')
    expect(categoryOfError(new Error('x'))).toBe('error')
  })
})

describe('engine.alerts and the stats event', () => {
  it('emits stats every second for an engine whose only torrent is a magnet', async () => {
    const world = new SwarmWorld(43)
    const node = world.addNode('10.0.0.3')
    const stats: EngineStatsEvent[] = []
    node.engine.on('stats', (e) => stats.push(e))
    const t = await node.engine.addTorrent(`magnet:?xt=urn:btih:${'cd'.repeat(20)}`)
    await world.clock.runUntil(() => false, 3_000)
    expect(stats.length).toBeGreaterThanOrEqual(2)
    expect(stats.at(-1)!.torrents).toEqual([{ torrentId: t.id, stats: expect.objectContaining({ state: 'metadata' }) as unknown }])
  })

  it('turns engine and torrent events into alerts, and emits per-torrent stats every second', async () => {
    const world = new SwarmWorld(41)
    const data = payload(8 * PIECE, 4)
    const bytes = makeTorrent('f.bin', data, PIECE)
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'f.bin', data)
    const s = await seed.engine.addTorrent(bytes)
    const leech = world.addNode('10.0.0.2', { settings: { alerts: { maxQueued: 1000, categoryMask: 511 } } })
    const stats: EngineStatsEvent[] = []
    leech.engine.on('stats', (e) => stats.push(e))
    const t = await leech.engine.addTorrent(bytes, { peers: ['10.0.0.1:6881'] })
    expect(await world.clock.runUntil(() => t.state === 'seeding' && s.state === 'seeding', 60_000)).toBe(true)
    await world.clock.runUntil(() => false, 3_000)
    const alerts = leech.engine.alerts.popAlerts()
    const types = new Set(alerts.map((a) => a.type))
    for (const type of ['torrent-added', 'listening', 'state-changed', 'piece-verified', 'peer-connected', 'completed', 'checked', 'stats']) {
      expect(types.has(type), type).toBe(true)
    }
    const verified = alerts.filter((a) => a.type === 'piece-verified')
    expect(verified).toHaveLength(8)
    expect(verified[0]).toMatchObject({ category: 'progress', torrentId: t.id })
    expect(alerts.find((a) => a.type === 'state-changed' && a.message.includes('-> seeding'))).toBeDefined()
    expect(alerts.every((a) => typeof a.timestampMs === 'number' && a.message.length > 0)).toBe(true)
    // The default mask leaves out stats and progress.
    const seedAlerts = seed.engine.alerts.popAlerts()
    expect(seedAlerts.some((a) => a.type === 'stats' || a.type === 'piece-verified')).toBe(false)
    expect(seedAlerts.some((a) => a.type === 'peer-connected')).toBe(true)
    // One stats event per second with every torrent in it.
    expect(stats.length).toBeGreaterThanOrEqual(3)
    expect(stats.at(-1)!.torrents).toEqual([{ torrentId: t.id, stats: expect.objectContaining({ state: 'seeding', progress: 1 }) as unknown }])
    // Run-time mask change through the settings.
    seed.engine.updateSettings({ alerts: { categoryMask: ALERT_CATEGORY_BITS.stats } })
    await world.clock.runUntil(() => false, 2_000)
    const only = seed.engine.alerts.popAlerts()
    expect(only.length).toBeGreaterThan(0)
    expect(only.every((a) => a.category === 'stats')).toBe(true)
    expect(() => { seed.engine.updateSettings({ alerts: { maxQueued: 0 } }) }).toThrow(expect.objectContaining({ details: expect.objectContaining({ key: 'alerts.maxQueued' }) as unknown }) as Error)
    await leech.engine.removeTorrent(t.id)
    expect(leech.engine.alerts.popAlerts().some((a) => a.type === 'torrent-removed')).toBe(true)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
