import { describe, expect, it } from 'vitest'
import { sendHighWaterMark, sendLowWaterMark } from '../../../../src/transport/utp/send-water-marks.js'
import { connectPair, makePair, pattern, writeAll } from './utp-test-kit.js'

describe('uTP send water marks', () => {
  it('are the configured marks for small windows, two windows / one window for large ones, capped', () => {
    expect(sendHighWaterMark(131_072, 20_000)).toBe(131_072)
    expect(sendLowWaterMark(32_768, 20_000)).toBe(32_768)
    expect(sendHighWaterMark(131_072, 600_000)).toBe(1_200_000)
    expect(sendLowWaterMark(32_768, 600_000)).toBe(600_000)
    expect(sendHighWaterMark(131_072, 100_000_000)).toBe(4_194_304)
    expect(sendLowWaterMark(32_768, 100_000_000)).toBe(2_097_152)
  })

  it('a connection with a large window takes more before send() turns false, and asks for more while a window still waits', async () => {
    const pair = await makePair({ link: { latencyMs: 20 }, settingsA: { sendHighWaterMarkBytes: 50_000, sendLowWaterMarkBytes: 10_000 } })
    const { client, serverGot } = await connectPair(pair)
    // Warm-up: a few MB over a 40 ms round trip grow the window well past the marks.
    const warm = pattern(4_000_000, 7)
    const w = writeAll(client, warm)
    expect(await pair.runUntil(() => w.done() && serverGot.bytes >= 3 + warm.length)).toBe(true)
    expect(client.send(new Uint8Array(100_000))).toBe(true) // 2 × the 50 000-byte setting, still below two windows
    expect(client.send(new Uint8Array(5_000_000))).toBe(false) // past the 4 MiB cap
    let drainedAt = -1
    client.onDrain(() => { drainedAt = client.bufferedBytes })
    expect(await pair.runUntil(() => drainedAt >= 0)).toBe(true)
    expect(drainedAt).toBeGreaterThan(10_000) // a window's worth is still queued when the refill is asked for
    expect(await pair.runUntil(() => serverGot.bytes >= 3 + warm.length + 5_100_000)).toBe(true)
  })
})
