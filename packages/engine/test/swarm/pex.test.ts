import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { PartialEngineSettings } from '../../src/session/engine-settings.js'
import { bencodeEncode } from '../../src/protocol/bencode.js'
import { decodeExtendedHandshake } from '../../src/protocol/extension-protocol.js'
import { encodeHandshake, HandshakeDecoder } from '../../src/protocol/handshake.js'
import { createMessageCollector, MessageParser } from '../../src/protocol/message-parser.js'
import type { WireMessage } from '../../src/protocol/wire-messages.js'
import type { ITcpSocket } from '../../src/interfaces/socket.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

const PEX_ON: PartialEngineSettings = { discovery: { pex: true }, pex: { intervalMs: 5_000 } }

function makePrivateTorrent (name: string, data: Uint8Array, pieceLengthBytes: number): Uint8Array {
  const pieces: Uint8Array[] = []
  for (let off = 0; off < data.length; off += pieceLengthBytes) {
    pieces.push(new Uint8Array(createHash('sha1').update(data.subarray(off, off + pieceLengthBytes)).digest()))
  }
  const joined = new Uint8Array(pieces.length * 20)
  pieces.forEach((p, i) => joined.set(p, i * 20))
  return bencodeEncode({ info: { length: data.length, name, 'piece length': pieceLengthBytes, pieces: joined, private: 1 } })
}

/** Every address C connected to, in order. */
let connectedToC: string[] = []

/** A seeds; B and C each know only A. */
async function threeNodes (world: SwarmWorld, torrentBytes: Uint8Array, data: Uint8Array): Promise<{
  a: Awaited<ReturnType<SwarmWorld['nodes'][number]['engine']['addTorrent']>>
  b: Awaited<ReturnType<SwarmWorld['nodes'][number]['engine']['addTorrent']>>
  c: Awaited<ReturnType<SwarmWorld['nodes'][number]['engine']['addTorrent']>>
}> {
  // A uploads slowly, so B and C are still downloading (and connected to A) when PEX runs.
  const nodeA = world.addNode('10.0.0.1', { settings: PEX_ON, uploadBytesPerSec: 20_000 })
  // B does not speak PEX, so it cannot learn C and dial it first: C must find B.
  const nodeB = world.addNode('10.0.0.2', { settings: { discovery: { pex: false } } })
  const nodeC = world.addNode('10.0.0.3', { settings: PEX_ON })
  await writeFile(nodeA.fs, 'file.bin', data)
  const a = await nodeA.engine.addTorrent(torrentBytes)
  await world.clock.runUntil(() => a.state === 'seeding', 10_000)
  const b = await nodeB.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
  await world.clock.runUntil(() => a.peers().length === 1, 10_000)
  const c = await nodeC.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
  c.on('peer-connected', ({ peer }) => { connectedToC.push(peer.address) })
  return { a, b, c }
}

