import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../../adapters/memory/manual-clock.js'
import { MemoryNetwork, type MemoryNetworkSettings } from '../../../../adapters/memory/memory-network.js'
import type { LodestoneError } from '../../../../src/errors.js'
import type { ITcpServer, ITcpSocket } from '../../../../src/interfaces/socket.js'
import { codeOf } from '../../../contracts/filesystem.contract.js'

/** Drives virtual time until `promise` settles; returns its outcome. */
async function run<T> (clock: ManualClock, promise: Promise<T>, maxMs = 600_000): Promise<T> {
  let outcome: { ok: true, value: T } | { ok: false, error: unknown } | undefined
  promise.then((value) => { outcome = { ok: true, value } }, (error: unknown) => { outcome = { ok: false, error } })
  if (!await clock.runUntil(() => outcome !== undefined, maxMs) || outcome === undefined) throw new Error('never settled')
  if (!outcome.ok) throw outcome.error
  return outcome.value
}

interface World {
  clock: ManualClock
  network: MemoryNetwork
}

function world (settings: Partial<MemoryNetworkSettings> = {}): World {
  const clock = new ManualClock()
  return { clock, network: new MemoryNetwork({ clock }, settings) }
}

async function connectPair (w: World, from = 'a', to = 'b'): Promise<{ server: ITcpServer, client: ITcpSocket, remote: ITcpSocket }> {
  const server = await w.network.host(to).listenTcp(6881)
  let remote: ITcpSocket | undefined
  server.onConnection((s) => { remote = s })
  const client = await run(w.clock, w.network.host(from).connectTcp(to, 6881))
  expect(remote).toBeDefined()
  return { server, client, remote: remote! }
}

/** Ends a test: everything closed, no timer left (the R "last task" check). */
async function expectClean (w: World): Promise<void> {
  expect(await w.clock.advanceUntilIdle(120_000)).toBe(true)
  expect(w.clock.pendingTimers).toBe(0)
  expect(w.network.openSocketCount).toBe(0)
}

function bytes (n: number, seed = 1): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 7 + seed) & 0xff)
}

describe('MemoryNetwork timing (virtual time)', () => {
  it('connects in one round trip and delivers after one latency', async () => {
    const w = world({ latencyMs: 40 })
    const server = await w.network.host('b').listenTcp(80)
    let acceptedAt = -1
    let remote: ITcpSocket | undefined
    server.onConnection((s) => { acceptedAt = w.clock.now(); remote = s })
    const client = await run(w.clock, w.network.host('a').connectTcp('b', 80))
    expect(acceptedAt).toBe(40)
    expect(w.clock.now()).toBe(80)
    const arrivals: number[] = []
    remote!.onData(() => arrivals.push(w.clock.now()))
    client.send(bytes(100))
    await w.clock.runUntil(() => arrivals.length > 0)
    expect(arrivals).toEqual([120])
    client.close()
    remote!.close()
    await server.close()
    await expectClean(w)
  })

  it('per-direction latency overrides apply', async () => {
    const w = world({ latencyMs: 10 })
    w.network.setLink('a', 'b', { latencyMs: 100 })
    const pair = await connectPair(w)
    expect(w.clock.now()).toBe(110) // SYN 100 + SYN-ACK 10
    const atA: number[] = []
    const atB: number[] = []
    pair.client.onData(() => atA.push(w.clock.now()))
    pair.remote.onData(() => atB.push(w.clock.now()))
    pair.client.send(bytes(10))
    pair.remote.send(bytes(10))
    await w.clock.runUntil(() => atA.length > 0 && atB.length > 0)
    expect(atA).toEqual([120])
    expect(atB).toEqual([210])
    pair.client.close()
    await pair.server.close()
    await expectClean(w)
  })

  it('bandwidth paces a transfer: 1 MB at 100 kB/s takes 10 s plus the latency', async () => {
    const w = world({ latencyMs: 5, bandwidthBytesPerSec: 100_000, segmentBytes: 10_000 })
    const { server, client, remote } = await connectPair(w)
    const start = w.clock.now()
    let received = 0
    let doneAt = -1
    remote.onData((d) => { received += d.length; if (received === 1_000_000) doneAt = w.clock.now() })
    let sent = 0
    const pump = (): void => { while (sent < 1_000_000 && client.send(bytes(50_000))) sent += 50_000 }
    client.onDrain(() => { sent += 50_000; pump() })
    if (client.send(bytes(50_000))) { sent += 50_000; pump() }
    expect(await w.clock.runUntil(() => doneAt >= 0)).toBe(true)
    expect(doneAt - start).toBeCloseTo(10_005, 6)
    client.close()
    await server.close()
    await expectClean(w)
  })

  it('throughput is bounded by window / round trip when bandwidth is unlimited', async () => {
    const w = world({ latencyMs: 50, receiveWindowBytes: 65_536 })
    const { server, client, remote } = await connectPair(w)
    const start = w.clock.now()
    let received = 0
    remote.onData((d) => { received += d.length })
    client.send(bytes(1 << 20))
    expect(await w.clock.runUntil(() => received === 1 << 20)).toBe(true)
    // 16 windows of 64 KiB, one per 100 ms round trip: the first arrives after 50 ms.
    expect(w.clock.now() - start).toBe(50 + 15 * 100)
    client.close()
    await server.close()
    await expectClean(w)
  })

  it('a host upload cap is shared by all its connections', async () => {
    const w = world({ latencyMs: 1 })
    w.network.host('seed', { uploadBytesPerSec: 100_000 })
    const server = await w.network.host('seed').listenTcp(1)
    const accepted: ITcpSocket[] = []
    server.onConnection((s) => { accepted.push(s); s.onData(() => {}) })
    const peers = [await run(w.clock, w.network.host('p1').connectTcp('seed', 1)), await run(w.clock, w.network.host('p2').connectTcp('seed', 1))]
    const got = [0, 0]
    peers.forEach((p, i) => p.onData((d) => { got[i]! += d.length }))
    const start = w.clock.now()
    for (const s of accepted) s.send(bytes(500_000))
    expect(await w.clock.runUntil(() => got[0] === 500_000 && got[1] === 500_000)).toBe(true)
    const elapsed = w.clock.now() - start
    expect(elapsed).toBeGreaterThanOrEqual(10_000)
    expect(elapsed).toBeLessThan(10_100)
    for (const p of peers) p.close()
    await server.close()
    await expectClean(w)
  })
})

