/**
 * Lodestone's tracker clients against opentracker (Debian's build, whitelist-only) on 127.0.0.1,
 * over HTTP and UDP: announce, peer exchange between two clients, scrape, stopped, refusal of a
 * hash outside the whitelist, and the TrackerManager falling through tiers to reach it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hasCode, isLodestoneError, type LodestoneError } from '../../packages/engine/src/errors.js'
import { cryptoRandom } from '../../packages/engine/src/interfaces/random.js'
import type { PeerAddress, TrackerClient } from '../../packages/engine/src/tracker/announce.js'
import { HttpTracker } from '../../packages/engine/src/tracker/http-tracker.js'
import { TrackerManager } from '../../packages/engine/src/tracker/tracker-manager.js'
import { UdpTracker } from '../../packages/engine/src/tracker/udp-tracker.js'
import { toHex } from '../../packages/engine/src/util/bytes.js'
import {
  announceParams, freePort, interopTrackerSettings, nodeTrackerDeps, startOpentracker, type RunningOpentracker
} from './tracker-harness.js'

/** Info hashes with bytes that need percent-encoding (and a space, a '%' and a '+'). */
function hash (seed: number): Uint8Array {
  const out = Uint8Array.from({ length: 20 }, (_, i) => (i * 37 + seed * 11 + 200) & 0xff)
  out[0] = 0x20
  out[1] = 0x25
  out[2] = 0x2b
  return out
}

const HTTP_HASH = hash(1)
const UDP_HASH = hash(2)
const MANAGER_HASH = hash(3)
const UNLISTED_HASH = hash(4)

const has = (peers: readonly PeerAddress[], port: number): boolean => peers.some((p) => p.host === '127.0.0.1' && p.port === port)

async function waitFor (predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('opentracker', () => {
  let ot: RunningOpentracker
  const deps = nodeTrackerDeps()

  beforeAll(async () => {
    ot = await startOpentracker([HTTP_HASH, UDP_HASH, MANAGER_HASH])
  })

  afterAll(async () => {
    deps.udpSocket.close()
    await ot?.stop()
  })

  // How each protocol refuses a hash outside the whitelist: HTTP with a failure reason, UDP with
  // an announce answer cut to its 8-byte header.
  const clients: Array<[string, () => TrackerClient, Uint8Array, RegExp]> = [
    ['HTTP', () => new HttpTracker(ot.httpUrl, { httpClient: deps.httpClient }, interopTrackerSettings), HTTP_HASH, /not authorized/i],
    ['UDP', () => new UdpTracker(ot.udpUrl, { socket: deps.udpSocket }, interopTrackerSettings), UDP_HASH, /too short/]
  ]

  for (const [name, make, infoHash, refusal] of clients) {
    it(`${name}: two clients see each other, scrape counts them, stopped removes one`, async () => {
      const a = make()
      const b = make()
      const portA = 40_001
      const portB = 40_002
      const first = await a.announce(announceParams(infoHash, 'A', portA, { leftBytes: 0 }))
      expect(first.intervalSec).toBeGreaterThan(0)
      const second = await b.announce(announceParams(infoHash, 'B', portB, { leftBytes: 5000 }))
      expect(has(second.peers, portA)).toBe(true)
      expect(second.seeders).toBe(1)
      expect(second.leechers).toBe(1)
      const again = await a.announce(announceParams(infoHash, 'A', portA, { leftBytes: 0, event: 'none' }))
      expect(has(again.peers, portB)).toBe(true)

      expect(a.canScrape).toBe(true)
      const scraped = await a.scrape([infoHash])
      expect(scraped.get(toHex(infoHash))).toMatchObject({ complete: 1, incomplete: 1 })

      await a.announce(announceParams(infoHash, 'A', portA, { leftBytes: 0, event: 'stopped', numWant: 0 }))
      const after = await b.announce(announceParams(infoHash, 'B', portB, { leftBytes: 5000, event: 'none' }))
      expect(has(after.peers, portA)).toBe(false)
      expect((await b.scrape([infoHash])).get(toHex(infoHash))).toMatchObject({ complete: 0, incomplete: 1 })
    })

    it(`${name}: a hash outside the whitelist is refused with TRACKER_FAILURE`, async () => {
      let error: LodestoneError | null = null
      try {
        await make().announce(announceParams(UNLISTED_HASH, 'C', 40_003))
      } catch (e) {
        if (isLodestoneError(e)) error = e
      }
      expect(error?.code).toBe('TRACKER_FAILURE')
      expect(hasCode(error, 'TRACKER_FAILURE') && error.details.reason).toMatch(refusal)
    })
  }

  it('TrackerManager: falls through a dead tier to opentracker, peers find each other, stop sends stopped', async () => {
    const deadPort = await freePort() // nothing listens there: connection refused
    const tiers = [[`http://127.0.0.1:${deadPort}/announce`], [ot.udpUrl], [ot.httpUrl]]
    const makeManager = (tag: string, port: number): { manager: TrackerManager, peers: PeerAddress[], warnings: string[] } => {
      const peers: PeerAddress[] = []
      const warnings: string[] = []
      const manager = new TrackerManager(tiers, {
        clock: deps.clock,
        random: cryptoRandom,
        httpClient: deps.httpClient,
        udpSocket: deps.udpSocket,
        trackerSettings: interopTrackerSettings,
        getAnnounceState: () => announceParams(MANAGER_HASH, tag, port)
      }, { stopTimeoutMs: 5_000 })
      manager.on('peers', (e) => { peers.push(...e.peers) })
      manager.on('warning', (w) => { warnings.push(`${w.url} ${w.error.code}`) })
      return { manager, peers, warnings }
    }
    const a = makeManager('D', 40_011)
    const b = makeManager('E', 40_012)
    a.manager.start()
    await waitFor(() => a.manager.trackers()[1]!.lastAnnounceAtMs !== null)
    expect(a.warnings).toEqual([`http://127.0.0.1:${deadPort}/announce TRACKER_FAILURE`])
    expect(a.manager.trackers()[2]!.lastAnnounceAtMs).toBeNull() // BEP 12: the UDP tier answered, so no further tier
    b.manager.start()
    await waitFor(() => has(b.peers, 40_011))
    // `completed` goes out at once (no min interval) and brings A the news of B.
    a.manager.completed()
    await waitFor(() => has(a.peers, 40_012))
    const status = b.manager.trackers()[1]!
    expect(status.seeders! + status.leechers!).toBe(2)
    expect(status.nextAnnounceAtMs).toBeGreaterThan(Date.now())

    await a.manager.stop()
    const probe = new UdpTracker(ot.udpUrl, { socket: deps.udpSocket }, interopTrackerSettings)
    expect((await probe.scrape([MANAGER_HASH])).get(toHex(MANAGER_HASH))).toMatchObject({ complete: 0, incomplete: 1 })
    await b.manager.stop()
    expect((await probe.scrape([MANAGER_HASH])).get(toHex(MANAGER_HASH))).toMatchObject({ complete: 0, incomplete: 0 })
    a.manager.close()
    b.manager.close()
  })
})
