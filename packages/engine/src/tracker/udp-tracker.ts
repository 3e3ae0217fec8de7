/**
 * UDP tracker client (BEP 15): connect, announce and scrape over one shared UDP socket.
 *
 * Why one socket for the whole engine: a UDP tracker conversation is two datagrams, so a socket
 * per torrent (or per tracker) would only multiply file descriptors and bound ports. A
 * {@link UdpTrackerSocket} owns the socket (one per address family, bound on first use), hands
 * out transaction ids and routes each answer to the request waiting on that id. It also caches
 * connection ids per tracker endpoint (BEP 15 lets a client reuse one for a minute), so the
 * torrents announcing to the same tracker share one connect.
 *
 * Hostile or stray datagrams (shorter than the 8-byte header, unknown transaction id, wrong
 * sender, wrong action) are dropped with a warning and the request keeps waiting: anyone can
 * send us datagrams, so they never fail a request. The tracker's own answer to our transaction can:
 * the `error` action (3) fails it with TRACKER_FAILURE and the tracker's message, and so does an
 * answer too short for its action.
 *
 * Retransmission (BEP 15): a request unanswered after `base · 2ⁿ` ms is sent again with the same
 * transaction id (so a late answer to an earlier copy still counts), n = 0 … `udpMaxRetransmits`.
 * A connection id that expires while an announce is being retransmitted is renewed first.
 *
 * Host names: the socket port takes addresses, and the core has no resolver. IP literals and
 * `localhost` work; other names need a `resolveHost` dependency (a preset can pass the platform's
 * resolver) and fail with TRACKER_FAILURE without one.
 */
import { LodestoneError, ProtocolError, isLodestoneError } from '../errors.js'
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IRandom } from '../interfaces/random.js'
import type { ISocketFactory, IUdpSocket, UdpRemote } from '../interfaces/socket.js'
import { fromUtf8, toHex } from '../util/bytes.js'
import {
  MAX_SCRAPE_HASHES, dedupePeers, defaultTrackerSettings, parseTrackerUrl, trackerText,
  type AnnounceEvent, type AnnounceParams, type AnnounceResult, type ScrapeResult, type TrackerClient,
  type TrackerRequestOptions, type TrackerSettings
} from './announce.js'
import { canonicalIp, compactPeerCount, decodeCompactPeers, ipFamily, type IpFamily } from './compact-peers.js'

/** BEP 15 actions. */
export const UDP_ACTION = { connect: 0, announce: 1, scrape: 2, error: 3 } as const

/** BEP 15 event numbers. */
const EVENT_NUMBER: Readonly<Record<AnnounceEvent, number>> = { none: 0, completed: 1, started: 2, stopped: 3 }

/** The magic `protocol_id` of a connect request (0x41727101980). */
const PROTOCOL_ID_HIGH = 0x417
const PROTOCOL_ID_LOW = 0x27101980

/** Fixed sizes of BEP 15 packets, in bytes. */
const CONNECT_REQUEST_BYTES = 16
const CONNECT_RESPONSE_BYTES = 16
const ANNOUNCE_REQUEST_BYTES = 98
const ANNOUNCE_RESPONSE_HEADER_BYTES = 20
const SCRAPE_ENTRY_BYTES = 12
const HEADER_BYTES = 8

/** A tracker endpoint: an IP literal (no brackets) and a port. */
export interface UdpEndpoint {
  address: string
  port: number
}

export interface UdpTrackerSocketDeps {
  socketFactory: ISocketFactory
  clock: IClock
  random: IRandom
  logger?: Logger
  /**
   * Resolves a tracker host name to one IP literal. Optional: without it only IP literals and
   * `localhost` (127.0.0.1) can be used.
   */
  resolveHost?: (host: string, options: { signal?: AbortSignal }) => Promise<string>
  /**
   * Optional: a socket to use for trackers of `family` instead of binding one (the engine's
   * shared UDP socket, whose channel `close()` only detaches). Asked when a family is first used;
   * null binds a socket of its own.
   */
  sharedSocket?: (family: IpFamily) => IUdpSocket | null
}

