/**
 * A one-line progress display for a terminal: redrawn in place with `\r`, at most every 100 ms
 * (redrawing per piece would cost more than the hashing of small pieces), on stderr so stdout
 * stays clean for scripts. Does nothing when stderr is not a TTY.
 */
import { formatBytes } from './format.js'

const REDRAW_INTERVAL_MS = 100

export class ProgressLine {
  private lastDrawMs = 0
  private readonly startMs = performance.now()
  private drawn = false

  constructor (private readonly label: string, private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get enabled (): boolean {
    return this.stream.isTTY
  }

  update (doneBytes: number, totalBytes: number): void {
    if (!this.enabled) return
    const now = performance.now()
    if (doneBytes < totalBytes && now - this.lastDrawMs < REDRAW_INTERVAL_MS) return
    this.lastDrawMs = now
    const fraction = totalBytes === 0 ? 1 : doneBytes / totalBytes
    const width = 24
    const filled = Math.round(fraction * width)
    const seconds = (now - this.startMs) / 1000
    const rate = seconds > 0 ? `${formatBytes(doneBytes / seconds)}/s` : ''
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`
    this.stream.write(`\r${this.label} [${bar}] ${(fraction * 100).toFixed(1).padStart(5)}%  ${formatBytes(doneBytes)} / ${formatBytes(totalBytes)}  ${rate}\u001b[K`)
    this.drawn = true
  }

  /** Clears the line so the next output starts clean. */
  done (): void {
    if (this.drawn) this.stream.write('\r\u001b[K')
    this.drawn = false
  }
}
