/**
 * Hostile trackers as a running torrent meets them (issue 4): garbage, truncated, oversized and
 * malformed answers each become a typed TRACKER_* warning on the torrent — never an exception,
 * never the torrent's error state — and a tracker that floods peer lists cannot grow memory past
 * the torrent's candidate bounds. Parser-level cases live in http-tracker.test.ts and
 * udp-tracker.test.ts; this file checks the UDP announce parser against arbitrary bytes too.
 */
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { MemoryFileSystem } from '../../../adapters/memory/memory-filesystem.js'
import { MemoryNetwork } from '../../../adapters/memory/memory-network.js'
import { BtEngine } from '../../../src/session/bt-engine.js'
import { resolveSettings, testingSettings } from '../../../src/session/engine-settings.js'
import { isLodestoneError, LodestoneError } from '../../../src/errors.js'
import type { HttpResponse, IHttpClient } from '../../../src/interfaces/http-client.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import { parseUdpAnnounceResponse } from '../../../src/tracker/udp-tracker.js'
import { StorageRootManager } from '../../../src/storage/storage-root-manager.js'
import { SyncHasher } from '../../swarm/swarm-world.js'

const enc = (text: string): Uint8Array => new TextEncoder().encode(text)

/** Answers announces from a script, one entry per request (the last one repeats). */
class ScriptedTracker implements IHttpClient {
  requests = 0
  constructor (private readonly script: Array<() => HttpResponse>) {}
  async get (): Promise<HttpResponse> {
    const step = this.script[Math.min(this.requests, this.script.length - 1)]!
    this.requests++
    return step()
  }
}

const body = (b: Uint8Array, status = 200): () => HttpResponse => () => ({ status, headers: {}, body: b })

function compactPeers (count: number): Uint8Array {
  const out = new Uint8Array(count * 6)
  for (let i = 0; i < count; i++) {
    out.set([10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x1a, 0xe1], i * 6)
  }
  return out
}

function torrentFile (): Uint8Array {
  const data = new Uint8Array(64 * 1024).fill(3)
  const piece = new Uint8Array(createHash('sha1').update(data.subarray(0, 32_768)).digest())
  const pieces = new Uint8Array(40)
  pieces.set(piece, 0)
  pieces.set(piece, 20)
  return bencodeEncode({ announce: 'http://tracker.test/announce', info: { length: data.length, name: 'f.bin', 'piece length': 32_768, pieces } })
}

async function runAgainst (http: IHttpClient, rounds: number, stepMs: number): Promise<{ warnings: unknown[], state: string, queued: number, dropped: number, errors: number }> {
  const clock = new ManualClock()
  const network = new MemoryNetwork({ clock, random: seededRandom(2) }, { latencyMs: 5 })
  const fs = new MemoryFileSystem({ clock })
  const roots = new StorageRootManager(() => fs)
  roots.addRoot({ token: 'memory', label: 'Memory', path: '/' })
  roots.setDefaultRoot('memory')
  const engine = new BtEngine({
    socketFactory: network.host('10.0.0.1'),
    clock,
    hasher: new SyncHasher(),
    storageRoots: roots,
    random: seededRandom(3),
    httpClient: http
  }, resolveSettings({ listen: { port: 6881, host: '' }, connection: { maxCandidatesPerTorrent: 300, connectTimeoutMs: 1_000 } }, testingSettings()))
  const torrent = await engine.addTorrent(torrentFile())
  const warnings: unknown[] = []
  let errors = 0
  torrent.on('warning', ({ error }) => { warnings.push(error) })
  torrent.on('error', () => { errors++ })
  // Each round: the tracker's (clamped) back-off or interval passes and it is asked again.
  for (let i = 0; i < rounds; i++) await clock.advanceAsync(stepMs)
  const stats = engine.stats().connections
  const state = torrent.state
  await engine.close()
  return { warnings, state, queued: stats.queuedCandidates, dropped: stats.droppedCandidates, errors }
}

describe('hostile tracker against a running torrent', () => {
  it('turns every malformed answer into a typed TRACKER_* warning and keeps downloading', async () => {
    const http = new ScriptedTracker([
      body(enc('<html><body>502 Bad Gateway</body></html>')),
      body(bencodeEncode({ interval: 60, peers: compactPeers(10) }).subarray(0, 25)),
      body(new Uint8Array(0)),
      body(bencodeEncode(['not', 'a', 'dict'])),
      body(enc('d5:peers' + 'l'.repeat(200) + 'e'.repeat(200) + 'e')),
      body(bencodeEncode({ 'failure reason': 'x'.repeat(100_000) })),
      body(bencodeEncode({ interval: 60, peers: compactPeers(5_000) })),
      body(enc('Internal error'), 500),
      () => { throw new LodestoneError('TRACKER_RESPONSE_TOO_LARGE', { url: 'http://tracker.test/announce', limitBytes: 1024 * 1024 }) },
      () => { throw new TypeError('socket hang up') }
    ])
    const out = await runAgainst(http, 3, 3_600_000)
    expect(http.requests).toBeGreaterThanOrEqual(10)
    expect(out.errors).toBe(0)
    expect(out.state).toBe('downloading')
    expect(out.warnings.length).toBeGreaterThanOrEqual(10)
    for (const w of out.warnings) {
      expect(isLodestoneError(w) && w.code.startsWith('TRACKER_')).toBe(true)
      // Tracker-supplied text is capped before it reaches a warning.
      expect(String((w as Error).message).length).toBeLessThan(4_096)
    }
    const codes = new Set(out.warnings.map((w) => (w as LodestoneError).code))
    expect(codes).toEqual(new Set(['TRACKER_FAILURE', 'TRACKER_TOO_MANY_PEERS', 'TRACKER_RESPONSE_TOO_LARGE']))
  })

  it('bounds the candidates a tracker flooding peer lists can queue', async () => {
    // Within the per-answer limit (2000) but new addresses every time.
    let round = 0
    const http = new ScriptedTracker([() => {
      const peers = compactPeers(2_000 + 2_000 * round)
      round++
      return { status: 200, headers: {}, body: bencodeEncode({ interval: 60, peers: peers.subarray(peers.length - 2_000 * 6) }) }
    }])
    const out = await runAgainst(http, 5, 61_000)
    expect(http.requests).toBeGreaterThanOrEqual(4)
    expect(out.errors).toBe(0)
    expect(out.queued).toBeLessThanOrEqual(300)
    expect(out.dropped).toBeGreaterThan(0)
  })
})

describe('UDP announce answers: arbitrary bytes', () => {
  it('return a bounded result or throw a TRACKER_* error, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom(4 as const, 6 as const), (answer, family) => {
      try {
        const r = parseUdpAnnounceResponse(answer, 'udp://t:1', family, { maxPeersPerResponse: 10 })
        expect(r.peers.length).toBeLessThanOrEqual(10)
        expect(r.intervalSec).toBeGreaterThan(0)
      } catch (error) {
        expect(isLodestoneError(error) && error.code.startsWith('TRACKER_')).toBe(true)
      }
    }), { numRuns: 500, seed: 4 })
  })
})
