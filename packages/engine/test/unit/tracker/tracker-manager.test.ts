import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { LodestoneError } from '../../../src/errors.js'
import type { HttpResponse, IHttpClient } from '../../../src/interfaces/http-client.js'
import type { IRandom } from '../../../src/interfaces/random.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import type {
  AnnounceEvent, AnnounceParams, AnnounceResult, PeerAddress, ScrapeResult, TrackerClient, TrackerRequestOptions
} from '../../../src/tracker/announce.js'
import { encodeCompactPeers } from '../../../src/tracker/compact-peers.js'
import {
  TrackerManager, type TrackerManagerEvents, type TrackerManagerSettings, type TrackerStatus
} from '../../../src/tracker/tracker-manager.js'

type Behaviour = (params: AnnounceParams) => AnnounceResult | Error | 'hang'

/** A scripted tracker: records announces, answers through `behaviour`. */
class FakeTracker implements TrackerClient {
  readonly protocol = 'http' as const
  readonly canScrape = false
  readonly calls: Array<{ event: AnnounceEvent, atMs: number, params: AnnounceParams }> = []
  behaviour: Behaviour = () => ok()
  constructor (readonly url: string, private readonly clock: ManualClock) {}

  async announce (params: AnnounceParams, options: TrackerRequestOptions = {}): Promise<AnnounceResult> {
    this.calls.push({ event: params.event, atMs: this.clock.now(), params })
    const out = this.behaviour(params)
    if (out === 'hang') {
      return new Promise<never>((_resolve, reject) => {
        options.signal?.addEventListener('abort', () => { reject(new LodestoneError('ABORTED', { operation: 'fake' })) }, { once: true })
      })
    }
    await Promise.resolve()
    if (out instanceof Error) throw out
    return out
  }

  async scrape (): Promise<ScrapeResult> { return new Map() }

  get events (): AnnounceEvent[] { return this.calls.map((c) => c.event) }
}

function ok (over: Partial<AnnounceResult> = {}): AnnounceResult {
  return { intervalSec: 1800, peers: [], ...over }
}

function failure (url: string, reason = 'nope'): LodestoneError {
  return new LodestoneError('TRACKER_FAILURE', { url, reason })
}

/** Randomness that keeps tier order (Fisher-Yates picks j = i) unless told otherwise. */
function fixedRandom (value = 0.999): IRandom {
  return { next: () => value, fill: (b) => b.fill(7) }
}

const infoHash = new Uint8Array(20).fill(1)
const peerId = new Uint8Array(20).fill(2)

function setup (tiers: string[][], settings: Partial<TrackerManagerSettings> = {}, random: IRandom = fixedRandom()) {
  const clock = new ManualClock()
  const trackers = new Map<string, FakeTracker>()
  const state = { uploadedBytes: 0, downloadedBytes: 0, leftBytes: 1000 }
  const manager = new TrackerManager(tiers, {
    clock,
    random,
    getAnnounceState: () => ({ infoHash, peerId, port: 6881, numWant: 50, ...state }),
    createClient: (url) => {
      if (url.startsWith('wss:')) throw new LodestoneError('TRACKER_URL_INVALID', { url, reason: 'unsupported scheme wss' })
      const t = new FakeTracker(url, clock)
      trackers.set(url, t)
      return t
    }
  }, settings)
  const events = {
    peers: [] as Array<TrackerManagerEvents['peers']>,
    warnings: [] as Array<TrackerManagerEvents['warning']>,
    statuses: [] as TrackerStatus[]
  }
  manager.on('peers', (e) => { events.peers.push(e) })
  manager.on('warning', (e) => { events.warnings.push(e) })
  manager.on('status-changed', (e) => { events.statuses.push(e.tracker) })
  const t = (url: string): FakeTracker => {
    const tracker = trackers.get(url)
    if (tracker === undefined) throw new Error(`no tracker ${url}`)
    return tracker
  }
  /** Lets promise chains settle without moving time. */
  const settle = async (): Promise<void> => { await clock.advanceAsync(0) }
  return { clock, manager, t, events, state, settle }
}

const peer = (n: number): PeerAddress => ({ host: `10.0.0.${n}`, port: 6881 })

