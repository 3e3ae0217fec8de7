import { describe, expect, it } from 'vitest'
import { agreedPacketBytes, isLoopbackAddress, offeredPacketBytes } from '../../../../src/transport/utp/loopback-packets.js'
import {
  EXTENSION_BITS, EXTENSION_MAX_PACKET, EXTENSION_SACK, MAX_PACKET_EXTENSION_BYTES, PARSE_OK, ST_STATE, UtpHeader, parseUtpHeader, writeMaxPacketExtension, writeUtpHeader
} from '../../../../src/transport/utp/utp-packet.js'
import type { UtpSettings } from '../../../../src/transport/utp/utp-settings.js'
import { collect, connectPair, equalBytes, makePair, pattern, writeAll, type PairOptions } from './utp-test-kit.js'

/** Moves 1 MB each way; returns the payload bytes per packet each side sent. */
async function transfer (options: PairOptions): Promise<{ aPerPacket: number, bPerPacket: number }> {
  const pair = await makePair({ link: { latencyMs: 2 }, ...options })
  const { client, server, serverGot } = await connectPair(pair)
  const clientGot = collect(client)
  const up = pattern(1_000_000, 5)
  const down = pattern(1_000_000, 6)
  writeAll(client, up)
  writeAll(server, down)
  expect(await pair.runUntil(() => serverGot.bytes >= 3 + up.length && clientGot.bytes >= down.length)).toBe(true)
  expect(equalBytes(serverGot.concat().subarray(3), up)).toBe(true)
  expect(equalBytes(clientGot.concat(), down)).toBe(true)
  const a = pair.a.stats()
  const b = pair.b.stats()
  expect(a.invalidPackets + a.outOfWindow + a.overflowDropped + b.invalidPackets + b.outOfWindow + b.overflowDropped).toBe(0)
  // Acks (STATEs) count as packets too; data dominates both directions here.
  return { aPerPacket: a.payloadBytesOut / a.packetsOut, bPerPacket: b.payloadBytesOut / b.packetsOut }
}

const LOOPBACK = { hostA: '127.0.0.1', hostB: '127.0.0.2' }

describe('uTP large packets on loopback (our max-packet extension)', () => {
  it('two loopback peers that both offer move data in large packets, byte-identical', async () => {
    const { aPerPacket, bPerPacket } = await transfer(LOOPBACK)
    expect(aPerPacket).toBeGreaterThan(20_000)
    expect(bPerPacket).toBeGreaterThan(20_000)
  })

  it('keeps ordinary packets when either side does not offer, or off loopback', async () => {
    for (const options of [
      { ...LOOPBACK, settingsA: { loopbackPacketBytes: 0 } },
      { ...LOOPBACK, settingsB: { loopbackPacketBytes: 0 } },
      {} // 10.0.0.x
    ]) {
      const { aPerPacket, bPerPacket } = await transfer(options)
      expect(aPerPacket).toBeLessThanOrEqual(1_400)
      expect(bPerPacket).toBeLessThanOrEqual(1_400)
    }
  })

  it('agrees on the smaller offer', async () => {
    const { aPerPacket, bPerPacket } = await transfer({ ...LOOPBACK, settingsB: { loopbackPacketBytes: 8_000 } })
    expect(aPerPacket).toBeLessThanOrEqual(8_000)
    expect(aPerPacket).toBeGreaterThan(4_000)
    expect(bPerPacket).toBeLessThanOrEqual(8_000)
    expect(bPerPacket).toBeGreaterThan(4_000)
  })

  it('offers only to loopback addresses, at most a quarter of the receive window', () => {
    const s: Pick<UtpSettings, 'loopbackPacketBytes' | 'receiveWindowBytes'> = { loopbackPacketBytes: 60_000, receiveWindowBytes: 2_097_152 }
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(address)).toBe(true)
    for (const address of ['10.0.0.1', '128.0.0.1', '::2', 'fe80::1', '::ffff:10.0.0.1']) expect(isLoopbackAddress(address)).toBe(false)
    expect(offeredPacketBytes(s, '127.0.0.1', 1_400)).toBe(60_000)
    expect(offeredPacketBytes(s, '10.0.0.1', 1_400)).toBe(0)
    expect(offeredPacketBytes({ ...s, receiveWindowBytes: 100_000 }, '127.0.0.1', 1_400)).toBe(25_000)
    expect(offeredPacketBytes({ ...s, loopbackPacketBytes: 1_000 }, '127.0.0.1', 1_400)).toBe(0)
    expect(agreedPacketBytes(60_000, 30_000, 1_400)).toBe(30_000)
    expect(agreedPacketBytes(60_000, 0, 1_400)).toBe(1_400)
    expect(agreedPacketBytes(0, 60_000, 1_400)).toBe(1_400)
  })

  it('writes the offer behind zero extension bits (libutp drops a packet whose first extension is >= 3), and parses it', () => {
    const buf = new Uint8Array(20 + MAX_PACKET_EXTENSION_BYTES + 6)
    writeUtpHeader(buf, 0, ST_STATE, EXTENSION_BITS, 1, 0, 0, 0, 0, 0)
    writeMaxPacketExtension(buf, 20, 0xea60)
    expect([...buf.subarray(20, 34)]).toEqual([EXTENSION_MAX_PACKET, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xea, 0x60])
    buf[30] = EXTENSION_SACK // chain on to a SACK
    buf.set([0, 4, 1, 0, 0, 0], 34)
    const h = new UtpHeader()
    expect(parseUtpHeader(buf, h)).toBe(PARSE_OK)
    expect(h.maxPacketBytes).toBe(60_000)
    expect(h.sackOffset).toBe(36)
    expect(h.payloadOffset).toBe(40)
    writeUtpHeader(buf, 0, ST_STATE, 0, 1, 0, 0, 0, 0, 0)
    expect(parseUtpHeader(buf.subarray(0, 20), h)).toBe(PARSE_OK)
    expect(h.maxPacketBytes).toBe(0)
  })
})
