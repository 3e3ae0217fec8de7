/**
 * How the CLI reports failures: exactly one line on stderr (`lodestone: <message>`) and an exit
 * code that says whose fault it was.
 */

/**
 * The shape of a Lodestone error, checked structurally like the engine's `isLodestoneError` (codes
 * survive two copies of the package) without loading the engine to report an error.
 */
interface LodestoneErrorLike { code: string, details: unknown, message: string }

function isLodestoneError (err: unknown): err is LodestoneErrorLike {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' &&
    'details' in err && typeof (err as { message?: unknown }).message === 'string'
}

/** Exit codes: 0 success, 1 bad input or a failed operation, 2 wrong usage, 130 interrupted. */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
export const EXIT_INTERRUPTED = 130

/** An error the CLI raises itself, with the exit code it maps to. */
export class CliError extends Error {
  override name = 'CliError'
  constructor (message: string, readonly exitCode: number = EXIT_FAILURE, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** A wrong invocation (bad flag value, conflicting flags): exit code 2. */
export function usageError (message: string): CliError {
  return new CliError(message, EXIT_USAGE)
}

/** What each error code means to a user, for errors built without a message of their own. */
const MEANINGS: Partial<Record<string, string>> = {
  BENCODE_INVALID: 'not valid bencode',
  BENCODE_LIMIT: 'bencode limit exceeded',
  METAINFO_INVALID: 'invalid torrent',
  METAINFO_UNSAFE_PATH: 'unsafe file path in torrent',
  METAINFO_INCONSISTENT: 'inconsistent torrent',
  METAINFO_UNSUPPORTED: 'unsupported torrent feature',
  METAINFO_LIMIT: 'torrent exceeds a limit',
  MAGNET_INVALID: 'invalid magnet link',
  CREATE_FAILED: 'cannot create torrent',
  STORAGE_NOT_FOUND: 'no such file or directory',
  STORAGE_FULL: 'disk full',
  STORAGE_IO: 'file system error',
  SETTINGS_INVALID: 'invalid setting',
  PEER_ENCRYPTION_FAILED: 'encrypted handshake failed',
  ABORTED: 'interrupted'
}

function detailText (details: unknown): string {
  if (typeof details !== 'object' || details === null) return ''
  return Object.entries(details as Record<string, unknown>).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')
}

/** A LodestoneError's stable code (what a JSON consumer counts warnings by), else null. */
export function errorCode (err: unknown): string | null {
  return isLodestoneError(err) ? err.code : null
}

/** One line describing `err` (no newline, no `lodestone:` prefix). */
export function describeError (err: unknown): string {
  let text: string
  if (isLodestoneError(err)) {
    const e = err
    const meaning = MEANINGS[e.code] ?? e.code.toLowerCase().replaceAll('_', ' ')
    // Errors built without a message carry "CODE: {json}"; say it in words instead.
    text = e.message.startsWith(`${e.code}:`) || e.message === e.code
      ? `${meaning}: ${detailText(e.details)}`
      : e.message
  } else if (err instanceof Error) {
    text = err.message
  } else {
    text = String(err)
  }
  return text.replace(/\s*\n\s*/g, ' ').trim()
}

/** The exit code for `err`. */
export function exitCodeOf (err: unknown): number {
  if (err instanceof CliError) return err.exitCode
  if (isLodestoneError(err) && err.code === 'ABORTED') return EXIT_INTERRUPTED
  return EXIT_FAILURE
}
