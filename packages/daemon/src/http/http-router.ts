/**
 * The daemon's one HTTP server, by path:
 * - `/transmission/rpc…` — Transmission's RPC (its own guards: auth, Host, Origin, session id);
 * - `/transmission/web/…` — Transmission's web client, when installed (static files);
 * - `/files/<infohash>/<index>` — file streaming with Range (API token);
 * - `/metrics` — Prometheus text (API token);
 * - `/api/…` — our JSON API and `/api/events` WebSocket (API token);
 * - `/ui/…` — our own web UI (static files; it calls `/api/` with the token);
 * - `/` — a redirect to our UI (`/transmission/…` paths outside the RPC go to Transmission's client).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import type { BtEngine } from '@lodestone/engine'
import type { RpcAccess, RpcEndpoint } from '../rpc/rpc-http.js'
import { checkApiAccess } from './api-auth.js'
import { serveTorrentFile } from './file-stream.js'
import { serveStatic } from './static-files.js'

/** Our web UI's files: packages/daemon/web (beside dist/). */
export const OWN_UI_DIR = fileURLToPath(new URL('../../web/', import.meta.url))

export interface RouterDeps {
  rpc: RpcEndpoint
  engine: () => BtEngine
  webClientDir: () => string | null
  apiToken: () => string
  access: () => RpcAccess
  /** Extra token-guarded routes under the daemon's own prefixes (`/metrics`, `/api/`); false = not handled. */
  apiRoutes?: Array<(path: string, url: URL, req: IncomingMessage, res: ServerResponse) => boolean>
}

function plain (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

export function createRouter (deps: RouterDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://daemon.invalid')
    } catch {
      req.resume()
      plain(res, 400, 'bad request\n')
      return
    }
    const path = url.pathname
    if (path === '/transmission/rpc' || path.startsWith('/transmission/rpc/')) {
      deps.rpc.handle(req, res).catch(() => { res.destroy() })
      return
    }
    const web = deps.webClientDir()
    if (web !== null && path.startsWith('/transmission/web/')) {
      serveStatic(web, path.slice('/transmission/web/'.length), req, res).catch(() => { res.destroy() })
      return
    }
    if (path.startsWith('/ui/')) {
      serveStatic(OWN_UI_DIR, path.slice('/ui/'.length), req, res).catch(() => { res.destroy() })
      return
    }
    if (path.startsWith('/files/') || path === '/metrics' || path.startsWith('/api/')) {
      const verdict = checkApiAccess(req, url, deps.apiToken(), deps.access())
      if (verdict !== 'ok') {
        req.resume()
        plain(res, verdict === 'forbidden' ? 403 : 401, verdict === 'forbidden' ? 'forbidden\n' : 'an API token is needed\n',
          verdict === 'unauthorized' ? { 'WWW-Authenticate': 'Bearer realm="lodestone"' } : {})
        return
      }
      if (path.startsWith('/files/')) {
        serveTorrentFile(deps.engine(), path.slice('/files/'.length), req, res)
        return
      }
      for (const route of deps.apiRoutes ?? []) if (route(path, url, req, res)) return
    }
    req.resume()
    if (web !== null && (path === '/transmission' || path === '/transmission/' || path === '/transmission/web')) {
      res.writeHead(301, { Location: '/transmission/web/' })
      res.end()
      return
    }
    if (path === '/' || path === '/ui') {
      res.writeHead(302, { Location: '/ui/' })
      res.end()
      return
    }
    plain(res, 404, 'not found\n')
  }
}
