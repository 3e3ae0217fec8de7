/**
 * uTP in the engine, over the memory network: the engine's UDP socket on its listen port, dials
 * that race TCP and uTP, incoming uTP through the listen router, the `transport` settings, and a
 * lossy path (loss, jitter that reorders, duplication) that is still deterministic.
 */
import { describe, expect, it } from 'vitest'
import type { MemoryNetworkSettings } from '../../adapters/memory/memory-network.js'
import type { PartialEngineSettings } from '../../src/session/engine-settings.js'
import type { Torrent } from '../../src/torrent/torrent.js'
import { bencodeDecode, bencodeEncode, isBencodeDict } from '../../src/protocol/bencode.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

interface Pair {
  world: SwarmWorld
  seedTorrent: Torrent
  leechTorrent: Torrent
  data: Uint8Array
  /** Virtual time from adding the leecher's torrent to its first peer. */
  connectedAtMs: number | null
  /** Transports of the peers each side connected (as 'peer-connected' reported them). */
  leechSaw: string[]
  seedSaw: string[]
}

async function startPair (seed: number, opts: { seedSettings?: PartialEngineSettings, leechSettings?: PartialEngineSettings, network?: Partial<MemoryNetworkSettings>, bytes?: number } = {}): Promise<Pair> {
  const world = new SwarmWorld(seed, opts.network ?? {})
  const data = payload(opts.bytes ?? 300_000, seed)
  const torrentBytes = makeTorrent('file.bin', data, 32_768)
  const seedNode = world.addNode('10.0.0.1', opts.seedSettings !== undefined ? { settings: opts.seedSettings } : {})
  await writeFile(seedNode.fs, 'file.bin', data)
  const leech = world.addNode('10.0.0.2', opts.leechSettings !== undefined ? { settings: opts.leechSettings } : {})
  const seedTorrent = await seedNode.engine.addTorrent(torrentBytes)
  await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)
  const startedMs = world.clock.now()
  const pair: Pair = { world, seedTorrent, data, connectedAtMs: null, leechTorrent: null as unknown as Torrent, leechSaw: [], seedSaw: [] }
  seedTorrent.on('peer-connected', ({ peer }) => { pair.seedSaw.push(`${peer.transport} ${peer.direction}`) })
  pair.leechTorrent = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
  pair.leechTorrent.on('peer-connected', ({ peer }) => {
    pair.connectedAtMs ??= world.clock.now() - startedMs
    pair.leechSaw.push(`${peer.transport} ${peer.direction}`)
  })
  return pair
}

async function finish (pair: Pair, timeoutMs = 120_000): Promise<void> {
  const { world, leechTorrent, data } = pair
  expect(await world.clock.runUntil(() => leechTorrent.state === 'seeding', timeoutMs)).toBe(true)
  expect(Buffer.compare(await readFile(world.nodes[1]!.fs, 'file.bin'), data)).toBe(0)
}

async function closeAndCheck (world: SwarmWorld): Promise<void> {
  await world.close()
  expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
}

