/**
 * Our own event-loop stalls are not queueing on the path (one-way-delay.ts, utp-manager.ts): a
 * receiver that reads its socket late echoes the delay its packets had on the way, not the time
 * they sat unread, so the sender's LEDBAT does not halve its window for a stall. Found on the
 * bottleneck test (interop/utp/bottleneck.test.ts): at load 15-20 stalls of 100-200 ms read as
 * queueing and cut the window.
 */
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../../adapters/memory/manual-clock.js'
import { MemoryNetwork } from '../../../../adapters/memory/memory-network.js'
import { seededRandom } from '../../../../src/interfaces/random.js'
import type { ITcpSocket, UdpRemote } from '../../../../src/interfaces/socket.js'
import { OneWayDelay } from '../../../../src/transport/utp/one-way-delay.js'
import { UtpManager, type UtpDatagramChannel } from '../../../../src/transport/utp/utp-manager.js'
import { PARSE_OK, ST_STATE, UtpHeader, parseUtpHeader } from '../../../../src/transport/utp/utp-packet.js'
import { HOST_A, HOST_B, PORT, collect, microSettle, pattern, writeAll } from './utp-test-kit.js'

describe('OneWayDelay', () => {
  it('takes what a packet may have waited in our socket off the echoed delay, never below the base', () => {
    const d = new OneWayDelay()
    d.onRemoteTimestamp(1_000, 11_000, 0, 0) // base: 10 ms (clock offset + path)
    d.onRemoteTimestamp(2_000, 162_000, 120_000, 1) // 150 ms above the base, 120 of it unread in our socket
    expect(d.replyMicro).toBe(40_000)
    d.onRemoteTimestamp(3_000, 63_000, 500_000, 2) // waited longer than it is above the base
    expect(d.replyMicro).toBe(10_000)
    d.onRemoteTimestamp(4_000, 9_000, 500_000, 3) // below the base: the new base, as measured
    expect(d.replyMicro).toBe(5_000)
    d.onRemoteTimestamp(0xffff_f000, (0xffff_f000 + 35_000) >>> 0, 20_000, 4) // our clock wrapped past 2^32
    expect(d.replyMicro).toBe(15_000)
  })

  it('filters the echoed delay over the last three samples', () => {
    const d = new OneWayDelay()
    expect(d.onEchoedDelay(50_000, 0)).toBe(0)
    expect(d.onEchoedDelay(250_000, 1)).toBe(0)
    expect(d.onEchoedDelay(250_000, 2)).toBe(0)
    expect(d.onEchoedDelay(250_000, 3)).toBe(200_000)
  })
})

describe('a receiver that stalls', () => {
  it('echoes the path delay, not the time the packets waited unread', async () => {
    const clock = new ManualClock()
    const network = new MemoryNetwork({ clock }, { latencyMs: 10, bandwidthBytesPerSec: 4_000_000, seed: 3 })
    const udpA = await network.host(HOST_A).bindUdp(PORT)
    const udpB = await network.host(HOST_B).bindUdp(PORT)
    // B's channel holds what arrives while B is "stalled" and hands it over at the end of the
    // stall in runs of 32, each closed by a batch end, as libuv reads a busy socket.
    let stalled = false
    const held: Array<[Uint8Array, UdpRemote]> = []
    let deliver: ((data: Uint8Array, remote: UdpRemote) => void) | undefined
    let batchEnd: (() => void) | undefined
    const echoed: Array<{ atMs: number, diffUs: number }> = []
    const header = new UtpHeader()
    const channelB: UtpDatagramChannel = {
      port: udpB.port,
      send (data, host, port) {
        if (parseUtpHeader(data, header) === PARSE_OK && header.type === ST_STATE) echoed.push({ atMs: clock.now(), diffUs: header.timestampDiffUs })
        udpB.send(data, host, port)
      },
      onMessage (cb) {
        deliver = cb
        udpB.onMessage((data, remote) => {
          if (stalled) held.push([data.slice(), remote])
          else cb(data, remote)
        })
      },
      onBatchEnd (cb) {
        batchEnd = cb
        udpB.onBatchEnd?.(() => { if (!stalled) cb() })
      }
    }
    const a = new UtpManager({ channel: udpA, clock, random: seededRandom(1) })
    const b = new UtpManager({ channel: channelB, clock, random: seededRandom(2) })
    let server: ITcpSocket | undefined
    b.onConnection((s) => { server = s; collect(s) })
    const run = async (ms: number): Promise<void> => { await clock.runUntil(() => false, ms, { settle: microSettle, idleSettleTurns: 2 }) }
    let client: ITcpSocket | undefined
    void a.connect(HOST_B, PORT).then((s) => { client = s })
    await clock.runUntil(() => client !== undefined, 5_000, { settle: microSettle, idleSettleTurns: 2 })
    writeAll(client!, pattern(8 * 1024 * 1024))
    await run(500)
    expect(server).toBeDefined()
    // What the path's queue (the link runs at 4 MB/s, LEDBAT keeps up to its target there) adds just before.
    const before = Math.max(...echoed.filter((e) => e.atMs >= clock.now() - 50).map((e) => e.diffUs))
    // An 80 ms stall while the sender keeps sending.
    stalled = true
    await run(80)
    stalled = false
    const stallEndMs = clock.now()
    expect(held.length).toBeGreaterThan(64)
    for (let i = 0; i < held.length; i += 32) {
      for (const [data, remote] of held.slice(i, i + 32)) deliver!(data, remote)
      batchEnd!()
    }
    held.length = 0
    await run(300)
    const after = echoed.filter((e) => e.atMs >= stallEndMs && e.atMs < stallEndMs + 20)
    expect(after.length).toBeGreaterThan(1)
    // Without the correction these read 80 ms more than before the stall.
    for (const e of after) expect(e.diffUs - before).toBeLessThan(15_000)
    a.close()
    b.close()
  })
})