describe('MemoryNetwork backpressure', () => {
  it('send() returns false above the high-water mark and onDrain fires at the low mark, once', async () => {
    const w = world({ latencyMs: 5, bandwidthBytesPerSec: 1_000_000, sendHighWaterMarkBytes: 32_768, sendLowWaterMarkBytes: 8_192, segmentBytes: 4_096 })
    const { server, client, remote } = await connectPair(w)
    remote.onData(() => {})
    expect(client.send(bytes(20_000))).toBe(true)
    expect(client.send(bytes(20_000))).toBe(false)
    const drainedAt: number[] = []
    client.onDrain(() => drainedAt.push(client.bufferedBytes))
    expect(await w.clock.runUntil(() => drainedAt.length > 0)).toBe(true)
    expect(drainedAt[0]).toBeLessThanOrEqual(8_192)
    await w.clock.advanceAsync(1_000)
    expect(drainedAt.length).toBe(1)
    expect(client.bufferedBytes).toBe(0)
    client.close()
    await server.close()
    await expectClean(w)
  })

  it('a paused reader closes the window; data waits and arrives intact after resume', async () => {
    const w = world({ receiveWindowBytes: 100_000 })
    const { server, client, remote } = await connectPair(w)
    const chunks: Uint8Array[] = []
    remote.pause()
    remote.onData((d) => chunks.push(d))
    const data = bytes(400_000, 9)
    client.send(data)
    await w.clock.advanceAsync(10_000)
    expect(chunks).toEqual([])
    expect(client.bufferedBytes).toBe(300_000)
    remote.resume()
    expect(chunks).toEqual([]) // delivery is never synchronous inside resume()
    expect(await w.clock.runUntil(() => chunks.reduce((n, c) => n + c.length, 0) === 400_000)).toBe(true)
    expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true)
    client.close()
    await server.close()
    await expectClean(w)
  })
})