export interface UdpTrackerSocketSettings {
  /** Local address of the IPv4 socket. @default '0.0.0.0' */
  bindHostV4: string
  /** Local address of the IPv6 socket. @default '::' */
  bindHostV6: string
}

export const defaultUdpTrackerSocketSettings: Readonly<UdpTrackerSocketSettings> = {
  bindHostV4: '0.0.0.0',
  bindHostV6: '::'
}

/** Counters for tests and diagnostics. */
export interface UdpTrackerSocketStats {
  datagramsSent: number
  datagramsReceived: number
  /** Dropped answers: too short, unknown transaction, wrong sender or wrong action. */
  datagramsDropped: number
  connectsSent: number
}

interface Pending {
  endpoint: UdpEndpoint
  /** The action an answer must carry (besides `error`). */
  action: number
  /** An accepted answer that arrived while nobody waited (between a timeout and the resend). */
  buffered: Uint8Array | null
  waiter: ((data: Uint8Array) => void) | null
}

interface SharedConnect {
  promise: Promise<Uint8Array>
  controller: AbortController
  /** Callers still waiting; the connect is aborted when this drops to 0. */
  waiters: number
}

interface CachedConnection {
  id: Uint8Array
  obtainedAtMs: number
}

/**
 * The engine's UDP tracker transport. One instance serves every torrent; {@link UdpTracker}s are
 * cheap views of it for one URL.
 */
export class UdpTrackerSocket {
  readonly stats: UdpTrackerSocketStats = { datagramsSent: 0, datagramsReceived: 0, datagramsDropped: 0, connectsSent: 0 }
  private readonly settings: UdpTrackerSocketSettings
  private readonly sockets = new Map<IpFamily, Promise<IUdpSocket>>()
  private readonly pending = new Map<number, Pending>()
  private readonly connections = new Map<string, CachedConnection>()
  private readonly connecting = new Map<string, SharedConnect>()
  private closed = false

  constructor (private readonly deps: UdpTrackerSocketDeps, settings: Partial<UdpTrackerSocketSettings> = {}) {
    this.settings = { ...defaultUdpTrackerSocketSettings, ...settings }
  }

  /** Transactions waiting for an answer. */
  get pendingCount (): number { return this.pending.size }

  /**
   * Resolves a tracker host to an endpoint.
   * @throws TRACKER_FAILURE when the host is a name and no resolver was given (or it fails).
   */
  async resolve (url: string, host: string, port: number, options: TrackerRequestOptions = {}): Promise<UdpEndpoint> {
    if (host === 'localhost') return { address: '127.0.0.1', port }
    const literal = canonicalIp(host)
    if (literal !== null) return { address: literal, port }
    if (this.deps.resolveHost === undefined) {
      throw new LodestoneError('TRACKER_FAILURE', { url, reason: `cannot resolve host name ${host}: only IP addresses and localhost are supported` })
    }
    let resolved: string
    try {
      resolved = await this.deps.resolveHost(host, options.signal !== undefined ? { signal: options.signal } : {})
    } catch (error) {
      if (isLodestoneError(error) && error.code === 'ABORTED') throw error
      throw new LodestoneError('TRACKER_FAILURE', { url, reason: `cannot resolve ${host}: ${String(error)}` }, { cause: error })
    }
    const address = canonicalIp(resolved)
    if (address === null) throw new LodestoneError('TRACKER_FAILURE', { url, reason: `resolver gave no address for ${host}` })
    return { address, port }
  }

  /**
   * Sends one request (`body` is the packet after the 16-byte header: connection id, action,
   * transaction id, which this method fills in) and returns the tracker's answer, retransmitting as
   * BEP 15 says and connecting first when no fresh connection id is cached.
   * @throws TRACKER_FAILURE (tracker `error` action), TRACKER_TIMEOUT, ABORTED, CLOSED
   */
  async request (url: string, endpoint: UdpEndpoint, action: number, body: Uint8Array, minAnswerBytes: number,
    settings: TrackerSettings, options: TrackerRequestOptions = {}): Promise<Uint8Array> {
    const attempt = { n: 0 }
    for (;;) {
      const connectionId = await this.connectionId(url, endpoint, settings, options)
      const answer = await this.sendUntilAnswered(url, endpoint, connectionId, action, body, minAnswerBytes, settings, options, attempt)
      // null: the connection id went stale while retransmitting; renew it and carry on with the same n.
      if (answer !== null) return answer
    }
  }

