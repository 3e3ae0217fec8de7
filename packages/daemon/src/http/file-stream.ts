/**
 * `GET /files/<infohash>/<file index>`: a torrent's file over HTTP with Range requests, served
 * through the engine's read streams — the pieces a request needs next become time-critical, and
 * the response waits for them to be verified — so a browser `<video>` or mpv plays a file while it
 * downloads. One range per request (the first when several are asked for, which RFC 9110 allows);
 * an unsatisfiable one is 416. Backpressure: the engine stream is read only as fast as the socket
 * drains, and a closed connection cancels it (the pieces lose their deadlines).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { extname } from 'node:path'
import type { BtEngine } from '@lodestone/engine'

const TYPES: Record<string, string> = {
  '.mp4': 'video/mp4', '.m4v': 'video/mp4', '.webm': 'video/webm', '.mkv': 'video/x-matroska', '.ogv': 'video/ogg',
  '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg', '.flac': 'audio/flac', '.wav': 'audio/wav', '.m4a': 'audio/mp4',
  '.txt': 'text/plain; charset=utf-8', '.pdf': 'application/pdf', '.jpg': 'image/jpeg', '.png': 'image/png'
}

function plain (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

/** `[start, end]` inclusive for a Range header over `size` bytes; null = whole file; 'unsatisfiable'. */
export function parseRange (header: string | undefined, size: number): [number, number] | null | 'unsatisfiable' {
  if (header === undefined) return null
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*(?:,.*)?$/i.exec(header.trim())
  if (m === null) return null // a malformed Range is ignored (RFC 9110 §14.2)
  const [, a = '', b = ''] = m
  if (a === '' && b === '') return null
  if (a === '') {
    const n = Number(b)
    if (n === 0 || size === 0) return 'unsatisfiable'
    return [Math.max(0, size - n), size - 1]
  }
  const start = Number(a)
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable'
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
  if (!Number.isSafeInteger(end) || end < start) return 'unsatisfiable'
  return [start, end]
}

/** Answers `/files/<hash>/<index>` (`rest` is what follows `/files/`). Never throws. */
export function serveTorrentFile (engine: BtEngine, rest: string, req: IncomingMessage, res: ServerResponse): void {
  req.resume()
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    plain(res, 405, 'GET or HEAD\n', { Allow: 'GET, HEAD' })
    return
  }
  const m = /^([0-9a-fA-F]{40})\/(\d{1,9})$/.exec(rest)
  const torrent = m === null ? undefined : engine.getTorrent(m[1]!.toLowerCase())
  if (m === null || torrent === undefined) { plain(res, 404, 'no such torrent\n'); return }
  if (!torrent.hasMetadata) { plain(res, 503, 'the torrent\'s metadata is not known yet\n', { 'Retry-After': '5' }); return }
  const file = torrent.files[Number(m[2])]
  if (file === undefined || file.padding) { plain(res, 404, 'no such file\n'); return }
  if (file.priority === 0) { plain(res, 409, 'the file is not wanted (skipped)\n'); return }
  const size = file.lengthBytes
  const range = parseRange(req.headers.range, size)
  if (range === 'unsatisfiable') { plain(res, 416, 'range not satisfiable\n', { 'Content-Range': `bytes */${size}` }); return }
  const [start, end] = range ?? [0, size - 1]
  const headers: Record<string, string | number> = {
    'Content-Type': TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    'Content-Length': size === 0 ? 0 : end - start + 1,
    'Content-Disposition': `inline; filename*=UTF-8''${encodeURIComponent(file.path.split('/').pop() ?? 'file')}`
  }
  if (range !== null) headers['Content-Range'] = `bytes ${start}-${end}/${size}`
  res.writeHead(range !== null ? 206 : 200, headers)
  if (req.method === 'HEAD' || size === 0) { res.end(); return }
  let web: ReadableStream<Uint8Array>
  try {
    web = torrent.createReadStream(file.index, { start, end })
  } catch {
    res.destroy()
    return
  }
  // The engine's stream is the web-standard one; Node types it as its own stream/web class (the
  // same type here, a different one where tests are checked with the DOM typings).
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  const body = Readable.fromWeb(web as NodeReadableStream<Uint8Array>)
  body.on('error', () => { res.destroy() })
  res.on('close', () => { body.destroy() })
  body.pipe(res)
}