describe('MemoryNetwork failures', () => {
  it('unknown hosts and partitions time out; a refused port fails after a round trip', async () => {
    const w = world({ latencyMs: 20, connectTimeoutMs: 3_000 })
    const a = w.network.host('a')
    w.network.host('b')
    const start = w.clock.now()
    const err = await run(w.clock, a.connectTcp('nowhere', 1).catch((e: LodestoneError) => e))
    expect(err).toMatchObject({ code: 'PEER_CONNECT_FAILED', details: { reason: 'timeout' } })
    expect(w.clock.now() - start).toBe(3_000)
    const refused = await run(w.clock, a.connectTcp('b', 1).catch((e: LodestoneError) => e))
    expect(refused).toMatchObject({ code: 'PEER_CONNECT_FAILED', details: { reason: 'ECONNREFUSED' } })
    expect(w.clock.now() - start).toBe(3_040)
    const server = await w.network.host('b').listenTcp(1)
    server.onConnection(() => { throw new Error('must not connect across a partition') })
    w.network.partition(['a'], ['b'])
    const cut = await run(w.clock, a.connectTcp('b', 1, { timeoutMs: 500 }).catch((e: LodestoneError) => e))
    expect(cut).toMatchObject({ code: 'PEER_CONNECT_FAILED', details: { reason: 'timeout' } })
    await server.close()
    await expectClean(w)
  })

  it('an abort during the connect throws ABORTED and resets the half-open server side', async () => {
    const w = world({ latencyMs: 50 })
    const server = await w.network.host('b').listenTcp(7)
    const closes: Array<string | undefined> = []
    server.onConnection((s) => { s.onData(() => {}); s.onClose((r) => closes.push((r?.details as { reason?: string } | undefined)?.reason)) })
    const ac = new AbortController()
    const pending = w.network.host('a').connectTcp('b', 7, { signal: ac.signal }).catch((e: LodestoneError) => e)
    await w.clock.advanceAsync(60) // the server has accepted, the SYN-ACK is in flight
    ac.abort()
    expect(await run(w.clock, pending)).toMatchObject({ code: 'ABORTED' })
    await w.clock.advanceAsync(100)
    expect(closes).toEqual(['reset'])
    await server.close()
    await expectClean(w)
  })

  it('a partition stalls an established connection; heal resumes it without loss', async () => {
    const w = world({ latencyMs: 10 })
    const { server, client, remote } = await connectPair(w)
    let received = 0
    remote.onData((d) => { received += d.length })
    w.network.partition(['a'], ['b'])
    client.send(bytes(200_000))
    await w.clock.advanceAsync(60_000)
    expect(received).toBe(0)
    w.network.heal()
    expect(await w.clock.runUntil(() => received === 200_000)).toBe(true)
    client.close()
    await server.close()
    await expectClean(w)
  })

  it('resetConnections closes both ends with PEER_CLOSED reset', async () => {
    const w = world()
    const { server, client, remote } = await connectPair(w)
    const reasons: string[] = []
    for (const s of [client, remote]) s.onClose((r) => reasons.push(`${r?.code}:${(r?.details as { reason: string }).reason}`))
    expect(w.network.resetConnections('a', 'b')).toBe(2)
    expect(reasons).toEqual(['PEER_CLOSED:reset', 'PEER_CLOSED:reset'])
    expect(w.network.resetConnections()).toBe(0)
    await server.close()
    await expectClean(w)
  })

  it('a close that cannot flush within lingerMs resets the peer', async () => {
    const w = world({ lingerMs: 2_000, receiveWindowBytes: 16_384 })
    const { server, client, remote } = await connectPair(w)
    const reasons: Array<string | undefined> = []
    remote.pause()
    remote.onData(() => {})
    remote.onClose((r) => reasons.push((r?.details as { reason?: string } | undefined)?.reason))
    client.send(bytes(100_000))
    client.close()
    await w.clock.advanceAsync(1_999)
    expect(reasons).toEqual([])
    await w.clock.advanceAsync(2)
    expect(reasons).toEqual(['reset'])
    await server.close()
    await expectClean(w)
  })

  it('closing a server resets connections it accepted but never handed out', async () => {
    const w = world({ latencyMs: 30 })
    const server = await w.network.host('b').listenTcp(9)
    const pending = w.network.host('a').connectTcp('b', 9).catch((e: LodestoneError) => e)
    await w.clock.advanceAsync(35) // accepted into the backlog, no onConnection yet
    await server.close()
    expect(await run(w.clock, pending)).toMatchObject({ code: 'PEER_CONNECT_FAILED', details: { reason: 'ECONNRESET' } })
    await expectClean(w)
  })

  it('refuses binding an address the host does not have, and bad settings', async () => {
    const w = world()
    expect(await codeOf(w.network.host('a').listenTcp(0, '10.9.9.9'))).toBe('LISTEN_FAILED')
    expect(await codeOf(w.network.host('a').bindUdp(0, '10.9.9.9'))).toBe('LISTEN_FAILED')
    expect(await codeOf(w.network.host('a').listenTcp(70_000))).toBe('LISTEN_FAILED')
    const ok = await w.network.host('a').listenTcp(0, '0.0.0.0')
    await ok.close()
    const clock = new ManualClock()
    expect(() => new MemoryNetwork({ clock }, { lossRate: 2 })).toThrow(expect.objectContaining({ code: 'SETTINGS_INVALID' }))
    expect(() => new MemoryNetwork({ clock }, { sendLowWaterMarkBytes: 1 << 20 })).toThrow(expect.objectContaining({ code: 'SETTINGS_INVALID' }))
  })
})

