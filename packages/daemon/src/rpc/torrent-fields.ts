/**
 * `torrent-get` fields: each Transmission field name mapped to a getter over one torrent. Every
 * integer field is a JSON integer (transmission-remote drops a whole `-l` row when one is not), so
 * rates and sizes are rounded here; `uploadRatio`, `seedRatioLimit`, `percentDone` and friends are
 * the reals Transmission sends. Unknown field names are ignored, as Transmission ignores them.
 */
import { magnetFromMetainfo, buildMagnet, type Torrent, type TorrentStats } from '@lodestone/engine'
import { countWantedBytes } from '@lodestone/engine/protocol'
import type { TrackedTorrent } from '../torrent-registry.js'
import { TR_STATUS, transmissionError, transmissionStatus } from './torrent-status.js'

/** What the getters read; built once per torrent per request, stats computed on first use. */
export interface FieldContext {
  entry: TrackedTorrent
  nowSec: number
  downloadDir: string
  queuePosition: number
  /** Path of the stored .torrent file, when known. */
  torrentFile: string
  stats: () => TorrentStats
  leftUntilDone: () => number
}

export function fieldContext (entry: TrackedTorrent, init: { nowSec: number, downloadDir: string, queuePosition: number, torrentFile: string }): FieldContext {
  let stats: TorrentStats | null = null
  let left: number | null = null
  const getStats = (): TorrentStats => (stats ??= entry.torrent.stats())
  return {
    entry,
    ...init,
    stats: getStats,
    leftUntilDone: () => (left ??= leftUntilDoneOf(entry.torrent, getStats()))
  }
}

/** Wanted bytes not verified yet (Transmission's leftUntilDone). */
function leftUntilDoneOf (torrent: Torrent, stats: TorrentStats): number {
  const meta = torrent.metadata
  if (meta === null) return stats.totalBytes
  if (stats.wantedBytes === stats.totalBytes) return Math.max(0, stats.totalBytes - stats.verifiedBytes)
  const bits = torrent.bitfield()
  const last = meta.pieceCount - 1
  const lastLength = meta.totalLengthBytes - last * meta.pieceLengthBytes
  const { wantedBytes, verifiedWantedBytes } = countWantedBytes(meta.pieceCount,
    (p) => p === last ? lastLength : meta.pieceLengthBytes,
    (p) => torrent.getPiecePriority(p) > 0,
    (p) => bits.get(p))
  return wantedBytes - verifiedWantedBytes
}

/** Connected peers; none while a magnet's metadata is unknown (the swarm exists only after). */
function peerList (torrent: Torrent): ReturnType<Torrent['peers']> {
  return torrent.hasMetadata ? torrent.peers() : []
}

const int = (n: number): number => Number.isFinite(n) ? Math.round(n) : 0

/** Transmission's priorities: -1 low, 0 normal, 1 high, from the engine's 1..7 (0 = skipped, shown as normal). */
export function trPriorityOf (priority: number): number {
  if (priority === 0) return 0
  return priority <= 3 ? -1 : priority >= 6 ? 1 : 0
}

function eta (ctx: FieldContext): number {
  const s = ctx.stats()
  if (!ctx.entry.torrent.hasMetadata) return -2
  const left = ctx.leftUntilDone()
  if (left === 0) return -1
  const status = transmissionStatus(ctx.entry.torrent)
  if (status !== TR_STATUS.download || s.downloadRateBytesPerSec <= 0) return -2
  return Math.ceil(left / s.downloadRateBytesPerSec)
}

function ratio (ctx: FieldContext): number {
  const down = downloadedEver(ctx)
  const up = uploadedEver(ctx)
  if (down === 0) return up === 0 ? -1 : -2
  return up / down
}

const downloadedEver = (ctx: FieldContext): number => ctx.entry.record.downloadedBeforeBytes + ctx.stats().downloadedBytes
const uploadedEver = (ctx: FieldContext): number => ctx.entry.record.uploadedBeforeBytes + ctx.stats().uploadedBytes

function sizeWhenDone (ctx: FieldContext): number {
  return ctx.stats().wantedBytes
}

function percentDone (ctx: FieldContext): number {
  const size = sizeWhenDone(ctx)
  return size === 0 ? (ctx.entry.torrent.hasMetadata ? 1 : 0) : (size - ctx.leftUntilDone()) / size
}

