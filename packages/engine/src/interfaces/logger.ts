/** Leveled, structured logging port; child loggers are scoped by component and instance (seed 004). */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error']

export type LogFields = Record<string, unknown>

export interface LogEntry {
  timeMs: number
  level: LogLevel
  component: string
  instance?: string
  /**
   * Instances of the enclosing scopes that differ from `instance`, outermost first: a peer's
   * entry under a torrent carries the torrent's instance here, so it can be found by torrent.
   */
  parentInstances?: readonly string[]
  message: string
  fields?: LogFields
}

export interface Logger {
  /** Hot paths test this before building fields. */
  enabled (level: LogLevel): boolean
  trace (message: string, fields?: LogFields): void
  debug (message: string, fields?: LogFields): void
  info (message: string, fields?: LogFields): void
  warn (message: string, fields?: LogFields): void
  error (message: string, fields?: LogFields): void
  /** A logger for a sub-component, e.g. `log.child('peer', '1.2.3.4:6881')`. */
  child (component: string, instance?: string): Logger
}
