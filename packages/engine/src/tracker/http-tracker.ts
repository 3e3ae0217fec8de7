/**
 * HTTP(S) tracker client: BEP 3 announce, BEP 23 compact peers, BEP 7 `peers6`, BEP 48 scrape.
 *
 * Why the query string is built by hand: `info_hash` and `peer_id` are raw bytes, not text, so
 * no text-oriented encoder (encodeURIComponent works on UTF-16) can produce them. Every byte
 * outside RFC 3986's unreserved set is written as `%XX`, which every tracker decodes.
 *
 * Hostile answers: the body is size-capped by the HTTP port (`maxBodyBytes`) and checked again
 * here; bencode decoding is bounded; peer counts are checked from lengths before any peer is
 * decoded. Every failure is a LodestoneError with a TRACKER_* code carrying the announce URL.
 */
import { LodestoneError, ProtocolError, isLodestoneError } from '../errors.js'
import type { PeerAddress } from '../peer/peer-address.js'
import type { IHttpClient } from '../interfaces/http-client.js'
import {
  bencodeDecodePrefix, getBytes, getDict, getInt, getText, isBencodeBytes, isBencodeDict, isBencodeList,
  keyToBytes, type BencodeDict, type BencodeValue
} from '../protocol/bencode.js'
import { fromUtf8, fromUtf8Strict, toHex } from '../util/bytes.js'
import {
  MAX_SCRAPE_HASHES, dedupePeers, defaultTrackerSettings, parseTrackerUrl, trackerText,
  type AnnounceParams, type AnnounceResult, type ScrapeResult, type TrackerClient, type TrackerRequestOptions,
  type TrackerSettings
} from './announce.js'
import { canonicalIp, compactPeerCount, decodeCompactPeers } from './compact-peers.js'

export interface HttpTrackerDeps {
  httpClient: IHttpClient
}

/** Interval used when a tracker leaves `interval` out or sends a non-positive one (30 min, the common default). */
export const DEFAULT_ANNOUNCE_INTERVAL_SEC = 1800

/** Bencode limits for tracker answers: shallow documents, size already capped by maxResponseBytes. */
const TRACKER_BENCODE_DEPTH = 8

/** One HTTP(S) tracker as seen by one torrent (it remembers the tracker's `tracker id`). */
export class HttpTracker implements TrackerClient {
  readonly protocol = 'http' as const
  readonly canScrape: boolean
  private readonly scrapeUrl: string | null
  private readonly settings: TrackerSettings
  /** Raw `tracker id` bytes to echo back (BEP 3); null until the tracker sends one. */
  private trackerIdBytes: Uint8Array | null = null

  /** @throws TRACKER_URL_INVALID when `url` is not http(s)://. */
  constructor (readonly url: string, private readonly deps: HttpTrackerDeps, settings: Partial<TrackerSettings> = {}) {
    const parsed = parseTrackerUrl(url)
    if (parsed.protocol === 'udp') {
      throw new LodestoneError('TRACKER_URL_INVALID', { url, reason: 'not an http(s) URL' })
    }
    this.settings = { ...defaultTrackerSettings, ...settings }
    this.scrapeUrl = scrapeUrlFor(url)
    this.canScrape = this.scrapeUrl !== null
  }

  async announce (params: AnnounceParams, options: TrackerRequestOptions = {}): Promise<AnnounceResult> {
    const requestUrl = buildAnnounceUrl(this.url, params, this.trackerIdBytes)
    const body = await this.get(requestUrl, options)
    const result = parseAnnounceResponse(body, this.url, this.settings)
    if (result.trackerIdBytes !== undefined) this.trackerIdBytes = result.trackerIdBytes.slice()
    return result.result
  }

  async scrape (infoHashes: readonly Uint8Array[], options: TrackerRequestOptions = {}): Promise<ScrapeResult> {
    if (this.scrapeUrl === null) {
      throw new LodestoneError('TRACKER_SCRAPE_UNSUPPORTED', { url: this.url }, { message: `tracker ${this.url} has no scrape URL` })
    }
    const hashes = infoHashes.slice(0, MAX_SCRAPE_HASHES)
    const query = hashes.map((h) => `info_hash=${percentEncodeBytes(h)}`).join('&')
    const body = await this.get(appendQuery(this.scrapeUrl, query), options)
    return parseScrapeResponse(body, this.url, hashes)
  }