describe('TrackerManager: BEP 12 tiers', () => {
  it('announces started to the first tracker only, then regular announces at the interval', async () => {
    const { clock, manager, t, events, settle } = setup([['http://a/announce', 'http://b/announce'], ['http://c/announce']])
    t('http://a/announce').behaviour = () => ok({ intervalSec: 600, peers: [peer(1), peer(2)] })
    manager.start()
    await settle()
    expect(t('http://a/announce').events).toEqual(['started'])
    expect(t('http://b/announce').events).toEqual([])
    expect(t('http://c/announce').events).toEqual([])
    expect(events.peers).toEqual([{ peers: [peer(1), peer(2)], source: 'tracker', url: 'http://a/announce' }])
    await clock.advanceAsync(600_000)
    expect(t('http://a/announce').calls.map((c) => [c.event, c.atMs])).toEqual([['started', 0], ['none', 600_000]])
    manager.close()
    expect(clock.pendingTimers).toBe(0)
  })

  it('falls through the tier and then to the next tier, with a warning per failure', async () => {
    const { manager, t, events, settle } = setup([['http://a/', 'http://b/'], ['http://c/']])
    t('http://a/').behaviour = () => failure('http://a/')
    t('http://b/').behaviour = () => failure('http://b/')
    t('http://c/').behaviour = () => ok({ peers: [peer(3)] })
    manager.start()
    await settle()
    expect([t('http://a/').events, t('http://b/').events, t('http://c/').events]).toEqual([['started'], ['started'], ['started']])
    expect(events.warnings.map((w) => [w.url, w.error.code])).toEqual([['http://a/', 'TRACKER_FAILURE'], ['http://b/', 'TRACKER_FAILURE']])
    expect(events.peers.map((p) => p.url)).toEqual(['http://c/'])
    const status = manager.trackers()
    expect(status.map((s) => [s.url, s.tier, s.consecutiveFailures, s.lastError?.code ?? null])).toEqual([
      ['http://a/', 0, 1, 'TRACKER_FAILURE'], ['http://b/', 0, 1, 'TRACKER_FAILURE'], ['http://c/', 1, 0, null]
    ])
    manager.close()
  })

  it('moves a tracker that answers to the front of its tier', async () => {
    const { clock, manager, t, settle } = setup([['http://a/', 'http://b/', 'http://c/']])
    let aDown = true
    t('http://a/').behaviour = () => aDown ? failure('http://a/') : ok()
    t('http://b/').behaviour = () => failure('http://b/')
    t('http://c/').behaviour = () => ok({ intervalSec: 100 })
    manager.start()
    await settle()
    aDown = false
    // Next walk starts with c (now first), which answers: a and b are not asked again.
    await clock.advanceAsync(100_000)
    expect(t('http://c/').events).toEqual(['started', 'none'])
    expect(t('http://a/').events).toEqual(['started'])
    expect(t('http://b/').events).toEqual(['started'])
    // c fails once: fall through to a (the order is now c, a, b), which gets its own `started`.
    t('http://c/').behaviour = () => failure('http://c/')
    await clock.advanceAsync(100_000)
    expect(t('http://a/').events).toEqual(['started', 'started'])
    expect(t('http://b/').events).toEqual(['started'])
    manager.close()
  })

  it('shuffles each tier with the injected randomness', () => {
    const urls = ['http://1/', 'http://2/', 'http://3/', 'http://4/']
    const orderWith = (value: number): string[] => {
      const calls: string[] = []
      const clock = new ManualClock()
      const m = new TrackerManager([urls], {
        clock,
        random: fixedRandom(value),
        getAnnounceState: () => ({ infoHash, peerId, port: 1, numWant: 1, uploadedBytes: 0, downloadedBytes: 0, leftBytes: 0 }),
        createClient: (url) => {
          const f = new FakeTracker(url, clock)
          f.behaviour = () => { calls.push(url); return failure(url) }
          return f
        }
      })
      m.start()
      m.close()
      return calls
    }
    // With next() = 0, Fisher-Yates swaps every position with the first: [2, 3, 4, 1].
    expect(orderWith(0)).toEqual(['http://2/'])
    expect(orderWith(0.999)).toEqual(['http://1/'])
  })

  it('backs off a failing tracker exponentially, capped', async () => {
    const { clock, manager, t } = setup([['http://a/']], { retryBaseMs: 1_000, retryMaxMs: 10_000 })
    t('http://a/').behaviour = () => failure('http://a/')
    manager.start()
    await clock.advanceAsync(50_000)
    expect(t('http://a/').calls.map((c) => c.atMs)).toEqual([0, 1_000, 3_000, 7_000, 15_000, 25_000, 35_000, 45_000])
    expect(t('http://a/').events.every((e) => e === 'started')).toBe(true)
    manager.close()
  })

  it('skips a backing-off tracker and uses the next one', async () => {
    const { clock, manager, t, settle } = setup([['http://a/', 'http://b/']], { retryBaseMs: 1_000_000 })
    t('http://a/').behaviour = () => failure('http://a/')
    t('http://b/').behaviour = () => ok({ intervalSec: 60 })
    manager.start()
    await settle()
    await clock.advanceAsync(60_000)
    expect(t('http://a/').events).toEqual(['started'])
    expect(t('http://b/').events).toEqual(['started', 'none'])
    manager.close()
  })

  it('times out a silent tracker and falls through', async () => {
    const { clock, manager, t, events } = setup([['http://a/', 'http://b/']], { announceTimeoutMs: 10_000 })
    t('http://a/').behaviour = () => 'hang'
    t('http://b/').behaviour = () => ok({ peers: [peer(9)] })
    manager.start()
    await clock.advanceAsync(10_000)
    expect(events.warnings.map((w) => [w.url, w.error.code])).toEqual([['http://a/', 'TRACKER_TIMEOUT']])
    expect(events.peers.map((p) => p.url)).toEqual(['http://b/'])
    manager.close()
  })

  it('lists unusable URLs with their error and never announces to them', async () => {
    const { manager, t, settle } = setup([['wss://x/announce', 'http://a/']])
    manager.start()
    await settle()
    expect(manager.trackers()[0]).toMatchObject({ url: 'wss://x/announce', lastError: { code: 'TRACKER_URL_INVALID' } })
    expect(t('http://a/').events).toEqual(['started'])
    manager.close()
  })

  it('drops empty tiers and repeated URLs', () => {
    const { manager } = setup([[], ['http://a/', ' http://a/ '], ['http://b/', 'http://a/']])
    expect(manager.trackers().map((s) => [s.url, s.tier])).toEqual([['http://a/', 1], ['http://b/', 2]])
    manager.close()
  })
})

