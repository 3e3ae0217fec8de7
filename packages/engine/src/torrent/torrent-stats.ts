/** Stats shapes the torrent builds outside the download proper. */
import type { TorrentStats } from './torrent-types.js'
import type { TorrentState } from './torrent-state.js'

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
    hashFailures: 0,
    bannedPeers,
    endGame: false,
    awaitingBytes: 0,
    inFlightPieces: 0
  }
}
