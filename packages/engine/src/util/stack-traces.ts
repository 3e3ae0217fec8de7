/**
 * Errors built from untrusted bytes (a peer's messages, DHT datagrams) need no stack: it only ever
 * points into our own parser, and capturing it costs 3-30 µs per error, which a hostile flood (one
 * error per datagram) turns into a core's worth of CPU.
 */

// Stack capture is V8's (`Error.stackTraceLimit`); elsewhere these are no-ops.
const ErrorWithLimit = Error as { stackTraceLimit?: number }

export function stopStackTraces (): number | undefined {
  const limit = ErrorWithLimit.stackTraceLimit
  if (limit !== undefined) ErrorWithLimit.stackTraceLimit = 0
  return limit
}

export function restoreStackTraces (limit: number | undefined): void {
  if (limit !== undefined) ErrorWithLimit.stackTraceLimit = limit
}

/** Runs `make` with stack capture off; an error's `stack` keeps its `Name: message` line. */
export function withoutStackTrace<T> (make: () => T): T {
  const limit = stopStackTraces()
  try {
    return make()
  } finally {
    restoreStackTraces(limit)
  }
}
