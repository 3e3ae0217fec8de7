/**
 * What `download` and `seed` print while they run, in one of two forms:
 *
 * - JSON lines (`--json`, or whenever stdout is not a terminal): one object per line on stdout,
 *   each with `type` and `time` (ms since the epoch). Types: `started`, `state-changed`,
 *   `piece-verified` (aggregated: every verified piece since the previous line, at most 4 lines a
 *   second), `hash-failed`, `peer-connected`, `peer-disconnected`, `peer-banned`, `completed`,
 *   `warning` (with the error's `code` when it has one), `error`, `stats` (once a second, and once more at the end), and last `exit`.
 * - Human: a status line redrawn in place on stdout (≤ 4×/s) with percent, rates, peers, ETA and
 *   state, and notable events printed above it; warnings and peer events only with --verbose.
 */
import type { TorrentStats } from '@lodestone/engine'
import { formatBytes } from './format.js'
import { StatusLine } from './status-line.js'

/** One JSON line; `type` first so a reader can dispatch on it. */
export type SessionEvent = { type: string } & Record<string, unknown>

export interface SessionReporter {
  /** A notable event (not stats). `human` is its one-line text for terminals (null: JSON only). */
  event: (event: SessionEvent, human: string | null, verboseOnly?: boolean) => void
  /** Called 4×/s; JSON output writes a stats line every fourth call (once a second). */
  tick: (stats: TorrentStats) => void
  /** Final stats (JSON: a last stats line; terminal: the status line is left on screen). */
  finish: (stats: TorrentStats | null) => void
}

/** The `stats` line: rates in bytes/s, `etaSec` null when unknown (nothing flowing, or done). */
export function statsEvent (s: TorrentStats): SessionEvent {
  return {
    type: 'stats',
    state: s.state,
    progress: Math.round(s.progress * 1e6) / 1e6,
    verifiedBytes: s.verifiedBytes,
    totalBytes: s.totalBytes,
    wantedBytes: s.wantedBytes,
    havePieces: s.havePieces,
    pieceCount: s.pieceCount,
    downloadedBytes: s.downloadedBytes,
    uploadedBytes: s.uploadedBytes,
    wastedBytes: s.wastedBytes,
    downloadRate: Math.round(s.downloadRateBytesPerSec),
    uploadRate: Math.round(s.uploadRateBytesPerSec),
    peers: s.peers,
    seeds: s.seeds,
    webSeeds: s.webSeeds,
    hashFailures: s.hashFailures,
    etaSec: etaSec(s)
  }
}

function etaSec (s: TorrentStats): number | null {
  // Only the wanted bytes are left to fetch (skipped files are not): progress is relative to them.
  const remaining = s.wantedBytes * (1 - s.progress)
  if (remaining <= 0 || s.progress >= 1) return 0
  if (s.downloadRateBytesPerSec < 1) return null
  return Math.ceil(remaining / s.downloadRateBytesPerSec)
}

/** `75` → `1:15`, `3725` → `1:02:05`, null → `--:--`. */
export function formatEta (sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '--:--'
  const h = Math.floor(sec / 3600)
  const m = Math.floor((sec % 3600) / 60)
  const s = Math.floor(sec % 60)
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m)
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`
}

/** The human status line: the most useful fields first, since a narrow terminal cuts the end. */
export function formatStatus (s: TorrentStats): string {
  const pct = `${(s.progress * 100).toFixed(1).padStart(5)}%`
  const eta = s.progress >= 1 ? '' : `  eta ${formatEta(etaSec(s))}`
  return `${pct} ${s.state}  down ${formatBytes(s.downloadRateBytesPerSec)}/s  up ${formatBytes(s.uploadRateBytesPerSec)}/s` +
    `  peers ${s.peers} (${s.seeds} seed${s.seeds === 1 ? '' : 's'})${s.webSeeds > 0 ? ` + ${s.webSeeds} web seed${s.webSeeds === 1 ? '' : 's'}` : ''}${eta}  ${formatBytes(Math.round(s.wantedBytes * s.progress))} of ${formatBytes(s.wantedBytes)}`
}

export class JsonReporter implements SessionReporter {
  private ticks = 0
  constructor (private readonly out: (text: string) => void, private readonly now: () => number = Date.now) {}

  event (event: SessionEvent): void {
    this.write(event)
  }

  tick (stats: TorrentStats): void {
    if (this.ticks++ % 4 === 0) this.write(statsEvent(stats))
  }

  finish (stats: TorrentStats | null): void {
    if (stats !== null) this.write(statsEvent(stats))
  }

  private write (event: SessionEvent): void {
    const { type, ...rest } = event
    this.out(`${JSON.stringify({ type, time: this.now(), ...rest })}\n`)
  }
}

export class HumanReporter implements SessionReporter {
  private readonly line: StatusLine

  constructor (out: (text: string) => void, private readonly verbose: boolean, columns: () => number) {
    this.line = new StatusLine(out, columns)
  }

  event (_event: SessionEvent, human: string | null, verboseOnly = false): void {
    if (human === null || (verboseOnly && !this.verbose)) return
    this.line.log(human)
  }

  tick (stats: TorrentStats): void {
    this.line.draw(formatStatus(stats))
  }

  finish (stats: TorrentStats | null): void {
    if (stats === null) {
      this.line.clear()
      return
    }
    this.line.draw(formatStatus(stats), true)
    this.line.commit()
  }
}
