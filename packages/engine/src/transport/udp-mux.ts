/**
 * The engine's one UDP socket, shared by the DHT (KRPC), uTP and the UDP tracker client.
 *
 * Why one socket: libtorrent and Transmission listen for UDP on the same port number as TCP, and
 * peers learn that port once (the handshake's listen port, BEP 5's PORT message, `implied_port`).
 * A DHT node reachable on the port its peers connect to, and uTP on it too, is what other
 * clients expect; a socket per subsystem would also multiply NAT mappings.
 *
 * Classification is by the first byte only (no parsing, so a flood costs one comparison each):
 * - `d` (0x64): a bencoded dictionary, i.e. KRPC.
 * - version nibble 1 and type nibble ≤ 4 (DATA, FIN, STATE, RESET, SYN), at least 20 bytes: uTP
 *   (BEP 29). 0x64 cannot collide: its version nibble is 4.
 * - anything else: UDP tracker answers (BEP 15; their first word is the action 0..3, so b0 = 0).
 *   The tracker client matches transaction ids and ignores strays, so it is the safe default.
 *
 * Ownership: a datagram handed to a channel's `onMessage` may be a view of a receive buffer the
 * socket reuses; it is valid only during the call and the handler copies what it keeps. `send`
 * follows `IUdpSocket.send` (the socket copies, so the caller may reuse `data`).
 *
 * Batches: when the socket reports the end of a run of datagrams that arrived together
 * (`IUdpSocket.onBatchEnd`), every channel that asked for it hears it, so uTP can answer a burst
 * of data packets with one ack.
 *
 * Nothing a handler throws escapes the mux (the socket's callback must survive hostile input):
 * it is caught and counted per kind in `stats()`.
 */
import type { Logger } from '../interfaces/logger.js'
import type { IUdpSocket, UdpRemote } from '../interfaces/socket.js'

/** The subsystems sharing the socket. */
export type UdpChannelKind = 'krpc' | 'utp' | 'tracker'

export const UDP_CHANNEL_KINDS: readonly UdpChannelKind[] = ['krpc', 'utp', 'tracker']

/** BEP 29: the uTP header is 20 bytes. */
const UTP_HEADER_BYTES = 20
/** BEP 29: uTP version 1; packet types 0 (DATA) … 4 (SYN). */
const UTP_VERSION = 1
const UTP_MAX_TYPE = 4
/** 'd': every KRPC message is a bencoded dictionary. */
const KRPC_FIRST_BYTE = 0x64

/** Which subsystem a datagram belongs to, from its first byte (see the module comment). */
export function classifyDatagram (data: Uint8Array): UdpChannelKind {
  const b0 = data[0]
  if (b0 === undefined) return 'tracker'
  if (b0 === KRPC_FIRST_BYTE) return 'krpc'
  if ((b0 & 0x0f) === UTP_VERSION && (b0 >> 4) <= UTP_MAX_TYPE && data.length >= UTP_HEADER_BYTES) return 'utp'
  return 'tracker'
}

export type UdpMessageHandler = (data: Uint8Array, remote: UdpRemote) => void

/**
 * One subsystem's view of the shared socket. Shaped like {@link IUdpSocket} so code written for
 * a socket of its own can take a channel; `close()` only detaches this channel's handler (the
 * socket belongs to the mux).
 */
export interface UdpChannel extends IUdpSocket {
  readonly kind: UdpChannelKind
}

/** Counters of one kind. */
export interface UdpChannelStats {
  packetsIn: number
  bytesIn: number
  packetsOut: number
  bytesOut: number
  /** Datagrams of this kind that arrived while no handler was registered. */
  dropped: number
  /** Exceptions thrown by this kind's handler (caught by the mux). */
  handlerErrors: number
}

export type UdpMuxStats = Record<UdpChannelKind, UdpChannelStats>

export interface UdpMuxDeps {
  logger?: Logger
}

function emptyStats (): UdpChannelStats {
  return { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, dropped: 0, handlerErrors: 0 }
}

class MuxChannel implements UdpChannel {
  /** Present only when the socket reports batch ends (feature-detected by the channel's user). */
  readonly onBatchEnd?: (cb: () => void) => void

  constructor (private readonly mux: UdpMux, readonly kind: UdpChannelKind) {
    if (mux.reportsBatchEnd) this.onBatchEnd = (cb) => { this.mux.setBatchEndHandler(this.kind, cb) }
  }

