import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { MemoryNetwork } from '../../../adapters/memory/memory-network.js'
import { isLodestoneError, type LodestoneError } from '../../../src/errors.js'
import type { Logger } from '../../../src/interfaces/logger.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import type { ISocketFactory, IUdpSocket, UdpRemote } from '../../../src/interfaces/socket.js'
import type { AnnounceParams, TrackerSettings } from '../../../src/tracker/announce.js'
import { encodeCompactPeers } from '../../../src/tracker/compact-peers.js'
import { UdpTracker, UdpTrackerSocket, encodeAnnounceBody, parseUdpAnnounceResponse } from '../../../src/tracker/udp-tracker.js'

// ---------------------------------------------------------------------------------------------
// A fake network: one socket factory whose datagrams go to a scripted tracker.

interface Sent { data: Uint8Array, host: string, port: number, atMs: number }

class FakeUdp implements ISocketFactory {
  readonly sent: Sent[] = []
  readonly sockets: FakeSocket[] = []
  /** Called for every datagram sent; may answer through `reply`. */
  tracker: (data: Uint8Array, reply: (answer: Uint8Array, from?: Partial<UdpRemote>) => void, to: { host: string, port: number }) => void = () => {}
  constructor (readonly clock: ManualClock) {}
  async connectTcp (): Promise<never> { throw new Error('no tcp') }
  async listenTcp (): Promise<never> { throw new Error('no tcp') }
  async bindUdp (_port: number, host?: string): Promise<IUdpSocket> {
    const s = new FakeSocket(this, 50_000 + this.sockets.length, host ?? '')
    this.sockets.push(s)
    return s
  }
}

class FakeSocket implements IUdpSocket {
  cb: ((data: Uint8Array, remote: UdpRemote) => void) | null = null
  closed = false
  constructor (private readonly net: FakeUdp, readonly port: number, readonly bindHost: string) {}
  send (data: Uint8Array, host: string, port: number): void {
    this.net.sent.push({ data, host, port, atMs: this.net.clock.now() })
    this.net.tracker(data, (answer, from) => {
      queueMicrotask(() => { this.cb?.(answer, { address: from?.address ?? host, port: from?.port ?? port }) })
    }, { host, port })
  }

  onMessage (cb: (data: Uint8Array, remote: UdpRemote) => void): void { this.cb = cb }
  close (): void { this.closed = true }
}

const u32 = (d: Uint8Array, at: number): number => new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(at)
const action = (d: Uint8Array): number => (d.length === 16 && u32(d, 0) === 0x417 ? 0 : u32(d, 8))
const txOf = (d: Uint8Array): number => u32(d, 12)

function packet (...words: number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4)
  const v = new DataView(out.buffer)
  words.forEach((w, i) => { v.setUint32(i * 4, w >>> 0) })
  return out
}

function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

const CONNECTION_ID = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)

/** A correct BEP 15 tracker that hands out `peers` (already compact). */
function goodTracker (peers: Uint8Array, counts = { interval: 900, leechers: 2, seeders: 5 }) {
  return (data: Uint8Array, reply: (a: Uint8Array) => void): void => {
    const act = action(data)
    if (act === 0) reply(concat(packet(0, txOf(data)), CONNECTION_ID))
    else if (act === 1) reply(concat(packet(1, txOf(data), counts.interval, counts.leechers, counts.seeders), peers))
    else if (act === 2) {
      const n = (data.length - 16) / 20
      reply(packet(2, txOf(data), ...Array.from({ length: n }, (_, i) => [10 + i, 20 + i, 30 + i]).flat()))
    }
  }
}

const infoHash = new Uint8Array(20).fill(0xab)
const peerId = new Uint8Array(20).fill(0x2d)
const params: AnnounceParams = {
  infoHash, peerId, port: 51413, uploadedBytes: 2 ** 40 + 5, downloadedBytes: 7, leftBytes: 0,
  event: 'completed', numWant: 80, key: 0xcafebabe
}

