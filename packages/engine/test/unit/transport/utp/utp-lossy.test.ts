import { describe, expect, it } from 'vitest'
import { collect, connectPair, equalBytes, makePair, pattern, writeAll } from './utp-test-kit.js'

interface Outcome { finishedAtMs: number, statsA: unknown, statsB: unknown }

/** Both directions at once over a link with latency, jitter (reordering), duplication and loss. */
async function lossyRun (seed: number, lossRate: number): Promise<Outcome> {
  const pair = await makePair({ seed, link: { latencyMs: 30, jitterMs: 15, lossRate, duplicateRate: 0.02 } })
  const { client, server, serverGot } = await connectPair(pair)
  const clientGot = collect(client)
  const up = pattern(1_500_000, seed + 100)
  const down = pattern(1_000_000, seed + 200)
  writeAll(client, up)
  writeAll(server, down)
  const done = await pair.runUntil(() => serverGot.bytes >= 3 + up.length && clientGot.bytes >= down.length, 600_000)
  expect(done).toBe(true)
  expect(equalBytes(serverGot.concat().subarray(3), up)).toBe(true)
  expect(equalBytes(clientGot.concat(), down)).toBe(true)
  const finishedAtMs = pair.clock.now()
  client.close()
  server.close()
  expect(await pair.runUntil(() => pair.a.stats().connections === 0 && pair.b.stats().connections === 0, 30_000)).toBe(true)
  expect(pair.clock.pendingTimers).toBe(0)
  return { finishedAtMs, statsA: pair.a.stats(), statsB: pair.b.stats() }
}

describe('uTP over a hostile memory network', () => {
  it.each([0.01, 0.03, 0.05])('completes byte-identical with %s loss, jitter and duplication', async (loss) => {
    const outcome = await lossyRun(7, loss)
    const a = outcome.statsA as { retransmits: number, fastRetransmits: number, duplicatePackets: number }
    const b = outcome.statsB as { duplicatePackets: number }
    expect(a.retransmits + a.fastRetransmits).toBeGreaterThan(0)
    expect(a.duplicatePackets + b.duplicatePackets).toBeGreaterThan(0)
  })

  it('is deterministic under the manual clock: same seed, same virtual timeline and counters', async () => {
    const first = await lossyRun(21, 0.03)
    const second = await lossyRun(21, 0.03)
    expect(second.finishedAtMs).toBe(first.finishedAtMs)
    expect(second.statsA).toEqual(first.statsA)
    expect(second.statsB).toEqual(first.statsB)
    const other = await lossyRun(22, 0.03)
    expect(other.statsA).not.toEqual(first.statsA)
  })
})

describe('LEDBAT on a memory bottleneck', () => {
  it('fills a 2 MB/s link while keeping the queue near the 100 ms target, not the 1 s buffer', async () => {
    const pair = await makePair({ link: { latencyMs: 20, bandwidthBytesPerSec: 2_000_000, queueLimitMs: 1_000 } })
    const { client, serverGot } = await connectPair(pair)
    const data = pattern(12_000_000, 31)
    writeAll(client, data)
    // Warm up, then measure the steady state.
    await pair.runUntil(() => serverGot.bytes >= 2_000_000, 60_000)
    const startBytes = serverGot.bytes
    const startMs = pair.clock.now()
    let maxQueueMs = 0
    const link = pair.network
    const probe = pair.clock.setInterval(() => {
      // The link's backlog is how long a datagram sent now would wait.
      const queueMs = (link as unknown as { links: Map<string, { busyUntilMs: number }> }).links.get('10.0.0.1\u000010.0.0.2')!.busyUntilMs - pair.clock.now()
      if (queueMs > maxQueueMs) maxQueueMs = queueMs
    }, 50)
    await pair.runUntil(() => serverGot.bytes >= startBytes + 6_000_000, 60_000)
    probe.cancel()
    const rate = (serverGot.bytes - startBytes) / ((pair.clock.now() - startMs) / 1000)
    expect(rate).toBeGreaterThan(0.8 * 2_000_000)
    expect(maxQueueMs).toBeLessThan(150)
    expect(pair.a.stats().retransmits).toBe(0)
  })
})
