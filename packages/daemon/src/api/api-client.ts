/**
 * A typed client for the daemon's own API (`/api/v1/…`) and its event stream. Runs anywhere with
 * `fetch` (Node ≥ 20, browsers); the event stream needs a WebSocket constructor — the global one,
 * or pass `ws`'s in Node 20.
 *
 * ```ts
 * const api = new LodestoneApiClient({ baseUrl: 'http://127.0.0.1:9091', token })
 * const { torrent } = await api.addTorrent({ magnet: 'magnet:?xt=urn:btih:…' })
 * const stop = api.events((e) => { if (e.type === 'alert') console.log(e.alert.message) })
 * ```
 */
import type { Alert, EngineSettings, LogEntry, PartialEngineSettings, PeerInfo, TorrentStats, TorrentState } from '@lodestone/engine'
import type { ApiEvent } from './api-events.js'

export interface ApiTorrentSummary {
  id: number
  infoHash: string
  name: string
  state: TorrentState
  error: string | null
  hasMetadata: boolean
  downloadDir: string
  addedDate: number
  doneDate: number
  labels: string[]
  stats: TorrentStats
}

export interface ApiTorrentDetail extends ApiTorrentSummary {
  files: Array<{ index: number, path: string, lengthBytes: number, priority: number, verifiedBytes: number, progress: number, padding: boolean }>
  peers: PeerInfo[]
  trackers: Array<{ url: string, tier: number, lastError: string | null, seeders: number | null, leechers: number | null }>
  /** Our verified pieces, a base64 bitfield. */
  pieces: string
  pieceCount: number
  pieceLengthBytes: number
}

/** A failed call: the API's error code and message, and the HTTP status. */
export class ApiClientError extends Error {
  override name = 'ApiClientError'
  constructor (readonly status: number, readonly code: string, message: string) { super(message) }
}

export interface ApiClientOptions {
  /** `http://127.0.0.1:9091` (no trailing path). */
  baseUrl: string
  /** The daemon's API token (`<state-dir>/api-token`). */
  token: string
  /** For `events()` where there is no global WebSocket (Node 20): `ws`'s constructor. */
  WebSocket?: new (url: string) => { onmessage: ((e: { data: unknown }) => void) | null, close: () => void }
}

export class LodestoneApiClient {
  constructor (private readonly options: ApiClientOptions) {}

  private async call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.options.baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.options.token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {})
    })
    const text = await res.text()
    let value: unknown = null
    try { value = text === '' ? {} : JSON.parse(text) } catch { value = null }
    if (!res.ok) {
      const err = (value as { error?: { code?: string, message?: string } } | null)?.error
      throw new ApiClientError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? text.slice(0, 200))
    }
    return value as T
  }

  async session (): Promise<{ version: string, peerPort: number | null, storageRoots: string[], settings: EngineSettings }> {
    return this.call('GET', '/api/v1/session')
  }

  async updateSettings (patch: PartialEngineSettings): Promise<{ settings: EngineSettings }> {
    return this.call('PATCH', '/api/v1/settings', patch)
  }

  async torrents (): Promise<ApiTorrentSummary[]> {
    return (await this.call<{ torrents: ApiTorrentSummary[] }>('GET', '/api/v1/torrents')).torrents
  }

  async torrent (infoHash: string): Promise<ApiTorrentDetail> {
    return this.call('GET', `/api/v1/torrents/${infoHash}`)
  }

  /** Adds a magnet or a .torrent's bytes. */
  async addTorrent (input: { magnet: string } | { metainfo: Uint8Array }, options: { paused?: boolean, downloadDir?: string } = {}): Promise<{ duplicate: boolean, torrent: ApiTorrentSummary }> {
    const source = 'magnet' in input ? { magnet: input.magnet } : { metainfo: toBase64(input.metainfo) }
    return this.call('POST', '/api/v1/torrents', { ...source, ...options })
  }

  async action (infoHash: string, action: 'start' | 'stop' | 'pause' | 'resume' | 'verify'): Promise<void> {
    await this.call('POST', `/api/v1/torrents/${infoHash}/${action}`)
  }

  async move (infoHash: string, target: string): Promise<{ downloadDir: string }> {
    return this.call('POST', `/api/v1/torrents/${infoHash}/move`, { target })
  }

  /** 0 skips the file; 1 low, 4 normal, 6 high, 7 top. */
  async setFilePriority (infoHash: string, fileIndex: number, priority: number): Promise<void> {
    await this.call('PUT', `/api/v1/torrents/${infoHash}/files/${fileIndex}`, { priority })
  }

  async remove (infoHash: string, deleteData = false): Promise<void> {
    await this.call('DELETE', `/api/v1/torrents/${infoHash}?deleteData=${String(deleteData)}`)
  }

  async alerts (): Promise<Alert[]> {
    return (await this.call<{ alerts: Alert[] }>('GET', '/api/v1/alerts')).alerts
  }

  async log (level?: LogEntry['level']): Promise<LogEntry[]> {
    return (await this.call<{ entries: LogEntry[] }>('GET', `/api/v1/log${level !== undefined ? `?level=${level}` : ''}`)).entries
  }

  /** Replaces the IP filter with an eMule .dat or PeerGuardian .p2p list ('' removes it). */
  async setIpFilter (list: string): Promise<{ enabled: boolean, ranges: number }> {
    return this.call('PUT', '/api/v1/ip-filter', list)
  }

  /** The URL that streams a file (Range supported), token included: for a `<video src>` or mpv. */
  fileUrl (infoHash: string, fileIndex: number): string {
    return `${this.options.baseUrl}/files/${infoHash}/${fileIndex}?token=${encodeURIComponent(this.options.token)}`
  }

  /** Subscribes to the event stream; returns a function that closes it. */
  events (onEvent: (event: ApiEvent) => void): () => void {
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: ApiClientOptions['WebSocket'] }).WebSocket
    if (Ctor === undefined) throw new ApiClientError(0, 'NO_WEBSOCKET', 'no WebSocket constructor: pass options.WebSocket')
    const url = `${this.options.baseUrl.replace(/^http/, 'ws')}/api/v1/events?token=${encodeURIComponent(this.options.token)}`
    const ws = new Ctor(url)
    ws.onmessage = (e) => {
      try { onEvent(JSON.parse(String(e.data)) as ApiEvent) } catch { /* not ours */ }
    }
    return () => { ws.close() }
  }
}

function toBase64 (bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}
