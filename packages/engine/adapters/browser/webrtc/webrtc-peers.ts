/**
 * WebRTC peers for a browser engine, the way WebTorrent finds them: each active torrent announces
 * to WebSocket trackers with WebRTC offers; answers to our offers, and offers from other peers that
 * we answer, become RTCDataChannels carrying the ordinary BitTorrent wire (rtc-channel-socket.ts).
 *
 * How the channels reach the engine:
 * - A channel from an offer we made is ours to speak first on: `engine.adoptOutgoing` puts it in
 *   its torrent as an outgoing peer (our handshake goes out at once).
 * - A channel from an offer we answered arrives as an incoming connection of the listening
 *   socket: {@link withWebRtcPeers} wraps a socket factory (the io-daemon's, or none) so that its
 *   `listenTcp` server also delivers WebRTC connections, and the engine's listen router reads the
 *   remote handshake and routes by info hash, like any incoming TCP peer. (Also the fallback when
 *   adoption is refused, e.g. during a magnet's metadata phase.)
 * So two Lodestones connect (the offerer speaks first), and so do Lodestone and WebTorrent, which
 * sends its handshake as soon as a channel opens whichever side offered.
 *
 * Limits: at most {@link WebRtcPeerSettings.maxPeersPerTorrent} connections (open or being
 * negotiated) per torrent; unanswered offers are dropped after `offerTimeoutMs`; a negotiation that
 * does not open a channel within `connectTimeoutMs` is abandoned.
 */
import { LodestoneError } from '../../../src/errors.js'
import type { ISocketFactory, ITcpServer, ITcpSocket, IUdpSocket, ConnectOptions } from '../../../src/interfaces/socket.js'
import type { BtEngine } from '../../../src/session/bt-engine.js'
import type { Torrent } from '../../../src/torrent/torrent.js'
import type { Logger } from '../../../src/interfaces/logger.js'
import { RtcChannelSocket, type RtcSocketSettings } from './rtc-channel-socket.js'
import { WebSocketTracker, binaryStringToHex, bytesToBinaryString, type SessionDescription, type TrackerAnswer, type TrackerOffer } from './websocket-tracker.js'

export interface WebRtcPeerSettings {
  /** WebSocket tracker URLs announced for every torrent, besides the ws(s):// trackers a torrent names. */
  trackers: string[]
  /** ICE configuration. @default STUN servers as WebTorrent uses them; tests pass `{ iceServers: [] }`. */
  rtcConfig: RTCConfiguration
  /** Offers sent with one announce (each costs a peer connection while it waits). @default 5 */
  offersPerAnnounce: number
  /** Re-announce interval when the tracker gives none, and the floor of the one it gives. @default 120_000 / 30_000 */
  announceIntervalMs: number
  minAnnounceIntervalMs: number
  /** @default 50_000 (as bittorrent-tracker) */
  offerTimeoutMs: number
  /** From answer to open channel. @default 30_000 */
  connectTimeoutMs: number
  /** Candidate gathering is awaited this long at most (no trickle ICE: the SDP carries them). @default 5_000 */
  iceGatheringTimeoutMs: number
  /** @default 30 */
  maxPeersPerTorrent: number
  socket: Partial<RtcSocketSettings>
}

export const defaultWebRtcPeerSettings: Readonly<WebRtcPeerSettings> = {
  trackers: [],
  rtcConfig: { iceServers: [{ urls: ['stun:stun.l.google.com:19302', 'stun:global.stun.twilio.com:3478'] }] },
  offersPerAnnounce: 5,
  announceIntervalMs: 120_000,
  minAnnounceIntervalMs: 30_000,
  offerTimeoutMs: 50_000,
  connectTimeoutMs: 30_000,
  iceGatheringTimeoutMs: 5_000,
  maxPeersPerTorrent: 30,
  socket: {}
}

export interface WebRtcPeerStats {
  /** Channels opened and handed to the engine. */
  connected: number
  offersSent: number
  offersAnswered: number
  answersReceived: number
  failed: number
}

interface TorrentEntry {
  torrent: Torrent
  infoHash: string
  /** Peer connections open or being negotiated. */
  pcs: Set<RTCPeerConnection>
  timer: ReturnType<typeof setTimeout> | null
  started: boolean
  intervalMs: number
}

interface PendingOffer { pc: RTCPeerConnection, channel: RTCDataChannel, entry: TorrentEntry, timer: ReturnType<typeof setTimeout> }

function randomId (): string {
  return bytesToBinaryString(crypto.getRandomValues(new Uint8Array(20)))
}

async function gathered (pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return
  await new Promise<void>((resolve) => {
    const done = (): void => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve() }
    const check = (): void => { if (pc.iceGatheringState === 'complete') done() }
    const timer = setTimeout(done, timeoutMs)
    pc.addEventListener('icegatheringstatechange', check)
  })
}

