/**
 * Lodestone's tracker clients against the `bittorrent-tracker` npm server (WebTorrent's), run in
 * this process on 127.0.0.1 with HTTP and UDP (its WebSocket tracker and stats page off): two
 * announcing clients see each other, scrape counts them, `stopped` removes one, and a torrent its
 * filter refuses comes back as TRACKER_FAILURE with the server's message over both protocols.
 */
import type { AddressInfo } from 'node:net'
import Server from 'bittorrent-tracker/server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLodestoneError, type LodestoneError } from '../../packages/engine/src/errors.js'
import { cryptoRandom } from '../../packages/engine/src/interfaces/random.js'
import type { PeerAddress, TrackerClient } from '../../packages/engine/src/tracker/announce.js'
import { HttpTracker } from '../../packages/engine/src/tracker/http-tracker.js'
import { TrackerManager } from '../../packages/engine/src/tracker/tracker-manager.js'
import { UdpTracker } from '../../packages/engine/src/tracker/udp-tracker.js'
import { toHex } from '../../packages/engine/src/util/bytes.js'
import { announceParams, interopTrackerSettings, nodeTrackerDeps } from './tracker-harness.js'

function hash (seed: number): Uint8Array {
  return Uint8Array.from({ length: 20 }, (_, i) => (i * 53 + seed * 7 + 0x80) & 0xff)
}

const HTTP_HASH = hash(1)
const UDP_HASH = hash(2)
const MANAGER_HASH = hash(3)
const BLOCKED_HASH = hash(4)

const has = (peers: readonly PeerAddress[], port: number): boolean => peers.some((p) => p.host === '127.0.0.1' && p.port === port)

async function waitFor (predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function listening (emitter: { once: (event: string, cb: () => void) => unknown }): Promise<void> {
  await new Promise<void>((resolve) => { emitter.once('listening', resolve) })
}

describe('bittorrent-tracker (npm) server', () => {
  let server: Server
  let httpUrl = ''
  let udpUrl = ''
  const serverWarnings: string[] = []
  const deps = nodeTrackerDeps()

  beforeAll(async () => {
    server = new Server({
      http: true,
      udp: true,
      ws: false,
      stats: false,
      interval: 60_000,
      filter: (infoHashHex, _params, cb) => {
        cb(infoHashHex === toHex(BLOCKED_HASH) ? new Error('torrent is blocked here') : null)
      }
    })
    server.on('warning', (err: Error) => { serverWarnings.push(err.message) })
    // Its IPv6 UDP socket is bound to ::1; a machine without IPv6 only loses that socket, so wait
    // for the two sockets under test rather than the server's all-sockets 'listening' event.
    server.on('error', () => {})
    const ready = Promise.all([listening(server.http!), listening(server.udp4!)])
    server.listen({ http: 0, udp: 0 }, { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' })
    await ready
    httpUrl = `http://127.0.0.1:${(server.http!.address() as AddressInfo).port}/announce`
    udpUrl = `udp://127.0.0.1:${server.udp4!.address().port}`
  })

  afterAll(async () => {
    deps.udpSocket.close()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  })

  const clients: Array<[string, () => TrackerClient, Uint8Array]> = [
    ['HTTP', () => new HttpTracker(httpUrl, { httpClient: deps.httpClient }, interopTrackerSettings), HTTP_HASH],
    ['UDP', () => new UdpTracker(udpUrl, { socket: deps.udpSocket }, interopTrackerSettings), UDP_HASH]
  ]

  for (const [name, make, infoHash] of clients) {
    it(`${name}: two clients see each other, scrape counts them, stopped removes one`, async () => {
      const a = make()
      const b = make()
      const first = await a.announce(announceParams(infoHash, 'F', 41_001, { leftBytes: 0 }))
      expect(first.intervalSec).toBe(60)
      const second = await b.announce(announceParams(infoHash, 'G', 41_002, { leftBytes: 100 }))
      expect(has(second.peers, 41_001)).toBe(true)
      expect(second).toMatchObject({ seeders: 1, leechers: 1 })
      const again = await a.announce(announceParams(infoHash, 'F', 41_001, { leftBytes: 0, event: 'none' }))
      expect(has(again.peers, 41_002)).toBe(true)

      const scraped = await b.scrape([infoHash])
      expect(scraped.get(toHex(infoHash))).toMatchObject({ complete: 1, incomplete: 1 })

      await a.announce(announceParams(infoHash, 'F', 41_001, { leftBytes: 0, event: 'stopped', numWant: 0 }))
      const after = await b.announce(announceParams(infoHash, 'G', 41_002, { leftBytes: 100, event: 'none' }))
      expect(has(after.peers, 41_001)).toBe(false)
      expect((await b.scrape([infoHash])).get(toHex(infoHash))).toMatchObject({ complete: 0, incomplete: 1 })
    })

    it(`${name}: a torrent the server refuses comes back as TRACKER_FAILURE with its message`, async () => {
      let error: LodestoneError | null = null
      try {
        await make().announce(announceParams(BLOCKED_HASH, 'H', 41_003))
      } catch (e) {
        if (isLodestoneError(e)) error = e
      }
      expect(error?.code).toBe('TRACKER_FAILURE')
      expect(error?.details).toMatchObject({ reason: 'torrent is blocked here' })
    })
  }

  it('TrackerManager: peers from HTTP and UDP tiers announced to all tiers are de-duplicated', async () => {
    const makeManager = (tag: string, port: number): { manager: TrackerManager, peers: PeerAddress[] } => {
      const peers: PeerAddress[] = []
      const manager = new TrackerManager([[httpUrl], [udpUrl]], {
        clock: deps.clock,
        random: cryptoRandom,
        httpClient: deps.httpClient,
        udpSocket: deps.udpSocket,
        trackerSettings: interopTrackerSettings,
        getAnnounceState: () => announceParams(MANAGER_HASH, tag, port)
      }, { announceToAllTiers: true })
      manager.on('peers', (e) => { peers.push(...e.peers) })
      return { manager, peers }
    }
    const a = makeManager('J', 41_011)
    const b = makeManager('K', 41_012)
    a.manager.start()
    await waitFor(() => a.manager.trackers().every((s) => s.lastAnnounceAtMs !== null))
    b.manager.start()
    await waitFor(() => b.manager.trackers().every((s) => s.lastAnnounceAtMs !== null))
    // Both tiers list A and B itself (this server does not leave the asker out); B hears of each once.
    expect(b.manager.trackers().map((s) => s.lastPeerCount)).toEqual([2, 2])
    expect(b.peers.map((p) => p.port).sort()).toEqual([41_011, 41_012])
    await Promise.all([a.manager.stop(), b.manager.stop()])
    const probe = new UdpTracker(udpUrl, { socket: deps.udpSocket }, interopTrackerSettings)
    expect((await probe.scrape([MANAGER_HASH])).get(toHex(MANAGER_HASH))).toMatchObject({ complete: 0, incomplete: 0 })
    a.manager.close()
    b.manager.close()
    expect(serverWarnings.filter((w) => !/blocked/.test(w))).toEqual([])
  })
})