function peerCounts (ctx: FieldContext): { sendingToUs: number, gettingFromUs: number } {
  let sendingToUs = 0
  let gettingFromUs = 0
  for (const p of peerList(ctx.entry.torrent)) {
    if (p.downloadRateBytesPerSec > 0 || (!p.peerChoking && p.amInterested)) sendingToUs++
    if (p.uploadRateBytesPerSec > 0 || (!p.amChoking && p.peerInterested)) gettingFromUs++
  }
  return { sendingToUs, gettingFromUs }
}

function files (ctx: FieldContext): Array<{ bytesCompleted: number, length: number, name: string }> {
  const t = ctx.entry.torrent
  if (!t.hasMetadata) return []
  return t.files.map((f) => ({ bytesCompleted: int(f.verifiedBytes), length: f.lengthBytes, name: f.path }))
}

function fileStats (ctx: FieldContext): Array<{ bytesCompleted: number, wanted: boolean, priority: number }> {
  const t = ctx.entry.torrent
  if (!t.hasMetadata) return []
  return t.files.map((f) => ({ bytesCompleted: int(f.verifiedBytes), wanted: f.priority > 0, priority: trPriorityOf(f.priority) }))
}

function trackers (ctx: FieldContext): Array<{ announce: string, id: number, scrape: string, tier: number, sitename: string }> {
  return ctx.entry.torrent.trackers().map((t, i) => ({ announce: t.url, id: i, scrape: scrapeOf(t.url), tier: t.tier, sitename: siteOf(t.url) }))
}

function scrapeOf (announce: string): string {
  const at = announce.lastIndexOf('/announce')
  return at >= 0 ? `${announce.slice(0, at)}/scrape${announce.slice(at + 9)}` : ''
}

function siteOf (url: string): string {
  try { return new URL(url).hostname } catch { return '' }
}

function trackerStats (ctx: FieldContext): unknown[] {
  return ctx.entry.torrent.trackers().map((t, i) => ({
    announce: t.url,
    announceState: t.updating ? 3 : t.nextAnnounceAtMs !== null ? 1 : 0,
    downloadCount: -1,
    hasAnnounced: t.lastAnnounceAtMs !== null,
    hasScraped: false,
    host: siteOf(t.url),
    id: i,
    isBackup: false,
    lastAnnouncePeerCount: t.lastPeerCount ?? 0,
    lastAnnounceResult: t.lastError !== null ? t.lastError.message : t.lastAnnounceAtMs !== null ? 'Success' : '',
    lastAnnounceStartTime: t.lastAnnounceAtMs === null ? 0 : Math.floor(t.lastAnnounceAtMs / 1000),
    lastAnnounceSucceeded: t.lastAnnounceAtMs !== null && t.lastError === null,
    lastAnnounceTime: t.lastAnnounceAtMs === null ? 0 : Math.floor(t.lastAnnounceAtMs / 1000),
    lastAnnounceTimedOut: false,
    lastScrapeResult: '',
    lastScrapeStartTime: 0,
    lastScrapeSucceeded: false,
    lastScrapeTime: 0,
    lastScrapeTimedOut: false,
    leecherCount: t.leechers ?? -1,
    nextAnnounceTime: t.nextAnnounceAtMs === null ? 0 : Math.floor(t.nextAnnounceAtMs / 1000),
    nextScrapeTime: 0,
    scrape: scrapeOf(t.url),
    scrapeState: 0,
    seederCount: t.seeders ?? -1,
    sitename: siteOf(t.url),
    tier: t.tier
  }))
}

function peers (ctx: FieldContext): unknown[] {
  return peerList(ctx.entry.torrent).map((p) => {
    const colon = p.address.lastIndexOf(':')
    const host = p.address.slice(0, colon).replace(/^\[|\]$/g, '')
    // Transmission's flag letters: D downloading from, d interested-choked, U uploading to, u, K, ?, E, X, I.
    let flags = ''
    if (!p.peerChoking && p.amInterested) flags += 'D'
    else if (p.amInterested) flags += 'd'
    if (!p.amChoking && p.peerInterested) flags += 'U'
    else if (p.peerInterested) flags += 'u'
    if (p.encryption === 'rc4') flags += 'E'
    if (p.source === 'pex') flags += 'X'
    if (p.direction === 'incoming') flags += 'I'
    return {
      address: host,
      clientIsChoked: p.amChoking,
      clientIsInterested: p.amInterested,
      clientName: p.clientName ?? '',
      flagStr: flags,
      isDownloadingFrom: !p.peerChoking && p.amInterested,
      isEncrypted: p.encryption === 'rc4',
      isIncoming: p.direction === 'incoming',
      isUTP: false,
      isUploadingTo: !p.amChoking && p.peerInterested,
      peerIsChoked: p.peerChoking,
      peerIsInterested: p.peerInterested,
      port: int(Number(p.address.slice(colon + 1))),
      progress: p.progress,
      rateToClient: int(p.downloadRateBytesPerSec),
      rateToPeer: int(p.uploadRateBytesPerSec)
    }
  })
}