/** The selected candidate pair's addresses (an mDNS name or none: '0.0.0.0'). */
async function endpointsOf (pc: RTCPeerConnection): Promise<{ address: string, port: number, localPort: number }> {
  try {
    const stats = await pc.getStats()
    let pairId: string | undefined
    stats.forEach((s: { type?: string, selectedCandidatePairId?: string }) => { if (s.type === 'transport' && s.selectedCandidatePairId !== undefined) pairId = s.selectedCandidatePairId })
    const pair = pairId !== undefined ? stats.get(pairId) as { remoteCandidateId?: string, localCandidateId?: string } | undefined : undefined
    const remote = pair?.remoteCandidateId !== undefined ? stats.get(pair.remoteCandidateId) as { address?: string, port?: number } | undefined : undefined
    const local = pair?.localCandidateId !== undefined ? stats.get(pair.localCandidateId) as { port?: number } | undefined : undefined
    const address = remote?.address ?? ''
    const isIp = /^[\d.]+$/.test(address) || address.includes(':')
    return { address: isIp ? address : '0.0.0.0', port: remote?.port ?? 0, localPort: local?.port ?? 0 }
  } catch {
    return { address: '0.0.0.0', port: 0, localPort: 0 }
  }
}

export class WebRtcPeers {
  private readonly settings: WebRtcPeerSettings
  private readonly trackers = new Map<string, WebSocketTracker>()
  private readonly entries = new Map<string, TorrentEntry>()
  private readonly pending = new Map<string, PendingOffer>()
  private connectionCb: ((socket: ITcpSocket) => void) | null = null
  private adopt: ((socket: ITcpSocket, infoHash: Uint8Array) => boolean) | null = null
  private peerId = ''
  private readonly unsubscribe: Array<() => void> = []
  private closed = false
  private readonly counters: WebRtcPeerStats = { connected: 0, offersSent: 0, offersAnswered: 0, answersReceived: 0, failed: 0 }

  constructor (settings: Partial<WebRtcPeerSettings> = {}, private readonly deps: { WebSocket?: typeof WebSocket, log?: Logger } = {}) {
    this.settings = { ...defaultWebRtcPeerSettings, ...settings }
  }

  stats (): WebRtcPeerStats { return { ...this.counters } }

  /** Starts announcing the engine's torrents (present and future). Call once, after the engine is made. */
  attach (engine: BtEngine): void {
    this.peerId = bytesToBinaryString(engine.peerId)
    this.adopt = (socket, infoHash) => engine.adoptOutgoing(socket, infoHash)
    for (const t of engine.torrents) this.track(t)
    this.unsubscribe.push(engine.on('torrent-added', ({ torrent }) => { this.track(torrent) }))
    this.unsubscribe.push(engine.on('torrent-removed', ({ id }) => { this.untrack(id) }))
  }

  /** Where opened channels go (the listen router, through {@link withWebRtcPeers}). */
  onConnection (cb: ((socket: ITcpSocket) => void) | null): void { this.connectionCb = cb }

  close (): void {
    if (this.closed) return
    this.closed = true
    for (const off of this.unsubscribe.splice(0)) off()
    for (const id of [...this.entries.keys()]) this.untrack(id)
    for (const t of this.trackers.values()) t.close()
    this.trackers.clear()
  }

  private warn (message: string): void { this.deps.log?.warn(message) }
  private debug (message: string, fields?: Record<string, unknown>): void {
    if (this.deps.log?.enabled('debug') === true) this.deps.log.debug(message, fields)
  }

  private track (torrent: Torrent): void {
    if (this.closed) return
    const infoHash = bytesToBinaryString(torrent.handshakeHashes()[0] ?? torrent.infoHash)
    if (this.entries.has(infoHash)) return
    const entry: TorrentEntry = { torrent, infoHash, pcs: new Set(), timer: null, started: false, intervalMs: this.settings.announceIntervalMs }
    this.entries.set(infoHash, entry)
    this.schedule(entry, 0)
  }

  private untrack (id: string): void {
    for (const [hash, entry] of this.entries) {
      if (entry.torrent.id !== id) continue
      this.entries.delete(hash)
      if (entry.timer !== null) clearTimeout(entry.timer)
      if (entry.started) for (const url of this.urlsOf(entry)) this.tracker(url).send(this.announceParams(entry, 'stopped'))
      for (const pc of entry.pcs) { try { pc.close() } catch {} }
      entry.pcs.clear()
    }
    for (const [offerId, p] of this.pending) if (!this.entries.has(p.entry.infoHash)) { clearTimeout(p.timer); this.pending.delete(offerId) }
  }

