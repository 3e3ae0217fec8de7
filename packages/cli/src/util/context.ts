/** What every command gets: where to print, and the CLI's own version. */
import { readFileSync } from 'node:fs'

export interface CliContext {
  /** Writes to standard output (the command's result). */
  out: (text: string) => void
  /** Writes to standard error (progress and diagnostics). */
  err: (text: string) => void
  version: string
}

let cachedVersion: string | undefined

/** The CLI package's version, from its package.json (one level above dist/ and src/). */
export function cliVersion (): string {
  if (cachedVersion === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
      cachedVersion = typeof pkg.version === 'string' ? pkg.version : '0.0.0'
    } catch {
      cachedVersion = '0.0.0'
    }
  }
  return cachedVersion
}
