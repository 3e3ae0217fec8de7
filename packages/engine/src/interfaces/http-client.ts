/** HTTP port for trackers, .torrent URLs and web seeds. */

export interface HttpRequestOptions {
  headers?: Record<string, string>
  /** The response body is refused beyond this size (TRACKER_RESPONSE_TOO_LARGE or the caller's code). */
  maxBodyBytes: number
  timeoutMs: number
  signal?: AbortSignal
  /**
   * Reuse a connection to the same origin for later requests (web seeds ask one server for many
   * ranges). Idle kept-alive connections must not keep a process running. @default false
   */
  keepAlive?: boolean
}

export interface HttpResponse {
  status: number
  /** Lower-case header names. */
  headers: Record<string, string>
  body: Uint8Array
}

export interface IHttpClient {
  /** @throws TRACKER_TIMEOUT, TRACKER_RESPONSE_TOO_LARGE, TRACKER_FAILURE (network errors), ABORTED */
  get (url: string, options: HttpRequestOptions): Promise<HttpResponse>
}
