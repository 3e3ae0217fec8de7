/**
 * A status line redrawn in place on a terminal (`\r` + erase to end of line), at most every
 * `minIntervalMs` (250 ms: 4 redraws a second is live enough and cheap), with ordinary lines
 * printed above it. Used by `download` and `seed`; `create` keeps the simpler ProgressLine.
 */

const ERASE_LINE = '\r\u001b[K'

export class StatusLine {
  private lastDrawMs = -Infinity
  private current = ''

  /**
   * @param write writes to the terminal (the status line's stream).
   * @param columns terminal width, to keep the line on one row (a wrapped line cannot be redrawn with `\r`).
   */
  constructor (
    private readonly write: (text: string) => void,
    private readonly columns: () => number = () => 80,
    private readonly minIntervalMs = 250,
    private readonly now: () => number = () => performance.now()
  ) {}

  /** Redraws with `text` unless the last redraw was under `minIntervalMs` ago (`force` overrides). */
  draw (text: string, force = false): void {
    const t = this.now()
    if (!force && t - this.lastDrawMs < this.minIntervalMs) return
    this.lastDrawMs = t
    const width = Math.max(20, this.columns() - 1)
    this.current = text.length > width ? text.slice(0, width) : text
    this.write(`${ERASE_LINE}${this.current}`)
  }

  /** Prints `line` above the status line (which is drawn again below it). */
  log (line: string): void {
    this.write(`${this.current === '' ? '' : ERASE_LINE}${line}\n${this.current}`)
  }

  /** Leaves the status line as it is on screen and moves below it. */
  commit (): void {
    if (this.current !== '') this.write('\n')
    this.current = ''
  }

  /** Erases the status line. */
  clear (): void {
    if (this.current !== '') this.write(ERASE_LINE)
    this.current = ''
  }
}
