/**
 * One web seed (BEP 19): fetches byte ranges of the piece space over HTTP(S) range requests.
 *
 * A range maps onto the torrent's files as the piece layout says (piece-layout.ts): one request
 * per file it touches, at most `maxRequestsInFlight` at a time per seed (the HTTP client keeps
 * connections alive, so those are reused); pad files are zeros and never asked for. The result
 * is the range's bytes in piece-space order, ready to be verified like bytes from a peer — this
 * module never trusts them. A failure is a {@link WebSeedFetchError} saying how the seed should
 * be treated (web-seed-health.ts); redirects are followed by the HTTP client, up to its bound.
 *
 * Memory: a request asks for at most what the caller asked for (`maxBodyBytes` is the span's
 * length), so a hostile server cannot make us buffer more.
 */
import { LodestoneError, hasCode, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { IHttpClient } from '../interfaces/http-client.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { PieceLayout } from '../storage/piece-layout.js'
import { checkRangeResponse, rangeHeader, type RangeFailure, type RangeFailureKind } from './http-range.js'
import { webSeedFileUrl } from './web-seed-url.js'
import type { WebSeedSettings } from './web-seed-health.js'

/** A failed fetch: how to treat the seed, and why. */
export class WebSeedFetchError extends Error {
  override name = 'WebSeedFetchError'
  constructor (readonly failure: RangeFailure, readonly url: string) {
    super(`${url}: ${failure.reason}`)
  }
}

export interface WebSeedClientDeps {
  http: IHttpClient
  clock: IClock
  layout: PieceLayout
  meta: Pick<TorrentMetainfo, 'name' | 'multiFile' | 'files'>
  /** Identifies the client in requests. */
  userAgent?: string
}

/** Transport errors (time-outs, resets, refused connections) are transient; a bad URL is not. */
function failureOfError (err: unknown): RangeFailure {
  if (hasCode(err, 'TRACKER_URL_INVALID')) return { kind: 'refused', reason: err.details.reason }
  if (hasCode(err, 'TRACKER_RESPONSE_TOO_LARGE')) return { kind: 'bad-response', reason: 'long body: more bytes than asked for' }
  if (hasCode(err, 'TRACKER_TIMEOUT')) return { kind: 'transient', reason: 'timed out' }
  if (hasCode(err, 'TRACKER_FAILURE')) {
    // A redirect loop or a redirect to a non-http scheme will not fix itself.
    return { kind: /redirect/.test(err.details.reason) ? 'refused' : 'transient', reason: err.details.reason }
  }
  return { kind: 'transient', reason: err instanceof Error ? err.message : String(err) }
}

export class WebSeedClient {
  /** Requests in flight right now. */
  private active = 0
  private readonly waiting: Array<() => void> = []
  /** Payload bytes received (good responses only). */
  downloadedBytes = 0

  constructor (
    readonly url: string,
    private readonly deps: WebSeedClientDeps,
    private readonly settings: Pick<WebSeedSettings, 'maxRequestsInFlight' | 'requestTimeoutMs' | 'maxRetryAfterMs'>
  ) {}

  /** Requests in flight (for stats). */
  get requestsInFlight (): number { return this.active }

  /**
   * Bytes [offsetBytes, offsetBytes + lengthBytes) of the piece space.
   * @throws WebSeedFetchError for a failed request; LodestoneError ABORTED when `signal` fires.
   */
  async fetchRange (offsetBytes: number, lengthBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(lengthBytes)
    const spans = this.deps.layout.spans(offsetBytes, lengthBytes)
      .filter((s) => !(this.deps.layout.files[s.fileIndex]?.padding ?? false))
    // Settle every span before reporting, so no request is left running unobserved.
    const results = await Promise.allSettled(spans.map(async (span) => {
      const data = await this.fetchFileRange(span.fileIndex, span.fileOffsetBytes, span.lengthBytes, signal)
      out.set(data, span.rangeOffsetBytes)
    }))
    for (const r of results) if (r.status === 'rejected') throw r.reason
    return out
  }

  private async fetchFileRange (fileIndex: number, startBytes: number, lengthBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    const file = this.deps.layout.files[fileIndex]
    if (file === undefined) throw new LodestoneError('INTERNAL', { reason: `web seed: no file ${fileIndex}` })
    const url = webSeedFileUrl(this.url, this.deps.meta, fileIndex)
    await this.slot(signal)
    try {
      const ask = { startBytes, lengthBytes, fileLengthBytes: file.lengthBytes }
      let response
      try {
        response = await this.deps.http.get(url, {
          headers: {
            range: rangeHeader(startBytes, lengthBytes),
            // Compressed bodies could not be checked against a byte range.
            'accept-encoding': 'identity',
            ...(this.deps.userAgent !== undefined ? { 'user-agent': this.deps.userAgent } : {})
          },
          maxBodyBytes: lengthBytes,
          timeoutMs: this.settings.requestTimeoutMs,
          keepAlive: true,
          ...(signal !== undefined ? { signal } : {})
        })
      } catch (err) {
        if (isLodestoneError(err) && err.code === 'ABORTED') throw err
        throw new WebSeedFetchError(failureOfError(err), url)
      }
      const checked = checkRangeResponse(ask, response, this.deps.clock.wallNow(), this.settings.maxRetryAfterMs)
      if (!checked.ok) throw new WebSeedFetchError(checked.failure, url)
      this.downloadedBytes += checked.data.length
      return checked.data
    } finally {
      this.release()
    }
  }

  private async slot (signal?: AbortSignal): Promise<void> {
    if (this.active < this.settings.maxRequestsInFlight) {
      this.active++
      return
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiting.indexOf(go)
        if (i >= 0) this.waiting.splice(i, 1)
        reject(new LodestoneError('ABORTED', { operation: 'web seed request' }))
      }
      const go = (): void => {
        signal?.removeEventListener('abort', onAbort)
        this.active++
        resolve()
      }
      this.waiting.push(go)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  private release (): void {
    this.active--
    this.waiting.shift()?.()
  }
}

export type { RangeFailureKind }