  /** Sends one request with retransmissions; null when the connection id expired on the way. */
  private async sendUntilAnswered (url: string, endpoint: UdpEndpoint, connectionId: Uint8Array, action: number, body: Uint8Array,
    minAnswerBytes: number, settings: TrackerSettings, options: TrackerRequestOptions, attempt: { n: number }): Promise<Uint8Array | null> {
    const txId = this.allocate(endpoint, action)
    const packet = new Uint8Array(16 + body.length)
    packet.set(connectionId, 0)
    const view = new DataView(packet.buffer)
    view.setUint32(8, action)
    view.setUint32(12, txId)
    packet.set(body, 16)
    try {
      for (;;) {
        await this.send(endpoint, packet)
        const answer = await this.wait(txId, url, settings.udpRetransmitBaseMs * 2 ** attempt.n, options)
        if (answer !== null) {
          // After an error (often an expired or unknown connection id) the next request reconnects.
          if (readU32(answer, 0) === UDP_ACTION.error) this.forgetConnection(endpoint)
          return checkAnswer(answer, url, minAnswerBytes)
        }
        if (attempt.n >= settings.udpMaxRetransmits) {
          throw new LodestoneError('TRACKER_TIMEOUT', { url, timeoutMs: settings.udpRetransmitBaseMs * (2 ** (attempt.n + 1) - 1) })
        }
        attempt.n++
        if (!this.isFresh(endpoint, settings)) return null
        this.deps.logger?.debug('udp tracker retransmit', { url, attempt: attempt.n })
      }
    } finally {
      this.pending.delete(txId)
    }
  }

  /** Forgets the cached connection id of `endpoint` (after the tracker rejected it, for instance). */
  forgetConnection (endpoint: UdpEndpoint): void {
    this.connections.delete(endpointKey(endpoint))
  }

  /** Closes the sockets; waiting requests fail with CLOSED. Idempotent. */
  close (): void {
    if (this.closed) return
    this.closed = true
    for (const socket of this.sockets.values()) {
      socket.then((s) => { s.close() }, () => {})
    }
    this.sockets.clear()
    const waiting = [...this.pending.values()]
    this.pending.clear()
    for (const p of waiting) p.waiter?.(CLOSED_SENTINEL)
    this.connections.clear()
  }

  private isFresh (endpoint: UdpEndpoint, settings: TrackerSettings): boolean {
    const cached = this.connections.get(endpointKey(endpoint))
    return cached !== undefined && this.deps.clock.now() - cached.obtainedAtMs < settings.udpConnectionIdTtlMs
  }

  private async connectionId (url: string, endpoint: UdpEndpoint, settings: TrackerSettings, options: TrackerRequestOptions): Promise<Uint8Array> {
    const key = endpointKey(endpoint)
    const cached = this.connections.get(key)
    if (cached !== undefined && this.deps.clock.now() - cached.obtainedAtMs < settings.udpConnectionIdTtlMs) return cached.id
    // Torrents announcing to the same tracker at once share one connect. It is abandoned when
    // every caller waiting on it has given up (stopped torrents must not leave timers behind).
    let shared = this.connecting.get(key)
    if (shared === undefined) {
      const controller = new AbortController()
      const created: SharedConnect = {
        promise: this.connect(url, endpoint, settings, controller.signal).finally(() => {
          if (this.connecting.get(key) === created) this.connecting.delete(key)
        }),
        controller,
        waiters: 0
      }
      // Callers observe it through their own promise; this keeps an unobserved failure quiet.
      created.promise.catch(() => {})
      this.connecting.set(key, created)
      shared = created
    }
    const s = shared
    s.waiters++
    try {
      return await raceSignal(s.promise, options.signal, 'udp tracker connect')
    } finally {
      if (--s.waiters === 0) s.controller.abort()
    }
  }

