import { describe, it, expect } from 'vitest'
import type { TorrentStats } from '@lodestone/engine'
import { HumanReporter, JsonReporter, type SessionReporter, formatEta, formatStatus, statsEvent } from '../../../src/util/session-reporter.js'
import { StatusLine } from '../../../src/util/status-line.js'

const stats = (over: Partial<TorrentStats> = {}): TorrentStats => ({
  state: 'downloading',
  progress: 0.25,
  totalBytes: 4_000_000,
  wantedBytes: 4_000_000,
  verifiedBytes: 1_000_000,
  pieceCount: 4,
  havePieces: 1,
  downloadedBytes: 1_100_000,
  uploadedBytes: 0,
  wastedBytes: 0,
  downloadRateBytesPerSec: 100_000,
  uploadRateBytesPerSec: 0,
  peers: 3,
  seeds: 1,
  webSeeds: 0,
  hashFailures: 0,
  bannedPeers: 0,
  endGame: false,
  awaitingBytes: 0,
  inFlightPieces: 0,
  ...over
})

describe('session output', () => {
  it('formats ETA and the status line', () => {
    expect(formatEta(null)).toBe('--:--')
    expect(formatEta(75)).toBe('1:15')
    expect(formatEta(3725)).toBe('1:02:05')
    expect(statsEvent(stats()).etaSec).toBe(30)
    expect(statsEvent(stats({ downloadRateBytesPerSec: 0 })).etaSec).toBeNull()
    expect(formatStatus(stats())).toBe(' 25.0% downloading  down 97.66 KiB/s  up 0 B/s  peers 3 (1 seed)  eta 0:30  976.56 KiB of 3.81 MiB')
    expect(formatStatus(stats({ progress: 1, state: 'seeding', seeds: 0 }))).not.toContain('eta')
    expect(formatStatus(stats({ peers: 0, seeds: 0, webSeeds: 2 }))).toContain('peers 0 (0 seeds) + 2 web seeds')
    expect(formatStatus(stats({}))).not.toContain('web seed')
    // A skipped file: progress, ETA and the byte counts are relative to the wanted bytes.
    const partial = stats({ wantedBytes: 2_000_000, progress: 0.5 })
    expect(statsEvent(partial)).toMatchObject({ etaSec: 10, wantedBytes: 2_000_000, totalBytes: 4_000_000 })
    expect(formatStatus(partial)).toBe(' 50.0% downloading  down 97.66 KiB/s  up 0 B/s  peers 3 (1 seed)  eta 0:10  976.56 KiB of 1.91 MiB')
  })

  it('JSON: one object per line with type and time; stats every fourth tick and at the end', () => {
    const out: string[] = []
    const r: SessionReporter = new JsonReporter((t) => { out.push(t) }, () => 42)
    r.event({ type: 'completed', totalBytes: 1 }, 'ignored')
    for (let i = 0; i < 5; i++) r.tick(stats())
    r.finish(stats({ progress: 1 }))
    const lines = out.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(out.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true)
    expect(lines.map((l) => l.type)).toEqual(['completed', 'stats', 'stats', 'stats'])
    expect(lines[0]).toEqual({ type: 'completed', time: 42, totalBytes: 1 })
    expect(lines[3]).toMatchObject({ progress: 1, peers: 3, downloadRate: 100_000 })
  })

  it('terminal: status line throttled to 4 redraws a second, events above it, verbose-only events hidden', () => {
    const out: string[] = []
    let now = 0
    const line = new StatusLine((t) => { out.push(t) }, () => 200, 250, () => now)
    line.draw('a')
    now = 100
    line.draw('b') // too soon
    now = 300
    line.draw('c')
    line.log('event')
    line.commit()
    expect(out).toEqual(['\r\u001b[Ka', '\r\u001b[Kc', '\r\u001b[Kevent\nc', '\n'])

    const written: string[] = []
    const human = new HumanReporter((t) => { written.push(t) }, false, () => 200)
    human.event({ type: 'peer-connected' }, 'peer connected', true)
    human.event({ type: 'completed' }, 'completed "x"')
    expect(written.join('')).toBe('completed "x"\n')
  })
})