describe('MemoryNetwork UDP', () => {
  async function udpRun (seed: number, settings: Partial<MemoryNetworkSettings>): Promise<Array<[number, number]>> {
    const w = world({ seed, ...settings })
    const a = await w.network.host('a').bindUdp(0)
    const b = await w.network.host('b').bindUdp(6881)
    const got: Array<[number, number]> = []
    b.onMessage((d, remote) => {
      expect(remote).toEqual({ address: 'a', port: a.port })
      got.push([d[0]! | (d[1]! << 8), w.clock.now()])
    })
    for (let i = 0; i < 1000; i++) a.send(new Uint8Array([i & 0xff, i >> 8]), 'b', 6881)
    await w.clock.advanceUntilIdle()
    a.close()
    b.close()
    await expectClean(w)
    return got
  }

  it('delivers after the latency; loss is seeded and reproducible', async () => {
    const clean = await udpRun(1, { latencyMs: 25 })
    expect(clean.length).toBe(1000)
    expect(clean.every(([, t]) => t === 25)).toBe(true)
    const lossy1 = await udpRun(42, { lossRate: 0.3 })
    const lossy2 = await udpRun(42, { lossRate: 0.3 })
    const lossy3 = await udpRun(43, { lossRate: 0.3 })
    expect(lossy1).toEqual(lossy2)
    expect(lossy1).not.toEqual(lossy3)
    expect(lossy1.length).toBeGreaterThan(600)
    expect(lossy1.length).toBeLessThan(800)
  })

  it('jitter reorders datagrams but loses none', async () => {
    const got = await udpRun(5, { latencyMs: 10, jitterMs: 50 })
    expect(got.length).toBe(1000)
    const ids = got.map(([id]) => id)
    expect(ids).not.toEqual([...ids].sort((x, y) => x - y))
    expect(new Set(ids).size).toBe(1000)
  })

  it('drops oversized datagrams, datagrams across a partition and to closed ports', async () => {
    const w = world({ maxDatagramBytes: 1000 })
    const a = await w.network.host('a').bindUdp(0)
    const b = await w.network.host('b').bindUdp(0)
    const got: number[] = []
    b.onMessage((d) => got.push(d.length))
    a.send(new Uint8Array(1001), 'b', b.port)
    a.send(new Uint8Array(1000), 'b', b.port)
    w.network.partition(['a'], ['b'])
    a.send(new Uint8Array(10), 'b', b.port)
    w.network.heal()
    a.send(new Uint8Array(20), 'b', b.port + 1)
    a.send(new Uint8Array(30), 'nowhere', 1)
    await w.clock.advanceUntilIdle()
    expect(got).toEqual([1000])
    a.close()
    b.close()
    await expectClean(w)
  })
})

