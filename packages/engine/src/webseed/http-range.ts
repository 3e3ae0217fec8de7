/**
 * One HTTP range request of a web seed, and what its response may look like.
 *
 * A response is usable when it carries exactly the bytes asked for:
 * - 206 with a `Content-Range` naming the same first and last byte (a missing Content-Range is
 *   accepted when the length is right: some servers omit it), or
 * - 200 when the request covered the whole file (servers answer a range that is the whole file
 *   with the file), with the file's length.
 * Anything else is a failure of a kind that tells the caller how to treat the seed
 * ({@link RangeFailureKind}). Status codes that say "later" (408, 425, 429, 5xx) are transient
 * and honour `Retry-After` (delta-seconds or an HTTP date); 4xx say the file is not there.
 */
export type RangeFailureKind =
  /** Try again later (429 / 503 / 5xx, time-outs, connection resets). */
  | 'transient'
  /** The server will not serve this (404, 403, 410, other 4xx, a redirect loop, a bad URL). */
  | 'refused'
  /** A body that is not the range asked for: short, long, wrong Content-Range, 200 for a part. */
  | 'bad-response'

export interface RangeFailure {
  kind: RangeFailureKind
  reason: string
  /** From `Retry-After`, when the server sent one. */
  retryAfterMs?: number
}

/** `Range` header value for `lengthBytes` bytes from `startBytes` (inclusive end, RFC 9110). */
export function rangeHeader (startBytes: number, lengthBytes: number): string {
  return `bytes=${startBytes}-${startBytes + lengthBytes - 1}`
}

/**
 * `Retry-After` in milliseconds from `nowWallMs`, clamped to [0, `maxMs`]; undefined when absent
 * or unreadable.
 */
export function parseRetryAfterMs (value: string | undefined, nowWallMs: number, maxMs: number): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  let ms: number
  if (/^\d+$/.test(text)) {
    ms = Number(text) * 1000
  } else {
    const at = Date.parse(text)
    if (Number.isNaN(at)) return undefined
    ms = at - nowWallMs
  }
  return Math.max(0, Math.min(maxMs, ms))
}

const TRANSIENT_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504])

/** What a non-usable status means for the seed. */
export function failureForStatus (status: number): RangeFailureKind {
  if (TRANSIENT_STATUSES.has(status) || status >= 500) return 'transient'
  return 'refused'
}

/** What a request asked for: bytes [startBytes, startBytes + lengthBytes) of a file of fileLengthBytes. */
export interface RangeAsk {
  startBytes: number
  lengthBytes: number
  fileLengthBytes: number
}

/** Parses `bytes first-last/total` (total may be `*`); null when it is not that. */
export function parseContentRange (value: string): { first: number, last: number, total: number | null } | null {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value)
  if (m === null) return null
  const first = Number(m[1])
  const last = Number(m[2])
  const total = m[3] === '*' ? null : Number(m[3])
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first) return null
  if (total !== null && (!Number.isSafeInteger(total) || total <= last)) return null
  return { first, last, total }
}

/**
 * The bytes asked for out of a response, or why not.
 * @param headers lower-case header names.
 */
export function checkRangeResponse (
  ask: RangeAsk,
  response: { status: number, headers: Record<string, string>, body: Uint8Array },
  nowWallMs: number,
  maxRetryAfterMs: number
): { ok: true, data: Uint8Array } | { ok: false, failure: RangeFailure } {
  const { status, headers, body } = response
  const fail = (kind: RangeFailureKind, reason: string): { ok: false, failure: RangeFailure } => {
    const failure: RangeFailure = { kind, reason }
    const retryAfterMs = parseRetryAfterMs(headers['retry-after'], nowWallMs, maxRetryAfterMs)
    if (retryAfterMs !== undefined) failure.retryAfterMs = retryAfterMs
    return { ok: false, failure }
  }
  if (status === 206) {
    const cr = headers['content-range']
    if (cr !== undefined) {
      const range = parseContentRange(cr)
      if (range === null) return fail('bad-response', `unreadable Content-Range "${cr}"`)
      if (range.first !== ask.startBytes || range.last !== ask.startBytes + ask.lengthBytes - 1) {
        return fail('bad-response', `Content-Range ${range.first}-${range.last}, asked ${ask.startBytes}-${ask.startBytes + ask.lengthBytes - 1}`)
      }
      if (range.total !== null && range.total !== ask.fileLengthBytes) {
        return fail('bad-response', `file is ${range.total} bytes on the server, ${ask.fileLengthBytes} in the torrent`)
      }
    }
    if (body.length !== ask.lengthBytes) return fail('bad-response', `${body.length < ask.lengthBytes ? 'short' : 'long'} body: ${body.length} of ${ask.lengthBytes} bytes`)
    return { ok: true, data: body }
  }
  if (status === 200) {
    const whole = ask.startBytes === 0 && ask.lengthBytes === ask.fileLengthBytes
    if (!whole) return fail('bad-response', 'the server ignored the Range header (200 for a part of the file)')
    if (body.length !== ask.lengthBytes) return fail('bad-response', `${body.length < ask.lengthBytes ? 'short' : 'long'} body: ${body.length} of ${ask.lengthBytes} bytes`)
    return { ok: true, data: body }
  }
  if (status === 416) return fail('refused', `range not satisfiable (the server's file is shorter than ${ask.fileLengthBytes} bytes)`)
  return fail(failureForStatus(status), `HTTP ${status}`)
}
