/**
 * Scoped, leveled, structured logging (seed 004's scoped logger, STYLE.md §7).
 *
 * Why one shared {@link LoggerCore} behind every child: a level change on the root (the CLI's
 * `--log-level`, the daemon UI) must reach every child logger that components already hold,
 * without each component re-creating its logger. Children only add their scope.
 *
 * Why the level test is a plain index comparison: hot paths call `enabled('trace')` once per
 * message or block, so it must cost a field read and a compare, not a lookup chain.
 */
import type { LogEntry, LogFields, Logger, LogLevel } from '../interfaces/logger.js'

/** Receives every entry that passes the level filter. Must not throw (a throw is swallowed). */
export type LogSink = (entry: LogEntry) => void

/** Only `wallNow` is used: log timestamps are for people, never for behaviour. */
export interface LogClock { wallNow (): number }

/** Level ranks, lowest (most verbose) first; the order of {@link LogLevel}. */
const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 }
/** Above every level: nothing is enabled. */
const RANK_OFF = 5

export interface LoggerSettings {
  /** The least severe level that is recorded. `'off'` records nothing. @default 'info' */
  level: LogLevel | 'off'
  /** Per-component overrides of `level`, keyed by component name (e.g. `{ peer: 'warn' }`). @default {} */
  componentLevels: Readonly<Record<string, LogLevel | 'off'>>
}

export const defaultLoggerSettings: Readonly<LoggerSettings> = { level: 'info', componentLevels: {} }

export interface LoggerDeps {
  sink: LogSink
  /**
   * Timestamps come from here. When absent, `Date.now()` is used: a log timestamp only labels an
   * entry for a reader and never feeds back into engine behaviour, so it is the one wall-clock read
   * the core allows itself. Presets and swarm tests pass their clock so entries carry virtual time.
   */
  clock?: LogClock
}

/** Creation options of {@link SinkLogger}: deps and settings in one bag, plus the root scope. */
export interface SinkLoggerOptions extends LoggerDeps, Partial<LoggerSettings> {
  /** Component name of the root logger. @default 'engine' */
  component?: string
  instance?: string
}

/** State shared by a root logger and all of its children. */
class LoggerCore {
  private defaultRank: number
  private readonly componentRanks = new Map<string, number>()
  /** Bumped on every settings change so children can cache their threshold. */
  version = 0
  private readonly now: () => number

  constructor (readonly sink: LogSink, clock: LogClock | undefined, settings: LoggerSettings) {
    this.defaultRank = rankOf(settings.level)
    this.setComponentLevels(settings.componentLevels)
    this.now = clock !== undefined ? () => clock.wallNow() : () => Date.now()
  }

  setLevel (level: LogLevel | 'off'): void {
    this.defaultRank = rankOf(level)
    this.version++
  }

  setComponentLevels (levels: Readonly<Record<string, LogLevel | 'off'>>): void {
    this.componentRanks.clear()
    for (const [component, level] of Object.entries(levels)) this.componentRanks.set(component, rankOf(level))
    this.version++
  }

  thresholdFor (component: string): number {
    return this.componentRanks.get(component) ?? this.defaultRank
  }

  emit (level: LogLevel, component: string, instance: string | undefined, parents: readonly string[], message: string, fields: LogFields | undefined): void {
    const entry: LogEntry = { timeMs: this.now(), level, component, message }
    if (instance !== undefined) entry.instance = instance
    if (parents.length > 0) entry.parentInstances = parents
    if (fields !== undefined) entry.fields = fields
    try {
      this.sink(entry)
    } catch {
      // A broken sink must not take the engine down with it; there is nowhere left to report to.
    }
  }
}

function rankOf (level: LogLevel | 'off'): number {
  return level === 'off' ? RANK_OFF : LEVEL_RANK[level]
}

/** A logger bound to one scope of a shared core; {@link SinkLogger} is the root, children are these. */
export class ScopedLogger implements Logger {
  private cachedVersion = -1
  private cachedThreshold = RANK_OFF

  /** @internal Loggers are made by `createLogger` / `new SinkLogger` and `child`. */
  constructor (
    /** @internal The state every logger of one tree shares. */
    protected readonly core: LoggerCore,
    /** Component name carried by every entry of this logger. */
    readonly component: string,
    /** Instance carried by every entry (absent for the root unless configured). */
    readonly instance: string | undefined,
    /** Instances of the enclosing scopes that differ from `instance`, outermost first (shared, never mutated). */
    readonly parentInstances: readonly string[] = []
  ) {}