describe('TrackerManager: events and intervals', () => {
  it('sends completed at once to the trackers that knew us, then regular announces', async () => {
    const { clock, manager, t, state, settle } = setup([['http://a/']])
    manager.start()
    await settle()
    state.leftBytes = 0
    state.downloadedBytes = 1000
    manager.completed()
    await settle()
    expect(t('http://a/').events).toEqual(['started', 'completed'])
    expect(t('http://a/').calls[1]!.params).toMatchObject({ leftBytes: 0, downloadedBytes: 1000, event: 'completed' })
    await clock.advanceAsync(1_800_000)
    expect(t('http://a/').events).toEqual(['started', 'completed', 'none'])
    manager.close()
  })

  it('follows a started still in flight with completed', async () => {
    const { manager, t, settle } = setup([['http://a/']])
    manager.start()
    manager.completed()
    await settle()
    expect(t('http://a/').events).toEqual(['started', 'completed'])
    manager.close()
  })

  it('does not send completed to a tracker first reached after the download finished', async () => {
    const { clock, manager, t, settle } = setup([['http://a/'], ['http://b/']], { retryBaseMs: 1_000_000 })
    t('http://a/').behaviour = () => ok({ intervalSec: 100 })
    t('http://b/').behaviour = () => ok({ intervalSec: 100 })
    manager.start()
    await settle()
    manager.completed()
    await settle()
    t('http://a/').behaviour = () => failure('http://a/')
    await clock.advanceAsync(100_000)
    await clock.advanceAsync(100_000)
    expect(t('http://a/').events).toEqual(['started', 'completed', 'none'])
    expect(t('http://b/').events).toEqual(['started', 'none'])
    manager.close()
  })

  it('clamps hostile intervals and honours min interval for announceNow', async () => {
    const { clock, manager, t, settle } = setup([['http://a/']], { minAnnounceIntervalSec: 60 })
    t('http://a/').behaviour = () => ok({ intervalSec: 1, minIntervalSec: 30 })
    manager.start()
    await settle()
    await clock.advanceAsync(59_000)
    expect(t('http://a/').calls.map((c) => c.atMs)).toEqual([0])
    await clock.advanceAsync(1_000)
    expect(t('http://a/').calls.map((c) => c.atMs)).toEqual([0, 60_000])
    await clock.advanceAsync(10_000)
    manager.announceNow() // min interval: not before 90 s
    await clock.advanceAsync(19_000)
    expect(t('http://a/').calls.map((c) => c.atMs)).toEqual([0, 60_000])
    await clock.advanceAsync(1_000)
    expect(t('http://a/').calls.map((c) => c.atMs)).toEqual([0, 60_000, 90_000])
    manager.announceNow() // not yet allowed: moved to 120 s
    await clock.advanceAsync(30_000)
    expect(t('http://a/').calls.map((c) => c.atMs)).toEqual([0, 60_000, 90_000, 120_000])
    manager.close()
  })

  it('caps a huge interval so the timer stays within range', async () => {
    const { clock, manager, t, settle } = setup([['http://a/']])
    t('http://a/').behaviour = () => ok({ intervalSec: 2 ** 40 })
    manager.start()
    await settle()
    expect(clock.nextDueMs()).toBe(86_400_000)
    manager.close()
  })

  it('passes the torrent\'s announce state with a stable key', async () => {
    const { clock, manager, t, state, settle } = setup([['http://a/']])
    t('http://a/').behaviour = () => ok({ intervalSec: 60 })
    manager.start()
    await settle()
    state.uploadedBytes = 77
    await clock.advanceAsync(60_000)
    const [first, second] = t('http://a/').calls
    expect(first!.params).toMatchObject({ infoHash, peerId, port: 6881, numWant: 50, uploadedBytes: 0, leftBytes: 1000 })
    expect(second!.params.uploadedBytes).toBe(77)
    expect(second!.params.key).toBe(first!.params.key)
    manager.close()
  })
})

