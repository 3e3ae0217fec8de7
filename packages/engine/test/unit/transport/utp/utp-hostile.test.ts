import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../../src/interfaces/random.js'
import type { IUdpSocket, UdpRemote } from '../../../../src/interfaces/socket.js'
import { ST_SYN, writeUtpHeader } from '../../../../src/transport/utp/utp-packet.js'
import { HOST_A, HOST_B, PORT, collect, connectPair, equalBytes, makePair, pattern, writeAll } from './utp-test-kit.js'

function syn (id: number, seq: number): Uint8Array {
  const buf = new Uint8Array(20)
  writeUtpHeader(buf, 0, ST_SYN, 0, id, 1, 0, 65_536, seq, 0)
  return buf
}

/** Records what a UDP socket sends (copies), to mutate real traffic later. */
function record (socket: IUdpSocket, into: Uint8Array[]): void {
  const send = socket.send.bind(socket)
  socket.send = (data, host, port) => {
    if (into.length < 5_000) into.push(data.slice())
    send(data, host, port)
  }
}

describe('uTP under hostile input', () => {
  it('bounds a SYN flood: half-open connections are capped, expire, and never reach the application', async () => {
    const pair = await makePair({ settingsB: { maxHalfOpen: 50, halfOpenTimeoutMs: 5_000 } })
    let accepted = 0
    pair.b.onConnection(() => { accepted++ })
    for (let i = 0; i < 5_000; i++) {
      pair.b.handleDatagram(syn(i & 0xffff, i), { address: `192.0.2.${i % 200}`, port: 1_000 + i })
    }
    pair.b.flush()
    const s = pair.b.stats()
    expect(s.halfOpen).toBe(50)
    expect(s.connections).toBe(50)
    expect(s.synDropped).toBe(4_950)
    await pair.runUntil(() => pair.b.stats().connections === 0, 10_000)
    expect(pair.b.stats().halfOpenExpired).toBe(50)
    expect(accepted).toBe(0)
    // A real peer gets through once the flood has expired.
    const { serverGot } = await connectPair(pair)
    expect(serverGot.bytes).toBe(3)
  })

  it('drops and counts malformed, unknown-connection and forged packets without disturbing a connection', async () => {
    const pair = await makePair()
    const { client, serverGot } = await connectPair(pair)
    const from: UdpRemote = { address: HOST_A, port: PORT }
    const before = pair.b.stats()
    pair.b.handleDatagram(new Uint8Array(5), from) // short
    pair.b.handleDatagram(Uint8Array.from({ length: 20 }, () => 0x02), from) // version 2
    const unknown = new Uint8Array(20)
    writeUtpHeader(unknown, 0, 0, 0, 0x7777, 1, 0, 1_000, 5, 5)
    pair.b.handleDatagram(unknown, { address: '198.51.100.1', port: 9 }) // no such connection
    const after = pair.b.stats()
    expect(after.invalidPackets - before.invalidPackets).toBe(2)
    expect(after.unknownConnection - before.unknownConnection).toBe(1)
    const data = pattern(200_000, 3)
    writeAll(client, data)
    expect(await pair.runUntil(() => serverGot.bytes === 3 + data.length)).toBe(true)
    expect(equalBytes(serverGot.concat().subarray(3), data)).toBe(true)
  })

  it('fuzz: 100 000 random and mutated datagrams never throw, memory stays bounded, a connection from elsewhere survives', async () => {
    const seed = 20_261_207
    const rnd = seededRandom(seed)
    const int = (n: number): number => Math.floor(rnd.next() * n)
    const pair = await makePair({ settingsB: { maxHalfOpen: 64 } })
    const captured: Uint8Array[] = []
    record(pair.udpA, captured)
    record(pair.udpB, captured)
    const { client, server, serverGot } = await connectPair(pair)
    const clientGot = collect(client)
    const up = pattern(600_000, 5)
    const down = pattern(300_000, 6)
    const w1 = writeAll(client, up)
    const w2 = writeAll(server, down)
    await pair.runUntil(() => serverGot.bytes > 100_000, 60_000)
    expect(captured.length).toBeGreaterThan(50)
    const ids = new Set<number>()
    for (const p of captured) ids.add((p[2]! << 8) | p[3]!)

    let thrown = 0
    const targets = [pair.a, pair.b]
    for (let i = 0; i < 100_000; i++) {
      let datagram: Uint8Array
      const kind = int(4)
      if (kind === 0) {
        datagram = new Uint8Array(int(64))
        rnd.fill(datagram)
      } else if (kind === 1) {
        // A plausible header with random fields (type 0..4, version 1) and random extensions.
        datagram = new Uint8Array(20 + int(60))
        rnd.fill(datagram)
        datagram[0] = (int(5) << 4) | 1
        datagram[1] = int(4)
      } else {
        // Real traffic, mutated: bit flips, truncation, extension damage, field swaps.
        const original = captured[int(captured.length)]!
        datagram = original.slice(0, kind === 2 ? original.length : int(original.length + 1))
        const flips = 1 + int(4)
        for (let f = 0; f < flips && datagram.length > 0; f++) datagram[int(datagram.length)]! ^= 1 << int(8)
      }
      // Mostly from strangers (so the real connection must not be disturbed); some from the
      // peer's own address but with ids that are not the connection's.
      let remote: UdpRemote = { address: `203.0.113.${int(250)}`, port: 1 + int(65_000) }
      if (int(10) === 0 && datagram.length >= 4) {
        let id = int(65_536)
        while (ids.has(id) || ids.has((id + 1) & 0xffff) || ids.has((id - 1) & 0xffff)) id = int(65_536)
        datagram[2] = id >> 8
        datagram[3] = id & 0xff
        if (datagram.length > 0 && (datagram[0]! >> 4) === ST_SYN) datagram[0] = 0x01 // no SYNs from the peer's address
        remote = { address: kind === 3 ? HOST_B : HOST_A, port: PORT }
      }
      try {
        targets[int(2)]!.handleDatagram(datagram, remote)
      } catch {
        thrown++
      }
      if (i % 2_000 === 1_999) await pair.runUntil(() => false, 20)
    }
    expect(thrown).toBe(0)
    for (const m of targets) {
      const s = m.stats()
      expect(s.connections).toBeLessThanOrEqual(1 + 128)
      expect(s.handlerErrors).toBe(0)
    }
    expect(pair.b.stats().invalidPackets + pair.a.stats().invalidPackets).toBeGreaterThan(10_000)
    // The real transfer finishes intact.
    expect(await pair.runUntil(() => w1.done() && w2.done() && serverGot.bytes === 3 + up.length && clientGot.bytes === down.length, 300_000)).toBe(true)
    expect(equalBytes(serverGot.concat().subarray(3), up)).toBe(true)
    expect(equalBytes(clientGot.concat(), down)).toBe(true)
    // Half-open leftovers of the fuzz expire.
    expect(await pair.runUntil(() => pair.b.stats().halfOpen === 0 && pair.a.stats().halfOpen === 0, 30_000)).toBe(true)
  })
})
