import { describe, expect, it } from 'vitest'
import { ConnectionManager, type PeerBlockedEvent } from '../../../src/peer/connection-manager.js'
import { defaultConnectionSettings } from '../../../src/peer/connection-settings.js'
import { IpFilter } from '../../../src/ip-filter/ip-filter.js'
import type { IClock, ISocketFactory } from '../../../src/interfaces/index.js'

function setup () {
  const dials: string[] = []
  const clock: IClock = { now: () => 0, wallNow: () => 0, setTimeout: () => ({ cancel () {} }), setInterval: () => ({ cancel () {} }) }
  const socketFactory: ISocketFactory = {
    connectTcp: async (host) => { dials.push(host); return new Promise(() => {}) },
    listenTcp: async () => { throw new Error('unused') },
    bindUdp: async () => { throw new Error('unused') }
  }
  const blocked: PeerBlockedEvent[] = []
  const cm = new ConnectionManager({ socketFactory, clock, peerId: new Uint8Array(20), onPeerBlocked: (e) => blocked.push(e) }, { ...defaultConnectionSettings, maxHalfOpen: 1 })
  cm.addTorrent('t', { wantsConnections: () => true, onOutgoing: () => {} })
  const flush = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }
  return { cm, dials, blocked, flush }
}

describe('ConnectionManager IP filter', () => {
  it('refuses denied candidates, drops queued ones when the filter changes, and never dials them', async () => {
    const { cm, dials, blocked, flush } = setup()
    cm.setIpFilter(new IpFilter().addRule('10.0.0.0/8', 'deny'))
    expect(cm.addCandidate('t', { host: '10.1.1.1', port: 1 })).toBe(false)
    expect(blocked).toEqual([{ address: '10.1.1.1:1', direction: 'outgoing', torrentId: 't', reason: 'ip-filter' }])
    // maxHalfOpen 1: the first dial hangs, the rest stay queued.
    expect(cm.addCandidate('t', { host: '20.0.0.1', port: 1 })).toBe(true)
    expect(cm.addCandidate('t', { host: '30.0.0.1', port: 1 })).toBe(true)
    expect(cm.addCandidate('t', { host: '30.0.0.2', port: 1 })).toBe(true)
    await flush()
    expect(dials).toEqual(['20.0.0.1'])
    expect(cm.queuedCount('t')).toBe(2)
    cm.setIpFilter(new IpFilter().addRule('30.0.0.1', 'deny'))
    expect(cm.queuedCount('t')).toBe(1)
    expect(cm.isBlocked('30.0.0.1')).toBe(true)
    expect(cm.isBlocked('10.1.1.1')).toBe(false)
    expect(cm.stats().blockedPeers).toBe(1)
    cm.close()
  })

  it('refuses incoming connections before the handshake, and at claim if the filter changed meanwhile', () => {
    const { cm, blocked } = setup()
    cm.setIpFilter(new IpFilter().addRule('::ffff:127.0.0.2', 'deny'))
    expect(cm.acceptIncoming({ host: '127.0.0.2', port: 5000 })).toBe('ip-filtered')
    expect(cm.acceptIncoming({ host: '::ffff:127.0.0.2', port: 5000 })).toBe('ip-filtered')
    const ticket = cm.acceptIncoming({ host: '127.0.0.3', port: 5000 })
    expect(typeof ticket).toBe('object')
    cm.setIpFilter(new IpFilter().addRule('127.0.0.3', 'deny'))
    if (typeof ticket === 'object') expect(ticket.claim('t')).toBe('ip-filtered')
    expect(blocked.map((b) => b.direction)).toEqual(['incoming', 'incoming', 'incoming'])
    expect(cm.stats()).toMatchObject({ pendingIncoming: 0, connections: 0, blockedPeers: 3 })
    cm.close()
  })
})