  private async connect (url: string, endpoint: UdpEndpoint, settings: TrackerSettings, signal: AbortSignal): Promise<Uint8Array> {
    const txId = this.allocate(endpoint, UDP_ACTION.connect)
    const packet = new Uint8Array(CONNECT_REQUEST_BYTES)
    const view = new DataView(packet.buffer)
    view.setUint32(0, PROTOCOL_ID_HIGH)
    view.setUint32(4, PROTOCOL_ID_LOW)
    view.setUint32(8, UDP_ACTION.connect)
    view.setUint32(12, txId)
    try {
      for (let n = 0; ; n++) {
        this.stats.connectsSent++
        await this.send(endpoint, packet)
        const answer = await this.wait(txId, url, settings.udpRetransmitBaseMs * 2 ** n, { signal })
        if (answer !== null) {
          const id = checkAnswer(answer, url, CONNECT_RESPONSE_BYTES).slice(8, 16)
          this.connections.set(endpointKey(endpoint), { id, obtainedAtMs: this.deps.clock.now() })
          return id
        }
        if (n >= settings.udpMaxRetransmits) {
          throw new LodestoneError('TRACKER_TIMEOUT', { url, timeoutMs: settings.udpRetransmitBaseMs * (2 ** (n + 1) - 1) })
        }
        this.deps.logger?.debug('udp tracker connect retransmit', { url, attempt: n + 1 })
      }
    } finally {
      this.pending.delete(txId)
    }
  }

  private allocate (endpoint: UdpEndpoint, action: number): number {
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'udp tracker socket' })
    let txId: number
    do {
      txId = Math.floor(this.deps.random.next() * 0x1_0000_0000) >>> 0
    } while (this.pending.has(txId))
    this.pending.set(txId, { endpoint, action, buffered: null, waiter: null })
    return txId
  }

  /** Waits up to `timeoutMs` for the answer to `txId`; null on timeout. */
  private async wait (txId: number, url: string, timeoutMs: number, options: TrackerRequestOptions): Promise<Uint8Array | null> {
    const p = this.pending.get(txId)
    if (p === undefined) throw new LodestoneError('CLOSED', { what: 'udp tracker socket' })
    if (p.buffered !== null) {
      const data = p.buffered
      p.buffered = null
      return data
    }
    const signal = options.signal
    if (signal?.aborted === true) throw aborted(url)
    return new Promise<Uint8Array | null>((resolve, reject) => {
      let timer: ITimer | null = null
      const finish = (): void => {
        timer?.cancel()
        p.waiter = null
        signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => { finish(); reject(aborted(url)) }
      p.waiter = (data) => {
        finish()
        if (data === CLOSED_SENTINEL) reject(new LodestoneError('CLOSED', { what: 'udp tracker socket' }))
        else resolve(data)
      }
      timer = this.deps.clock.setTimeout(() => { finish(); resolve(null) }, timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  private async send (endpoint: UdpEndpoint, packet: Uint8Array): Promise<void> {
    const socket = await this.socketFor(endpoint)
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'udp tracker socket' })
    this.stats.datagramsSent++
    // The socket takes ownership of what it is given; `packet` is resent on retransmission.
    socket.send(packet.slice(), endpoint.address, endpoint.port)
  }

  private async socketFor (endpoint: UdpEndpoint): Promise<IUdpSocket> {
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'udp tracker socket' })
    const family: IpFamily = ipFamily(endpoint.address) ?? 4
    let socket = this.sockets.get(family)
    if (socket === undefined) {
      const host = family === 4 ? this.settings.bindHostV4 : this.settings.bindHostV6
      const shared = this.deps.sharedSocket?.(family) ?? null
      socket = (shared !== null ? Promise.resolve(shared) : this.deps.socketFactory.bindUdp(0, host)).then((s) => {
        if (this.closed) s.close()
        else s.onMessage((data, remote) => { this.onMessage(data, remote) })
        return s
      })
      // A failed bind is retried by the next request rather than cached.
      socket.catch(() => { if (this.sockets.get(family) === socket) this.sockets.delete(family) })
      this.sockets.set(family, socket)
    }
    try {
      return await socket
    } catch (error) {
      throw new LodestoneError('TRACKER_FAILURE', { url: `udp://${endpoint.address}:${endpoint.port}`, reason: `cannot bind a UDP socket: ${String(error)}` }, { cause: error })
    }
  }

  private onMessage (data: Uint8Array, remote: UdpRemote): void {
    this.stats.datagramsReceived++
    if (data.length < HEADER_BYTES) return this.drop('short datagram', remote, data.length)
    const action = readU32(data, 0)
    const txId = readU32(data, 4)
    const p = this.pending.get(txId)
    if (p === undefined) return this.drop('unknown transaction id', remote, data.length)
    if (remote.port !== p.endpoint.port || canonicalIp(remote.address) !== p.endpoint.address) {
      return this.drop('answer from an unexpected address', remote, data.length)
    }
    if (action !== UDP_ACTION.error && action !== p.action) return this.drop('answer with an unexpected action', remote, data.length)
    if (p.waiter !== null) p.waiter(data)
    else p.buffered = data
  }

  private drop (reason: string, remote: UdpRemote, lengthBytes: number): void {
    this.stats.datagramsDropped++
    this.deps.logger?.warn(`udp tracker: dropped ${reason}`, { address: remote.address, port: remote.port, lengthBytes })
  }
}