function setup (settings: Partial<TrackerSettings> = {}, logger?: Logger) {
  const clock = new ManualClock()
  const net = new FakeUdp(clock)
  const socket = new UdpTrackerSocket({ socketFactory: net, clock, random: seededRandom(7), ...(logger !== undefined ? { logger } : {}) })
  const tracker = (url = 'udp://127.0.0.1:6969/announce'): UdpTracker => new UdpTracker(url, { socket }, settings)
  return { clock, net, socket, tracker }
}

async function rejection (p: Promise<unknown>): Promise<LodestoneError> {
  try {
    await p
  } catch (error) {
    if (isLodestoneError(error)) return error
    throw error
  }
  throw new Error('expected a rejection')
}

function recordingLogger (): Logger & { warnings: string[] } {
  const warnings: string[] = []
  const logger: Logger & { warnings: string[] } = {
    warnings,
    enabled: () => true,
    trace () {}, debug () {}, info () {}, error () {},
    warn (message: string) { warnings.push(message) },
    child: () => logger
  }
  return logger
}

// ---------------------------------------------------------------------------------------------

describe('UDP tracker: packets', () => {
  it('lays out the announce body as BEP 15 says', () => {
    const body = encodeAnnounceBody(params)
    expect(body.length).toBe(82)
    expect(body.subarray(0, 20)).toEqual(infoHash)
    expect(body.subarray(20, 40)).toEqual(peerId)
    const v = new DataView(body.buffer)
    expect(v.getUint32(40) * 2 ** 32 + v.getUint32(44)).toBe(7) // downloaded
    expect(v.getUint32(48) * 2 ** 32 + v.getUint32(52)).toBe(0) // left
    expect(v.getUint32(56) * 2 ** 32 + v.getUint32(60)).toBe(2 ** 40 + 5) // uploaded
    expect(v.getUint32(64)).toBe(1) // completed
    expect(v.getUint32(68)).toBe(0) // ip: the sender's
    expect(v.getUint32(72)).toBe(0xcafebabe)
    expect(v.getInt32(76)).toBe(80)
    expect(v.getUint16(80)).toBe(51413)
    const events = (['none', 'completed', 'started', 'stopped'] as const).map((event) => new DataView(encodeAnnounceBody({ ...params, event }).buffer).getUint32(64))
    expect(events).toEqual([0, 1, 2, 3])
  })

  it('bounds the peers of an answer', () => {
    const header = packet(1, 0, 60, 1, 2)
    expect(() => parseUdpAnnounceResponse(concat(header, new Uint8Array(6 * 11)), 'u', 4, { maxPeersPerResponse: 10 }))
      .toThrow(expect.objectContaining({ code: 'TRACKER_TOO_MANY_PEERS' }))
    const ok = parseUdpAnnounceResponse(concat(header, encodeCompactPeers([{ host: '1.1.1.1', port: 1 }], 4), Uint8Array.of(9, 9)), 'u', 4, { maxPeersPerResponse: 10 })
    expect(ok).toEqual({ intervalSec: 60, leechers: 1, seeders: 2, peers: [{ host: '1.1.1.1', port: 1 }] })
  })
})

