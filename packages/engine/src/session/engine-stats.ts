/**
 * What `engine.stats()` and the engine's 'stats' event report: each subsystem's own counters,
 * gathered in one place so the engine module stays about the engine.
 */
import type { DhtStats } from '../dht/dht-stats.js'
import type { LsdStats } from '../lsd/local-peer-discovery.js'
import type { ConnectionManagerStats } from '../peer/connection-manager.js'
import type { ListenRouterStats } from '../peer/listen-router.js'
import type { Torrent } from '../torrent/torrent.js'
import type { EncryptionStats } from '../transport/mse/encryption-policy.js'
import type { EngineUdpStats } from './engine-udp.js'
import type { PortMappingStats } from './port-mapping.js'

export interface EngineStats {
  torrents: number
  downloadRateBytesPerSec: number
  uploadRateBytesPerSec: number
  connections: ConnectionManagerStats
  listen: ListenRouterStats
  /** MSE/PE handshakes by outcome, failures by reason, plaintext fallbacks. */
  encryption: EncryptionStats
  /** The DHT node (table size, lookups, queries in/out); null while the DHT is off or not started. */
  dht: DhtStats | null
  /** The shared UDP socket and uTP; null while it is not bound (not listening, or the bind failed). */
  udp: EngineUdpStats | null
  portMapping: PortMappingStats // UPnP / NAT-PMP mappings of the listen port, and the external address the gateway reported
  /** BEP 14 local service discovery (announces sent, messages received, peers found); null while LSD is off or not started. */
  lsd: LsdStats | null
}

/** Payload of the engine's 'stats' event. */
export interface EngineStatsEvent {
  timestampMs: number
  torrents: Array<{ torrentId: string, stats: ReturnType<Torrent['stats']> }>
}
