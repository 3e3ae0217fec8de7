/**
 * `/api/v1/events`: a WebSocket (the `ws` library) that pushes the engine's happenings as JSON
 * messages — every alert the engine's alert view passes (state changes, completions, peers,
 * errors…), each torrent's stats once a second (from the daemon's own clock: the engine's 'stats'
 * event does not run while the only torrents are magnets), torrents added and removed. The token comes as
 * `?token=` (a browser WebSocket cannot send headers); the Host and Origin guards apply.
 *
 * A slow reader does not make the daemon buffer without bound: above HIGH_WATER_BYTES queued,
 * stats messages are skipped (the next second's replace them); above CLOSE_BYTES the socket is
 * closed (1008), and the client reconnects and reads the state fresh.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { BtEngine } from '@lodestone/engine'
import { checkApiAccess } from '../http/api-auth.js'
import type { RpcAccess } from '../rpc/rpc-http.js'
import type { TorrentRegistry } from '../torrent-registry.js'

export const EVENTS_PATH = '/api/v1/events'
const HIGH_WATER_BYTES = 1024 * 1024
const CLOSE_BYTES = 8 * 1024 * 1024

/** Messages on the event stream. */
export type ApiEvent =
  | { type: 'hello', version: string }
  | { type: 'alert', alert: ReturnType<BtEngine['alerts']['popAlerts']>[number] }
  | { type: 'stats', timestampMs: number, torrents: Array<{ id: number | null, infoHash: string, stats: unknown }> }
  | { type: 'torrent-added', infoHash: string, id: number | null, name: string }
  | { type: 'torrent-removed', infoHash: string }

export interface EventHubDeps {
  engine: BtEngine
  registry: TorrentRegistry
  version: string
  apiToken: () => string
  access: () => RpcAccess
}

export class EventHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 })
  private readonly clients = new Set<WebSocket>()
  private readonly unsubscribe: Array<() => void> = []

  constructor (private readonly deps: EventHubDeps) {
    const { engine, registry } = deps
    this.unsubscribe.push(engine.alerts.onAlert((alert) => {
      // Stats come on their own, with numbers; the alert copy would double them.
      if (alert.type !== 'stats') this.broadcast({ type: 'alert', alert }, false)
    }))
    const onAdded = ({ torrent }: { torrent: { id: string, name: string } }): void => {
      // After the registry's own listener (registered first), so the id is known.
      queueMicrotask(() => { this.broadcast({ type: 'torrent-added', infoHash: torrent.id, id: registry.get(torrent.id)?.id ?? null, name: torrent.name }, false) })
    }
    engine.on('torrent-added', onAdded)
    this.unsubscribe.push(() => { engine.off('torrent-added', onAdded) })
    const onRemoved = ({ id }: { id: string }): void => { this.broadcast({ type: 'torrent-removed', infoHash: id }, false) }
    engine.on('torrent-removed', onRemoved)
    this.unsubscribe.push(() => { engine.off('torrent-removed', onRemoved) })
  }

  /** Sends every torrent's stats (the daemon calls it once a second). */
  tick (timestampMs: number): void {
    if (this.clients.size === 0) return
    const torrents = this.deps.engine.torrents.map((t) => ({ id: this.deps.registry.get(t.id)?.id ?? null, infoHash: t.id, stats: t.stats() }))
    this.broadcast({ type: 'stats', timestampMs, torrents }, true)
  }

  /** Takes an HTTP upgrade for EVENTS_PATH; refuses it (and closes the socket) unless allowed. */
  handleUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let url: URL
    try { url = new URL(req.url ?? '/', 'http://daemon.invalid') } catch { socket.destroy(); return }
    if (url.pathname !== EVENTS_PATH) { socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n'); return }
    const verdict = checkApiAccess(req, url, this.deps.apiToken(), this.deps.access())
    if (verdict !== 'ok') {
      socket.end(`HTTP/1.1 ${verdict === 'forbidden' ? '403 Forbidden' : '401 Unauthorized'}\r\nConnection: close\r\n\r\n`)
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.clients.add(ws)
      ws.on('close', () => { this.clients.delete(ws) })
      ws.on('error', () => { ws.terminate() })
      // The stream is one-way; anything the client sends is ignored.
      ws.on('message', () => {})
      this.send(ws, { type: 'hello', version: this.deps.version }, false)
    })
  }

  private send (ws: WebSocket, event: ApiEvent, droppable: boolean): void {
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount > CLOSE_BYTES) { ws.close(1008, 'too slow'); return }
    if (droppable && ws.bufferedAmount > HIGH_WATER_BYTES) return
    ws.send(JSON.stringify(event))
  }

  private broadcast (event: ApiEvent, droppable: boolean): void {
    for (const ws of this.clients) this.send(ws, event, droppable)
  }

  close (): void {
    for (const off of this.unsubscribe) off()
    for (const ws of this.clients) ws.terminate()
    this.clients.clear()
    this.wss.close()
  }
}