describe('TrackerManager: stop', () => {
  it('sends stopped with numwant 0 to every contacted tracker and resolves', async () => {
    const { clock, manager, t, settle } = setup([['http://a/', 'http://b/'], ['http://c/']])
    t('http://a/').behaviour = () => failure('http://a/')
    manager.start()
    await settle()
    await manager.stop()
    expect(t('http://a/').events).toEqual(['started', 'stopped'])
    expect(t('http://b/').events).toEqual(['started', 'stopped'])
    expect(t('http://c/').events).toEqual([])
    expect(t('http://b/').calls[1]!.params.numWant).toBe(0)
    expect(clock.pendingTimers).toBe(0)
    expect(manager.trackers().every((s) => s.nextAnnounceAtMs === null && !s.updating)).toBe(true)
  })

  it('gives up on a silent tracker after the time limit', async () => {
    const { clock, manager, t, settle } = setup([['http://a/']], { stopTimeoutMs: 3_000 })
    manager.start()
    await settle()
    t('http://a/').behaviour = () => 'hang'
    let done = false
    void manager.stop().then(() => { done = true })
    await clock.advanceAsync(2_999)
    expect(done).toBe(false)
    await clock.advanceAsync(1)
    expect(done).toBe(true)
    expect(clock.pendingTimers).toBe(0)
  })

  it('aborts an announce in flight without a warning, and can start again', async () => {
    const { clock, manager, t, events, settle } = setup([['http://a/']])
    t('http://a/').behaviour = () => 'hang'
    manager.start()
    await settle()
    const stopping = manager.stop({ timeoutMs: 1_000 })
    await clock.advanceAsync(1_000)
    await stopping
    expect(events.warnings).toEqual([])
    expect(t('http://a/').events).toEqual(['started', 'stopped'])
    t('http://a/').behaviour = () => ok()
    manager.start()
    await settle()
    expect(t('http://a/').events).toEqual(['started', 'stopped', 'started'])
    manager.close()
    expect(clock.pendingTimers).toBe(0)
  })

  it('refuses to start after close', () => {
    const { manager } = setup([['http://a/']])
    manager.close()
    expect(() => { manager.start() }).toThrow(expect.objectContaining({ code: 'CLOSED' }))
  })
})

