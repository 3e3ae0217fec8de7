/**
 * Types shared by the tracker clients (HTTP, UDP) and the {@link TrackerManager}: what an announce
 * sends, what it gets back, and the settings that bound a tracker's answers.
 *
 * Why one `TrackerClient` shape for both protocols: the manager's tier logic (BEP 12) must not care
 * how a tracker is reached; HTTP and UDP differ only in transport and in what they can report.
 */
import { formatPeerAddress, type PeerAddress } from '../peer/peer-address.js'
import { LodestoneError } from '../errors.js'
import { parseIp } from './compact-peers.js'

export type { PeerAddress } from '../peer/peer-address.js'

/**
 * The announce `event` (BEP 3). `'none'` is a regular re-announce: HTTP leaves the parameter out,
 * UDP sends 0.
 */
export type AnnounceEvent = 'none' | 'completed' | 'started' | 'stopped'

/** What one announce sends. Counters are totals for this session of the torrent, in bytes. */
export interface AnnounceParams {
  /** 20 bytes: the v1 info hash, or the v2 hash truncated to 20 bytes. */
  infoHash: Uint8Array
  /** 20 bytes. */
  peerId: Uint8Array
  /** Our listening TCP port (1..65535). */
  port: number
  uploadedBytes: number
  downloadedBytes: number
  /** Bytes still missing; 0 when seeding. */
  leftBytes: number
  event: AnnounceEvent
  /** Peers wanted; 0 for `stopped`. */
  numWant: number
  /**
   * Random per-torrent identifier that lets a tracker recognise us across IP changes (32 bits).
   * HTTP sends it as 8 hex digits, UDP as a u32.
   */
  key: number
}

/** What a successful announce returns. */
export interface AnnounceResult {
  /** Seconds until the next regular announce, as the tracker asked. */
  intervalSec: number
  /** Seconds the tracker wants between announces at least, when it said so. */
  minIntervalSec?: number
  /** `complete`: peers with the whole torrent, when reported. */
  seeders?: number
  /** `incomplete`: peers still downloading, when reported. */
  leechers?: number
  /** IPv4 and IPv6 peers, in the tracker's order, de-duplicated. */
  peers: PeerAddress[]
  /** A `warning message` the tracker attached to an otherwise good answer. */
  warning?: string
  /** HTTP `tracker id` to echo on the next announce to the same tracker. */
  trackerId?: string
}

/** One torrent's line of a scrape answer (BEP 48 / BEP 15). */
export interface ScrapeEntry {
  /** Seeders. */
  complete: number
  /** Leechers. */
  incomplete: number
  /** Completed downloads the tracker has seen. */
  downloaded: number
}

/** Scrape answers keyed by info hash as 40 lowercase hex characters. Missing hashes are absent. */
export type ScrapeResult = Map<string, ScrapeEntry>

/** Per-call options of a tracker request. */
export interface TrackerRequestOptions {
  signal?: AbortSignal
}

/** A client for one tracker URL. Stateless across torrents except for what the protocol keeps (tracker id). */
export interface TrackerClient {
  readonly url: string
  /** `'http'` for http(s):// URLs, `'udp'` for udp:// URLs. */
  readonly protocol: 'http' | 'udp'
  /**
   * @throws TRACKER_FAILURE (failure reason, malformed or unusable answer, network error),
   *   TRACKER_TIMEOUT, TRACKER_RESPONSE_TOO_LARGE, TRACKER_TOO_MANY_PEERS, ABORTED
   */
  announce (params: AnnounceParams, options?: TrackerRequestOptions): Promise<AnnounceResult>
  /** False when the tracker has no scrape URL (HTTP trackers whose path does not start with `announce`). */
  readonly canScrape: boolean
  /**
   * Scrapes up to {@link MAX_SCRAPE_HASHES} torrents at once.
   * @throws TRACKER_SCRAPE_UNSUPPORTED when `canScrape` is false, or anything `announce` throws.
   */
  scrape (infoHashes: readonly Uint8Array[], options?: TrackerRequestOptions): Promise<ScrapeResult>
}

/**
 * Info hashes per scrape request. BEP 15: 74 hashes fill a UDP datagram at about the 1500-byte MTU;
 * HTTP uses the same so one scrape call behaves the same on both.
 */
export const MAX_SCRAPE_HASHES = 74

