/**
 * The addresses a torrent knows to (re)connect to, each with the source that first reported it
 * (PeerInfo.source). Bounded: beyond `maxPeers` the oldest entry is forgotten — a torrent hears of
 * far more addresses from trackers and PEX than it can ever dial.
 */
import { formatPeerAddress, type PeerAddress, type PeerSource } from '../peer/peer-address.js'
import { SparseMap } from '../util/sparse-collections.js'

/** Addresses remembered per torrent; older ones are forgotten beyond this. */
const MAX_KNOWN_PEERS = 2_000

export type KnownPeer = PeerAddress & { source: PeerSource, seed?: boolean }

export class KnownPeers {
  private readonly peers = new SparseMap<string, KnownPeer>()

  constructor (private readonly maxPeers = MAX_KNOWN_PEERS) {}

  has (address: PeerAddress): boolean { return this.peers.has(formatPeerAddress(address)) }

  sourceOf (address: PeerAddress): PeerSource | undefined { return this.peers.get(formatPeerAddress(address))?.source }

  /** True when the peer at `address` was seen to be a seed (PEX flag, or its bitfield). */
  isSeed (address: PeerAddress): boolean { return this.peers.get(formatPeerAddress(address))?.seed === true }

  /**
   * Remembers `address` unless known (the first source wins); `seed` marks it as a seed (a seed
   * has nothing to trade with another). Returns true when it was new.
   */
  remember (address: PeerAddress, source: PeerSource, seed = false): boolean {
    const key = formatPeerAddress(address)
    const known = this.peers.get(key)
    if (known !== undefined) {
      if (seed) known.seed = true
      return false
    }
    if (this.peers.size >= this.maxPeers) {
      const oldest = this.peers.keys().next().value
      if (oldest !== undefined) this.peers.delete(oldest)
    }
    this.peers.set(key, seed ? { host: address.host, port: address.port, source, seed } : { host: address.host, port: address.port, source })
    return true
  }

  /** Forgets every address of `host` (banned). */
  forgetHost (host: string): void {
    for (const [key, address] of this.peers) if (address.host === host) this.peers.delete(key)
  }

  /** `host:port` keys, oldest first. */
  keys (): string[] { return [...this.peers.keys()] }

  values (): IterableIterator<KnownPeer> { return this.peers.values() }
}