  enabled (level: LogLevel): boolean {
    return LEVEL_RANK[level] >= this.threshold()
  }

  trace (message: string, fields?: LogFields): void { this.log('trace', message, fields) }
  debug (message: string, fields?: LogFields): void { this.log('debug', message, fields) }
  info (message: string, fields?: LogFields): void { this.log('info', message, fields) }
  warn (message: string, fields?: LogFields): void { this.log('warn', message, fields) }
  error (message: string, fields?: LogFields): void { this.log('error', message, fields) }

  child (component: string, instance?: string): Logger {
    // A child with its own instance remembers ours, so its entries can be found by either.
    const parents = instance !== undefined && this.instance !== undefined && instance !== this.instance
      ? [...this.parentInstances, this.instance]
      : this.parentInstances
    return new ScopedLogger(this.core, component, instance ?? this.instance, parents)
  }

  private threshold (): number {
    if (this.cachedVersion !== this.core.version) {
      this.cachedThreshold = this.core.thresholdFor(this.component)
      this.cachedVersion = this.core.version
    }
    return this.cachedThreshold
  }

  private log (level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (LEVEL_RANK[level] < this.threshold()) return
    this.core.emit(level, this.component, this.instance, this.parentInstances, message, fields)
  }
}

/**
 * The standard {@link Logger}: filters by level (per component if configured) and hands each entry
 * to a sink callback. `child(component, instance?)` returns a logger that shares the sink and the
 * level settings; a child without `instance` inherits its parent's instance, so
 * `torrentLog.child('peer')` entries still carry the torrent's info hash (seed 004's filter by
 * `instanceValue`).
 *
 * Fields are passed to the sink by reference, not copied: callers must not mutate them afterwards.
 */
export class SinkLogger extends ScopedLogger {
  constructor (options: SinkLoggerOptions) {
    super(
      new LoggerCore(options.sink, options.clock, {
        level: options.level ?? defaultLoggerSettings.level,
        componentLevels: options.componentLevels ?? defaultLoggerSettings.componentLevels
      }),
      options.component ?? 'engine',
      options.instance
    )
  }

  /** Changes the level of this logger's whole tree (root and every child). */
  setLevel (level: LogLevel | 'off'): void { this.core.setLevel(level) }

  /** Replaces the per-component overrides of this logger's whole tree. */
  setComponentLevels (levels: Readonly<Record<string, LogLevel | 'off'>>): void { this.core.setComponentLevels(levels) }
}

/** Shorthand for `new SinkLogger(options)`. */
export function createLogger (options: SinkLoggerOptions): SinkLogger {
  return new SinkLogger(options)
}

/** A logger that records nothing; `enabled()` is always false so callers skip building fields. */
export const nullLogger: Logger = {
  enabled: () => false,
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => nullLogger
}

/** True when `level` is at least as severe as `minimum`. */
export function isLevelAtLeast (level: LogLevel, minimum: LogLevel): boolean {
  return LEVEL_RANK[level] >= LEVEL_RANK[minimum]
}

/**
 * One line of text for an entry: `2024-01-02T03:04:05.678Z INFO  torrent[abc…] message {"k":1}`.
 * Fields that JSON cannot encode (cycles, bigint) are shown as `[unserializable]`.
 */
export function formatLogEntry (entry: LogEntry): string {
  const time = Number.isFinite(entry.timeMs) ? new Date(entry.timeMs).toISOString() : String(entry.timeMs)
  const scopes = entry.instance !== undefined ? [...(entry.parentInstances ?? []), entry.instance] : []
  const scope = scopes.length > 0 ? `${entry.component}[${scopes.join(' / ')}]` : entry.component
  let line = `${time} ${entry.level.toUpperCase().padEnd(5)} ${scope} ${entry.message}`
  if (entry.fields !== undefined && Object.keys(entry.fields).length > 0) {
    let text: string
    try {
      text = JSON.stringify(entry.fields, (_key, value: unknown) => {
        if (typeof value === 'bigint') return value.toString()
        if (value instanceof Error) return { name: value.name, message: value.message, ...(value as object) }
        if (value instanceof Uint8Array) return `<${value.length} bytes>`
        return value
      })
    } catch {
      text = '[unserializable]'
    }
    line += ` ${text}`
  }
  return line
}
