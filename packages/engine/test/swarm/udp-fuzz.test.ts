/**
 * Fuzz through the engine's shared UDP socket (issue 11): 100 000 random and mutated datagrams —
 * uTP-looking, KRPC-looking ('d…'), tracker-looking and plain noise, plus real uTP traffic with bit
 * flips and truncation — sent at an engine's UDP port from stranger hosts while that engine
 * downloads over uTP. The UdpMux classifies each, the uTP manager drops what is not its own; no
 * handler throws, half-open connections stay bounded, and the real download completes intact.
 */
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../src/interfaces/random.js'
import type { IUdpSocket } from '../../src/interfaces/socket.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

const INPUTS = 100_000

describe('swarm: hostile datagrams at the engine UDP port', () => {
  it('100 000 random and mutated datagrams through the mux never throw and do not disturb a uTP download', async () => {
    const world = new SwarmWorld(77, { latencyMs: 2 })
    const rnd = seededRandom(20_261_207)
    const int = (n: number): number => Math.floor(rnd.next() * n)
    const data = payload(2_000_000, 77)
    const torrentBytes = makeTorrent('file.bin', data, 65_536)
    const uTpOnly = { transport: { tcp: false } }
    const seed = world.addNode('10.0.0.1', { settings: uTpOnly, uploadBytesPerSec: 1_000_000 })
    await writeFile(seed.fs, 'file.bin', data)
    // Record what the leecher's UDP socket sends, to mutate real traffic.
    const captured: Uint8Array[] = []
    const leechFactory = world.network.host('10.0.0.2')
    const bindUdp = leechFactory.bindUdp.bind(leechFactory)
    leechFactory.bindUdp = async (port, host) => {
      const socket = await bindUdp(port, host)
      const send = socket.send.bind(socket)
      socket.send = (d, h, p) => {
        if (captured.length < 2_000) captured.push(d.slice())
        send(d, h, p)
      }
      return socket
    }
    const leech = world.addNode('10.0.0.2', { settings: uTpOnly })
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    await world.clock.runUntil(() => t.stats().downloadedBytes > 200_000, 30_000)
    expect(captured.length).toBeGreaterThan(20)

    const strangers: IUdpSocket[] = []
    for (let i = 0; i < 8; i++) strangers.push(await world.network.host(`203.0.113.${i + 1}`).bindUdp(40_000 + i))
    const targets = ['10.0.0.1', '10.0.0.2']
    for (let i = 0; i < INPUTS; i++) {
      let datagram: Uint8Array
      const kind = int(5)
      if (kind === 0) {
        datagram = new Uint8Array(int(80))
        rnd.fill(datagram)
      } else if (kind === 1) {
        // A plausible uTP header (version 1, type 0..4) with random fields and extensions.
        datagram = new Uint8Array(20 + int(60))
        rnd.fill(datagram)
        datagram[0] = (int(5) << 4) | 1
        datagram[1] = int(4)
      } else if (kind === 2) {
        // KRPC-looking (what the DHT channel gets) or tracker-looking (action 0..3 first).
        datagram = new Uint8Array(1 + int(120))
        rnd.fill(datagram)
        if (int(2) === 0) datagram[0] = 0x64
        else datagram.fill(0, 0, Math.min(4, datagram.length))
      } else {
        const original = captured[int(captured.length)]!
        datagram = original.slice(0, kind === 3 ? original.length : int(original.length + 1))
        for (let f = 1 + int(4); f > 0 && datagram.length > 0; f--) datagram[int(datagram.length)]! ^= 1 << int(8)
      }
      strangers[int(strangers.length)]!.send(datagram, targets[int(2)]!, 6881)
      if (i % 5_000 === 4_999) await world.clock.runUntil(() => false, 10)
    }
    expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'file.bin'), data)).toBe(0)
    for (const node of [seed, leech]) {
      const udp = node.engine.stats().udp!
      expect(udp.mux.utp.handlerErrors + udp.mux.krpc.handlerErrors + udp.mux.tracker.handlerErrors).toBe(0)
      expect(udp.utp.handlerErrors).toBe(0)
      expect(udp.utp.halfOpen).toBeLessThanOrEqual(128)
      expect(udp.mux.utp.packetsIn + udp.mux.krpc.packetsIn + udp.mux.tracker.packetsIn).toBeGreaterThan(INPUTS / 2 - 2_000)
    }
    const both = [seed, leech].map((n) => n.engine.stats().udp!)
    expect(both.reduce((n, u) => n + u.utp.invalidPackets + u.utp.unknownConnection, 0)).toBeGreaterThan(20_000)
    expect(both.reduce((n, u) => n + u.mux.krpc.dropped, 0)).toBeGreaterThan(5_000)
    for (const s of strangers) s.close()
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