describe('swarm: uTP', () => {
  it('binds UDP on the listen port and downloads over uTP when both sides allow it (both directions see uTP)', async () => {
    const pair = await startPair(11)
    const [seedNode, leechNode] = pair.world.nodes
    expect(seedNode!.engine.stats().udp?.port).toBe(6881)
    // The DHT's seam: a KRPC channel on the same socket.
    expect(seedNode!.engine.udpChannel('krpc')?.port).toBe(6881)
    await pair.world.clock.runUntil(() => pair.leechTorrent.peers().length > 0 && pair.seedTorrent.peers().length > 0, 5_000)
    expect(pair.leechTorrent.peers().map((p) => p.transport)).toEqual(['utp'])
    expect(pair.seedTorrent.peers().map((p) => [p.transport, p.direction])).toEqual([['utp', 'incoming']])
    await finish(pair)
    expect(pair.leechSaw).toEqual(['utp outgoing'])
    const udp = leechNode!.engine.stats().udp!
    expect(udp.utp.payloadBytesIn).toBeGreaterThanOrEqual(pair.data.length)
    expect(udp.mux.utp.packetsIn).toBe(udp.utp.packetsIn)
    expect(seedNode!.engine.stats().udp!.utp.payloadBytesOut).toBeGreaterThanOrEqual(pair.data.length)
    await closeAndCheck(pair.world)
    expect(pair.world.network.openSocketCount).toBe(0)
  })

  it('a uTP-only seed (transport.tcp off) is reached over uTP at once; its TCP listener refuses', async () => {
    const pair = await startPair(12, { seedSettings: { transport: { tcp: false } } })
    await finish(pair)
    expect(pair.connectedAtMs).not.toBeNull()
    expect(pair.connectedAtMs!).toBeLessThan(200)
    expect(pair.leechSaw).toEqual(['utp outgoing'])
    expect(pair.seedSaw).toEqual(['utp incoming'])
    await closeAndCheck(pair.world)
  })

  it('a TCP-only seed (transport.utp off) costs the dial no more than the grace: TCP within 100 ms', async () => {
    const pair = await startPair(13, { seedSettings: { transport: { utp: false } } })
    await finish(pair)
    expect(pair.connectedAtMs!).toBeLessThan(100)
    expect(pair.leechSaw).toEqual(['tcp outgoing'])
    expect(pair.world.nodes[0]!.engine.stats().udp!.utp.synDropped).toBeGreaterThan(0)
    await closeAndCheck(pair.world)
  })

  it('a leecher with uTP off dials TCP only; the seed sees a TCP peer', async () => {
    const pair = await startPair(14, { leechSettings: { transport: { utp: false } } })
    await finish(pair)
    expect(pair.seedSaw).toEqual(['tcp incoming'])
    expect(pair.world.nodes[0]!.engine.stats().udp!.utp.synReceived).toBe(0)
    await closeAndCheck(pair.world)
  })

  it('announces to a UDP tracker from the shared socket (source port = the listen port) and gets the seed from it', async () => {
    const world = new SwarmWorld(16)
    const data = payload(100_000, 16)
    const plain = bencodeDecode(makeTorrent('file.bin', data, 32_768))
    if (!isBencodeDict(plain)) throw new Error('unreachable')
    plain.set('announce', new TextEncoder().encode('udp://10.0.0.100:6969'))
    const torrentBytes = bencodeEncode(plain)
    // A minimal BEP 15 tracker: connect, then announce answered with every peer announced so far.
    const tracker = await world.network.host('10.0.0.100').bindUdp(6969)
    const announced: string[] = []
    tracker.onMessage((msg, remote) => {
      const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
      const action = view.getUint32(8)
      const out = new Uint8Array(action === 0 ? 16 : 20 + 6 * announced.length)
      const w = new DataView(out.buffer)
      w.setUint32(0, action)
      w.setUint32(4, view.getUint32(12))
      if (action === 1) {
        w.setUint32(8, 1_800)
        announced.forEach((a, i) => {
          const [host, port] = a.split(':')
          host!.split('.').forEach((b, j) => { out[20 + 6 * i + j] = Number(b) })
          w.setUint16(24 + 6 * i, Number(port))
        })
        announced.push(`${remote.address}:${remote.port}`)
      }
      tracker.send(out, remote.address, remote.port)
    })
    const seedNode = world.addNode('10.0.0.1')
    await writeFile(seedNode.fs, 'file.bin', data)
    const seedTorrent = await seedNode.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding' && announced.length === 1, 10_000)
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(torrentBytes)
    expect(await world.clock.runUntil(() => t.state === 'seeding', 60_000)).toBe(true)
    expect(announced.slice(0, 2)).toEqual(['10.0.0.1:6881', '10.0.0.2:6881'])
    expect(leech.engine.stats().udp!.mux.tracker.packetsIn).toBeGreaterThanOrEqual(2)
    // The engines' 'stopped' announces wait for the tracker's answer: keep the clock running.
    let closed = false
    const closing = Promise.all(world.nodes.map(async (n) => { await n.engine.close() })).then(() => { closed = true })
    await world.clock.runUntil(() => closed, 60_000)
    await closing
    await world.close()
    tracker.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('the upload rate limit and the connection limits apply to uTP peers as to TCP ones', async () => {
    // A seed capped at 100 kB/s with one connection slot serves 600 kB over uTP: ~6 s, not ~0.1 s.
    const pair = await startPair(17, { bytes: 600_000, seedSettings: { rateLimit: { uploadRateBytesPerSec: 100_000 }, connection: { maxConnections: 1 } } })
    const { world } = pair
    await world.clock.runUntil(() => pair.leechSaw.length > 0, 5_000)
    const t0 = world.clock.now()
    // A second leecher (uTP only) dials while the one slot is taken: its uTP connection is refused.
    const other = world.addNode('10.0.0.3', { settings: { transport: { tcp: false } } })
    const otherTorrent = await other.engine.addTorrent(makeTorrent('file.bin', pair.data, 32_768), { peers: ['10.0.0.1:6881'] })
    await world.clock.runUntil(() => world.nodes[0]!.engine.stats().listen.refused > 0, 5_000)
    expect(world.nodes[0]!.engine.stats().udp!.utp.accepted).toBeGreaterThanOrEqual(2)
    expect(otherTorrent.peers()).toEqual([])
    await finish(pair)
    const seconds = (world.clock.now() - t0) / 1000
    expect(pair.leechSaw).toEqual(['utp outgoing'])
    expect(seconds).toBeGreaterThan(4.5)
    expect(seconds).toBeLessThan(9)
    await closeAndCheck(world)
  })

  it('a peer PEX flags as uTP-capable (0x04) is dialled over uTP first, though TCP would win the race', async () => {
    // A seeds slowly (so B and C are still downloading when PEX runs) and speaks PEX; B (no PEX) is
    // connected to A over uTP, so A tells C of B with flag 0x04. Between B and C, UDP is jittery
    // (0-100 ms on top of 5): a race there goes to TCP (B's first TCP byte is in long before uTP's
    // answer), but the hint has C dial uTP alone.
    const world = new SwarmWorld(31)
    const data = payload(300_000, 31)
    const torrentBytes = makeTorrent('file.bin', data, 16_384)
    const pexOn: PartialEngineSettings = { discovery: { pex: true }, pex: { intervalMs: 5_000 } }
    const nodeA = world.addNode('10.0.0.1', { settings: pexOn, uploadBytesPerSec: 20_000 })
    const nodeB = world.addNode('10.0.0.2', { settings: { discovery: { pex: false } } })
    const nodeC = world.addNode('10.0.0.3', { settings: pexOn })
    world.network.setLinks('10.0.0.2', '10.0.0.3', { jitterMs: 100 })
    await writeFile(nodeA.fs, 'file.bin', data)
    const a = await nodeA.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => a.state === 'seeding', 10_000)
    const b = await nodeB.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    await world.clock.runUntil(() => a.peers().length === 1 && b.peers().length === 1, 10_000)
    expect(b.peers().map((p) => p.transport)).toEqual(['utp'])
    const c = await nodeC.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    expect(await world.clock.runUntil(() => c.peers().some((p) => p.address === '10.0.0.2:6881'), 60_000)).toBe(true)
    const viaPex = c.peers().find((p) => p.address === '10.0.0.2:6881')
    expect(viaPex?.source).toBe('pex')
    expect(viaPex?.direction).toBe('outgoing')
    expect(viaPex?.transport).toBe('utp')
    // B never saw a TCP connection from C (no race to drop).
    expect(b.peers().filter((p) => p.address.startsWith('10.0.0.3:')).map((p) => p.transport)).toEqual(['utp'])
    expect(await world.clock.runUntil(() => c.state === 'seeding', 120_000)).toBe(true)
    expect(Buffer.compare(await readFile(nodeC.fs, 'file.bin'), data)).toBe(0)
    await closeAndCheck(world)
  })

  it('refuses turning both transports off', async () => {
    const world = new SwarmWorld(15)
    expect(() => world.addNode('10.0.0.9', { settings: { transport: { tcp: false, utp: false } } })).toThrow(/transport/)
    await closeAndCheck(world)
  })

  it('completes byte-identical over a lossy path (3 % loss, jitter that reorders, 2 % duplicates), the same way twice', async () => {
    const run = async (): Promise<{ doneMs: number, retransmits: number, duplicates: number }> => {
      const uTpOnly = { transport: { tcp: false } }
      const pair = await startPair(21, {
        seedSettings: uTpOnly,
        leechSettings: uTpOnly,
        bytes: 1_000_000,
        network: { latencyMs: 20, jitterMs: 15, lossRate: 0.03, duplicateRate: 0.02 }
      })
      const t0 = pair.world.clock.now()
      await finish(pair, 600_000)
      const doneMs = pair.world.clock.now() - t0
      const seedUtp = pair.world.nodes[0]!.engine.stats().udp!.utp
      const leechUtp = pair.world.nodes[1]!.engine.stats().udp!.utp
      await closeAndCheck(pair.world)
      return { doneMs, retransmits: seedUtp.retransmits + seedUtp.fastRetransmits, duplicates: leechUtp.duplicatePackets }
    }
    const first = await run()
    expect(first.retransmits).toBeGreaterThan(0)
    expect(first.duplicates).toBeGreaterThan(0)
    expect(await run()).toEqual(first)
  })
})