  private async get (requestUrl: string, options: TrackerRequestOptions): Promise<Uint8Array> {
    const limit = this.settings.maxResponseBytes
    let response
    try {
      response = await this.deps.httpClient.get(requestUrl, {
        maxBodyBytes: limit,
        timeoutMs: this.settings.httpTimeoutMs,
        ...(options.signal !== undefined ? { signal: options.signal } : {})
      })
    } catch (error) {
      // The port's own codes (timeout, too large, aborted) pass through, re-labelled with the
      // announce URL rather than the request URL, which carries our peer id and passkeys.
      if (isLodestoneError(error)) throw relabel(error, this.url)
      throw new LodestoneError('TRACKER_FAILURE', { url: this.url, reason: String(error) }, { cause: error })
    }
    if (response.body.length > limit) {
      throw new ProtocolError('TRACKER_RESPONSE_TOO_LARGE', { url: this.url, limitBytes: limit })
    }
    if (response.status !== 200) {
      // A tracker may explain itself in a bencoded body even on an error status.
      const reason = failureReasonOf(response.body)
      throw new ProtocolError('TRACKER_FAILURE', { url: this.url, reason: reason ?? `HTTP status ${response.status}` })
    }
    return response.body
  }
}

/** Parsed announce answer plus the raw tracker id (kept as bytes so it is echoed exactly). */
export interface ParsedAnnounce {
  result: AnnounceResult
  trackerIdBytes?: Uint8Array
}

/**
 * Parses a bencoded announce answer (BEP 3 / 23 / 7).
 * @throws TRACKER_FAILURE (failure reason, not bencode, not a dict), TRACKER_TOO_MANY_PEERS.
 */
export function parseAnnounceResponse (body: Uint8Array, url: string, settings: Pick<TrackerSettings, 'maxPeersPerResponse'>): ParsedAnnounce {
  const dict = decodeDict(body, url)
  const failure = getBytes(dict, 'failure reason')
  if (failure !== undefined) {
    const reason = trackerText(fromUtf8(failure))
    throw new ProtocolError('TRACKER_FAILURE', { url, reason }, { message: `tracker ${url} refused: ${reason}` })
  }

  const peersValue = dict.get('peers')
  const peers6Value = getBytes(dict, 'peers6')
  const count = peerCountOf(peersValue) + (peers6Value === undefined ? 0 : compactPeerCount(peers6Value.length, 6))
  if (count > settings.maxPeersPerResponse) {
    throw new ProtocolError('TRACKER_TOO_MANY_PEERS', { url, count, limit: settings.maxPeersPerResponse })
  }
  const peers: PeerAddress[] = []
  if (isBencodeBytes(peersValue)) peers.push(...decodeCompactPeers(peersValue, 4))
  else if (isBencodeList(peersValue)) peers.push(...decodeDictPeers(peersValue))
  if (peers6Value !== undefined) peers.push(...decodeCompactPeers(peers6Value, 6))

  const interval = getInt(dict, 'interval')
  const result: AnnounceResult = {
    intervalSec: interval !== undefined && interval > 0 ? interval : DEFAULT_ANNOUNCE_INTERVAL_SEC,
    peers: dedupePeers(peers)
  }
  const minInterval = getInt(dict, 'min interval')
  if (minInterval !== undefined && minInterval > 0) result.minIntervalSec = minInterval
  const complete = getInt(dict, 'complete')
  if (complete !== undefined && complete >= 0) result.seeders = complete
  const incomplete = getInt(dict, 'incomplete')
  if (incomplete !== undefined && incomplete >= 0) result.leechers = incomplete
  const warning = getText(dict, 'warning message')
  if (warning !== undefined) result.warning = trackerText(warning)
  const parsed: ParsedAnnounce = { result }
  const trackerId = getBytes(dict, 'tracker id')
  // A tracker id is echoed in every later URL, so a huge one would bloat them: keep short ones only.
  if (trackerId !== undefined && trackerId.length > 0 && trackerId.length <= 256) {
    result.trackerId = fromUtf8(trackerId)
    parsed.trackerIdBytes = trackerId
  }
  return parsed
}

