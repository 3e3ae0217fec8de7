import { describe, expect, it } from 'vitest'
import type { PeerBlockedEvent } from '../../src/peer/connection-manager.js'
import { IpFilter } from '../../src/ip-filter/ip-filter.js'
import { buildMagnet } from '../../src/metainfo/magnet.js'
import { SwarmWorld, makeTorrent, payload, writeFile } from './swarm-world.js'

const PIECE = 32_768

async function seedAndLeech (seedId: number) {
  const world = new SwarmWorld(seedId)
  const data = payload(16 * PIECE, seedId)
  const bytes = makeTorrent('f.bin', data, PIECE)
  const seed = world.addNode('10.0.0.1')
  const leech = world.addNode('10.0.0.2')
  const blocked = { seed: [] as PeerBlockedEvent[], leech: [] as PeerBlockedEvent[] }
  seed.engine.on('peer-blocked', (e) => blocked.seed.push(e))
  leech.engine.on('peer-blocked', (e) => blocked.leech.push(e))
  await writeFile(seed.fs, 'f.bin', data)
  const s = await seed.engine.addTorrent(bytes)
  await world.clock.runUntil(() => s.state === 'seeding', 10_000)
  return { world, seed, leech, s, bytes, blocked }
}

describe('IP filter in the engine', () => {
  it('a denied candidate is never dialled (outgoing), from addPeer or the peers option', async () => {
    const { world, seed, leech, bytes, blocked } = await seedAndLeech(31)
    leech.engine.setIpFilter(new IpFilter().addRule('10.0.0.0/24', 'deny'))
    const t = await leech.engine.addTorrent(bytes, { peers: ['10.0.0.1:6881'] })
    t.addPeer('10.0.0.1:6881')
    await world.clock.runUntil(() => false, 20_000)
    expect(t.stats().peers).toBe(0)
    expect(t.stats().downloadedBytes).toBe(0)
    expect(seed.engine.stats().listen.accepted).toBe(0)
    expect(blocked.leech.length).toBeGreaterThan(0)
    expect(blocked.leech[0]).toMatchObject({ address: '10.0.0.1:6881', direction: 'outgoing', torrentId: t.id, reason: 'ip-filter' })
    expect(leech.engine.stats().connections.blockedPeers).toBeGreaterThan(0)
    expect(leech.engine.alerts.popAlerts().filter((a) => a.type === 'peer-blocked')[0]).toMatchObject({ category: 'ip-block', torrentId: t.id })
    // Lifting the filter lets the next activation dial it.
    leech.engine.setIpFilter(null)
    t.pause()
    t.resume()
    expect(await world.clock.runUntil(() => t.state === 'seeding', 60_000)).toBe(true)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('an incoming connection from a denied host is closed before the handshake', async () => {
    const { world, seed, leech, bytes, blocked } = await seedAndLeech(32)
    seed.engine.setIpFilter(new IpFilter().addRule('10.0.0.2', 'deny'))
    const t = await leech.engine.addTorrent(bytes, { peers: ['10.0.0.1:6881'] })
    await world.clock.runUntil(() => false, 20_000)
    expect(t.stats().downloadedBytes).toBe(0)
    expect(t.stats().peers).toBe(0)
    expect(seed.engine.stats().listen.accepted).toBe(0)
    expect(seed.engine.stats().listen.refused).toBeGreaterThan(0)
    expect(blocked.seed[0]).toMatchObject({ direction: 'incoming', reason: 'ip-filter' })
    expect(blocked.seed[0]!.address.startsWith('10.0.0.2:')).toBe(true)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('setIpFilter at run time drops connected peers that are now denied', async () => {
    const { world, seed, leech, s, bytes, blocked } = await seedAndLeech(33)
    // Slow the leech down so the connection is still up when the filter changes.
    leech.engine.updateSettings({ rateLimit: { downloadRateBytesPerSec: 16_384 } })
    const t = await leech.engine.addTorrent(bytes, { peers: ['10.0.0.1:6881'] })
    await world.clock.runUntil(() => s.stats().peers === 1 && t.stats().downloadedBytes > 0, 20_000)
    expect(s.stats().peers).toBe(1)
    const disconnected: string[] = []
    s.on('peer-disconnected', ({ reason }) => disconnected.push(reason?.code ?? 'none'))
    seed.engine.setIpFilter(new IpFilter().addRule('10.0.0.2', 'deny'))
    await world.clock.runUntil(() => s.stats().peers === 0 && t.stats().peers === 0, 5_000)
    expect(s.stats().peers).toBe(0)
    expect(disconnected).toEqual(['PEER_BANNED'])
    expect(blocked.seed[0]).toMatchObject({ direction: 'incoming', torrentId: s.id })
    // The leech tries again and is refused at accept.
    const before = t.stats().downloadedBytes
    await world.clock.runUntil(() => false, 120_000)
    expect(t.stats().downloadedBytes).toBe(before)
    expect(t.state).toBe('downloading')
    expect(seed.engine.ipFilter?.isAllowed('10.0.0.2')).toBe(false)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})

describe('IP filter in the metadata phase (magnets)', () => {
  it('setIpFilter drops a now-denied peer of a torrent still fetching its metadata', async () => {
    const world = new SwarmWorld(34)
    const infoHashV1 = new Uint8Array(20).fill(0xab)
    // Both nodes only have the magnet: they connect and stay in the metadata phase.
    const a = world.addNode('10.0.0.1')
    const b = world.addNode('10.0.0.2')
    const ta = await a.engine.addTorrent(buildMagnet({ infoHashV1 }))
    const tb = await b.engine.addTorrent(buildMagnet({ infoHashV1, peers: [{ host: '10.0.0.1', port: 6881 }] }))
    const connected = (): boolean => a.engine.stats().listen.accepted > 0 && a.engine.stats().connections.connections > 0 && b.engine.stats().connections.connections > 0
    expect(await world.clock.runUntil(connected, 10_000)).toBe(true)
    expect(ta.state).toBe('metadata')
    expect(tb.state).toBe('metadata')
    const blocked: PeerBlockedEvent[] = []
    b.engine.on('peer-blocked', (e) => blocked.push(e))
    b.engine.setIpFilter(new IpFilter().addRule('10.0.0.1', 'deny'))
    expect(blocked[0]).toMatchObject({ address: '10.0.0.1:6881', direction: 'outgoing', reason: 'ip-filter' })
    expect(await world.clock.runUntil(() => b.engine.stats().connections.connections === 0, 5_000)).toBe(true)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