describe('UDP tracker: exchanges', () => {
  it('connects, announces and returns peers, counts and interval', async () => {
    const { net, tracker } = setup()
    net.tracker = goodTracker(encodeCompactPeers([{ host: '10.1.1.1', port: 6881 }, { host: '10.1.1.2', port: 6882 }], 4))
    const result = await tracker().announce(params)
    expect(result).toEqual({ intervalSec: 900, leechers: 2, seeders: 5, peers: [{ host: '10.1.1.1', port: 6881 }, { host: '10.1.1.2', port: 6882 }] })
    expect(net.sent.map((s) => action(s.data))).toEqual([0, 1])
    const connect = net.sent[0]!.data
    expect(connect.subarray(0, 8)).toEqual(Uint8Array.of(0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80))
    const announce = net.sent[1]!.data
    expect(announce.length).toBe(98)
    expect(announce.subarray(0, 8)).toEqual(CONNECTION_ID)
    expect(net.sent[1]!.host).toBe('127.0.0.1')
    expect(net.sent[1]!.port).toBe(6969)
    expect(net.sockets.map((s) => s.bindHost)).toEqual(['0.0.0.0'])
  })

  it('reuses the connection id for 60 s across trackers of the same endpoint, then reconnects', async () => {
    const { clock, net, tracker } = setup()
    net.tracker = goodTracker(new Uint8Array(0))
    await tracker().announce(params)
    clock.advance(59_000)
    await tracker('udp://127.0.0.1:6969').announce(params)
    await tracker().scrape([infoHash])
    expect(net.sent.map((s) => action(s.data))).toEqual([0, 1, 1, 2])
    clock.advance(1_000)
    await tracker().announce(params)
    expect(net.sent.map((s) => action(s.data))).toEqual([0, 1, 1, 2, 0, 1])
  })

  it('shares one connect between concurrent announces', async () => {
    const { net, tracker } = setup()
    net.tracker = goodTracker(new Uint8Array(0))
    await Promise.all([tracker().announce(params), tracker().announce(params), tracker().announce(params)])
    expect(net.sent.map((s) => action(s.data)).sort()).toEqual([0, 1, 1, 1])
  })

  it('scrapes several hashes (complete, downloaded, incomplete order)', async () => {
    const { net, tracker } = setup()
    net.tracker = goodTracker(new Uint8Array(0))
    const other = new Uint8Array(20).fill(1)
    const result = await tracker().scrape([infoHash, other])
    expect(net.sent[1]!.data.length).toBe(16 + 40)
    expect([...result.entries()]).toEqual([
      ['ab'.repeat(20), { complete: 10, downloaded: 20, incomplete: 30 }],
      ['01'.repeat(20), { complete: 11, downloaded: 21, incomplete: 31 }]
    ])
  })

  it('reads 18-byte peers when the tracker is reached over IPv6, on an IPv6 socket', async () => {
    const { net, tracker } = setup()
    net.tracker = goodTracker(encodeCompactPeers([{ host: '::1', port: 7000 }, { host: '2001:db8::2', port: 7001 }], 6))
    const result = await tracker('udp://[::1]:6969').announce(params)
    expect(result.peers).toEqual([{ host: '::1', port: 7000 }, { host: '2001:db8::2', port: 7001 }])
    expect(net.sockets.map((s) => s.bindHost)).toEqual(['::'])
    expect(net.sent[0]!.host).toBe('::1')
  })

  it('turns the error action into TRACKER_FAILURE with the message, and reconnects next time', async () => {
    const { net, tracker } = setup()
    let refuse = true
    const good = goodTracker(new Uint8Array(0))
    net.tracker = (data, reply, to) => {
      if (action(data) === 1 && refuse) reply(concat(packet(3, txOf(data)), new TextEncoder().encode('info hash not allowed\0')))
      else good(data, reply)
      void to
    }
    const error = await rejection(tracker().announce(params))
    expect(error.code).toBe('TRACKER_FAILURE')
    expect(error.details).toEqual({ url: 'udp://127.0.0.1:6969/announce', reason: 'info hash not allowed' })
    refuse = false
    await tracker().announce(params)
    expect(net.sent.map((s) => action(s.data))).toEqual([0, 1, 0, 1])
  })

  it('fails a connect refused with the error action', async () => {
    const { net, tracker } = setup()
    net.tracker = (data, reply) => { reply(concat(packet(3, txOf(data)), new TextEncoder().encode('busy'))) }
    const error = await rejection(tracker().announce(params))
    expect(error.details).toMatchObject({ reason: 'busy' })
  })

  it('ignores short datagrams, unknown transaction ids, wrong senders and wrong actions (with warnings)', async () => {
    const logger = recordingLogger()
    const { net, socket, tracker } = setup({}, logger)
    const good = goodTracker(encodeCompactPeers([{ host: '10.9.9.9', port: 1 }], 4))
    net.tracker = (data, reply) => {
      const tx = txOf(data)
      reply(Uint8Array.of(0, 0, 0))
      reply(packet(action(data), tx ^ 1, 0, 0, 0))
      reply(concat(packet(action(data), tx), CONNECTION_ID, new Uint8Array(12)), { address: '127.0.0.2' })
      reply(concat(packet(action(data), tx), CONNECTION_ID, new Uint8Array(12)), { port: 1 })
      reply(packet(2, tx, 0, 0, 0))
      good(data, reply)
    }
    const result = await tracker().announce(params)
    expect(result.peers).toEqual([{ host: '10.9.9.9', port: 1 }])
    expect(socket.stats.datagramsDropped).toBe(10)
    expect(logger.warnings.filter((w) => w.startsWith('udp tracker: dropped')).length).toBe(10)
    expect(socket.pendingCount).toBe(0)
  })

  it('fails on a truncated answer to our own transaction (opentracker\'s refusal)', async () => {
    const { net, socket, tracker } = setup()
    const good = goodTracker(new Uint8Array(0))
    net.tracker = (data, reply) => {
      if (action(data) === 1) reply(packet(1, txOf(data)))
      else good(data, reply)
    }
    const error = await rejection(tracker().announce(params))
    expect(error.code).toBe('TRACKER_FAILURE')
    expect(error.details).toMatchObject({ reason: 'answer too short (8 bytes)' })
    expect(net.sent).toHaveLength(2)
    expect(socket.pendingCount).toBe(0)
  })

  it('accepts an answer from an IPv4-mapped form of the tracker address', async () => {
    const { net, tracker } = setup()
    const good = goodTracker(new Uint8Array(0))
    net.tracker = (data, reply) => { good(data, (a) => { reply(a, { address: '::ffff:127.0.0.1' }) }) }
    await expect(tracker().announce(params)).resolves.toMatchObject({ intervalSec: 900 })
  })

  it('resolves localhost, and refuses other names without a resolver', async () => {
    const { net, tracker } = setup()
    net.tracker = goodTracker(new Uint8Array(0))
    await tracker('udp://localhost:6969').announce(params)
    expect(net.sent[0]!.host).toBe('127.0.0.1')
    const error = await rejection(tracker('udp://tracker.example.org:6969').announce(params))
    expect(error.code).toBe('TRACKER_FAILURE')
    expect(String((error.details as { reason?: string }).reason)).toContain('only IP addresses')
  })

  it('uses an injected resolver for names', async () => {
    const clock = new ManualClock()
    const net = new FakeUdp(clock)
    net.tracker = goodTracker(new Uint8Array(0))
    const socket = new UdpTrackerSocket({ socketFactory: net, clock, random: seededRandom(1), resolveHost: async (h) => h === 'tracker.test' ? '127.0.0.9' : 'nope' })
    await new UdpTracker('udp://tracker.test:1337', { socket }).announce(params)
    expect(net.sent[0]!.host).toBe('127.0.0.9')
    expect((await rejection(new UdpTracker('udp://other.test:1', { socket }).announce(params))).code).toBe('TRACKER_FAILURE')
  })
})

