import { afterEach, describe, expect, it } from 'vitest'
import { bencodeDecode, bencodeEncode, isBencodeDict, type BencodeDict } from '../../../src/protocol/bencode.js'
import { toHex } from '../../../src/util/bytes.js'
import { decodeKrpc, encodeQuery, encodeResponse } from '../../../src/dht/krpc-codec.js'
import { encodeCompactNodes } from '../../../src/dht/compact-nodes.js'
import { createDhtWorld, type DhtWorld } from './dht-test-kit.js'

let world: DhtWorld | undefined
afterEach(() => { world?.close(); world = undefined })

const infoHash = Uint8Array.from({ length: 20 }, (_, i) => i * 7)

/** A DHT of `n` nodes, each bootstrapped off node 0, then settled. */
async function mesh (n: number, seed = 1): Promise<DhtWorld> {
  const w = await createDhtWorld(seed)
  const first = await w.addNode()
  first.start()
  for (let i = 1; i < n; i++) (await w.addNode({ bootstrapNodes: [`${w.hosts[0]}:6881`] })).start()
  await w.run(30_000)
  return w
}

describe('DhtNode over the memory network', () => {
  it('bootstraps: every node learns others through node 0', async () => {
    world = await mesh(20)
    for (const node of world.nodes) expect(node.nodeCount).toBeGreaterThanOrEqual(4)
    expect(world.nodes[0]!.stats().queriesIn).toBeGreaterThan(0)
  })

  it('announce reaches the closest token holders and get_peers finds the peer from another node', async () => {
    world = await mesh(30, 2)
    const announcer = world.nodes[3]!
    const result = await world.until(announcer.announce(infoHash, { port: 51413 }))
    expect(result.announcedTo).toBeGreaterThanOrEqual(5)
    expect(result.announcedTo).toBeLessThanOrEqual(8)
    const seeker = world.nodes[17]!
    const found = await world.until(seeker.getPeers(infoHash))
    expect(found.peers).toContainEqual({ host: world.hosts[3], port: 51413 })
    // The peers are stored by the nodes closest to the info hash, not by everyone.
    const storing = world.nodes.filter((n) => n.stats().storedPeers > 0).length
    expect(storing).toBe(result.announcedTo)
  })

  it('a dead node among the closest costs a slot for the slow time, not the lookup its time-out', async () => {
    world = await mesh(30, 2)
    const announced = await world.until(world.nodes[3]!.announce(infoHash, { port: 51413 }))
    // The two nodes closest to the info hash go silent: every seeker ranks them among its k closest.
    const dead = announced.closest.slice(0, 2).map((r) => r.contact.host)
    for (const host of dead) world.sockets[world.hosts.indexOf(host)]!.close()
    const seeker = world.nodes[17]!
    const started = world.clock.now()
    let firstPeerAt: number | null = null
    const found = await world.until(seeker.getPeers(infoHash, { onPeers: () => { firstPeerAt ??= world!.clock.now() } }))
    const took = world.clock.now() - started
    expect(found.peers).toContainEqual({ host: world.hosts[3], port: 51413 })
    expect(found.closest.map((r) => r.contact.host)).not.toContain(dead[0])
    // Slow after 1 s, time-out after 5 s: the lookup ends on the slow mark of the last dead node.
    expect(took).toBeLessThan(seeker.settings.queryTimeoutMs)
    // Peers reach the caller as they arrive, before the lookup ends.
    expect(firstPeerAt).not.toBeNull()
    expect(firstPeerAt! - started).toBeLessThan(seeker.settings.querySlowMs)
  })

  it('implied_port announces the UDP source port', async () => {
    world = await mesh(12, 3)
    await world.until(world.nodes[5]!.announce(infoHash))
    const found = await world.until(world.nodes[9]!.getPeers(infoHash))
    expect(found.peers).toContainEqual({ host: world.hosts[5], port: 6881 })
  })

  it('a read-only node (BEP 43) looks up but never answers and stays out of tables', async () => {
    world = await mesh(10, 4)
    const ro = await world.addNode({ readOnly: true, bootstrapNodes: [`${world.hosts[0]}:6881`] })
    ro.start()
    await world.run(30_000)
    expect(ro.nodeCount).toBeGreaterThan(0)
    await world.until(world.nodes[2]!.announce(infoHash, { port: 7000 }))
    const found = await world.until(ro.getPeers(infoHash))
    expect(found.peers).toContainEqual({ host: world.hosts[2], port: 7000 })
    expect(ro.stats().repliesOut).toBe(0)
    const roHost = world.hosts[world.hosts.length - 1]
    for (const n of world.nodes.slice(0, -1)) expect(n.saveState().nodes.some((c) => c.host === roHost)).toBe(false)
  })

  it('rejects announce_peer with a bad token and answers queries with an error', async () => {
    world = await createDhtWorld(5)
    const node = await world.addNode()
    node.start()
    const raw = await world.network.host('10.9.9.9').bindUdp(7000)
    world.sockets.push(raw)
    const got: BencodeDict[] = []
    raw.onMessage((data) => { const v = bencodeDecode(data.slice(), { strictKeyOrder: false }); if (isBencodeDict(v)) got.push(v) })
    const id = new Uint8Array(20).fill(9)
    raw.send(encodeQuery(Uint8Array.of(1, 2), 'announce_peer', id, { info_hash: infoHash, port: 1234, token: Uint8Array.of(1, 2, 3, 4) }, false), world.hosts[0]!, 6881)
    raw.send(encodeQuery(Uint8Array.of(1, 3), 'frobnicate', id, {}, false), world.hosts[0]!, 6881)
    raw.send(bencodeEncode({ t: Uint8Array.of(1, 4), y: 'q', q: 'get_peers', a: { id: new Uint8Array(5) } }), world.hosts[0]!, 6881)
    await world.run(1_000)
    const errors = got.filter((m) => toHex(m.get('y') as Uint8Array) === '65').map((m) => (m.get('e') as unknown[])[0])
    expect(errors.sort()).toEqual([203, 203, 204])
    expect(node.stats().storedPeers).toBe(0)
    expect(node.stats().malformed).toBe(1)
  })

  it('rate-limits a flood from one endpoint and does not amplify', async () => {
    world = await createDhtWorld(6)
    const node = await world.addNode()
    node.start()
    const raw = await world.network.host('10.9.9.9').bindUdp(7000)
    world.sockets.push(raw)
    let repliesBytes = 0
    let replies = 0
    raw.onMessage((data) => { replies++; repliesBytes += data.length })
    const id = new Uint8Array(20).fill(9)
    let sentBytes = 0
    for (let i = 0; i < 1000; i++) {
      const q = encodeQuery(Uint8Array.of(i >> 8, i & 0xff), 'get_peers', id, { info_hash: infoHash }, true)
      sentBytes += q.length
      raw.send(q, world.hosts[0]!, 6881)
    }
    await world.run(1_000)
    expect(replies).toBeLessThanOrEqual(30)
    expect(node.stats().rateLimited).toBeGreaterThanOrEqual(970)
    expect(repliesBytes).toBeLessThan(sentBytes)
  })

  it('a node answering with other addresses cannot make a lookup send more than its bound', async () => {
    world = await createDhtWorld(9)
    const node = await world.addNode({ bootstrapNodes: ['10.9.9.9:7000'], maxQueriesPerLookup: 40 })
    const liar = await world.network.host('10.9.9.9').bindUdp(7000)
    world.sockets.push(liar)
    let n = 0
    liar.onMessage((data, remote) => {
      const q = decodeKrpc(data.slice())
      if (q.kind !== 'query') return
      // 32 made-up nodes per answer, half of them pointing back at the liar itself.
      const nodes = Array.from({ length: 32 }, (_, i) => ({ id: Uint8Array.from({ length: 20 }, () => (n * 31 + i * 7) & 0xff), host: i % 2 === 0 ? '10.9.9.9' : `10.50.${n & 0xff}.${i + 1}`, port: 7000 + ((n++) % 5000) }))
      liar.send(encodeResponse(q.t, new Uint8Array(20).fill(n & 0xff), { nodes: encodeCompactNodes(nodes, 4), token: Uint8Array.of(1) }, null), remote.address, remote.port)
    })
    node.start()
    await world.run(60_000)
    const result = await world.until(node.getPeers(infoHash))
    expect(result.queried).toBeLessThanOrEqual(40)
    // Every query we sent belongs to a lookup (bootstrap retries included), each within its bound.
    const stats = node.stats()
    expect(stats.queriesOut).toBeLessThanOrEqual(40 * stats.lookups)
    expect(stats.lookups).toBeLessThanOrEqual(8)
  })

  it('serves sample_infohashes (BEP 51)', async () => {
    world = await mesh(10, 7)
    await world.until(world.nodes[1]!.announce(infoHash, { port: 7001 }))
    const holder = world.nodes.findIndex((n) => n.stats().storedTorrents > 0)
    expect(holder).toBeGreaterThanOrEqual(0)
    const answer = await world.until(world.nodes[2]!.sampleInfohashes(world.hosts[holder]!, 6881, infoHash))
    expect(answer?.num).toBe(1)
    expect(answer?.samples?.map(toHex)).toEqual([toHex(infoHash)])
    expect(answer?.interval).toBe(21_600)
  })

  it('saves its id and good nodes, and a restarted node bootstraps from them alone', async () => {
    world = await mesh(15, 8)
    const state = world.nodes[4]!.saveState()
    expect(state.nodes.length).toBeGreaterThan(3)
    const restarted = await world.addNode({ bootstrapNodes: ['10.200.0.1:6881'] }, JSON.parse(JSON.stringify(state)))
    expect(toHex(restarted.id)).toBe(state.nodeId)
    restarted.start()
    await world.run(30_000)
    expect(restarted.nodeCount).toBeGreaterThan(3)
    // The (unreachable) bootstrap router was never needed.
    expect(restarted.stats().timeouts).toBeLessThan(state.nodes.length)
  })
})