describe('MemoryNetwork determinism and hygiene', () => {
  async function scenario (seed: number): Promise<string[]> {
    const w = world({ seed, latencyMs: 3, jitterMs: 7, lossRate: 0.2, bandwidthBytesPerSec: 2_000_000 })
    const trace: string[] = []
    const server = await w.network.host('s').listenTcp(1)
    server.onConnection((s) => {
      s.onData((d) => { trace.push(`s<-${d.length}@${w.clock.now()}`); s.send(d.slice(0, 10)) })
      s.onClose((r) => trace.push(`s-close:${r?.code}@${w.clock.now()}`))
    })
    const clients: ITcpSocket[] = []
    for (const h of ['c1', 'c2', 'c3']) clients.push(await run(w.clock, w.network.host(h).connectTcp('s', 1)))
    const udp = await w.network.host('c1').bindUdp(0)
    const udpServer = await w.network.host('s').bindUdp(2)
    udpServer.onMessage((d, r) => trace.push(`u<-${d[0]} from ${r.address}@${w.clock.now()}`))
    clients.forEach((c, i) => {
      c.onData((d) => trace.push(`c${i}<-${d.length}@${w.clock.now()}`))
      c.send(bytes(30_000 * (i + 1)))
    })
    for (let i = 0; i < 50; i++) udp.send(new Uint8Array([i]), 's', 2)
    await w.clock.advanceAsync(1_000)
    for (const c of clients) c.close()
    udp.close()
    udpServer.close()
    await server.close()
    await expectClean(w)
    return trace
  }

  it('the same seed gives the same trace; another seed a different one', async () => {
    const first = await scenario(7)
    expect(first.length).toBeGreaterThan(20)
    expect(await scenario(7)).toEqual(first)
    expect(await scenario(8)).not.toEqual(first)
  })

  it('counts open handles per host and overall', async () => {
    const w = world()
    const server = await w.network.host('b').listenTcp(1)
    // A socket learns of the peer's close by reading (as with Node streams): the server reads.
    server.onConnection((s) => { s.onData(() => {}) })
    const client = await run(w.clock, w.network.host('a').connectTcp('b', 1))
    const udp = await w.network.host('a').bindUdp(0)
    expect(w.network.stats()).toEqual({ tcpSockets: 2, tcpServers: 1, udpSockets: 1 })
    expect(w.network.host('a').openSocketCount).toBe(2)
    expect(w.network.host('b').openSocketCount).toBe(2)
    client.close()
    udp.close()
    await w.clock.advanceUntilIdle()
    expect(w.network.stats()).toEqual({ tcpSockets: 0, tcpServers: 1, udpSockets: 0 })
    await server.close()
    await expectClean(w)
  })

  it('delivers plain Uint8Arrays even when Buffers are sent, and copies datagrams at send', async () => {
    const w = world()
    const { server, client, remote } = await connectPair(w)
    const chunks: Uint8Array[] = []
    remote.onData((d) => chunks.push(d))
    client.send(Buffer.from('buffer bytes'))
    const a = await w.network.host('a').bindUdp(0)
    const b = await w.network.host('b').bindUdp(0)
    const datagrams: Uint8Array[] = []
    b.onMessage((d) => datagrams.push(d))
    const reused = Buffer.from('first')
    a.send(reused, 'b', b.port)
    reused.write('XXXXX')
    await w.clock.advanceUntilIdle()
    expect(chunks.map((c) => Object.getPrototypeOf(c) === Uint8Array.prototype)).toEqual([true])
    expect(new TextDecoder().decode(chunks[0])).toBe('buffer bytes')
    expect(new TextDecoder().decode(datagrams[0])).toBe('first')
    expect(Object.getPrototypeOf(datagrams[0])).toBe(Uint8Array.prototype)
    a.close()
    b.close()
    client.close()
    remote.close()
    await server.close()
    await expectClean(w)
  })

  it('gives each outgoing connection its own ephemeral port and reuses ports after close', async () => {
    const w = world()
    const server = await w.network.host('b').listenTcp(1)
    server.onConnection((s) => { s.onData(() => {}) })
    const c1 = await run(w.clock, w.network.host('a').connectTcp('b', 1))
    const c2 = await run(w.clock, w.network.host('a').connectTcp('b', 1))
    expect(c1.localPort).not.toBe(c2.localPort)
    expect(await codeOf(w.network.host('a').listenTcp(c1.localPort))).toBe('LISTEN_FAILED')
    c1.close()
    c2.close()
    await w.clock.advanceUntilIdle()
    const reuse = await w.network.host('a').listenTcp(c1.localPort)
    await reuse.close()
    await server.close()
    await expectClean(w)
  })
})
