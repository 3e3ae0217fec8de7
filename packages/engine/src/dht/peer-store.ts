/**
 * Peers other nodes announced to us (`announce_peer`), served back in `get_peers` answers.
 *
 * Bounded on every axis, because anyone can announce: at most `maxTorrents` info hashes (a new one
 * evicts the info hash announced least recently), at most `maxPeersPerTorrent` peers each (a new
 * peer evicts the oldest), and every entry expires `peerTtlMs` after its last announce. An answer
 * carries at most `maxPeersPerReply` peers, chosen at random so every peer gets seen.
 */
import type { IClock } from '../interfaces/clock.js'
import type { IRandom } from '../interfaces/random.js'
import type { PeerAddress } from '../peer/peer-address.js'
import { toHex } from '../util/bytes.js'
import { endpointKey } from './compact-nodes.js'
import type { NodeId } from './node-id.js'

export interface PeerStoreSettings {
  /** @default 2000 (libtorrent's dht_max_torrents) */
  maxTorrents: number
  /** @default 500 (libtorrent's dht_max_peers) */
  maxPeersPerTorrent: number
  /** An announce counts this long (peers re-announce every 15 to 30 minutes). @default 2_700_000 */
  peerTtlMs: number
  /** Peers in one `get_peers` answer (keeps the datagram under ~1 KiB). @default 50 */
  maxPeersPerReply: number
}

export const defaultPeerStoreSettings: Readonly<PeerStoreSettings> = {
  maxTorrents: 2000,
  maxPeersPerTorrent: 500,
  peerTtlMs: 45 * 60_000,
  maxPeersPerReply: 50
}

interface TorrentPeers {
  infoHash: NodeId
  /** endpoint key → peer and expiry; Map order is announce order (re-announce moves to the end). */
  peers: Map<string, { peer: PeerAddress, expiresMs: number }>
}

export class PeerStore {
  private readonly settings: PeerStoreSettings
  /** hex info hash → peers; Map order is last-announce order. */
  private readonly torrents = new Map<string, TorrentPeers>()

  constructor (private readonly clock: IClock, private readonly random: IRandom, settings: Partial<PeerStoreSettings> = {}) {
    this.settings = { ...defaultPeerStoreSettings, ...settings }
  }

  /** Info hashes with at least one peer. */
  get torrentCount (): number { return this.torrents.size }

  get peerCount (): number {
    let n = 0
    for (const t of this.torrents.values()) n += t.peers.size
    return n
  }

  add (infoHash: NodeId, peer: PeerAddress): void {
    const key = toHex(infoHash)
    let torrent = this.torrents.get(key)
    if (torrent === undefined) {
      if (this.torrents.size >= this.settings.maxTorrents) {
        this.expire()
        const oldest = this.torrents.keys().next()
        if (this.torrents.size >= this.settings.maxTorrents && oldest.done !== true) this.torrents.delete(oldest.value)
      }
      torrent = { infoHash: Uint8Array.from(infoHash), peers: new Map() }
    } else {
      this.torrents.delete(key)
    }
    this.torrents.set(key, torrent)
    const peerKey = endpointKey(peer.host, peer.port)
    torrent.peers.delete(peerKey)
    if (torrent.peers.size >= this.settings.maxPeersPerTorrent) {
      const oldest = torrent.peers.keys().next()
      if (oldest.done !== true) torrent.peers.delete(oldest.value)
    }
    torrent.peers.set(peerKey, { peer: { host: peer.host, port: peer.port }, expiresMs: this.clock.now() + this.settings.peerTtlMs })
  }

  /** Up to `maxPeersPerReply` live peers of `infoHash` (of one address family when given), in random order. */
  get (infoHash: NodeId, family?: 4 | 6): PeerAddress[] {
    const torrent = this.torrents.get(toHex(infoHash))
    if (torrent === undefined) return []
    const now = this.clock.now()
    const live: PeerAddress[] = []
    for (const [key, entry] of torrent.peers) {
      if (entry.expiresMs <= now) { torrent.peers.delete(key); continue }
      if (family !== undefined && (entry.peer.host.includes(':') ? 6 : 4) !== family) continue
      live.push(entry.peer)
    }
    if (torrent.peers.size === 0) this.torrents.delete(toHex(infoHash))
    return this.sample(live, this.settings.maxPeersPerReply)
  }

  /** Up to `count` random stored info hashes (BEP 51 `sample_infohashes`). */
  sampleInfoHashes (count: number): NodeId[] {
    this.expire()
    return this.sample([...this.torrents.values()].map((t) => t.infoHash), count)
  }

  /** Drops expired peers and empty info hashes. */
  expire (): void {
    const now = this.clock.now()
    for (const [key, torrent] of this.torrents) {
      for (const [peerKey, entry] of torrent.peers) if (entry.expiresMs <= now) torrent.peers.delete(peerKey)
      if (torrent.peers.size === 0) this.torrents.delete(key)
    }
  }

  /** A random subset (partial Fisher-Yates; `items` is reordered). */
  private sample<T> (items: T[], count: number): T[] {
    const n = Math.min(count, items.length)
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.random.next() * (items.length - i))
      const tmp = items[i] as T
      items[i] = items[j] as T
      items[j] = tmp
    }
    return items.slice(0, n)
  }
}
