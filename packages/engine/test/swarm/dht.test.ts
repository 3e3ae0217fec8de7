/**
 * The engine's DHT (issue 10) in memory: a magnet with no tracker and no peers completes through
 * peers the DHT finds (source 'dht'); a private torrent never touches the DHT; `dht:state` is saved
 * and a restarted engine bootstraps from it without its bootstrap node.
 */
import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../adapters/memory/memory-filesystem.js'
import { MemorySessionStore } from '../../adapters/memory/memory-session-store.js'
import { createMemoryEngine } from '../../presets/memory.js'
import { DhtNode } from '../../src/dht/dht-node.js'
import { seededRandom } from '../../src/interfaces/random.js'
import type { IUdpSocket } from '../../src/interfaces/socket.js'
import { buildMagnet } from '../../src/metainfo/magnet.js'
import { parseTorrent } from '../../src/metainfo/parse-torrent.js'
import type { PartialEngineSettings } from '../../src/session/engine-settings.js'
import type { PeerInfo } from '../../src/torrent/torrent-types.js'
import { SwarmWorld, SyncHasher, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

/** A DHT of `count` bare nodes on 10.1.0.x, each bootstrapped off the first. */
async function dhtOf (world: SwarmWorld, count: number): Promise<{ nodes: DhtNode[], sockets: IUdpSocket[] }> {
  const nodes: DhtNode[] = []
  const sockets: IUdpSocket[] = []
  for (let i = 0; i < count; i++) {
    const socket = await world.network.host(`10.1.0.${i + 1}`).bindUdp(6881)
    const node = new DhtNode({ socket, clock: world.clock, random: seededRandom(1000 + i) }, { bootstrapNodes: i === 0 ? [] : ['10.1.0.1:6881'] })
    node.start()
    nodes.push(node)
    sockets.push(socket)
  }
  await world.clock.advanceAsync(30_000)
  return { nodes, sockets }
}

const dhtSettings = (bootstrap: string[]): PartialEngineSettings => ({ discovery: { dht: true }, dht: { enabled: true, bootstrapNodes: bootstrap } })

describe('swarm: DHT', () => {
  it('a magnet with no tracker and no peers completes from a seed found through the DHT', async () => {
    const world = new SwarmWorld(31)
    const dht = await dhtOf(world, 12)
    const data = payload(150_000, 3)
    const torrentBytes = makeTorrent('file.bin', data, 16_384)
    const meta = await parseTorrent(torrentBytes, { hasher: new SyncHasher() })
    const seed = world.addNode('10.0.0.1', { settings: dhtSettings(['10.1.0.1:6881']) })
    await writeFile(seed.fs, 'file.bin', data)
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)
    await world.clock.runUntil(() => (seed.engine.stats().dht?.lookups ?? 0) >= 2, 60_000)

    const leech = world.addNode('10.0.0.2', { settings: dhtSettings(['10.1.0.5:6881']) })
    const t = await leech.engine.addTorrent(buildMagnet({ infoHashV1: meta.infoHashV1 }))
    const connected: PeerInfo[] = []
    t.on('peer-connected', ({ peer }) => { connected.push(peer) })
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'file.bin'), data)).toBe(0)
    expect(connected.map((p) => `${p.address}:${p.source}`)).toContain('10.0.0.1:6881:dht')
    const stats = leech.engine.stats().dht
    expect(stats?.nodes).toBeGreaterThan(4)
    expect(stats?.queriesOut).toBeGreaterThan(0)

    await world.close()
    for (const n of dht.nodes) n.close()
    for (const s of dht.sockets) s.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a magnet\'s first lookup does not wait for the bootstrap: a dead bootstrap node costs no time-out before the first peer', async () => {
    const world = new SwarmWorld(34)
    const dht = await dhtOf(world, 12)
    const data = payload(60_000, 6)
    const torrentBytes = makeTorrent('file.bin', data, 16_384)
    const meta = await parseTorrent(torrentBytes, { hasher: new SyncHasher() })
    const seed = world.addNode('10.0.0.1', { settings: dhtSettings(['10.1.0.1:6881']) })
    await writeFile(seed.fs, 'file.bin', data)
    await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => dht.nodes.some((n) => n.stats().storedPeers > 0), 60_000)

    // The first bootstrap node is dead (nothing listens there); the second answers.
    const leech = world.addNode('10.0.0.2', { settings: dhtSettings(['10.1.0.99:6881', '10.1.0.5:6881']) })
    const started = world.clock.now()
    const t = await leech.engine.addTorrent(buildMagnet({ infoHashV1: meta.infoHashV1 }))
    expect(await world.clock.runUntil(() => t.knownPeerAddresses().includes('10.0.0.1:6881'), 30_000)).toBe(true)
    // The dead node's query goes slow after 1 s and times out after 5 s; the peer comes before either.
    expect(world.clock.now() - started).toBeLessThan(1_000)
    expect(await world.clock.runUntil(() => t.hasMetadata, 30_000)).toBe(true)
    await world.close()
    for (const n of dht.nodes) n.close()
    for (const s of dht.sockets) s.close()
  })

  it('a magnet whose lookup found no peer looks again soon, and finds a seed that announced after it', async () => {
    const world = new SwarmWorld(35)
    const dht = await dhtOf(world, 12)
    const data = payload(60_000, 7)
    const torrentBytes = makeTorrent('file.bin', data, 16_384)
    const meta = await parseTorrent(torrentBytes, { hasher: new SyncHasher() })
    const leech = world.addNode('10.0.0.2', { settings: dhtSettings(['10.1.0.5:6881']) })
    const t = await leech.engine.addTorrent(buildMagnet({ infoHashV1: meta.infoHashV1 }))
    await world.clock.runUntil(() => (leech.engine.stats().dht?.lookups ?? 0) >= 2 && leech.engine.stats().dht?.lookupsActive === 0, 30_000)
    expect(t.knownPeerAddresses()).toEqual([])

    // The seed's engine stays off the DHT (so it cannot find the leech's announce and dial it);
    // a DHT node on the seed's host announces the seed's TCP port for it.
    const seed = world.addNode('10.0.0.1', { settings: { discovery: { dht: false } } })
    await writeFile(seed.fs, 'file.bin', data)
    await seed.engine.addTorrent(torrentBytes)
    const announcerSocket = await world.network.host('10.0.0.1').bindUdp(7000)
    const announcer = new DhtNode({ socket: announcerSocket, clock: world.clock, random: seededRandom(77) }, { bootstrapNodes: ['10.1.0.1:6881'] })
    announcer.start()
    let announced = false
    void announcer.announce(meta.infoHashV1!, { port: 6881 }).then(() => { announced = true })
    await world.clock.runUntil(() => announced, 30_000)
    expect(t.knownPeerAddresses()).toEqual([])
    // Well inside the 15-minute re-announce interval.
    expect(await world.clock.runUntil(() => t.state === 'seeding', 5 * 60_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'file.bin'), data)).toBe(0)
    announcer.close()
    announcerSocket.close()
    await world.close()
    for (const n of dht.nodes) n.close()
    for (const s of dht.sockets) s.close()
  })

  it('a private torrent never touches the DHT, a public one beside it does', async () => {
    const world = new SwarmWorld(32)
    const dht = await dhtOf(world, 6)
    const privateData = payload(40_000, 4)
    const publicData = payload(40_000, 5)
    const privateBytes = makeTorrent('private.bin', privateData, 16_384, { private: true })
    const publicBytes = makeTorrent('public.bin', publicData, 16_384)
    const node = world.addNode('10.0.0.1', { settings: dhtSettings(['10.1.0.1:6881']) })
    await writeFile(node.fs, 'private.bin', privateData)
    await writeFile(node.fs, 'public.bin', publicData)
    const priv = await node.engine.addTorrent(privateBytes)
    const pub = await node.engine.addTorrent(publicBytes)
    await world.clock.runUntil(() => priv.state === 'seeding' && pub.state === 'seeding', 10_000)
    await world.clock.advanceAsync(20 * 60_000)
    const hashOf = async (bytes: Uint8Array): Promise<Uint8Array> => (await parseTorrent(bytes, { hasher: new SyncHasher() })).infoHashV1!
    const lookup = async (hash: Uint8Array): Promise<string[]> => {
      let found: string[] | null = null
      void dht.nodes[3]!.getPeers(hash).then((r) => { found = r.peers.map((p) => `${p.host}:${p.port}`) })
      await world.clock.runUntil(() => found !== null, 30_000)
      return found ?? []
    }
    expect(await lookup(await hashOf(publicBytes))).toContain('10.0.0.1:6881')
    expect(await lookup(await hashOf(privateBytes))).toEqual([])
    await world.close()
    for (const n of dht.nodes) n.close()
    for (const s of dht.sockets) s.close()
  })

  it('saves dht:state and a restarted engine finds nodes without its bootstrap node', async () => {
    const world = new SwarmWorld(33)
    const dht = await dhtOf(world, 10)
    const store = new MemorySessionStore()
    const host = world.network.host('10.0.0.9')
    const make = (bootstrap: string[]): ReturnType<typeof createMemoryEngine> => createMemoryEngine({
      socketFactory: host, clock: world.clock, fs: new MemoryFileSystem({ clock: world.clock }), hasher: new SyncHasher(), random: seededRandom(9), sessionStore: store,
      settings: { listen: { port: 6881 }, ...dhtSettings(bootstrap) }
    })
    const first = make(['10.1.0.1:6881'])
    await first.listen()
    await world.clock.runUntil(() => (first.stats().dht?.nodes ?? 0) >= 8, 60_000)
    const id = first.stats().dht?.nodeId
    await first.close()
    expect(await store.get('dht:state')).not.toBeNull()

    // The bootstrap node is gone; the saved nodes are enough.
    dht.nodes[0]!.close()
    dht.sockets[0]!.close()
    const second = make(['10.1.0.1:6881'])
    await second.listen()
    expect(await world.clock.runUntil(() => (second.stats().dht?.nodes ?? 0) >= 5, 60_000)).toBe(true)
    expect(second.stats().dht?.nodeId).toBe(id)
    await second.close()
    for (const n of dht.nodes) n.close()
    for (const s of dht.sockets) s.close()
  })
})
