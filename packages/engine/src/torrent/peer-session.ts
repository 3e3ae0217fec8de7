/** One connected peer as its torrent sees it: the connection, its slot, its limiters and credit. */
import type { ConnectionSlot } from '../peer/connection-manager.js'
import { formatPeerAddress, type PeerAddress, type PeerSource } from '../peer/peer-address.js'
import type { PeerConnection } from '../peer/peer-connection.js'
import type { RateLimiter } from '../peer/rate-limiter.js'
import type { PexCandidate } from '../pex/pex-handler.js'
import type { LtDontHaveExtension } from '../protocol/lt-donthave.js'
import { PEX_FLAG_PREFERS_ENCRYPTION, PEX_FLAG_REACHABLE, PEX_FLAG_SEED, PEX_FLAG_UTP } from '../protocol/ut-pex.js'
import type { PeerTransport } from '../interfaces/socket.js'
import type { PeerInfo } from './torrent-types.js'
import type { WebSeedSource } from './web-seed-source.js'

/** A key of the torrent's piece picker: a connected peer or a web seed. */
export type PickerPeer = PeerSession | WebSeedSource

/** One connected peer, as the torrent sees it. */
export class PeerSession {
  readonly connectedAtMs: number
  readonly host: string
  /** Per-peer rate limiters (children of the torrent's), closed when the peer leaves. */
  uploadLimiter: RateLimiter | null = null
  downloadLimiter: RateLimiter | null = null
  /** Download bytes granted by the limiter and not yet spent on requests. */
  downloadCredit = 0
  /** The tail of this peer's queue of upload grants. */
  uploadTurn: Promise<void> = Promise.resolve()
  /** Cancels a pending limiter wake-up. */
  cancelDownloadWait: (() => void) | null = null
  /** Listen address learned from the extended handshake (`p`), for reconnecting later. */
  listenAddress: PeerAddress | null = null
  identified = false
  /** BEP 52: the connection uses the v2 info hash, so hash requests may be sent on it. */
  v2Hashes = false
  /** Its BEP 54 lt_donthave plug-in, to tell it of a piece we lost. */
  dontHave: LtDontHaveExtension | null = null

  constructor (
    readonly conn: PeerConnection,
    readonly slot: ConnectionSlot,
    nowMs: number,
    readonly source: PeerSource,
    /** The stream the connection runs on, asked how it is protected (MSE/PE) and what carries it (TCP/uTP). */
    private readonly stream: { readonly encryption?: 'rc4' | 'plaintext' | 'none' | null, readonly transport?: PeerTransport } = {}
  ) {
    this.connectedAtMs = nowMs
    this.host = slot.address.host
  }

  /** 'rc4' (encrypted), 'plaintext' (MSE handshake, clear stream) or 'none' (no MSE). */
  get encryption (): 'rc4' | 'plaintext' | 'none' {
    return this.stream.encryption ?? 'none'
  }

  /** 'utp' for a uTP (BEP 29) connection, else 'tcp'. */
  get transport (): PeerTransport {
    return this.stream.transport ?? 'tcp'
  }

  get address (): string { return formatPeerAddress(this.slot.address) }

  info (pieceCount: number): PeerInfo {
    const s = this.conn.stats()
    const bf = this.conn.bitfield
    return {
      address: this.address,
      peerIdHex: this.slot.peerIdHex,
      clientName: this.conn.clientName,
      direction: this.slot.direction,
      transport: this.transport,
      downloadRateBytesPerSec: s.downloadRateBytesPerSec,
      uploadRateBytesPerSec: s.uploadRateBytesPerSec,
      downloadedBytes: s.downloadedBytes,
      uploadedBytes: s.uploadedBytes,
      amChoking: this.conn.amChoking,
      amInterested: this.conn.amInterested,
      peerChoking: this.conn.peerChoking,
      peerInterested: this.conn.peerInterested,
      snubbed: this.conn.snubbed,
      progress: bf === null || pieceCount === 0 ? 0 : bf.count / pieceCount,
      outstandingRequests: s.outstandingRequests,
      latencyMs: s.latencyMs,
      source: this.source,
      encryption: this.encryption
    }
  }

  /** How PEX advertises this peer; null when others could not dial it (no listen port known). */
  pexCandidate (): PexCandidate | null {
    if (!this.identified || this.conn.state !== 'active') return null
    const outgoing = this.slot.direction === 'outgoing'
    const address = outgoing ? this.slot.address : this.listenAddress
    if (address === null) return null
    // 0x04: the peer speaks uTP, which we know when it does with us (libtorrent sets it the same way).
    const flags = (this.conn.isSeed ? PEX_FLAG_SEED : 0) | (outgoing ? PEX_FLAG_REACHABLE : 0) |
      (this.encryption !== 'none' ? PEX_FLAG_PREFERS_ENCRYPTION : 0) | (this.transport === 'utp' ? PEX_FLAG_UTP : 0)
    return { connectionKey: this.address, address, flags }
  }
}

export function * pexCandidates (sessions: Iterable<PeerSession>): Iterable<PexCandidate> {
  for (const s of sessions) {
    const c = s.pexCandidate()
    if (c !== null) yield c
  }
}
