/**
 * uTP tunables (STYLE.md §8). Defaults follow BEP 29 / libtorrent where they name a value, and
 * say why where they do not.
 */
import { LodestoneError } from '../../errors.js'

export interface UtpSettings {
  /** Payload bytes per packet to IPv4 peers (fits a 1 500-byte MTU with IP/UDP/uTP headers and a SACK). @default 1_400 */
  packetBytesIPv4: number
  /**
   * Payload bytes per packet to IPv6 peers: smaller than IPv4's because IPv6 headers are 20 bytes
   * longer and IPv6 paths with tunnels are common. @default 1_280
   */
  packetBytesIPv6: number
  /**
   * Payload bytes per packet between two Lodestone peers on a loopback address (both offer it in
   * the handshake; see loopback-packets.ts). Loopback's MTU is 65 536, so such a packet is never
   * fragmented; 0 or anything not above the ordinary size turns this off. @default 60_000
   */
  loopbackPacketBytes: number
  /**
   * Bytes a connection buffers for the application (received in order but not yet delivered,
   * plus out-of-order packets); advertised to the sender as the receive window. @default 2_097_152
   */
  receiveWindowBytes: number
  /** Cap on the congestion window. @default 4_194_304 */
  maxWindowBytes: number
  /** LEDBAT target queueing delay (BEP 29 / uTorrent use 100 ms). @default 100 */
  targetDelayMs: number
  /** LEDBAT: window growth per round trip with no queueing delay, bytes, while that is more than 1/8 of the window (ledbat.ts). @default 3_000 */
  gainBytes: number
  /** Window multiplier on a loss. @default 0.5 */
  lossFactor: number
  /** Floor of the retransmission time-out (BEP 29: 500 ms). @default 500 */
  minRtoMs: number
  /** Time-out before the first RTT sample (and for the SYN). @default 1_000 */
  initialRtoMs: number
  /** Cap of the backed-off time-out. @default 60_000 */
  maxRtoMs: number
  /** Consecutive time-outs of one packet after which the connection is dead. @default 6 */
  maxRetransmits: number
  /** SYN retransmissions before a connect fails (the connect's own time-out may end it first). @default 2 */
  synRetransmits: number
  /** Connect time-out when the caller gives none. @default 5_000 */
  connectTimeoutMs: number
  /** An accepted connection that sends no data within this is forgotten (SYN-flood bound). @default 10_000 */
  halfOpenTimeoutMs: number
  /** Send an empty STATE when nothing was sent for this long (keeps NAT mappings). @default 29_000 */
  keepAliveIntervalMs: number
  /** Close a connection that received nothing for this long (0: never). @default 300_000 */
  idleTimeoutMs: number
  /** After close(), how long queued data may take to be acknowledged before the connection is reset. @default 5_000 */
  lingerMs: number
  /** Connections (all states) per manager; more SYNs are dropped, more connects fail. @default 2_000 */
  maxConnections: number
  /** Accepted connections that have not yet sent data; more SYNs are dropped. @default 128 */
  maxHalfOpen: number
  /** `send()` returns false once this many bytes wait to be packetised, or twice the window if more (send-water-marks.ts). @default 131_072 */
  sendHighWaterMarkBytes: number
  /** After `send()` returned false, `onDrain` fires once the queue is at or below this, or the window if more. @default 32_768 */
  sendLowWaterMarkBytes: number
  /** Hold a partial packet while data is in flight, so small writes coalesce (Nagle). @default true */
  nagle: boolean
  /** Period of the time-out / keep-alive check. @default 100 */
  tickIntervalMs: number
}

export const defaultUtpSettings: Readonly<UtpSettings> = {
  packetBytesIPv4: 1_400,
  packetBytesIPv6: 1_280,
  loopbackPacketBytes: 60_000,
  receiveWindowBytes: 2_097_152,
  maxWindowBytes: 4_194_304,
  targetDelayMs: 100,
  gainBytes: 3_000,
  lossFactor: 0.5,
  minRtoMs: 500,
  initialRtoMs: 1_000,
  maxRtoMs: 60_000,
  maxRetransmits: 6,
  synRetransmits: 2,
  connectTimeoutMs: 5_000,
  halfOpenTimeoutMs: 10_000,
  keepAliveIntervalMs: 29_000,
  idleTimeoutMs: 300_000,
  lingerMs: 5_000,
  maxConnections: 2_000,
  maxHalfOpen: 128,
  sendHighWaterMarkBytes: 131_072,
  sendLowWaterMarkBytes: 32_768,
  nagle: true,
  tickIntervalMs: 100
}

/** Merges `partial` over the defaults and validates. @throws SETTINGS_INVALID naming the key */
export function resolveUtpSettings (partial: Partial<UtpSettings> = {}): UtpSettings {
  const s: UtpSettings = { ...defaultUtpSettings, ...partial }
  const positive: Array<keyof UtpSettings> = [
    'receiveWindowBytes', 'maxWindowBytes', 'targetDelayMs', 'gainBytes', 'minRtoMs', 'initialRtoMs',
    'maxRtoMs', 'connectTimeoutMs', 'halfOpenTimeoutMs', 'keepAliveIntervalMs', 'lingerMs', 'maxConnections',
    'maxHalfOpen', 'sendHighWaterMarkBytes', 'tickIntervalMs'
  ]
  for (const key of positive) {
    const v = s[key]
    if (typeof v !== 'number' || !(v > 0)) throw new LodestoneError('SETTINGS_INVALID', { key: `utp.${key}`, reason: 'must be > 0' })
  }
  for (const key of ['packetBytesIPv4', 'packetBytesIPv6'] as const) {
    const v = s[key]
    if (!Number.isInteger(v) || v < 150 || v > 65_000) throw new LodestoneError('SETTINGS_INVALID', { key: `utp.${key}`, reason: 'must be an integer in [150, 65000]' })
  }
  if (!Number.isInteger(s.loopbackPacketBytes) || s.loopbackPacketBytes < 0 || s.loopbackPacketBytes > 65_000) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'utp.loopbackPacketBytes', reason: 'must be an integer in [0, 65000]' })
  }
  if (!(s.lossFactor > 0 && s.lossFactor <= 1)) throw new LodestoneError('SETTINGS_INVALID', { key: 'utp.lossFactor', reason: 'must be in (0, 1]' })
  if (!(s.idleTimeoutMs >= 0)) throw new LodestoneError('SETTINGS_INVALID', { key: 'utp.idleTimeoutMs', reason: 'must be >= 0' })
  if (!Number.isInteger(s.maxRetransmits) || s.maxRetransmits < 1) throw new LodestoneError('SETTINGS_INVALID', { key: 'utp.maxRetransmits', reason: 'must be an integer >= 1' })
  if (!Number.isInteger(s.synRetransmits) || s.synRetransmits < 0) throw new LodestoneError('SETTINGS_INVALID', { key: 'utp.synRetransmits', reason: 'must be an integer >= 0' })
  if (!(s.sendLowWaterMarkBytes >= 0 && s.sendLowWaterMarkBytes < s.sendHighWaterMarkBytes)) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'utp.sendLowWaterMarkBytes', reason: 'must be in [0, sendHighWaterMarkBytes)' })
  }
  if (s.receiveWindowBytes < 4 * Math.max(s.packetBytesIPv4, s.packetBytesIPv6)) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'utp.receiveWindowBytes', reason: 'must hold at least 4 packets' })
  }
  return s
}
