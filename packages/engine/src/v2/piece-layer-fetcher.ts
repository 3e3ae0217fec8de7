/**
 * The FetchingHashes state's bookkeeping: which piece layers a v2 torrent still lacks (metadata
 * from peers carries none), which hash requests fetch them, who was asked, and what came back.
 *
 * A layer is fetched in chunks of up to 512 hashes (see {@link pieceLayerRequests}), each asked of
 * one peer at a time and proven against the file's `pieces root` on arrival, so a peer can waste
 * our time but never plant a wrong hash. A chunk a peer rejected is not asked of it again; one
 * unanswered for `requestTimeoutMs` may be asked of another peer. When every chunk of a file is in,
 * the layer joins `meta.pieceLayers`, where the piece verifier finds it.
 *
 * Memory: one layer buffer per missing file (32 bytes a piece) and one record per chunk.
 */
import type { IHasher } from '../interfaces/hasher.js'
import { MERKLE_HASH_LENGTH_BYTES } from '../metainfo/merkle.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { HashRequest } from '../protocol/hash-messages.js'
import { bytesEqual, toHex } from '../util/bytes.js'
import { fileTreeShape, pieceLayerRequests, verifyHashes, type FileTreeShape } from './merkle-proof.js'

/** How long a chunk may stay unanswered before another peer is asked. */
export const HASH_REQUEST_TIMEOUT_MS = 20_000

interface MissingLayer {
  rootHex: string
  shape: FileTreeShape
  layer: Uint8Array
  chunksLeft: number
}

interface Chunk {
  file: MissingLayer
  request: HashRequest
  done: boolean
  /** The peer asked last, and when; null when nobody is waited on. */
  askedOf: object | null
  askedAtMs: number
  refusedBy: Set<object>
}

/** What became of a `hashes` message. */
export type HashesOutcome = 'accepted' | 'invalid' | 'unrequested'

function sameRequest (a: HashRequest, b: HashRequest): boolean {
  return a.baseLayer === b.baseLayer && a.index === b.index && a.length === b.length &&
    a.proofLayers === b.proofLayers && bytesEqual(a.piecesRoot, b.piecesRoot)
}

/** Files of `meta` larger than one piece whose piece layer is not known. */
export function missingLayerFiles (meta: TorrentMetainfo): number {
  if (meta.version === 'v1') return 0
  return meta.files.filter((f) => f.piecesRoot !== undefined && f.lengthBytes > meta.pieceLengthBytes && !meta.pieceLayers.has(toHex(f.piecesRoot))).length
}

export class PieceLayerFetcher {
  private readonly chunks: Chunk[] = []
  private filesLeft = 0

  constructor (private readonly hasher: IHasher, private readonly meta: TorrentMetainfo, private readonly requestTimeoutMs = HASH_REQUEST_TIMEOUT_MS) {
    if (meta.version === 'v1') return
    for (const f of meta.files) {
      const root = f.piecesRoot
      if (root === undefined || f.lengthBytes <= meta.pieceLengthBytes || meta.pieceLayers.has(toHex(root))) continue
      const shape = fileTreeShape(f.lengthBytes, meta.pieceLengthBytes)
      const requests = pieceLayerRequests(root, shape)
      const file: MissingLayer = { rootHex: toHex(root), shape, layer: new Uint8Array(shape.pieceCount * MERKLE_HASH_LENGTH_BYTES), chunksLeft: requests.length }
      this.filesLeft++
      for (const request of requests) this.chunks.push({ file, request, done: false, askedOf: null, askedAtMs: 0, refusedBy: new Set() })
    }
  }

  /** True once every piece layer is known. */
  get complete (): boolean { return this.filesLeft === 0 }

  /** Files whose layer is still missing. */
  get missingFiles (): number { return this.filesLeft }

  /** Requests `peer` is waiting on now. */
  inFlight (peer: object): number {
    let n = 0
    for (const c of this.chunks) if (!c.done && c.askedOf === peer) n++
    return n
  }

  /**
   * The next request to send to `peer`, marked as asked of it: a chunk nobody is waiting on (or
   * whose wait timed out) that `peer` has not refused. Null when there is none.
   */
  next (peer: object, nowMs: number): HashRequest | null {
    for (const c of this.chunks) {
      if (c.done || c.refusedBy.has(peer) || c.askedOf === peer) continue
      if (c.askedOf !== null && nowMs - c.askedAtMs < this.requestTimeoutMs) continue
      c.askedOf = peer
      c.askedAtMs = nowMs
      return c.request
    }
    return null
  }

  /**
   * A `hashes` reply. `accepted`: proven and stored (or a late duplicate of a chunk already in);
   * `invalid`: it answers a chunk we asked for but does not prove against the pieces root (the peer
   * lied or is broken); `unrequested`: no chunk matches.
   */
  async received (peer: object, request: HashRequest, hashes: Uint8Array): Promise<HashesOutcome> {
    const chunk = this.chunks.find((c) => sameRequest(c.request, request))
    if (chunk === undefined) return 'unrequested'
    if (chunk.done) return 'accepted'
    const base = await verifyHashes(this.hasher, chunk.file.shape, request, hashes, request.piecesRoot)
    if (chunk.done) return 'accepted'
    if (base === null) {
      chunk.refusedBy.add(peer)
      if (chunk.askedOf === peer) chunk.askedOf = null
      return 'invalid'
    }
    const file = chunk.file
    const at = request.index * MERKLE_HASH_LENGTH_BYTES
    file.layer.set(base.subarray(0, Math.min(base.length, file.layer.length - at)), at)
    chunk.done = true
    chunk.askedOf = null
    if (--file.chunksLeft === 0) {
      this.meta.pieceLayers.set(file.rootHex, file.layer)
      this.filesLeft--
    }
    return 'accepted'
  }

  /** A `hash reject`: the peer will not answer this chunk; ask someone else. */
  rejected (peer: object, request: HashRequest): void {
    const chunk = this.chunks.find((c) => sameRequest(c.request, request))
    if (chunk === undefined || chunk.done) return
    chunk.refusedBy.add(peer)
    if (chunk.askedOf === peer) chunk.askedOf = null
  }

  /** The peer left: its chunks may be asked of others at once. */
  peerGone (peer: object): void {
    for (const c of this.chunks) {
      if (c.askedOf === peer) c.askedOf = null
      c.refusedBy.delete(peer)
    }
  }
}