function peersFrom (ctx: FieldContext): Record<string, number> {
  const out = { fromCache: 0, fromDht: 0, fromIncoming: 0, fromLpd: 0, fromLtep: 0, fromPex: 0, fromTracker: 0 }
  for (const p of peerList(ctx.entry.torrent)) {
    if (p.source === 'tracker') out.fromTracker++
    else if (p.source === 'pex') out.fromPex++
    else if (p.source === 'incoming') out.fromIncoming++
    else if (p.source === 'resume') out.fromCache++
  }
  return out
}

function piecesBase64 (ctx: FieldContext): string {
  const t = ctx.entry.torrent
  if (!t.hasMetadata) return ''
  return Buffer.from(t.bitfield().bytes).toString('base64')
}

function magnetLink (ctx: FieldContext): string {
  const meta = ctx.entry.torrent.metadata
  if (meta === null) return buildMagnet({ infoHashV1: ctx.entry.torrent.infoHash, displayName: ctx.entry.torrent.name })
  return buildMagnet(magnetFromMetainfo(meta))
}

function secondsDownloading (ctx: FieldContext): number {
  const running = ctx.entry.startDateSec > 0 && transmissionStatus(ctx.entry.torrent) === TR_STATUS.download ? ctx.nowSec - ctx.entry.startDateSec : 0
  return ctx.entry.record.secondsDownloadingBefore + running
}

function secondsSeeding (ctx: FieldContext): number {
  const running = ctx.entry.startDateSec > 0 && transmissionStatus(ctx.entry.torrent) === TR_STATUS.seed ? ctx.nowSec - Math.max(ctx.entry.startDateSec, ctx.entry.record.doneDateSec) : 0
  return ctx.entry.record.secondsSeedingBefore + Math.max(0, running)
}

function mimeOf (ctx: FieldContext): string {
  const t = ctx.entry.torrent
  if (!t.hasMetadata) return ''
  let biggest = { path: '', length: -1 }
  for (const f of t.files) if (f.lengthBytes > biggest.length) biggest = { path: f.path, length: f.lengthBytes }
  const ext = biggest.path.slice(biggest.path.lastIndexOf('.') + 1).toLowerCase()
  const table: Record<string, string> = { mp4: 'video/mp4', mkv: 'video/x-matroska', webm: 'video/webm', avi: 'video/x-msvideo', mp3: 'audio/mpeg', flac: 'audio/flac', iso: 'application/octet-stream', zip: 'application/zip', txt: 'text/plain', pdf: 'application/pdf' }
  return table[ext] ?? 'application/octet-stream'
}

type Getter = (ctx: FieldContext) => unknown