/** Resolved when the socket closes while a request waits (never a real datagram: length 0 is dropped). */
const CLOSED_SENTINEL = new Uint8Array(0)

export interface UdpTrackerDeps {
  socket: UdpTrackerSocket
}

/** One UDP tracker as seen by one torrent. */
export class UdpTracker implements TrackerClient {
  readonly protocol = 'udp' as const
  readonly canScrape = true
  private readonly host: string
  private readonly port: number
  private readonly settings: TrackerSettings
  private endpoint: UdpEndpoint | null = null

  /** @throws TRACKER_URL_INVALID when `url` is not udp://host:port. */
  constructor (readonly url: string, private readonly deps: UdpTrackerDeps, settings: Partial<TrackerSettings> = {}) {
    const parsed = parseTrackerUrl(url)
    if (parsed.protocol !== 'udp') throw new LodestoneError('TRACKER_URL_INVALID', { url, reason: 'not a udp:// URL' })
    this.host = parsed.host
    this.port = parsed.port
    this.settings = { ...defaultTrackerSettings, ...settings }
  }

  async announce (params: AnnounceParams, options: TrackerRequestOptions = {}): Promise<AnnounceResult> {
    const endpoint = await this.resolve(options)
    const body = encodeAnnounceBody(params)
    const family = ipFamily(endpoint.address) ?? 4
    const answer = await this.deps.socket.request(this.url, endpoint, UDP_ACTION.announce, body, ANNOUNCE_RESPONSE_HEADER_BYTES, this.settings, options)
    return parseUdpAnnounceResponse(answer, this.url, family, this.settings)
  }

  async scrape (infoHashes: readonly Uint8Array[], options: TrackerRequestOptions = {}): Promise<ScrapeResult> {
    const hashes = infoHashes.slice(0, MAX_SCRAPE_HASHES)
    const endpoint = await this.resolve(options)
    const body = new Uint8Array(20 * hashes.length)
    hashes.forEach((h, i) => { body.set(h.subarray(0, 20), 20 * i) })
    const answer = await this.deps.socket.request(this.url, endpoint, UDP_ACTION.scrape, body, HEADER_BYTES, this.settings, options)
    const out: ScrapeResult = new Map()
    // Entries come in request order; a short answer covers a prefix of the hashes.
    const count = Math.min(hashes.length, Math.floor((answer.length - HEADER_BYTES) / SCRAPE_ENTRY_BYTES))
    for (let i = 0; i < count; i++) {
      const at = HEADER_BYTES + i * SCRAPE_ENTRY_BYTES
      const hash = hashes[i]
      if (hash === undefined) break
      out.set(toHex(hash), { complete: readU32(answer, at), downloaded: readU32(answer, at + 4), incomplete: readU32(answer, at + 8) })
    }
    return out
  }

  private async resolve (options: TrackerRequestOptions): Promise<UdpEndpoint> {
    if (this.endpoint === null) this.endpoint = await this.deps.socket.resolve(this.url, this.host, this.port, options)
    return this.endpoint
  }
}

/**
 * The announce request after the 16-byte header (82 bytes): info hash, peer id, downloaded, left,
 * uploaded, event, IP (0: the sender's), key, num_want, port.
 */