describe('TrackerManager: peers and status', () => {
  it('de-duplicates peers across trackers within the window', async () => {
    const { clock, manager, t, events, settle } = setup([['http://a/'], ['http://b/']], { announceToAllTiers: true, peerDedupWindowMs: 60_000 })
    t('http://a/').behaviour = () => ok({ intervalSec: 60, peers: [peer(1), peer(2)] })
    t('http://b/').behaviour = () => ok({ intervalSec: 60, peers: [peer(2), peer(3), { host: '10.0.0.3', port: 6882 }] })
    manager.start()
    await settle()
    expect(t('http://b/').events).toEqual(['started'])
    expect(events.peers.map((p) => [p.url, p.peers])).toEqual([
      ['http://a/', [peer(1), peer(2)]],
      ['http://b/', [peer(3), { host: '10.0.0.3', port: 6882 }]]
    ])
    await clock.advanceAsync(60_000)
    // The window has passed: the next answers are news again (peer 2 once, from a).
    expect(events.peers.map((p) => [p.url, p.peers.length])).toEqual([['http://a/', 2], ['http://b/', 2], ['http://a/', 2], ['http://b/', 2]])
    manager.close()
  })

  it('bounds the remembered peers', async () => {
    const { manager, t, events, settle } = setup([['http://a/']], { maxRememberedPeers: 2 })
    t('http://a/').behaviour = () => ok({ intervalSec: 60, peers: [peer(1), peer(2), peer(3)] })
    manager.start()
    await settle()
    manager.announceNow()
    await settle()
    // Only the last two are remembered, so peer 1 is news again.
    expect(events.peers.map((p) => p.peers)).toEqual([[peer(1), peer(2), peer(3)], [peer(1)]])
    manager.close()
  })

  it('reports status: updating, counts, warning, times', async () => {
    const { clock, manager, t, events, settle } = setup([['http://a/']])
    t('http://a/').behaviour = () => ok({ intervalSec: 900, minIntervalSec: 60, seeders: 4, leechers: 9, warning: 'be nice', peers: [peer(1)] })
    manager.start()
    expect(manager.trackers()[0]!.updating).toBe(true)
    await settle()
    const s = manager.trackers()[0]!
    expect(s).toMatchObject({
      updating: false, lastAnnounceAtMs: clock.wallNow(), nextAnnounceAtMs: clock.wallNow() + 900_000, lastPeerCount: 1,
      seeders: 4, leechers: 9, intervalSec: 900, minIntervalSec: 60, warning: 'be nice', lastError: null, consecutiveFailures: 0
    })
    expect(events.statuses.some((st) => st.updating)).toBe(true)
    manager.close()
  })

  it('treats a throwing announce-state callback as a failure, not a crash', async () => {
    const clock = new ManualClock()
    const warnings: string[] = []
    const m = new TrackerManager([['http://a/']], {
      clock,
      random: fixedRandom(),
      getAnnounceState: () => { throw new Error('torrent gone') },
      createClient: (url) => new FakeTracker(url, clock)
    }, { retryBaseMs: 1_000 })
    m.on('warning', (w) => { warnings.push(w.error.code) })
    m.start()
    await clock.advanceAsync(0)
    expect(warnings).toEqual(['INTERNAL'])
    m.close()
    expect(clock.pendingTimers).toBe(0)
  })
})

describe('TrackerManager: built-in clients', () => {
  it('announces through the HTTP port and reports UDP as unavailable without a socket', async () => {
    const clock = new ManualClock()
    const urls: string[] = []
    const http: IHttpClient = {
      async get (url: string): Promise<HttpResponse> {
        urls.push(url)
        return { status: 200, headers: {}, body: bencodeEncode({ interval: 1800, peers: encodeCompactPeers([peer(5)], 4) }) }
      }
    }
    const m = new TrackerManager([['udp://127.0.0.1:1'], ['http://t/announce']], {
      clock,
      random: fixedRandom(),
      httpClient: http,
      getAnnounceState: () => ({ infoHash, peerId, port: 1, numWant: 1, uploadedBytes: 0, downloadedBytes: 0, leftBytes: 0 })
    })
    const got: PeerAddress[] = []
    m.on('peers', (e) => { got.push(...e.peers) })
    m.start()
    await clock.advanceAsync(0)
    expect(got).toEqual([peer(5)])
    expect(urls[0]).toContain('event=started')
    expect(m.trackers()[0]!.lastError?.code).toBe('TRACKER_URL_INVALID')
    m.close()
  })
})