describe('swarm: peer exchange (BEP 11)', () => {
  it('C learns B only through PEX from A and connects to it; sources are recorded', async () => {
    connectedToC = []
    const world = new SwarmWorld(21)
    const data = payload(200_000, 5)
    const { a, b, c } = await threeNodes(world, makeTorrent('file.bin', data, 16_384), data)
    const ok = await world.clock.runUntil(() => c.peers().some((p) => p.address === '10.0.0.2:6881'), 60_000)
    expect(ok).toBe(true)
    const viaPex = c.peers().find((p) => p.address === '10.0.0.2:6881')
    expect(viaPex?.source).toBe('pex')
    expect(viaPex?.direction).toBe('outgoing')
    expect(c.state).toBe('downloading')
    expect(c.peers().find((p) => p.address === '10.0.0.1:6881')?.source).toBe('manual')
    expect(a.peers().every((p) => p.source === 'incoming')).toBe(true)
    expect(b.peers().find((p) => p.address.startsWith('10.0.0.3:'))?.source).toBe('incoming')
    expect(await world.clock.runUntil(() => c.state === 'seeding' && b.state === 'seeding', 120_000)).toBe(true)
    expect(Buffer.compare(await readFile(world.nodes[2]!.fs, 'file.bin'), data)).toBe(0)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a seed does not dial a peer PEX names as a seed (it would only close it: nothing to trade)', async () => {
    const world = new SwarmWorld(23)
    const data = payload(100_000, 7)
    const torrentBytes = makeTorrent('file.bin', data, 16_384)
    // Slow seeds: the leecher downloads for several seconds, so its PEX messages reach both.
    const seeds = ['10.0.0.1', '10.0.0.2'].map((ip) => world.addNode(ip, { settings: PEX_ON, uploadBytesPerSec: 10_000 }))
    const leecher = world.addNode('10.0.0.3', { settings: PEX_ON })
    const seedTorrents = []
    for (const node of seeds) {
      await writeFile(node.fs, 'file.bin', data)
      const t = await node.engine.addTorrent(torrentBytes)
      await world.clock.runUntil(() => t.state === 'seeding', 10_000)
      seedTorrents.push(t)
    }
    const seedContacts: string[] = []
    seedTorrents.forEach((t, i) => t.on('peer-connected', ({ peer }) => { if (!peer.address.startsWith('10.0.0.3:')) seedContacts.push(`${i}:${peer.address}`) }))
    const l = await leecher.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881', '10.0.0.2:6881'] })
    // The leecher tells each seed about the other (flag 0x02) for as long as it downloads, and after.
    expect(await world.clock.runUntil(() => l.state === 'seeding', 120_000)).toBe(true)
    await world.clock.advanceAsync(30_000)
    // Each seed heard of the other through the leecher's PEX, and never dialled it.
    expect(seedTorrents[0]!.knownPeerAddresses()).toContain('10.0.0.2:6881')
    expect(seedTorrents[1]!.knownPeerAddresses()).toContain('10.0.0.1:6881')
    expect(seedContacts).toEqual([])
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('never exchanges peers on a private torrent (BEP 27)', async () => {
    const world = new SwarmWorld(22)
    const data = payload(100_000, 6)
    connectedToC = []
    const { c } = await threeNodes(world, makePrivateTorrent('file.bin', data, 16_384), data)
    expect(await world.clock.runUntil(() => c.state === 'seeding', 120_000)).toBe(true)
    await world.clock.advanceAsync(60_000)
    expect(connectedToC).toEqual(['10.0.0.1:6881'])
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('PEX off in the settings: no exchange', async () => {
    const world = new SwarmWorld(23)
    const data = payload(100_000, 7)
    const torrentBytes = makeTorrent('file.bin', data, 16_384)
    const off: PartialEngineSettings = { discovery: { pex: false } }
    const nodes = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip, i) => world.addNode(ip, { settings: off, ...(i === 0 ? { uploadBytesPerSec: 20_000 } : {}) }))
    await writeFile(nodes[0]!.fs, 'file.bin', data)
    const a = await nodes[0]!.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => a.state === 'seeding', 10_000)
    await nodes[1]!.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    const c = await nodes[2]!.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    const seen: string[] = []
    c.on('peer-connected', ({ peer }) => { seen.push(peer.address) })
    expect(await world.clock.runUntil(() => c.state === 'seeding', 120_000)).toBe(true)
    expect(seen).toEqual(['10.0.0.1:6881'])
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('announces ut_pex in the extended handshake of a public torrent only', async () => {
    const world = new SwarmWorld(24)
    const data = payload(50_000, 8)
    const names = new Map<string, string[]>()
    for (const [label, bytes, ip] of [['public', makeTorrent('file.bin', data, 16_384), '10.0.0.1'], ['private', makePrivateTorrent('file.bin', data, 16_384), '10.0.0.2']] as const) {
      const node = world.addNode(ip, { settings: PEX_ON })
      await writeFile(node.fs, 'file.bin', data)
      const t = await node.engine.addTorrent(bytes)
      await world.clock.runUntil(() => t.state === 'seeding', 10_000)
      // A bare client: handshake with the extension bit, then read the engine's extended handshake.
      // The memory network connects in virtual time: drive the clock until the dial settles.
      let connected: ITcpSocket | null = null
      void world.network.host(`10.0.0.${label === 'public' ? 8 : 9}`).connectTcp(ip, 6881, {}).then((s) => { connected = s })
      await world.clock.runUntil(() => connected !== null, 5_000)
      const socket = connected as ITcpSocket | null
      if (socket === null) throw new Error('could not connect')
      const decoder = new HandshakeDecoder()
      const messages: WireMessage[] = []
      const parser = new MessageParser(createMessageCollector((m) => messages.push(m)))
      socket.onData((chunk) => {
        let rest = chunk
        while (rest.length > 0 && decoder.stage !== 'done') rest = rest.subarray(decoder.push(rest))
        if (rest.length > 0) parser.push(rest)
      })
      socket.send(encodeHandshake({ infoHash: t.infoHash, peerId: new Uint8Array(20).fill(9), features: { extensionProtocol: true, fastExtension: false, dht: false } }))
      await world.clock.runUntil(() => messages.some((m) => m.type === 'extended' && m.id === 0), 5_000)
      const ext = messages.find((m) => m.type === 'extended' && m.id === 0)
      if (ext?.type !== 'extended') throw new Error(`no extended handshake from the ${label} torrent`)
      names.set(label, [...decodeExtendedHandshake(ext.payload).m.keys()])
      socket.close()
    }
    expect(names.get('public')).toContain('ut_pex')
    expect(names.get('private')).not.toContain('ut_pex')
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
