/**
 * Serves a directory of static files (Transmission's web client under `/transmission/web/`).
 * GET and HEAD only; the path is decoded once and must stay inside the directory after symlinks
 * are resolved; directories answer their `index.html`. Files are streamed, never buffered whole.
 */
import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, relative, sep } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8'
}

function plain (res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}

/**
 * Answers `subPath` (the URL path below the mount point, still percent-encoded) from `dir`.
 * Never throws.
 */
export async function serveStatic (dir: string, subPath: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume()
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' })
    res.end()
    return
  }
  let decoded: string
  try {
    decoded = decodeURIComponent(subPath)
  } catch {
    plain(res, 400, 'bad path\n')
    return
  }
  if (decoded.includes('\0') || decoded.split(/[/\\]/).includes('..')) {
    plain(res, 404, 'not found\n')
    return
  }
  try {
    const root = await realpath(dir)
    let path = await realpath(join(root, decoded))
    const rel = relative(root, path)
    if (rel.startsWith('..') || rel.split(sep)[0] === '..') throw new Error('outside')
    let info = await stat(path)
    if (info.isDirectory()) {
      path = join(path, 'index.html')
      info = await stat(path)
    }
    if (!info.isFile()) throw new Error('not a file')
    res.writeHead(200, {
      'Content-Type': TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff'
    })
    if (req.method === 'HEAD') {
      res.end()
      return
    }
    const stream = createReadStream(path)
    stream.on('error', () => { res.destroy() })
    stream.pipe(res)
  } catch {
    plain(res, 404, 'not found\n')
  }
}