  private urlsOf (entry: TorrentEntry): string[] {
    const own = entry.torrent.hasMetadata ? entry.torrent.meta.announce.flat().filter((u) => /^wss?:\/\//i.test(u)) : []
    return [...new Set([...this.settings.trackers, ...own])]
  }

  private tracker (url: string): WebSocketTracker {
    let t = this.trackers.get(url)
    if (t === undefined) {
      t = new WebSocketTracker(url, {
        onOffer: (o) => { void this.answerOffer(url, o) },
        onAnswer: (a) => { this.onAnswer(a) },
        onAnnounced: (hash, intervalSec) => {
          this.debug('tracker answered', { url, intervalSec })
          const e = this.entries.get(hash)
          if (e !== undefined && intervalSec !== null) e.intervalMs = Math.max(this.settings.minAnnounceIntervalMs, intervalSec * 1000)
        },
        onWarning: (m) => { this.warn(m) }
      }, this.deps.WebSocket)
      this.trackers.set(url, t)
    }
    return t
  }

  private schedule (entry: TorrentEntry, delayMs: number): void {
    if (entry.timer !== null) clearTimeout(entry.timer)
    entry.timer = setTimeout(() => {
      entry.timer = null
      void this.announce(entry).finally(() => { if (this.entries.get(entry.infoHash) === entry) this.schedule(entry, entry.intervalMs) })
    }, delayMs)
  }

  private announceParams (entry: TorrentEntry, event?: string): Record<string, unknown> {
    const s = entry.torrent.stats()
    return {
      action: 'announce',
      info_hash: entry.infoHash,
      peer_id: this.peerId,
      uploaded: s.uploadedBytes,
      downloaded: s.downloadedBytes,
      left: Math.max(0, s.wantedBytes - s.verifiedBytes),
      ...(event !== undefined ? { event } : {})
    }
  }

  private async announce (entry: TorrentEntry): Promise<void> {
    const state = entry.torrent.state
    if (this.closed || state === 'stopped' || state === 'paused' || state === 'error') return
    for (const url of this.urlsOf(entry)) {
      const room = this.settings.maxPeersPerTorrent - entry.pcs.size
      const count = Math.max(0, Math.min(this.settings.offersPerAnnounce, room))
      const offers: Array<{ offer: SessionDescription, offer_id: string }> = []
      for (let i = 0; i < count; i++) {
        const made = await this.makeOffer(entry).catch((err: unknown) => { this.warn(`WebRTC offer: ${String(err)}`); return null })
        if (made !== null) offers.push(made)
      }
      if (this.closed || this.entries.get(entry.infoHash) !== entry) return
      this.counters.offersSent += offers.length
      this.debug('announce', { url, offers: offers.length, torrent: entry.torrent.id })
      this.tracker(url).send({ ...this.announceParams(entry, entry.started ? undefined : 'started'), numwant: offers.length, offers })
    }
    entry.started = true
  }

  private async makeOffer (entry: TorrentEntry): Promise<{ offer: SessionDescription, offer_id: string }> {
    const pc = new RTCPeerConnection(this.settings.rtcConfig)
    entry.pcs.add(pc)
    const channel = pc.createDataChannel(`lodestone-${binaryStringToHex(randomId()).slice(0, 8)}`)
    const offerId = randomId()
    const timer = setTimeout(() => {
      if (this.pending.get(offerId)?.pc !== pc) return
      this.pending.delete(offerId)
      this.drop(entry, pc)
    }, this.settings.offerTimeoutMs)
    this.pending.set(offerId, { pc, channel, entry, timer })
    await pc.setLocalDescription(await pc.createOffer())
    await gathered(pc, this.settings.iceGatheringTimeoutMs)
    return { offer: { type: 'offer', sdp: pc.localDescription?.sdp ?? '' }, offer_id: offerId }
  }

  private onAnswer (a: TrackerAnswer): void {
    const p = this.pending.get(a.offerId)
    if (p === undefined || p.entry.infoHash !== a.infoHash || a.peerId === this.peerId) return
    this.pending.delete(a.offerId)
    clearTimeout(p.timer)
    this.counters.answersReceived++
    this.debug('answer to our offer', { torrent: p.entry.torrent.id, peer: binaryStringToHex(a.peerId) })
    this.whenOpen(p.entry, p.pc, p.channel, true)
    p.pc.setRemoteDescription(a.answer).catch((err: unknown) => {
      this.warn(`WebRTC answer refused: ${String(err)}`)
      this.drop(p.entry, p.pc)
    })
  }

  private async answerOffer (url: string, o: TrackerOffer): Promise<void> {
    const entry = this.entries.get(o.infoHash)
    if (entry === undefined || o.peerId === this.peerId || entry.pcs.size >= this.settings.maxPeersPerTorrent) return
    this.debug('offer from a peer', { torrent: entry.torrent.id, peer: binaryStringToHex(o.peerId) })
    const pc = new RTCPeerConnection(this.settings.rtcConfig)
    entry.pcs.add(pc)
    pc.ondatachannel = (ev) => { this.whenOpen(entry, pc, ev.channel, false) }
    const giveUp = setTimeout(() => { if (pc.connectionState !== 'connected') this.drop(entry, pc) }, this.settings.connectTimeoutMs)
    pc.addEventListener('connectionstatechange', () => { if (pc.connectionState === 'connected') clearTimeout(giveUp) })
    try {
      await pc.setRemoteDescription(o.offer)
      await pc.setLocalDescription(await pc.createAnswer())
      await gathered(pc, this.settings.iceGatheringTimeoutMs)
      if (this.closed) return
      this.counters.offersAnswered++
      this.tracker(url).send({
        action: 'announce', info_hash: o.infoHash, peer_id: this.peerId, to_peer_id: o.peerId, offer_id: o.offerId,
        answer: { type: 'answer', sdp: pc.localDescription?.sdp ?? '' }
      })
    } catch (err) {
      clearTimeout(giveUp)
      this.warn(`WebRTC offer refused: ${String(err)}`)
      this.drop(entry, pc)
    }
  }

  /** Hands the channel to the engine once it opens; abandons it if it does not in time. */
  private whenOpen (entry: TorrentEntry, pc: RTCPeerConnection, channel: RTCDataChannel, weOffered: boolean): void {
    const timer = setTimeout(() => { if (channel.readyState !== 'open') this.drop(entry, pc) }, this.settings.connectTimeoutMs)
    const opened = (): void => {
      clearTimeout(timer)
      void endpointsOf(pc).then(({ address, port, localPort }) => {
        if (this.closed || channel.readyState !== 'open') { this.drop(entry, pc); return }
        const socket = new RtcChannelSocket(pc, channel, address, port, localPort, this.settings.socket)
        pc.addEventListener('connectionstatechange', () => {
          if (pc.connectionState === 'closed' || pc.connectionState === 'failed') entry.pcs.delete(pc)
        })
        this.debug('channel open', { torrent: entry.torrent.id, address, port, weOffered })
        if (weOffered && this.adopt?.(socket, entry.torrent.handshakeHashes()[0] ?? entry.torrent.infoHash) === true) {
          this.counters.connected++
          return
        }
        if (this.connectionCb === null) { socket.close(); entry.pcs.delete(pc); return }
        this.counters.connected++
        this.connectionCb(socket)
      })
    }
    if (channel.readyState === 'open') opened()
    else channel.addEventListener('open', opened, { once: true })
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed') { clearTimeout(timer); this.drop(entry, pc) }
    })
  }

  private drop (entry: TorrentEntry, pc: RTCPeerConnection): void {
    if (entry.pcs.delete(pc)) this.counters.failed++
    try { pc.close() } catch {}
  }
}

