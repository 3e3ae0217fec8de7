/**
 * One v2 (or hybrid) torrent's side of BEP 52's hash messages: it answers peers' hash requests
 * from the piece layers we have (with uncle-hash proofs, rejecting what we cannot prove), and,
 * while piece layers are missing (a torrent from a `urn:btmh:` magnet), asks v2 peers for them
 * and hands each proven layer to the metainfo the verifier reads.
 *
 * The torrent tells it which connections speak v2 (those made with the v2 info hash: libtorrent
 * drops a peer that sends hash messages on a v1 connection) by calling {@link pump} only for them.
 */
import { LodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { IHasher } from '../interfaces/hasher.js'
import type { Logger } from '../interfaces/logger.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { PeerConnection } from '../peer/peer-connection.js'
import type { HashMessage, HashRequest } from '../protocol/hash-messages.js'
import { toHex } from '../util/bytes.js'
import { fileTreeShape, PieceLayerTree } from './merkle-proof.js'
import { missingLayerFiles, PieceLayerFetcher } from './piece-layer-fetcher.js'

/** Hash requests one peer may have outstanding from us. */
const MAX_REQUESTS_PER_PEER = 4

export interface TorrentHashesDeps {
  hasher: IHasher
  clock: IClock
  log?: Logger | undefined
}

/**
 * The hash-message side of a torrent: null for v1 torrents. `onLayersComplete` is called once,
 * when the last missing piece layer has arrived.
 */
export function createTorrentHashes (deps: TorrentHashesDeps, meta: TorrentMetainfo, onLayersComplete: () => void): TorrentHashes | null {
  return meta.version === 'v1' ? null : new TorrentHashes(deps, meta, onLayersComplete)
}

export class TorrentHashes {
  private readonly fetcher: PieceLayerFetcher | null
  /** Trees we serve from, built on the first request for each file (pieces root hex → tree). */
  private readonly trees = new Map<string, Promise<PieceLayerTree | null>>()
  private readonly fileLengths = new Map<string, number>()
  private completeReported = false

  constructor (private readonly deps: TorrentHashesDeps, private readonly meta: TorrentMetainfo, private readonly onLayersComplete: () => void = () => {}) {
    // Only a pure v2 torrent must fetch its layers: a hybrid verifies by its v1 hashes, and its
    // connections are mostly v1 ones (we dial with the v1 hash), which may not carry hash requests.
    this.fetcher = meta.version === 'v2' && missingLayerFiles(meta) > 0 ? new PieceLayerFetcher(deps.hasher, meta) : null
    for (const f of meta.files) if (f.piecesRoot !== undefined) this.fileLengths.set(toHex(f.piecesRoot), f.lengthBytes)
  }

  /** True while piece layers are missing (the FetchingHashes state). */
  get fetching (): boolean { return this.fetcher !== null && !this.fetcher.complete }

  /** Files whose piece layer is still missing. */
  get missingLayers (): number { return this.fetcher?.missingFiles ?? 0 }

  /** Asks `conn` (a v2 connection) for missing layers, up to a few requests at a time. */
  pump (conn: PeerConnection): void {
    const fetcher = this.fetcher
    if (fetcher === null || fetcher.complete || conn.state !== 'active') return
    const now = this.deps.clock.now()
    while (fetcher.inFlight(conn) < MAX_REQUESTS_PER_PEER) {
      const request = fetcher.next(conn, now)
      if (request === null) return
      conn.sendHashMessage({ type: 'hash-request', request })
    }
  }

  /** A hash message from `conn`. Never throws: failures close the peer or are logged. */
  onMessage (conn: PeerConnection, message: HashMessage): void {
    switch (message.type) {
      case 'hash-request':
        this.serve(conn, message.request).catch((error: unknown) => { this.deps.log?.warn('hash request failed', { error: String(error) }) })
        return
      case 'hashes':
        this.take(conn, message.request, message.hashes).catch((error: unknown) => { this.deps.log?.warn('hashes failed', { error: String(error) }) })
        return
      case 'hash-reject':
        this.fetcher?.rejected(conn, message.request)
        this.pump(conn)
    }
  }

  /** The peer left: what it was asked goes to others. */
  peerGone (conn: PeerConnection): void {
    this.fetcher?.peerGone(conn)
  }

  private async serve (conn: PeerConnection, request: HashRequest): Promise<void> {
    const tree = await this.treeFor(toHex(request.piecesRoot))
    const hashes = tree?.answer(request) ?? null
    if (conn.state !== 'active') return
    conn.sendHashMessage(hashes === null ? { type: 'hash-reject', request } : { type: 'hashes', request, hashes })
  }

  private async treeFor (rootHex: string): Promise<PieceLayerTree | null> {
    let tree = this.trees.get(rootHex)
    if (tree === undefined) {
      const layer = this.meta.pieceLayers.get(rootHex)
      const lengthBytes = this.fileLengths.get(rootHex)
      // Unknown roots, one-piece files (no layer: their blocks' hashes are not kept) and layers
      // still being fetched are rejected, and not cached: a layer may arrive later.
      if (layer === undefined || lengthBytes === undefined) return null
      tree = PieceLayerTree.build(this.deps.hasher, layer, fileTreeShape(lengthBytes, this.meta.pieceLengthBytes), this.meta.pieceLengthBytes)
      this.trees.set(rootHex, tree)
    }
    return tree
  }

  private async take (conn: PeerConnection, request: HashRequest, hashes: Uint8Array): Promise<void> {
    const fetcher = this.fetcher
    if (fetcher === null) return
    const outcome = await fetcher.received(conn, request, hashes)
    if (outcome === 'invalid') {
      conn.close(new LodestoneError('PEER_PROTOCOL_VIOLATION', { reason: `hashes for ${toHex(request.piecesRoot).slice(0, 16)}… do not prove against its pieces root` }))
      return
    }
    if (fetcher.complete && !this.completeReported) {
      this.completeReported = true
      this.deps.log?.info('piece layers fetched', { files: this.meta.pieceLayers.size })
      this.onLayersComplete()
      return
    }
    this.pump(conn)
  }
}