describe('UDP tracker: retransmission (BEP 15)', () => {
  it('resends after base·2ⁿ with n up to udpMaxRetransmits, then fails with TRACKER_TIMEOUT', async () => {
    const { clock, net, socket, tracker } = setup({ udpRetransmitBaseMs: 1_000 })
    const outcome = tracker().announce(params).then(() => null, (e: LodestoneError) => e)
    let error: LodestoneError | null = null
    void outcome.then((e) => { error = e })
    expect(await clock.runUntil(() => error !== null, 10_000_000)).toBe(true)
    expect(net.sent.map((s) => s.atMs)).toEqual([0, 1_000, 3_000, 7_000, 15_000, 31_000, 63_000, 127_000, 255_000])
    expect(net.sent.every((s) => action(s.data) === 0)).toBe(true)
    // The same transaction id on every copy, so a late answer to any copy counts.
    expect(new Set(net.sent.map((s) => txOf(s.data))).size).toBe(1)
    expect(error!.code).toBe('TRACKER_TIMEOUT')
    expect(error!.details).toEqual({ url: 'udp://127.0.0.1:6969/announce', timeoutMs: 511_000 })
    expect(clock.now()).toBe(511_000)
    expect(clock.pendingTimers).toBe(0)
    expect(socket.pendingCount).toBe(0)
  })

  it('renews an expired connection id while retransmitting an announce', async () => {
    const { clock, net, tracker } = setup()
    const good = goodTracker(new Uint8Array(0))
    let announces = 0
    net.tracker = (data, reply) => {
      if (action(data) === 1 && ++announces < 5) return // lose the first four announces
      good(data, reply)
    }
    const p = tracker().announce(params)
    let done = false
    void p.then(() => { done = true })
    expect(await clock.runUntil(() => done, 1_000_000)).toBe(true)
    expect(net.sent.map((s) => [action(s.data), s.atMs])).toEqual([
      [0, 0], [1, 0], [1, 15_000], [1, 45_000],
      // 105 s: the id is older than 60 s, so connect again, then the announce continues with n = 3
      // (a 120 s wait, so the id is stale again by the next copy).
      [0, 105_000], [1, 105_000], [0, 225_000], [1, 225_000]
    ])
  })

  it('counts a late answer to an earlier copy', async () => {
    const { clock, net, tracker } = setup({ udpRetransmitBaseMs: 1_000 })
    const good = goodTracker(new Uint8Array(0))
    const held: Array<() => void> = []
    net.tracker = (data, reply) => {
      if (action(data) === 0) return good(data, reply)
      if (held.length === 0) held.push(() => { good(data, reply) }) // answer the first copy late
    }
    const p = tracker().announce(params)
    let done = false
    void p.then(() => { done = true })
    await clock.advanceAsync(1_500) // first copy at 0, second at 1000
    expect(net.sent.filter((s) => action(s.data) === 1)).toHaveLength(2)
    held[0]!()
    expect(await clock.runUntil(() => done, 100)).toBe(true)
  })

  it('stops waiting on abort, and abandons the shared connect when nobody waits', async () => {
    const { clock, net, socket, tracker } = setup()
    const controller = new AbortController()
    const p = rejection(tracker().announce(params, { signal: controller.signal }))
    await clock.advanceAsync(20_000)
    controller.abort()
    const error = await p
    expect(error.code).toBe('ABORTED')
    await clock.advanceAsync(0)
    expect(clock.pendingTimers).toBe(0)
    expect(socket.pendingCount).toBe(0)
    expect(net.sent).toHaveLength(2)
  })

  it('recovers from loss on a lossy memory network', async () => {
    const clock = new ManualClock()
    const network = new MemoryNetwork({ clock }, { latencyMs: 20, lossRate: 0.3, seed: 3 })
    const trackerHost = network.host('10.0.0.1')
    const server = await trackerHost.bindUdp(6969, '10.0.0.1')
    const respond = goodTracker(encodeCompactPeers([{ host: '10.0.0.77', port: 6881 }], 4))
    server.onMessage((data, remote) => { respond(data, (a) => { server.send(a, remote.address, remote.port) }) })
    const socket = new UdpTrackerSocket({ socketFactory: network.host('10.0.0.2'), clock, random: seededRandom(5) })
    let result: unknown = null
    void new UdpTracker('udp://10.0.0.1:6969', { socket }, { udpRetransmitBaseMs: 100 }).announce(params).then((r) => { result = r }, (e: unknown) => { result = e })
    expect(await clock.runUntil(() => result !== null, 10_000_000)).toBe(true)
    expect(result).toMatchObject({ peers: [{ host: '10.0.0.77', port: 6881 }] })
    socket.close()
    server.close()
  })

  it('fails waiting requests with CLOSED when the socket closes', async () => {
    const { clock, socket, tracker } = setup()
    const p = rejection(tracker().announce(params))
    await clock.advanceAsync(10)
    socket.close()
    expect((await p).code).toBe('CLOSED')
    expect((await rejection(tracker().announce(params))).code).toBe('CLOSED')
  })
})
