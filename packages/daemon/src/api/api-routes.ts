/**
 * Our own JSON API under `/api/v1/` — what Transmission's RPC cannot say: engine settings by their
 * real names, storage roots, alerts, the log ring, the IP filter, per-peer detail, file priorities
 * on the engine's 0..7 scale. Torrents are named by info hash. Reads are GET; changes are
 * POST/PUT/PATCH/DELETE and must carry the token in the `Authorization` header (a `?token=` in a
 * URL is fine for a `<video>` or a WebSocket, not for changing state: URLs leak into logs).
 *
 * Errors are JSON `{ error: { code, message } }` with a 4xx status; never a 500 for bad input.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isLodestoneError, parseIpFilterList, type BtEngine, type LogEntry, type Torrent } from '@lodestone/engine'
import { readBody } from '../rpc/rpc-http.js'
import { fetchTorrentUrl } from '../rpc/torrent-add.js'
import { RpcError, type RpcHost } from '../rpc/rpc-types.js'
import type { TrackedTorrent } from '../torrent-registry.js'

/** The daemon as the API sees it: the RPC's host plus a log ring. */
export interface ApiHost extends RpcHost {
  logEntries: () => readonly LogEntry[]
  readonly maxBodyBytes: number
}

class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) { super(message) }
}

function json (res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' })
  res.end(text)
}

/** A torrent's summary (the list view). */
export function torrentSummary (host: ApiHost, entry: TrackedTorrent): Record<string, unknown> {
  const t = entry.torrent
  return {
    id: entry.id,
    infoHash: t.id,
    name: t.name,
    state: t.state,
    error: t.error?.message ?? null,
    hasMetadata: t.hasMetadata,
    downloadDir: host.downloadDirOf(t),
    addedDate: entry.record.addedDateSec,
    doneDate: entry.record.doneDateSec,
    labels: entry.record.labels,
    stats: t.stats()
  }
}

function torrentDetail (host: ApiHost, entry: TrackedTorrent): Record<string, unknown> {
  const t = entry.torrent
  return {
    ...torrentSummary(host, entry),
    files: t.hasMetadata ? t.files.map((f) => ({ index: f.index, path: f.path, lengthBytes: f.lengthBytes, priority: f.priority, verifiedBytes: f.verifiedBytes, progress: f.progress, padding: f.padding })) : [],
    peers: t.hasMetadata ? t.peers() : [],
    trackers: t.trackers().map((tr) => ({ ...tr, lastError: tr.lastError?.message ?? null })),
    pieces: t.hasMetadata ? Buffer.from(t.bitfield().bytes).toString('base64') : '',
    pieceCount: t.metadata?.pieceCount ?? 0,
    pieceLengthBytes: t.metadata?.pieceLengthBytes ?? 0,
    settings: t.settingsOverrides
  }
}

async function readJson (req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const text = await readBody(req, limit)
  if (text === null) throw new ApiError(413, 'BODY_TOO_LARGE', `the body is larger than ${limit} bytes`)
  if (text.trim() === '') return {}
  let value: unknown
  try { value = JSON.parse(text) } catch { throw new ApiError(400, 'JSON_INVALID', 'the body is not valid JSON') }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError(400, 'JSON_INVALID', 'the body must be a JSON object')
  return value as Record<string, unknown>
}

function entryOf (host: ApiHost, hash: string): TrackedTorrent {
  const entry = host.registry.get(hash.toLowerCase())
  if (entry === undefined) throw new ApiError(404, 'TORRENT_NOT_FOUND', `no torrent ${hash}`)
  return entry
}

function requireString (body: Record<string, unknown>, key: string): string {
  const v = body[key]
  if (typeof v !== 'string' || v === '') throw new ApiError(400, 'ARGUMENT_INVALID', `"${key}" must be a non-empty string`)
  return v
}

async function act (torrent: Torrent, action: string): Promise<void> {
  switch (action) {
    case 'start':
      if (torrent.state === 'paused') torrent.resume()
      else {
        if (torrent.state === 'error') await torrent.stop()
        if (torrent.state === 'stopped') void torrent.start().catch(() => {})
      }
      return
    case 'stop': await torrent.stop(); return
    case 'pause': torrent.pause(); return
    case 'resume': torrent.resume(); return
    case 'verify':
      if (!torrent.hasMetadata) throw new ApiError(409, 'METADATA_PENDING', 'the metadata is not known yet')
      void torrent.recheck().catch(() => {})
      return
    default: throw new ApiError(404, 'NOT_FOUND', `no action ${action}`)
  }
}

type Handler = (host: ApiHost, m: RegExpExecArray, req: IncomingMessage, url: URL) => Promise<[number, unknown]> | [number, unknown]