/** Every field we answer, by Transmission's name. */
export const TORRENT_FIELDS: Readonly<Record<string, Getter>> = {
  activityDate: (c) => c.entry.record.activityDateSec,
  addedDate: (c) => c.entry.record.addedDateSec,
  bandwidthPriority: (c) => c.entry.record.bandwidthPriority,
  comment: (c) => c.entry.torrent.metadata?.comment ?? '',
  corruptEver: (c) => int(c.stats().hashFailures * (c.entry.torrent.metadata?.pieceLengthBytes ?? 0)),
  creator: (c) => c.entry.torrent.metadata?.createdBy ?? '',
  dateCreated: (c) => int(c.entry.torrent.metadata?.creationDate ?? 0),
  desiredAvailable: (c) => c.stats().peers > 0 ? c.leftUntilDone() : 0,
  doneDate: (c) => c.entry.record.doneDateSec,
  downloadDir: (c) => c.downloadDir,
  downloadedEver: (c) => int(downloadedEver(c)),
  downloadLimit: (c) => c.entry.record.downloadLimitKBps,
  downloadLimited: (c) => c.entry.record.downloadLimited,
  editDate: () => 0,
  error: (c) => transmissionError(c.entry.torrent).error,
  errorString: (c) => transmissionError(c.entry.torrent).errorString,
  eta,
  etaIdle: () => -1,
  'file-count': (c) => c.entry.torrent.metadata?.files.length ?? 0,
  files,
  fileStats,
  group: () => '',
  hashString: (c) => c.entry.torrent.id,
  haveUnchecked: () => 0,
  haveValid: (c) => int(c.stats().verifiedBytes),
  honorsSessionLimits: (c) => c.entry.record.honorsSessionLimits,
  id: (c) => c.entry.id,
  isFinished: (c) => c.entry.finished,
  isPrivate: (c) => c.entry.torrent.metadata?.private ?? false,
  isStalled: () => false,
  labels: (c) => c.entry.record.labels,
  leftUntilDone: (c) => int(c.leftUntilDone()),
  magnetLink,
  manualAnnounceTime: () => -1,
  maxConnectedPeers: (c) => c.entry.torrent.settingsOverrides.maxConnections ?? 50,
  metadataPercentComplete: (c) => c.entry.torrent.hasMetadata ? 1 : 0,
  name: (c) => c.entry.torrent.name,
  'peer-limit': (c) => c.entry.torrent.settingsOverrides.maxConnections ?? 50,
  peers,
  peersConnected: (c) => c.stats().peers,
  peersFrom,
  peersGettingFromUs: (c) => peerCounts(c).gettingFromUs,
  peersSendingToUs: (c) => peerCounts(c).sendingToUs,
  percentComplete: (c) => { const s = c.stats(); return s.totalBytes === 0 ? 0 : s.verifiedBytes / s.totalBytes },
  percentDone,
  pieceCount: (c) => c.entry.torrent.metadata?.pieceCount ?? 0,
  pieceSize: (c) => c.entry.torrent.metadata?.pieceLengthBytes ?? 0,
  pieces: piecesBase64,
  'primary-mime-type': mimeOf,
  priorities: (c) => c.entry.torrent.hasMetadata ? c.entry.torrent.files.map((f) => trPriorityOf(f.priority)) : [],
  queuePosition: (c) => c.queuePosition,
  rateDownload: (c) => int(c.stats().downloadRateBytesPerSec),
  rateUpload: (c) => int(c.stats().uploadRateBytesPerSec),
  recheckProgress: (c) => c.entry.torrent.state === 'hashing' ? 0.5 : 0,
  secondsDownloading,
  secondsSeeding,
  seedIdleLimit: () => 30,
  seedIdleMode: () => 0,
  seedRatioLimit: (c) => c.entry.record.seedRatioLimit,
  seedRatioMode: (c) => c.entry.record.seedRatioMode,
  sizeWhenDone: (c) => int(sizeWhenDone(c)),
  startDate: (c) => c.entry.startDateSec,
  status: (c) => transmissionStatus(c.entry.torrent),
  torrentFile: (c) => c.torrentFile,
  totalSize: (c) => int(c.stats().totalBytes),
  trackerList: (c) => {
    const tiers = new Map<number, string[]>()
    for (const t of c.entry.torrent.trackers()) tiers.set(t.tier, [...(tiers.get(t.tier) ?? []), t.url])
    return [...tiers.values()].map((urls) => urls.join('\n')).join('\n\n')
  },
  trackers,
  trackerStats,
  uploadedEver: (c) => int(uploadedEver(c)),
  uploadLimit: (c) => c.entry.record.uploadLimitKBps,
  uploadLimited: (c) => c.entry.record.uploadLimited,
  uploadRatio: ratio,
  wanted: (c) => c.entry.torrent.hasMetadata ? c.entry.torrent.files.map((f) => f.priority > 0 ? 1 : 0) : [],
  webseeds: (c) => c.entry.torrent.metadata?.urlList ?? [],
  webseedsSendingToUs: () => 0
}

/** The asked-for fields of one torrent; names we do not know are left out. */
export function torrentObject (ctx: FieldContext, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of fields) {
    const getter = TORRENT_FIELDS[name]
    if (getter !== undefined) out[name] = getter(ctx)
  }
  return out
}