export function encodeAnnounceBody (params: AnnounceParams): Uint8Array {
  const out = new Uint8Array(ANNOUNCE_REQUEST_BYTES - 16)
  const view = new DataView(out.buffer)
  out.set(params.infoHash.subarray(0, 20), 0)
  out.set(params.peerId.subarray(0, 20), 20)
  writeU64(view, 40, params.downloadedBytes)
  writeU64(view, 48, params.leftBytes)
  writeU64(view, 56, params.uploadedBytes)
  view.setUint32(64, EVENT_NUMBER[params.event])
  view.setUint32(68, 0)
  view.setUint32(72, params.key >>> 0)
  view.setInt32(76, Math.max(0, Math.min(0x7fff_ffff, Math.floor(params.numWant))))
  view.setUint16(80, params.port & 0xffff)
  return out
}

/**
 * Parses an announce answer (action 1). Peers are 6-byte entries when the tracker was reached over
 * IPv4 and 18-byte entries over IPv6 (BEP 15); a trailing partial entry is ignored.
 * @throws TRACKER_TOO_MANY_PEERS, TRACKER_FAILURE (too short)
 */
export function parseUdpAnnounceResponse (answer: Uint8Array, url: string, family: IpFamily,
  settings: Pick<TrackerSettings, 'maxPeersPerResponse'>): AnnounceResult {
  if (answer.length < ANNOUNCE_RESPONSE_HEADER_BYTES) throw new ProtocolError('TRACKER_FAILURE', { url, reason: 'announce answer too short' })
  const peerBytes = answer.subarray(ANNOUNCE_RESPONSE_HEADER_BYTES)
  const count = compactPeerCount(peerBytes.length, family)
  if (count > settings.maxPeersPerResponse) {
    throw new ProtocolError('TRACKER_TOO_MANY_PEERS', { url, count, limit: settings.maxPeersPerResponse })
  }
  const interval = readU32(answer, 8)
  return {
    intervalSec: interval > 0 ? interval : 1800,
    leechers: readU32(answer, 12),
    seeders: readU32(answer, 16),
    peers: dedupePeers(decodeCompactPeers(peerBytes, family))
  }
}

/**
 * The answer to our transaction: the `error` action or a truncated answer fails the request. A
 * truncated answer is how some trackers refuse (opentracker answers an announce for a torrent
 * outside its whitelist with the 8-byte header alone); waiting for a better one would only delay
 * the fall-through to the next tracker.
 */
function checkAnswer (answer: Uint8Array, url: string, minBytes: number): Uint8Array {
  if (readU32(answer, 0) !== UDP_ACTION.error) {
    if (answer.length >= minBytes) return answer
    throw new ProtocolError('TRACKER_FAILURE', { url, reason: `answer too short (${answer.length} bytes)` })
  }
  const reason = trackerText(fromUtf8(answer.subarray(HEADER_BYTES)).replace(/\0+$/, '')) || 'tracker error'
  throw new ProtocolError('TRACKER_FAILURE', { url, reason }, { message: `tracker ${url} refused: ${reason}` })
}

function endpointKey (e: UdpEndpoint): string {
  return `${e.address}|${e.port}`
}

function readU32 (bytes: Uint8Array, offset: number): number {
  return (((bytes[offset] ?? 0) << 24) | ((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0)) >>> 0
}

/** Writes a non-negative safe integer as a big-endian u64 (negative or fractional values are clamped). */
function writeU64 (view: DataView, offset: number, value: number): void {
  const v = Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(value)))
  view.setUint32(offset, Math.floor(v / 0x1_0000_0000))
  view.setUint32(offset + 4, v % 0x1_0000_0000)
}

function aborted (url: string): LodestoneError<'ABORTED'> {
  return new LodestoneError('ABORTED', { operation: `udp tracker request ${url}` })
}

async function raceSignal<T> (promise: Promise<T>, signal: AbortSignal | undefined, operation: string): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) throw new LodestoneError('ABORTED', { operation })
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(new LodestoneError('ABORTED', { operation })) }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v) },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e instanceof Error ? e : new Error(String(e))) }
    )
  })
}
