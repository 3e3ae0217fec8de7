/** The torrent's stats snapshots: during the metadata phase, and once the metainfo is known. */
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { AnnounceState } from '../tracker/tracker-manager.js'
import type { RateMeter } from '../peer/rate-meter.js'
import type { PieceAssembly, TorrentCounters } from './piece-assembly.js'
import type { PiecePicker } from './piece-picker.js'
import type { TorrentStats } from './torrent-types.js'
import type { TorrentState } from './torrent-state.js'
import { pieceLengthOf } from './piece-verifier.js'
import { countWantedBytes } from './wanted-bytes.js'

/** What {@link downloadStats} reads. */
export interface DownloadStatsParts {
  state: TorrentState
  meta: TorrentMetainfo
  picker: PiecePicker<unknown>
  /** False: no priorities were ever set, every piece is wanted. */
  hasPriorities: boolean
  counters: TorrentCounters
  downloadMeter: RateMeter
  uploadMeter: RateMeter
  peers: number
  seeds: number
  webSeeds: number
  bannedPeers: number
  endGame: boolean
  assembly: Pick<PieceAssembly, 'awaitingBytes' | 'inFlightPieces'>
}

/** Stats of a torrent whose metainfo is known. */
export function downloadStats (p: DownloadStatsParts): TorrentStats {
  const { meta, picker } = p
  const have = picker.haveCount
  let verifiedBytes = have * meta.pieceLengthBytes
  const last = meta.pieceCount - 1
  if (last >= 0 && picker.hasPiece(last)) verifiedBytes -= meta.pieceLengthBytes - pieceLengthOf(meta, last)
  const total = meta.totalLengthBytes
  const remaining = picker.remainingPieceCount
  const wanted = !p.hasPriorities
    ? { wantedBytes: total, verifiedWantedBytes: verifiedBytes }
    : countWantedBytes(meta.pieceCount, (i) => picker.pieceLength(i), (i) => picker.getPiecePriority(i) > 0, (i) => picker.hasPiece(i))
  return {
    state: p.state,
    progress: wanted.wantedBytes === 0 || remaining === 0 ? 1 : Math.min(1, wanted.verifiedWantedBytes / wanted.wantedBytes),
    totalBytes: total,
    wantedBytes: wanted.wantedBytes,
    verifiedBytes,
    pieceCount: meta.pieceCount,
    havePieces: have,
    downloadedBytes: p.counters.downloadedBytes,
    uploadedBytes: p.counters.uploadedBytes,
    wastedBytes: p.counters.wastedBytes,
    downloadRateBytesPerSec: p.downloadMeter.rateBytesPerSec(),
    uploadRateBytesPerSec: p.uploadMeter.rateBytesPerSec(),
    peers: p.peers,
    seeds: p.seeds,
    webSeeds: p.webSeeds,
    hashFailures: p.counters.hashFailures,
    bannedPeers: p.bannedPeers,
    endGame: p.endGame,
    awaitingBytes: p.assembly.awaitingBytes,
    inFlightPieces: p.assembly.inFlightPieces
  }
}

/** Stats while a magnet's metadata is unknown: sizes from `xl` when given (`totalBytes`), else 0. */
export function metadataPhaseStats (state: TorrentState, totalBytes: number, peers: number, bannedPeers: number): TorrentStats {
  return {
    state,
    progress: 0,
    totalBytes,
    wantedBytes: totalBytes,
    verifiedBytes: 0,
    pieceCount: 0,
    havePieces: 0,
    downloadedBytes: 0,
    uploadedBytes: 0,
    wastedBytes: 0,
    downloadRateBytesPerSec: 0,
    uploadRateBytesPerSec: 0,
    peers,
    seeds: 0,
    webSeeds: 0,
    hashFailures: 0,
    bannedPeers,
    endGame: false,
    awaitingBytes: 0,
    inFlightPieces: 0
  }
}

/** What the trackers are told on each announce, from the torrent's stats. */
export function announceStateOf (s: TorrentStats, who: { infoHash: Uint8Array, peerId: Uint8Array, port: number | null, finished: boolean }): AnnounceState {
  return {
    infoHash: who.infoHash,
    peerId: who.peerId,
    port: who.port ?? 0,
    uploadedBytes: s.uploadedBytes,
    downloadedBytes: s.downloadedBytes,
    leftBytes: Math.max(0, s.totalBytes - s.verifiedBytes),
    numWant: who.finished ? 0 : 50
  }
}
