import { describe, expect, it } from 'vitest'
import type { LodestoneError } from '../../../../src/errors.js'
import type { ITcpSocket } from '../../../../src/interfaces/socket.js'
import { HOST_A, HOST_B, PORT, collect, connectPair, equalBytes, makePair, pattern, writeAll } from './utp-test-kit.js'

describe('uTP connection over the memory network', () => {
  it('connects and moves data both ways, byte-identical', async () => {
    const pair = await makePair()
    const { client, server, serverGot } = await connectPair(pair)
    const clientGot = collect(client)
    const up = pattern(1_000_000, 2)
    const down = pattern(700_000, 3)
    const w1 = writeAll(client, up)
    const w2 = writeAll(server, down)
    expect(await pair.runUntil(() => serverGot.bytes >= 3 + up.length && clientGot.bytes >= down.length)).toBe(true)
    expect(w1.done() && w2.done()).toBe(true)
    expect(equalBytes(serverGot.concat().subarray(3), up)).toBe(true)
    expect(equalBytes(clientGot.concat(), down)).toBe(true)
    const stats = pair.a.stats()
    expect(stats.connected).toBe(1)
    expect(pair.b.stats().accepted).toBe(1)
    expect(stats.invalidPackets + stats.outOfWindow + stats.handlerErrors).toBe(0)
  })

  it('batches acks: far fewer acks than data packets on a clean link', async () => {
    const pair = await makePair({ link: { latencyMs: 5 } })
    const { client, serverGot } = await connectPair(pair)
    const data = pattern(2_000_000, 4)
    writeAll(client, data)
    expect(await pair.runUntil(() => serverGot.bytes >= 3 + data.length)).toBe(true)
    const sent = pair.a.stats().packetsOut
    const acks = pair.b.stats().packetsOut
    expect(sent).toBeGreaterThan(data.length / 1400)
    expect(acks).toBeLessThan(sent / 2)
  })

  it('closes gracefully: every byte arrives before the peer sees the close, then nothing is left', async () => {
    const pair = await makePair()
    const { client, server, serverGot } = await connectPair(pair)
    const clientGot = collect(client)
    const data = pattern(300_000, 5)
    // Queued past the high-water mark on purpose: close() must still flush all of it.
    for (let o = 0; o < data.length; o += 30_000) client.send(data.slice(o, o + 30_000))
    client.close()
    expect(await pair.runUntil(() => serverGot.closed)).toBe(true)
    expect(serverGot.bytes).toBe(3 + data.length)
    expect(serverGot.reason?.code).toBe('PEER_CLOSED')
    expect(serverGot.reason?.details).toEqual({ reason: 'remote closed' })
    expect(clientGot.closed).toBe(true)
    expect(clientGot.reason).toBeUndefined()
    expect(server.send(new Uint8Array(1))).toBe(false)
    expect(await pair.runUntil(() => pair.a.stats().connections === 0 && pair.b.stats().connections === 0)).toBe(true)
    expect(pair.clock.pendingTimers).toBe(0)
  })

  it('reports a RESET as PEER_CLOSED reset and a closing manager resets its peers', async () => {
    const pair = await makePair()
    const { client, serverGot } = await connectPair(pair)
    const clientGot = collect(client)
    pair.b.close()
    expect(await pair.runUntil(() => clientGot.closed)).toBe(true)
    expect(clientGot.reason?.details).toEqual({ reason: 'reset' })
    expect(serverGot.closed).toBe(true)
    expect(pair.a.stats().resetsIn).toBe(1)
    expect(pair.a.stats().connections).toBe(0)
  })

  it('fails a connect to a host that never answers, within the time-out', async () => {
    const pair = await makePair()
    pair.udpB.close()
    let error: unknown
    const started = pair.clock.now()
    pair.a.connect(HOST_B, PORT, { timeoutMs: 800 }).catch((e: unknown) => { error = e })
    await pair.runUntil(() => error !== undefined, 5_000)
    expect((error as LodestoneError).code).toBe('PEER_CONNECT_FAILED')
    expect((error as LodestoneError).details).toMatchObject({ reason: 'timeout' })
    expect(pair.clock.now() - started).toBeLessThanOrEqual(800)
    expect(pair.a.stats().connections).toBe(0)
    expect(pair.clock.pendingTimers).toBe(0)
  })

  it('gives up on SYNs after synRetransmits and aborts on a signal', async () => {
    const pair = await makePair({ settingsA: { synRetransmits: 1, initialRtoMs: 200, connectTimeoutMs: 60_000 } })
    pair.udpB.close()
    let error: unknown
    pair.a.connect(HOST_B, PORT).catch((e: unknown) => { error = e })
    await pair.runUntil(() => error !== undefined, 10_000)
    expect((error as LodestoneError).code).toBe('PEER_CONNECT_FAILED')
    expect(pair.a.stats().packetsOut).toBe(2)
    const abort = new AbortController()
    let aborted: unknown
    pair.a.connect(HOST_B, PORT, { signal: abort.signal }).catch((e: unknown) => { aborted = e })
    abort.abort()
    await pair.runUntil(() => aborted !== undefined, 1_000)
    expect((aborted as LodestoneError).code).toBe('ABORTED')
    expect(pair.a.stats().connections).toBe(0)
  })

  it('times out a peer that stops acknowledging', async () => {
    const pair = await makePair({ settingsA: { maxRetransmits: 3 } })
    const { client } = await connectPair(pair)
    const clientGot = collect(client)
    pair.network.partition([HOST_A], [HOST_B])
    client.send(pattern(50_000))
    expect(await pair.runUntil(() => clientGot.closed, 120_000)).toBe(true)
    expect(clientGot.reason?.details).toEqual({ reason: 'timeout' })
    expect(pair.a.stats().timeouts).toBe(4)
  })

  it('applies backpressure: send() turns false above the high-water mark and onDrain follows', async () => {
    // A window below the marks leaves them as configured (send-water-marks.test.ts: raised by a large window).
    const pair = await makePair({ settingsA: { sendHighWaterMarkBytes: 50_000, sendLowWaterMarkBytes: 10_000, maxWindowBytes: 5_000 } })
    const { client, serverGot } = await connectPair(pair)
    expect(client.send(new Uint8Array(40_000))).toBe(true)
    expect(client.send(new Uint8Array(40_000))).toBe(false)
    expect(client.bufferedBytes).toBeGreaterThan(50_000)
    let drained = 0
    client.onDrain(() => { drained++ })
    expect(await pair.runUntil(() => drained > 0)).toBe(true)
    expect(client.bufferedBytes).toBeLessThanOrEqual(10_000)
    expect(await pair.runUntil(() => serverGot.bytes === 3 + 80_000)).toBe(true)
  })

  it('a paused reader closes the window and stalls the sender; resume lets it finish', async () => {
    const pair = await makePair({ settingsB: { receiveWindowBytes: 64_000 } })
    const { client, server, serverGot } = await connectPair(pair)
    server.pause()
    const data = pattern(400_000, 9)
    writeAll(client, data)
    await pair.runUntil(() => false, 5_000)
    const buffered = serverGot.bytes
    expect(buffered).toBe(3)
    // The sender holds the rest: at most a window (plus probe tolerance) went out.
    expect(pair.a.stats().payloadBytesOut).toBeLessThan(3 + 64_000 + 4 * 1400 + 20_000)
    expect(pair.b.stats().overflowDropped).toBeLessThan(5)
    server.resume()
    expect(await pair.runUntil(() => serverGot.bytes === 3 + data.length, 60_000)).toBe(true)
    expect(equalBytes(serverGot.concat().subarray(3), data)).toBe(true)
  })

  it('sends keep-alives on an idle connection and times out a vanished peer', async () => {
    const pair = await makePair({ settingsA: { idleTimeoutMs: 100_000, keepAliveIntervalMs: 29_000 }, settingsB: { idleTimeoutMs: 0 } })
    const { client } = await connectPair(pair)
    const clientGot = collect(client)
    const before = pair.b.stats().packetsIn
    await pair.runUntil(() => false, 60_000)
    expect(pair.b.stats().packetsIn - before).toBeGreaterThanOrEqual(2)
    expect(clientGot.closed).toBe(false)
    pair.network.partition([HOST_A], [HOST_B])
    expect(await pair.runUntil(() => clientGot.closed, 200_000)).toBe(true)
    expect(clientGot.reason?.details).toEqual({ reason: 'timeout' })
  })

  it('wraps 16-bit sequence numbers (initial numbers just below 65 536)', async () => {
    const nearTop = { next: () => 0.9999, fill: (b: Uint8Array) => b }
    const pair = await makePair({ randomA: nearTop, randomB: nearTop })
    const { client, server, serverGot } = await connectPair(pair)
    const clientGot = collect(client)
    const up = pattern(400_000, 11)
    const down = pattern(300_000, 12)
    writeAll(client, up)
    writeAll(server, down)
    expect(await pair.runUntil(() => serverGot.bytes === 3 + up.length && clientGot.bytes === down.length)).toBe(true)
    expect(equalBytes(serverGot.concat().subarray(3), up)).toBe(true)
    expect(equalBytes(clientGot.concat(), down)).toBe(true)
  })

  it('delivers owned chunks through onData too', async () => {
    const pair = await makePair()
    let server: ITcpSocket | undefined
    pair.b.onConnection((s) => { server = s })
    let client: ITcpSocket | undefined
    void pair.a.connect(HOST_B, PORT).then((s) => { client = s })
    await pair.runUntil(() => client !== undefined)
    const data = pattern(100_000, 13)
    writeAll(client!, data)
    await pair.runUntil(() => server !== undefined)
    const got = collect(server!, false)
    expect(await pair.runUntil(() => got.bytes === data.length)).toBe(true)
    expect(equalBytes(got.concat(), data)).toBe(true)
  })

  it('coalesces small writes of one turn into full packets (Nagle-like)', async () => {
    const pair = await makePair()
    const { client, serverGot } = await connectPair(pair)
    await pair.runUntil(() => false, 1_000)
    const before = pair.a.stats().packetsOut
    for (let i = 0; i < 400; i++) client.send(new Uint8Array(17).fill(i & 0xff)) // 6 800 bytes of REQUEST-sized writes
    expect(await pair.runUntil(() => serverGot.bytes === 3 + 400 * 17)).toBe(true)
    // 6 800 bytes fit in 5 packets of 1 400; a packet per write would be 400.
    expect(pair.a.stats().packetsOut - before).toBeLessThanOrEqual(8)
  })
})
