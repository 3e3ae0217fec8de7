/**
 * One WebSocket tracker connection in the WebTorrent protocol (the `bittorrent-tracker` server's
 * WebSocket mode): JSON messages whose info hashes, peer ids and offer ids are 20-byte "binary
 * strings" (one char per byte). Announces carry WebRTC offers; the tracker relays them to other
 * peers of the swarm, and relays their answers back.
 *
 *   → {action:'announce', info_hash, peer_id, numwant, uploaded, downloaded, left, event?, offers:[{offer, offer_id}]}
 *   ← {action:'announce', info_hash, interval, complete, incomplete}              (the tracker's answer)
 *   ← {action:'announce', info_hash, peer_id, offer, offer_id}                   (a peer's offer for us)
 *   → {action:'announce', info_hash, peer_id, to_peer_id, answer, offer_id}       (our answer to it)
 *   ← {action:'announce', info_hash, peer_id, answer, offer_id}                  (an answer to our offer)
 *
 * Everything from the tracker is hostile input: messages are size-limited, type-checked field by
 * field, and a malformed one is dropped (counted) without throwing. The connection reconnects with
 * backoff while it has torrents.
 */

export interface SessionDescription { type: 'offer' | 'answer', sdp: string }

export interface TrackerOffer { infoHash: string, peerId: string, offerId: string, offer: SessionDescription }
export interface TrackerAnswer { infoHash: string, peerId: string, offerId: string, answer: SessionDescription }

export interface WebSocketTrackerEvents {
  onOffer: (offer: TrackerOffer) => void
  onAnswer: (answer: TrackerAnswer) => void
  /** The tracker answered an announce for `infoHash` (binary string). */
  onAnnounced: (infoHash: string, intervalSec: number | null) => void
  onWarning: (message: string) => void
}

/** Largest message accepted from a tracker (an SDP is a few KiB). */
const MAX_MESSAGE_CHARS = 256 * 1024
const MAX_SDP_CHARS = 64 * 1024
const RECONNECT_MIN_MS = 2_000
const RECONNECT_MAX_MS = 60_000

export function bytesToBinaryString (bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return s
}

export function binaryStringToHex (s: string): string {
  let out = ''
  for (let i = 0; i < s.length; i++) out += (s.charCodeAt(i) & 0xff).toString(16).padStart(2, '0')
  return out
}

function isId (v: unknown): v is string {
  if (typeof v !== 'string' || v.length !== 20) return false
  for (let i = 0; i < 20; i++) if (v.charCodeAt(i) > 0xff) return false
  return true
}

function description (v: unknown, type: 'offer' | 'answer'): SessionDescription | null {
  if (typeof v !== 'object' || v === null) return null
  const d = v as { type?: unknown, sdp?: unknown }
  if (d.type !== type || typeof d.sdp !== 'string' || d.sdp.length > MAX_SDP_CHARS) return null
  return { type, sdp: d.sdp }
}

export class WebSocketTracker {
  private ws: WebSocket | null = null
  private readonly outbox: string[] = []
  private retryMs = RECONNECT_MIN_MS
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private closed = false
  /** Messages dropped as malformed. */
  dropped = 0

  constructor (readonly url: string, private readonly events: WebSocketTrackerEvents, private readonly WebSocketCtor: typeof WebSocket = WebSocket) {
    this.open()
  }

  /** Queues a message (sent when connected; at most 64 wait, the oldest dropped first). */
  send (message: Record<string, unknown>): void {
    if (this.closed) return
    const text = JSON.stringify(message)
    if (this.ws?.readyState === 1) { this.ws.send(text); return }
    this.outbox.push(text)
    if (this.outbox.length > 64) this.outbox.shift()
  }

  close (): void {
    this.closed = true
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.outbox.length = 0
    try { this.ws?.close() } catch {}
    this.ws = null
  }

  private open (): void {
    if (this.closed) return
    let ws: WebSocket
    try { ws = new this.WebSocketCtor(this.url) } catch (err) {
      this.events.onWarning(`tracker ${this.url}: ${String(err)}`)
      this.scheduleReconnect()
      return
    }
    this.ws = ws
    ws.onopen = () => {
      this.retryMs = RECONNECT_MIN_MS
      for (const text of this.outbox.splice(0)) ws.send(text)
    }
    ws.onmessage = (ev: MessageEvent<unknown>) => { this.onMessage(ev.data) }
    ws.onclose = () => {
      if (this.ws !== ws) return
      this.ws = null
      this.scheduleReconnect()
    }
    ws.onerror = () => {}
  }

  private scheduleReconnect (): void {
    if (this.closed || this.retryTimer !== null) return
    const delay = this.retryMs
    this.retryMs = Math.min(RECONNECT_MAX_MS, this.retryMs * 2)
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.open() }, delay)
  }

  private onMessage (data: unknown): void {
    if (typeof data !== 'string' || data.length > MAX_MESSAGE_CHARS) { this.dropped++; return }
    let m: Record<string, unknown>
    try {
      const parsed: unknown = JSON.parse(data)
      if (typeof parsed !== 'object' || parsed === null) { this.dropped++; return }
      m = parsed as Record<string, unknown>
    } catch { this.dropped++; return }
    if (m.action !== 'announce' || !isId(m.info_hash)) return
    const infoHash = m.info_hash
    const failure = m['failure reason']
    if (typeof failure === 'string') { this.events.onWarning(`tracker ${this.url}: ${failure.slice(0, 200)}`); return }
    const offer = description(m.offer, 'offer')
    const answer = description(m.answer, 'answer')
    if (offer !== null && isId(m.peer_id) && isId(m.offer_id)) {
      this.events.onOffer({ infoHash, peerId: m.peer_id, offerId: m.offer_id, offer })
      return
    }
    if (answer !== null && isId(m.peer_id) && isId(m.offer_id)) {
      this.events.onAnswer({ infoHash, peerId: m.peer_id, offerId: m.offer_id, answer })
      return
    }
    if (m.offer !== undefined || m.answer !== undefined) { this.dropped++; return }
    const interval = typeof m.interval === 'number' && Number.isFinite(m.interval) && m.interval > 0 ? m.interval : null
    this.events.onAnnounced(infoHash, interval)
  }
}