/**
 * Parses a bencoded scrape answer, keeping only the hashes that were asked for (a tracker that
 * answers with every torrent it knows does not get to fill our memory).
 * @throws TRACKER_FAILURE (failure reason, not bencode, no `files` dict).
 */
export function parseScrapeResponse (body: Uint8Array, url: string, asked: readonly Uint8Array[]): ScrapeResult {
  const dict = decodeDict(body, url)
  const failure = getBytes(dict, 'failure reason')
  if (failure !== undefined) {
    const reason = trackerText(fromUtf8(failure))
    throw new ProtocolError('TRACKER_FAILURE', { url, reason }, { message: `tracker ${url} refused scrape: ${reason}` })
  }
  const files = getDict(dict, 'files')
  if (files === undefined) throw new ProtocolError('TRACKER_FAILURE', { url, reason: 'scrape answer has no files dictionary' })
  const wanted = new Set(asked.map((h) => toHex(h)))
  const out: ScrapeResult = new Map()
  for (const [key, value] of files) {
    const hashBytes = scrapeKeyHash(key)
    if (hashBytes === null || !isBencodeDict(value)) continue
    const hex = toHex(hashBytes)
    if (!wanted.has(hex)) continue
    out.set(hex, {
      complete: nonNegative(getInt(value, 'complete')),
      incomplete: nonNegative(getInt(value, 'incomplete')),
      downloaded: nonNegative(getInt(value, 'downloaded'))
    })
  }
  return out
}

/**
 * The announce request URL: the tracker URL (query and passkeys kept) plus the BEP 3 parameters.
 * `event` is left out for regular announces; `trackerId` is echoed as `trackerid` when known.
 */
export function buildAnnounceUrl (url: string, params: AnnounceParams, trackerId: Uint8Array | null = null): string {
  const parts = [
    `info_hash=${percentEncodeBytes(params.infoHash)}`,
    `peer_id=${percentEncodeBytes(params.peerId)}`,
    `port=${params.port}`,
    `uploaded=${Math.max(0, Math.floor(params.uploadedBytes))}`,
    `downloaded=${Math.max(0, Math.floor(params.downloadedBytes))}`,
    `left=${Math.max(0, Math.floor(params.leftBytes))}`,
    'compact=1',
    `numwant=${Math.max(0, Math.floor(params.numWant))}`,
    `key=${(params.key >>> 0).toString(16).padStart(8, '0')}`
  ]
  if (params.event !== 'none') parts.push(`event=${params.event}`)
  if (trackerId !== null) parts.push(`trackerid=${percentEncodeBytes(trackerId)}`)
  return appendQuery(url, parts.join('&'))
}

/**
 * The BEP 48 scrape URL of an announce URL: the last path segment must start with `announce`,
 * which becomes `scrape` (`/x/announce.php?k=1` → `/x/scrape.php?k=1`). Null when there is none.
 */
export function scrapeUrlFor (announceUrl: string): string | null {
  const noFragment = stripFragment(announceUrl)
  const queryAt = noFragment.indexOf('?')
  const path = queryAt < 0 ? noFragment : noFragment.slice(0, queryAt)
  const query = queryAt < 0 ? '' : noFragment.slice(queryAt)
  const slash = path.lastIndexOf('/')
  // The slash must be in the path, not the `//` after the scheme.
  if (slash < 0 || path.slice(0, slash + 1).endsWith('://')) return null
  const last = path.slice(slash + 1)
  if (!last.startsWith('announce')) return null
  return `${path.slice(0, slash + 1)}scrape${last.slice('announce'.length)}${query}`
}

/** Percent-encodes every byte that is not RFC 3986 unreserved (`A-Z a-z 0-9 - . _ ~`). */
export function percentEncodeBytes (bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) {
    const unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
      b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e
    out += unreserved ? String.fromCharCode(b) : `%${HEX_UPPER[b >> 4] ?? '0'}${HEX_UPPER[b & 15] ?? '0'}`
  }
  return out
}