const ROUTES: Array<[string, RegExp, Handler]> = [
  ['GET', /^\/api\/v1\/session$/, (host) => {
    const engine: BtEngine = host.engine
    return [200, { version: host.version, peerPort: engine.port, storageRoots: host.roots.list(), settings: engine.settings, stats: engine.stats(), session: host.sessionStats() }]
  }],
  ['PATCH', /^\/api\/v1\/settings$/, async (host, _m, req) => {
    const patch = await readJson(req, host.maxBodyBytes)
    host.engine.updateSettings(patch)
    return [200, { settings: host.engine.settings }]
  }],
  ['GET', /^\/api\/v1\/torrents$/, (host) => [200, { torrents: host.registry.all().map((e) => torrentSummary(host, e)) }]],
  ['POST', /^\/api\/v1\/torrents$/, async (host, _m, req) => {
    const body = await readJson(req, host.maxBodyBytes)
    const dir = typeof body.downloadDir === 'string' ? await host.roots.confine(body.downloadDir, 'downloadDir') : null
    let input: Uint8Array | string
    if (typeof body.magnet === 'string') input = body.magnet
    else if (typeof body.metainfo === 'string') input = Buffer.from(body.metainfo, 'base64')
    else if (typeof body.url === 'string' && /^https?:\/\//i.test(body.url)) input = await fetchTorrentUrl(body.url)
    else throw new ApiError(400, 'ARGUMENT_INVALID', 'give "magnet", "metainfo" (base64) or "url" (http/https)')
    const { entry, duplicate } = await host.addTorrent(input, { paused: body.paused === true, downloadDir: dir, filePriorities: null, peerLimit: null, labels: null })
    return [duplicate ? 200 : 201, { duplicate, torrent: torrentSummary(host, entry) }]
  }],
  ['GET', /^\/api\/v1\/torrents\/([0-9a-fA-F]{40})$/, (host, m) => [200, torrentDetail(host, entryOf(host, m[1]!))]],
  ['DELETE', /^\/api\/v1\/torrents\/([0-9a-fA-F]{40})$/, async (host, m, _req, url) => {
    await host.removeTorrent(entryOf(host, m[1]!), url.searchParams.get('deleteData') === 'true')
    return [200, {}]
  }],
  ['POST', /^\/api\/v1\/torrents\/([0-9a-fA-F]{40})\/(start|stop|pause|resume|verify)$/, async (host, m) => {
    const entry = entryOf(host, m[1]!)
    await act(entry.torrent, m[2]!)
    host.registry.touch(entry)
    return [200, {}]
  }],
  ['POST', /^\/api\/v1\/torrents\/([0-9a-fA-F]{40})\/move$/, async (host, m, req) => {
    const entry = entryOf(host, m[1]!)
    const target = await host.roots.confine(requireString(await readJson(req, host.maxBodyBytes), 'target'), 'target')
    await entry.torrent.moveStorage(target)
    return [200, { downloadDir: host.downloadDirOf(entry.torrent) }]
  }],
  ['PUT', /^\/api\/v1\/torrents\/([0-9a-fA-F]{40})\/files\/(\d{1,9})$/, async (host, m, req) => {
    const entry = entryOf(host, m[1]!)
    const priority = (await readJson(req, host.maxBodyBytes)).priority
    if (typeof priority !== 'number' || !Number.isInteger(priority)) throw new ApiError(400, 'ARGUMENT_INVALID', '"priority" must be an integer 0..7')
    if (!entry.torrent.hasMetadata) throw new ApiError(409, 'METADATA_PENDING', 'the file list is not known yet')
    await entry.torrent.setFilePriority(Number(m[2]), priority)
    return [200, { files: entry.torrent.files.map((f) => ({ index: f.index, priority: f.priority })) }]
  }],
  ['GET', /^\/api\/v1\/torrents\/([0-9a-fA-F]{40})\/peers$/, (host, m) => {
    const t = entryOf(host, m[1]!).torrent
    return [200, { peers: t.hasMetadata ? t.peers() : [] }]
  }],
  ['GET', /^\/api\/v1\/alerts$/, (host) => [200, { alerts: host.engine.alerts.popAlerts() }]],
  ['GET', /^\/api\/v1\/log$/, (host, _m, _req, url) => {
    const level = url.searchParams.get('level')
    const order = ['trace', 'debug', 'info', 'warn', 'error']
    const min = level === null ? 0 : Math.max(0, order.indexOf(level))
    return [200, { entries: host.logEntries().filter((e) => order.indexOf(e.level) >= min) }]
  }],
  ['GET', /^\/api\/v1\/ip-filter$/, (host) => [200, { enabled: host.engine.ipFilter !== null, ranges: host.engine.ipFilter?.size ?? 0 }]],
  ['PUT', /^\/api\/v1\/ip-filter$/, async (host, _m, req) => {
    const text = await readBody(req, host.maxBodyBytes)
    if (text === null) throw new ApiError(413, 'BODY_TOO_LARGE', 'the list is too large')
    if (text.trim() === '') {
      host.engine.setIpFilter(null)
      return [200, { enabled: false, ranges: 0 }]
    }
    const loaded = parseIpFilterList(text)
    host.engine.setIpFilter(loaded.filter)
    return [200, { enabled: true, ranges: loaded.filter.size, format: loaded.format, skippedLines: loaded.skippedLines }]
  }]
]

/** Answers `/api/v1/…` requests (not the WebSocket); false when no route matches the path. */
export function handleApi (host: ApiHost, path: string, url: URL, req: IncomingMessage, res: ServerResponse): boolean {
  const byPath = ROUTES.filter(([, re]) => re.test(path))
  if (byPath.length === 0) return false
  const route = byPath.find(([method]) => method === req.method)
  if (route === undefined) {
    req.resume()
    json(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `use ${byPath.map(([m]) => m).join(' or ')}` } })
    return true
  }
  if (req.method !== 'GET' && typeof req.headers.authorization !== 'string') {
    req.resume()
    json(res, 401, { error: { code: 'TOKEN_IN_HEADER', message: 'changes need the token in the Authorization header' } })
    return true
  }
  const m = route[1].exec(path)!
  Promise.resolve().then(() => route[2](host, m, req, url)).then(([status, value]) => { json(res, status, value) }, (err: unknown) => {
    req.resume()
    if (err instanceof ApiError) json(res, err.status, { error: { code: err.code, message: err.message } })
    else if (err instanceof RpcError) json(res, 400, { error: { code: 'ARGUMENT_INVALID', message: err.message } })
    else if (isLodestoneError(err)) json(res, 400, { error: { code: err.code, message: err.message } })
    else json(res, 500, { error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } })
  })
  return true
}