/** A server that merges a real listener (or none) with WebRTC connections. */
class MergedServer implements ITcpServer {
  private cb: ((socket: ITcpSocket) => void) | null = null
  constructor (private readonly base: ITcpServer | null, private readonly peers: WebRtcPeers) {
    base?.onConnection((s) => { this.cb?.(s) })
    peers.onConnection((s) => { if (this.cb !== null) this.cb(s); else s.close() })
  }

  get port (): number { return this.base?.port ?? 0 }
  onConnection (cb: (socket: ITcpSocket) => void): void { this.cb = cb }
  async close (): Promise<void> {
    this.peers.onConnection(null)
    await this.base?.close()
  }
}

/**
 * `base` (the io-daemon's sockets, or null in a page without a bridge) plus WebRTC peers arriving
 * through `listenTcp`. Without a base, TCP connects fail with PEER_CONNECT_FAILED and UDP binds
 * with LISTEN_FAILED.
 */
export function withWebRtcPeers (base: ISocketFactory | null, peers: WebRtcPeers): ISocketFactory {
  return {
    connectTcp: async (host: string, port: number, options?: ConnectOptions): Promise<ITcpSocket> => {
      if (base === null) throw new LodestoneError('PEER_CONNECT_FAILED', { address: `${host}:${port}`, reason: 'no TCP in a browser without the io-daemon' })
      return base.connectTcp(host, port, options)
    },
    listenTcp: async (port: number, host?: string): Promise<ITcpServer> => new MergedServer(base !== null ? await base.listenTcp(port, host) : null, peers),
    bindUdp: async (port: number, host?: string): Promise<IUdpSocket> => {
      if (base === null) throw new LodestoneError('LISTEN_FAILED', { address: host ?? '0.0.0.0', port, reason: 'no UDP in a browser without the io-daemon' })
      return base.bindUdp(port, host)
    }
  }
}
