import { describe, expect, it } from 'vitest'
import { LODESTONE_PEER_ID_PREFIX } from '../../../src/peer/peer-id.js'
import { SwarmWorld, makeTorrent, payload, writeFile } from '../../swarm/swarm-world.js'

const PIECE = 32_768

describe('BtEngine', () => {
  it('has a -LS0100- peer id and listens on one port for all torrents', async () => {
    const world = new SwarmWorld(11)
    const node = world.addNode('10.0.0.1')
    expect(new TextDecoder().decode(node.engine.peerId.subarray(0, 8))).toBe(LODESTONE_PEER_ID_PREFIX)
    expect(node.engine.port).toBeNull()
    expect(await node.engine.listen()).toBe(6881)
    expect(await node.engine.listen()).toBe(6881)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('routes incoming connections to the right torrent by info hash', async () => {
    const world = new SwarmWorld(12)
    const a = payload(4 * PIECE, 1)
    const b = payload(6 * PIECE, 2)
    const ta = makeTorrent('a.bin', a, PIECE)
    const tb = makeTorrent('b.bin', b, PIECE)
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'a.bin', a)
    await writeFile(seed.fs, 'b.bin', b)
    const sa = await seed.engine.addTorrent(ta)
    const sb = await seed.engine.addTorrent(tb)
    expect(seed.engine.torrents.map((t) => t.name)).toEqual(['a.bin', 'b.bin'])
    const leech = world.addNode('10.0.0.2')
    const la = await leech.engine.addTorrent(ta, { peers: ['10.0.0.1:6881'] })
    const lb = await leech.engine.addTorrent(tb, { peers: ['10.0.0.1:6881'] })
    await world.clock.runUntil(() => la.state === 'seeding' && lb.state === 'seeding', 60_000)
    expect(la.state).toBe('seeding')
    expect(lb.state).toBe('seeding')
    expect(sa.stats().uploadedBytes).toBe(a.length)
    expect(sb.stats().uploadedBytes).toBe(b.length)
    expect(seed.engine.stats()).toMatchObject({ torrents: 2 })
    expect(seed.engine.stats().listen.accepted).toBeGreaterThanOrEqual(2)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('refuses a duplicate, finds torrents by id in any case, removes them (and their files)', async () => {
    const world = new SwarmWorld(13)
    const data = payload(3 * PIECE, 3)
    const bytes = makeTorrent('f.bin', data, PIECE)
    const node = world.addNode('10.0.0.1')
    await writeFile(node.fs, 'f.bin', data)
    const removed: string[] = []
    node.engine.on('torrent-removed', ({ id }) => removed.push(id))
    const t = await node.engine.addTorrent(bytes)
    await expect(node.engine.addTorrent(bytes)).rejects.toMatchObject({ code: 'TORRENT_DUPLICATE' })
    expect(node.engine.getTorrent(t.id.toUpperCase())).toBe(t)
    await world.clock.runUntil(() => t.state === 'seeding', 10_000)
    await node.engine.removeTorrent(t.id, { deleteFiles: true })
    expect(removed).toEqual([t.id])
    expect(node.engine.getTorrent(t.id)).toBeUndefined()
    expect(t.state).toBe('stopped')
    expect(await node.fs.exists('f.bin')).toBe(false)
    await expect(node.engine.removeTorrent(t.id)).rejects.toMatchObject({ code: 'TORRENT_NOT_FOUND' })
    await expect(node.engine.addTorrent(new Uint8Array([1, 2, 3]))).rejects.toMatchObject({ code: 'BENCODE_INVALID' })
    await world.close()
  })

  it('validates settings at construction and at run time, naming the key', async () => {
    const world = new SwarmWorld(14)
    expect(() => world.addNode('10.0.0.1', { settings: { connection: { maxHalfOpen: 0 } } })).toThrow(expect.objectContaining({ code: 'SETTINGS_INVALID' }) as Error)
    const node = world.addNode('10.0.0.2')
    let err: unknown
    try { node.engine.updateSettings({ peer: { maxPipelineDepth: -1 } }) } catch (e) { err = e }
    expect(err).toMatchObject({ code: 'SETTINGS_INVALID', details: { key: 'peer.maxPipelineDepth' } })
    expect(node.engine.settings.peer.maxPipelineDepth).toBe(500)
    node.engine.updateSettings({ connection: { maxConnectionsPerTorrent: 7 } })
    expect(node.engine.settings.connection.maxConnectionsPerTorrent).toBe(7)
    await expect(node.engine.addTorrent(makeTorrent('x', payload(PIECE), PIECE), { settings: { hashFailuresBeforeBan: 0 } }))
      .rejects.toMatchObject({ code: 'SETTINGS_INVALID' })
    await world.close()
  })

  it('close() is idempotent, stops torrents and refuses further use', async () => {
    const world = new SwarmWorld(15)
    const node = world.addNode('10.0.0.1')
    const t = await node.engine.addTorrent(makeTorrent('x', payload(2 * PIECE), PIECE), { peers: ['10.0.0.9:6881'] })
    await world.clock.advanceAsync(100)
    await Promise.all([node.engine.close(), node.engine.close()])
    expect(t.state).toBe('stopped')
    expect(node.hasher.closed).toBe(true)
    await expect(node.engine.listen()).rejects.toMatchObject({ code: 'CLOSED' })
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
