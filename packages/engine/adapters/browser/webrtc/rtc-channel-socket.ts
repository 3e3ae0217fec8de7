/**
 * {@link ITcpSocket} over an open RTCDataChannel (the WebTorrent wire: BitTorrent messages as a
 * byte stream over one ordered, reliable channel).
 *
 * Backpressure:
 * - Send: the channel's `bufferedAmount` is the queue. `send` returns false above
 *   {@link RtcSocketSettings.highWaterBytes}; `onDrain` runs on `bufferedamountlow`, which fires
 *   when the queue falls to `bufferedAmountLowThreshold`. Large buffers are cut into messages of
 *   at most {@link RtcSocketSettings.maxMessageBytes} (SCTP message size limits differ between
 *   browsers; 64 KiB is safe everywhere).
 * - Receive: the Web API has no way to stop an RTCDataChannel from reading. A paused socket keeps
 *   what arrives (in order) and delivers it on resume. What a peer can send us unasked is bounded
 *   by the protocol above it: blocks come only for requests we made.
 *
 * The peer connection belongs to the socket: closing the socket closes it.
 */
import { LodestoneError } from '../../../src/errors.js'
import type { ITcpSocket } from '../../../src/interfaces/socket.js'

export interface RtcSocketSettings {
  /** @default 1 MiB */
  highWaterBytes: number
  /** `onDrain` threshold (the channel's bufferedAmountLowThreshold). @default 256 KiB */
  lowWaterBytes: number
  /** @default 64 KiB */
  maxMessageBytes: number
}

export const defaultRtcSocketSettings: Readonly<RtcSocketSettings> = {
  highWaterBytes: 1 << 20,
  lowWaterBytes: 256 << 10,
  maxMessageBytes: 64 << 10
}

export class RtcChannelSocket implements ITcpSocket {
  private dataCb: ((data: Uint8Array) => void) | null = null
  private drainCb: (() => void) | null = null
  private closeCb: ((reason?: LodestoneError) => void) | null = null
  private readonly queue: Uint8Array[] = []
  private paused = false
  private blocked = false
  private state: 'open' | 'closed' = 'open'
  private reason: { reason?: LodestoneError } | null = null
  private reported = false
  private readonly settings: RtcSocketSettings

  constructor (
    private readonly pc: RTCPeerConnection,
    private readonly channel: RTCDataChannel,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localPort: number,
    settings: Partial<RtcSocketSettings> = {}
  ) {
    this.settings = { ...defaultRtcSocketSettings, ...settings }
    channel.binaryType = 'arraybuffer'
    channel.bufferedAmountLowThreshold = this.settings.lowWaterBytes
    channel.onbufferedamountlow = () => {
      if (!this.blocked || this.state !== 'open') return
      this.blocked = false
      this.drainCb?.()
    }
    channel.onmessage = (ev: MessageEvent<unknown>) => {
      if (this.state !== 'open') return
      const d = ev.data
      const bytes = d instanceof ArrayBuffer ? new Uint8Array(d) : typeof d === 'string' ? new TextEncoder().encode(d) : null
      if (bytes === null || bytes.length === 0) return
      if (this.paused || this.dataCb === null || this.queue.length > 0) this.queue.push(bytes)
      else this.dataCb(bytes)
    }
    channel.onclose = () => { this.finish(new LodestoneError('PEER_CLOSED', { reason: 'remote closed' })) }
    channel.onerror = () => { this.finish(new LodestoneError('PEER_CLOSED', { reason: 'data channel error' })) }
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.finish(new LodestoneError('PEER_CLOSED', { reason: `WebRTC ${pc.connectionState}` }))
    })
  }

  get bufferedBytes (): number { return this.state === 'open' ? this.channel.bufferedAmount : 0 }

  send (data: Uint8Array): boolean {
    if (this.state !== 'open') return false
    try {
      const max = this.settings.maxMessageBytes
      for (let off = 0; off < data.length; off += max) this.channel.send(data.subarray(off, Math.min(data.length, off + max)) as Uint8Array<ArrayBuffer>)
    } catch (err) {
      this.finish(new LodestoneError('PEER_CLOSED', { reason: `send failed: ${String((err as { message?: unknown })?.message ?? err)}` }))
      return false
    }
    if (this.channel.bufferedAmount > this.settings.highWaterBytes) { this.blocked = true; return false }
    return true
  }

  pause (): void { this.paused = true }

  resume (): void {
    if (!this.paused) return
    this.paused = false
    this.flush()
  }

  onData (cb: (data: Uint8Array) => void): void {
    this.dataCb = cb
    this.flush()
  }

  onDrain (cb: () => void): void { this.drainCb = cb }

  onClose (cb: (reason?: LodestoneError) => void): void {
    this.closeCb = cb
    this.report()
  }

  close (): void {
    if (this.state !== 'open') return
    this.queue.length = 0
    this.finish(undefined)
  }

  private flush (): void {
    while (!this.paused && this.dataCb !== null && this.queue.length > 0 && this.state === 'open') {
      const next = this.queue.shift()
      if (next !== undefined) this.dataCb(next)
    }
  }

  private finish (reason: LodestoneError | undefined): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.reason = reason !== undefined ? { reason } : {}
    try { this.channel.close() } catch {}
    try { this.pc.close() } catch {}
    queueMicrotask(() => { this.report() })
  }

  private report (): void {
    if (this.reported || this.closeCb === null || this.reason === null) return
    this.reported = true
    this.dataCb = null
    this.drainCb = null
    this.closeCb(this.reason.reason)
  }
}