/** Bounds on what a tracker may send back, and the protocol timers. */
export interface TrackerSettings {
  /** HTTP response bodies beyond this are refused (TRACKER_RESPONSE_TOO_LARGE). @default 1_048_576 */
  maxResponseBytes: number
  /**
   * Peers (IPv4 + IPv6) one answer may list; more is TRACKER_TOO_MANY_PEERS. Checked from the
   * lengths before anything is decoded. 2000 is ten times the usual numwant. @default 2000
   */
  maxPeersPerResponse: number
  /** HTTP request time limit. @default 30_000 */
  httpTimeoutMs: number
  /**
   * BEP 15 retransmission: a UDP request unanswered after `base · 2ⁿ` ms is sent again, n = 0, 1, …
   * The spec's base is 15 s; tests scale it down. @default 15_000
   */
  udpRetransmitBaseMs: number
  /**
   * Highest n of the back-off; the request fails with TRACKER_TIMEOUT after waiting
   * `base · 2^udpMaxRetransmits` ms on the last try (BEP 15: 8, about 2 hours in all). @default 8
   */
  udpMaxRetransmits: number
  /** How long a UDP connection id is reused (BEP 15: clients may use it for one minute). @default 60_000 */
  udpConnectionIdTtlMs: number
}

export const defaultTrackerSettings: Readonly<TrackerSettings> = {
  maxResponseBytes: 1024 * 1024,
  maxPeersPerResponse: 2000,
  httpTimeoutMs: 30_000,
  udpRetransmitBaseMs: 15_000,
  udpMaxRetransmits: 8,
  udpConnectionIdTtlMs: 60_000
}

/** De-duplicates peers by `host:port`, keeping the first occurrence. */
export function dedupePeers (peers: readonly PeerAddress[]): PeerAddress[] {
  const seen = new Set<string>()
  const out: PeerAddress[] = []
  for (const p of peers) {
    const key = formatPeerAddress(p)
    if (seen.has(key)) continue
    seen.add(key)
    out.push(p)
  }
  return out
}

/** The text of a tracker-sent message, capped so a hostile tracker cannot fill logs and UIs. */
export function trackerText (text: string): string {
  return text.length > MAX_TRACKER_TEXT_CHARS ? `${text.slice(0, MAX_TRACKER_TEXT_CHARS)}…` : text
}

/** Failure reasons and warnings longer than this are cut (they end up in logs and status lines). */
export const MAX_TRACKER_TEXT_CHARS = 1024

/** The parts of a tracker URL the clients need. */
export interface TrackerUrl {
  protocol: 'http' | 'https' | 'udp'
  /** Host name or IP literal, without IPv6 brackets, lower-cased. */
  host: string
  port: number
  /** Path and query (`/announce?passkey=x`), without the fragment; `/` when empty. */
  pathAndQuery: string
}

/**
 * Splits a tracker URL. The core has no `URL` global (it is not part of ES2022), and trackers need
 * little of it: scheme, host, port, the rest kept byte for byte (private trackers put passkeys in
 * the path or the query, which must reach the tracker unchanged).
 * @throws TRACKER_URL_INVALID for another scheme (wss://, ...), a missing host, a bad port,
 *   user info, or whitespace / control characters.
 */
export function parseTrackerUrl (url: string): TrackerUrl {
  const bad = (reason: string): LodestoneError<'TRACKER_URL_INVALID'> =>
    new LodestoneError('TRACKER_URL_INVALID', { url, reason }, { message: `tracker URL ${url}: ${reason}` })
  if (/[\x00-\x20\x7f]/.test(url)) throw bad('contains whitespace or control characters')
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(url)
  if (m === null) throw bad('not an absolute URL')
  const scheme = (m[1] ?? '').toLowerCase()
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'udp') throw bad(`unsupported scheme ${scheme}`)
  const authority = m[2] ?? ''
  if (authority.includes('@')) throw bad('user info is not supported')
  let host: string
  let portText: string | undefined
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']')
    if (close < 0) throw bad('unterminated IPv6 address')
    host = authority.slice(1, close)
    const rest = authority.slice(close + 1)
    if (rest !== '' && !rest.startsWith(':')) throw bad('bad port')
    portText = rest === '' ? undefined : rest.slice(1)
    if (parseIp(host)?.length !== 16) throw bad('bad IPv6 address')
  } else {
    const colon = authority.lastIndexOf(':')
    host = colon >= 0 ? authority.slice(0, colon) : authority
    portText = colon >= 0 ? authority.slice(colon + 1) : undefined
    if (host.includes(':')) throw bad('IPv6 addresses need brackets')
  }
  if (host === '') throw bad('missing host')
  let port: number
  if (portText === undefined || portText === '') {
    if (scheme === 'udp') throw bad('udp:// needs a port')
    port = scheme === 'https' ? 443 : 80
  } else {
    if (!/^\d{1,5}$/.test(portText)) throw bad('bad port')
    port = Number(portText)
    if (port < 1 || port > 65535) throw bad('bad port')
  }
  const pathAndQuery = m[3] === undefined || m[3] === '' ? '/' : m[3]
  return { protocol: scheme, host: host.toLowerCase(), port, pathAndQuery }
}