const HEX_UPPER = '0123456789ABCDEF'

function appendQuery (url: string, query: string): string {
  const base = stripFragment(url)
  if (!base.includes('?')) return `${base}?${query}`
  return base.endsWith('?') || base.endsWith('&') ? base + query : `${base}&${query}`
}

function stripFragment (url: string): string {
  const hash = url.indexOf('#')
  return hash < 0 ? url : url.slice(0, hash)
}

function decodeDict (body: Uint8Array, url: string): BencodeDict {
  let value: BencodeValue
  try {
    // Prefix decoding: some trackers append a newline after the dict; what follows is ignored.
    // Key order is not enforced: several trackers send unsorted keys.
    value = bencodeDecodePrefix(body, { strictKeyOrder: false, maxDepth: TRACKER_BENCODE_DEPTH, maxTotalBytes: body.length }).value
  } catch (error) {
    const reason = isLodestoneError(error) ? `not bencode (${error.code} at ${(error.details as { offset?: number }).offset ?? '?'})` : 'not bencode'
    throw new ProtocolError('TRACKER_FAILURE', { url, reason }, { cause: error })
  }
  if (!isBencodeDict(value)) throw new ProtocolError('TRACKER_FAILURE', { url, reason: 'answer is not a dictionary' })
  return value
}

function failureReasonOf (body: Uint8Array): string | undefined {
  try {
    const value = bencodeDecodePrefix(body, { strictKeyOrder: false, maxDepth: TRACKER_BENCODE_DEPTH, maxTotalBytes: body.length }).value
    if (!isBencodeDict(value)) return undefined
    const failure = getBytes(value, 'failure reason')
    return failure === undefined ? undefined : trackerText(fromUtf8(failure))
  } catch {
    return undefined
  }
}

function peerCountOf (value: BencodeValue | undefined): number {
  if (isBencodeBytes(value)) return compactPeerCount(value.length, 4)
  if (isBencodeList(value)) return value.length
  return 0
}

/**
 * BEP 3 dictionary peers: `{ 'peer id', ip, port }`. Only IP literals are accepted: a host name
 * from a tracker would make us resolve names chosen by a stranger. Bad entries are skipped.
 */
function decodeDictPeers (list: readonly BencodeValue[]): PeerAddress[] {
  const out: PeerAddress[] = []
  for (const entry of list) {
    if (!isBencodeDict(entry)) continue
    const ipBytes = getBytes(entry, 'ip')
    const port = getInt(entry, 'port')
    if (ipBytes === undefined || port === undefined || port < 1 || port > 65535 || ipBytes.length > 64) continue
    const host = canonicalIp(fromUtf8(ipBytes))
    if (host === null || host === '0.0.0.0' || host === '::') continue
    out.push({ host, port })
  }
  return out
}

/**
 * The info hash a scrape `files` key stands for. Besides the 20 raw bytes, a key that is the UTF-8
 * encoding of the 20 bytes read as Latin-1 is accepted: the `bittorrent-tracker` npm server (11.x)
 * writes its keys that way, so every hash with a byte >= 0x80 would otherwise go missing.
 */
function scrapeKeyHash (key: string): Uint8Array | null {
  if (key.length === 20) return keyToBytes(key)
  if (key.length <= 20 || key.length > 40) return null
  const text = fromUtf8Strict(keyToBytes(key))
  if (text === null || text.length !== 20) return null
  const out = new Uint8Array(20)
  for (let i = 0; i < 20; i++) {
    const c = text.charCodeAt(i)
    if (c > 0xff) return null
    out[i] = c
  }
  return out
}

function nonNegative (n: number | undefined): number {
  return n !== undefined && n >= 0 ? n : 0
}

function relabel (error: LodestoneError, url: string): LodestoneError {
  const details = error.details as Record<string, unknown>
  if (typeof details.url !== 'string' || details.url === url) return error
  const Ctor = error.name === 'ProtocolError' ? ProtocolError : LodestoneError
  return new Ctor(error.code, { ...details, url }, { message: error.message.split(details.url).join(url), cause: error.cause })
}