  get port (): number { return this.mux.port }
  send (data: Uint8Array, host: string, port: number): void { this.mux.sendAs(this.kind, data, host, port) }
  onMessage (cb: UdpMessageHandler): void { this.mux.setHandler(this.kind, cb) }
  close (): void {
    this.mux.setHandler(this.kind, null)
    this.mux.setBatchEndHandler(this.kind, null)
  }
}

/** Demultiplexes one {@link IUdpSocket} into per-subsystem channels. */
export class UdpMux {
  private readonly handlers: Record<UdpChannelKind, UdpMessageHandler | null> = { krpc: null, utp: null, tracker: null }
  private readonly counters: UdpMuxStats = { krpc: emptyStats(), utp: emptyStats(), tracker: emptyStats() }
  private readonly batchEndHandlers: Record<UdpChannelKind, (() => void) | null> = { krpc: null, utp: null, tracker: null }
  private readonly channels = new Map<UdpChannelKind, UdpChannel>()
  private closed = false

  constructor (private readonly socket: IUdpSocket, private readonly deps: UdpMuxDeps = {}) {
    socket.onMessage((data, remote) => { this.dispatch(data, remote) })
    socket.onBatchEnd?.(() => { this.batchEnd() })
  }

  /** Whether the socket reports the end of each receive batch (channels then offer `onBatchEnd`). */
  get reportsBatchEnd (): boolean { return typeof this.socket.onBatchEnd === 'function' }

  /** The bound port (the engine's UDP port, the same number as its TCP listener). */
  get port (): number { return this.socket.port }

  /** The channel of `kind` (one per kind; asking twice returns the same channel). */
  channel (kind: UdpChannelKind): UdpChannel {
    let channel = this.channels.get(kind)
    if (channel === undefined) {
      channel = new MuxChannel(this, kind)
      this.channels.set(kind, channel)
    }
    return channel
  }

  /** @internal Used by the channels. */
  sendAs (kind: UdpChannelKind, data: Uint8Array, host: string, port: number): void {
    if (this.closed) return
    const stats = this.counters[kind]
    stats.packetsOut++
    stats.bytesOut += data.length
    this.socket.send(data, host, port)
  }

  /** @internal Used by the channels. */
  setHandler (kind: UdpChannelKind, handler: UdpMessageHandler | null): void {
    if (!this.closed) this.handlers[kind] = handler
  }

  /** @internal Used by the channels. */
  setBatchEndHandler (kind: UdpChannelKind, handler: (() => void) | null): void {
    if (!this.closed) this.batchEndHandlers[kind] = handler
  }

  /** Per-kind counters (a copy). */
  stats (): UdpMuxStats {
    return { krpc: { ...this.counters.krpc }, utp: { ...this.counters.utp }, tracker: { ...this.counters.tracker } }
  }

  /** Closes the socket; channels stop sending and receiving. Idempotent. */
  close (): void {
    if (this.closed) return
    this.closed = true
    for (const kind of UDP_CHANNEL_KINDS) {
      this.handlers[kind] = null
      this.batchEndHandlers[kind] = null
    }
    this.socket.close()
  }

  private batchEnd (): void {
    if (this.closed) return
    for (const kind of UDP_CHANNEL_KINDS) {
      const handler = this.batchEndHandlers[kind]
      if (handler === null) continue
      try {
        handler()
      } catch (error) {
        this.counters[kind].handlerErrors++
        if (this.deps.logger?.enabled('debug') === true) this.deps.logger.debug('udp batch-end handler threw', { kind, error: String(error) })
      }
    }
  }

  private dispatch (data: Uint8Array, remote: UdpRemote): void {
    if (this.closed) return
    const kind = classifyDatagram(data)
    const stats = this.counters[kind]
    stats.packetsIn++
    stats.bytesIn += data.length
    const handler = this.handlers[kind]
    if (handler === null) {
      stats.dropped++
      return
    }
    try {
      handler(data, remote)
    } catch (error) {
      stats.handlerErrors++
      if (this.deps.logger?.enabled('debug') === true) {
        this.deps.logger.debug('udp handler threw', { kind, from: `${remote.address}:${remote.port}`, error: String(error) })
      }
    }
  }
}
