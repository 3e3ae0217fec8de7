/**
 * One uTP connection (BEP 29), presented to the application as an {@link ITcpSocket}: the same
 * stream contract with backpressure as TCP, so a PeerConnection cannot tell them apart.
 *
 * How it is built for speed (it handles ~100 000 packets a second at full rate):
 * - Bytes the application sends are copied once into a growable ring ({@link ByteRing}) and kept
 *   there until acknowledged; every datagram (header, selective ack, payload) is assembled in the
 *   ring's scratch area with `copyWithin`, and packet bookkeeping lives in typed arrays indexed by
 *   `seq & mask`. Sending or acknowledging a packet allocates nothing.
 * - Acks are deferred: receiving data only marks the connection, and the manager flushes marked
 *   connections once per receive batch (one ack for many packets) or on a microtask after
 *   application writes (one pass over everything written in that turn: Nagle-like coalescing).
 * - Received in-order bytes are copied into a ring and delivered once per flush, as one or two
 *   borrowed views, instead of one callback per 1 400-byte packet.
 *
 * Sequence numbers: `seqNr` is the next number to assign; packets `sndUna .. seqNr-1` are
 * outstanding (the SYN and the FIN take a number each, as on the wire). STATE packets carry
 * `seqNr` without consuming it. An acceptor starts at a random `seqNr` and the initiator sets its
 * ack number to that minus one (libtorrent and libutp do the same).
 *
 * Closing: `close()` flushes queued data, sends FIN, and lingers until the FIN is acknowledged
 * (at most `lingerMs`, then RESET). A FIN from the peer is reported as `PEER_CLOSED 'remote
 * closed'` once every byte before it was delivered; a RESET as `PEER_CLOSED 'reset'`; a peer that
 * stops acknowledging as `PEER_CLOSED 'timeout'` after `maxRetransmits` backed-off time-outs.
 */
import { LodestoneError } from '../../errors.js'
import type { ITcpSocket } from '../../interfaces/socket.js'
import { ByteRing } from './byte-ring.js'
import { F_FAST, F_FIN, F_RESEND, F_SACKED, F_SYN, OutgoingPackets } from './outgoing-packets.js'
import { Ledbat } from './ledbat.js'
import { agreedPacketBytes, offeredPacketBytes } from './loopback-packets.js'
import { OneWayDelay } from './one-way-delay.js'
import {
  RECEIVED_DUPLICATE, RECEIVED_IN_ORDER, RECEIVED_OUT_OF_WINDOW, RECEIVED_OVERFLOW, ReceiveBuffer
} from './receive-buffer.js'
import { RttEstimator } from './rtt-estimator.js'
import { writeOutgoingHeader } from './outgoing-header.js'
import { sendHighWaterMark, sendLowWaterMark } from './send-water-marks.js'
import {
  EXTENSION_NONE, SEQ_MASK, ST_DATA, ST_FIN, ST_RESET, ST_STATE, ST_SYN,
  UTP_HEADER_BYTES, seqDistance, seqLess, writeUtpHeader, type UtpHeader
} from './utp-packet.js'
import type { UtpSettings } from './utp-settings.js'
import type { UtpCounters } from './utp-stats.js'

/** What a connection needs from its manager. */
export interface UtpConnectionHost {
  readonly settings: UtpSettings
  readonly counters: UtpCounters
  readonly localPort: number
  nowMs (): number
  /** Our timestamp for outgoing packets: microseconds, modulo 2^32. */
  nowUs (): number
  /** How long the datagram being handled may have waited unread in our socket, in µs (0: unknown). */
  receiveWaitUs (): number
  /** The application ran (received bytes were delivered): re-read the clock for what is sent next. */
  refreshNow (): void
  sendDatagram (data: Uint8Array, host: string, port: number): void
  /** Flush this connection soon (end of the receive batch, or a microtask). */
  schedule (connection: UtpConnection): void
  /** An accepted connection received its first data: hand it to the application. */
  accepted (connection: UtpConnection): void
  /** The connection is finished: forget it. */
  removed (connection: UtpConnection): void
  random16 (): number
}

export const STATE_SYN_SENT = 1
export const STATE_SYN_RECV = 2
export const STATE_CONNECTED = 3
export const STATE_CLOSED = 4

const DUP_ACK_LIMIT = 3
/** Largest SACK extension we put in a packet (2-byte extension header + 32-byte mask). */
const MAX_SACK_EXTENSION_BYTES = 34
/** How far below our oldest unacked packet an ack number may be and still be believed. */
const OLD_ACK_SLACK = 64

export class UtpConnection implements ITcpSocket {
  state: number
  readonly localPort: number
  readonly transport = 'utp' as const
  /** Manager bookkeeping: queued for the next flush. */
  queued = false
  /** Manager bookkeeping: when the connection was created (half-open expiry). */
  readonly createdMs: number

  // --- application side ---
  private dataCb: ((data: Uint8Array) => void) | undefined
  private borrowed = false
  private drainCb: (() => void) | undefined
  private closeCb: ((reason?: LodestoneError) => void) | undefined
  private closeReason: LodestoneError | undefined
  private closeNotified = false
  /** The application is done with the socket (close() called, or a close was reported). */
  private appDone = false
  private paused = false
  private needDrain = false
  private delivering = false
  /** Connect outcome callbacks (initiator only). */
  onConnectResult: ((error: LodestoneError | undefined) => void) | undefined

  // --- send side ---
  private readonly sendRing: ByteRing
  private ackedPos = 0
  private packetizedPos = 0
  private seqNr: number
  private sndUna: number
  private readonly out = new OutgoingPackets()
  private bytesInFlight = 0
  private resendPending = 0
  private resendCursor = 0
  private peerWindow: number
  private dupAcks = 0
  /** Losses of packets up to this sequence number were already answered with a window cut. */
  private lossSeq: number
  private finQueued = false
  private finSent = false
  private finSeq = -1
  private probeAllowed = false
  /** Payload bytes per packet: the ordinary size, or the larger one both sides offered (loopback-packets.ts). */
  private packetBytes: number
  /** The largest payload we accept, stated in our SYN or SYN answer; 0: none stated. */
  private readonly offerBytes: number
  private peerOffered = false
  private readonly ledbat: Ledbat
  private readonly rtt: RttEstimator
  private readonly delay = new OneWayDelay()
  private timeoutAtMs = Infinity
  private lingerUntilMs = Infinity
  private lastSendMs: number
  private lastRecvMs: number

  // --- receive side ---
  private readonly recv: ReceiveBuffer
  private ackPending = false
  private lastAdvertised: number

  constructor (
    private readonly host: UtpConnectionHost,
    readonly remoteAddress: string,
    readonly remotePort: number,
    /** Connection id of packets we receive. */
    readonly recvId: number,
    /** Connection id of packets we send. */
    readonly sendId: number,
    initiator: boolean
  ) {
    const s = host.settings
    this.localPort = host.localPort
    const now = host.nowMs()
    this.createdMs = now
    this.lastSendMs = now
    this.lastRecvMs = now
    this.packetBytes = remoteAddress.includes(':') ? s.packetBytesIPv6 : s.packetBytesIPv4
    this.offerBytes = offeredPacketBytes(s, remoteAddress, this.packetBytes)
    const largest = Math.max(this.packetBytes, this.offerBytes)
    this.sendRing = new ByteRing(16_384, UTP_HEADER_BYTES + MAX_SACK_EXTENSION_BYTES + largest)
    this.recv = new ReceiveBuffer(s.receiveWindowBytes, largest, Math.min(s.packetBytesIPv4, s.packetBytesIPv6))
    this.ledbat = new Ledbat(s, this.packetBytes)
    this.rtt = new RttEstimator(s.minRtoMs, s.initialRtoMs, s.maxRtoMs)
    this.seqNr = host.random16()
    this.sndUna = this.seqNr
    this.resendCursor = this.seqNr
    this.lossSeq = (this.seqNr - 1) & SEQ_MASK
    this.peerWindow = this.packetBytes * 4
    this.lastAdvertised = s.receiveWindowBytes
    this.state = initiator ? STATE_SYN_SENT : STATE_SYN_RECV
  }

  // ------------------------------------------------------------------ ITcpSocket

  get bufferedBytes (): number { return this.ackedPos + this.sendRing.length - this.packetizedPos }

  send (data: Uint8Array): boolean {
    if (this.appDone || this.state === STATE_CLOSED) return false
    if (data.length > 0) {
      this.sendRing.write(data, 0, data.length)
      if (this.state === STATE_CONNECTED) this.host.schedule(this)
    }
    if (this.bufferedBytes > sendHighWaterMark(this.host.settings.sendHighWaterMarkBytes, this.sendWindow)) {
      this.needDrain = true
      return false
    }
    return true
  }

  pause (): void { this.paused = true }

  resume (): void {
    if (!this.paused) return
    this.paused = false
    if (this.recv.ring.length > 0 || this.recv.finReached) this.host.schedule(this)
  }

  onData (cb: (data: Uint8Array) => void): void {
    this.dataCb = cb
    this.borrowed = false
    if (this.recv.ring.length > 0 || this.recv.finReached) this.host.schedule(this)
  }

  onBorrowedData (cb: (data: Uint8Array) => void): void {
    this.dataCb = cb
    this.borrowed = true
    if (this.recv.ring.length > 0 || this.recv.finReached) this.host.schedule(this)
  }

  onDrain (cb: () => void): void { this.drainCb = cb }

  onClose (cb: (reason?: LodestoneError) => void): void {
    this.closeCb = cb
    if (this.appDone && !this.closeNotified) queueMicrotask(() => { this.notifyClose() })
  }

  /** Graceful: queued bytes are sent, then FIN; `onClose` follows on a microtask with no reason. */
  close (): void {
    if (this.appDone) return
    this.appDone = true
    this.closeReason = undefined
    this.dataCb = undefined
    this.drainCb = undefined
    queueMicrotask(() => { this.notifyClose() })
    if (this.state !== STATE_CONNECTED) {
      this.destroy()
      return
    }
    this.finQueued = true
    this.lingerUntilMs = this.host.nowMs() + this.host.settings.lingerMs
    this.host.schedule(this)
  }

  // ------------------------------------------------------------------ manager side

  /** Initiator: sends the SYN. */
  start (): void {
    const i = this.assignSeq(0, F_SYN)
    this.transmit(i)
  }

  /** Acceptor: answers the peer's SYN. */
  acceptSyn (syn: UtpHeader): void {
    this.recv.ackNr = syn.seqNr
    this.usePeerOffer(syn.maxPacketBytes)
    if (syn.timestampUs !== 0) this.delay.onSyn(syn.timestampUs, this.host.nowUs())
    this.sendState()
  }

  /** Handles one packet addressed to this connection. `data` is valid only during the call. */
  onPacket (h: UtpHeader, data: Uint8Array): void {
    const state = this.state
    if (state === STATE_CLOSED) return
    const counters = this.host.counters
    const type = h.type
    if (type === ST_RESET) {
      counters.resetsIn++
      this.fail('reset')
      return
    }
    if (type === ST_SYN) {
      // A retransmitted SYN: our STATE was lost.
      if (state === STATE_SYN_RECV && h.seqNr === this.recv.ackNr) this.sendState()
      else counters.duplicatePackets++
      return
    }
    // Acks for packets never sent are forged or corrupt; ignore the whole packet.
    const lastSent = (this.seqNr - 1) & SEQ_MASK
    if (seqLess(lastSent, h.ackNr) || seqLess(h.ackNr, (this.sndUna - 1 - this.out.cap - OLD_ACK_SLACK) & SEQ_MASK)) {
      counters.outOfWindow++
      return
    }
    const now = this.host.nowMs()
    if (state === STATE_SYN_SENT) {
      if (h.ackNr !== lastSent) return
      this.state = STATE_CONNECTED
      this.recv.ackNr = (h.seqNr - 1) & SEQ_MASK
      this.usePeerOffer(h.maxPacketBytes)
      counters.connected++
      const cb = this.onConnectResult
      this.onConnectResult = undefined
      cb?.(undefined)
      if (this.state !== STATE_CONNECTED) return
    } else if (state === STATE_SYN_RECV) {
      if (type !== ST_DATA) return
      this.state = STATE_CONNECTED
      counters.accepted++
      this.host.accepted(this)
      if (this.state !== STATE_CONNECTED) return
    }
    this.lastRecvMs = now
    if (h.timestampUs !== 0) this.delay.onRemoteTimestamp(h.timestampUs, this.host.nowUs(), this.host.receiveWaitUs(), now)
    this.peerWindow = h.windowBytes
    this.handleAcks(h, data, now)
    if (this.state === STATE_CLOSED) return
    if (type === ST_DATA || type === ST_FIN) this.handlePayload(h, data)
    this.host.schedule(this)
  }

  /** Sends what the windows allow, the pending ack, and delivers received bytes. */
  flush (): void {
    if (this.state === STATE_CLOSED) return
    if (this.state === STATE_CONNECTED) {
      this.deliver()
      if (this.state !== STATE_CONNECTED) return
      // Delivering ran the application, for milliseconds at times: a timestamp read before it
      // would make the packets sent now look that much longer on the way.
      this.host.refreshNow()
      this.pump()
      if (this.state !== STATE_CONNECTED) return
      // After pump: what it just sent no longer waits, so the refill starts as early as it can.
      if (this.needDrain && this.bufferedBytes <= sendLowWaterMark(this.host.settings.sendLowWaterMarkBytes, this.sendWindow)) {
        this.needDrain = false
        this.drainCb?.()
        if (this.state !== STATE_CONNECTED) return
      }
      // The application took data after a small window was advertised: tell a stalled sender.
      if (!this.ackPending && this.lastAdvertised < 2 * this.packetBytes && this.recv.window >= 2 * this.packetBytes) {
        this.ackPending = true
      }
    }
    if (this.ackPending) this.sendState()
    this.checkFinished()
  }

  /** Time-outs, keep-alives, expiry; called by the manager every `tickIntervalMs`. */
  tick (now: number): void {
    const s = this.host.settings
    switch (this.state) {
      case STATE_SYN_SENT:
        if (now >= this.timeoutAtMs) {
          const i = this.sndUna & this.out.mask
          if (this.out.tx[i]! > s.synRetransmits) {
            this.fail('timeout')
            return
          }
          this.rtt.timeouts++
          this.timeoutAtMs = Infinity
          this.host.counters.retransmits++
          this.transmit(i)
        }
        return
      case STATE_SYN_RECV:
        if (now - this.createdMs >= s.halfOpenTimeoutMs) {
          this.host.counters.halfOpenExpired++
          this.destroy()
        }
        return
      case STATE_CONNECTED:
        break
      default:
        return
    }
    if (now >= this.lingerUntilMs) {
      this.sendReset()
      this.destroy()
      return
    }
    if (s.idleTimeoutMs > 0 && now - this.lastRecvMs >= s.idleTimeoutMs) {
      this.fail('timeout')
      return
    }
    if (now >= this.timeoutAtMs) {
      this.onRetransmitTimeout(now)
      if (this.state !== STATE_CONNECTED) return
    }
    if (this.bytesInFlight === 0 && this.resendPending === 0 && this.bufferedBytes > 0 &&
      this.peerWindow < this.packetBytes && now - this.lastSendMs >= this.rtt.rtoMs) {
      // Zero-window probe: the peer's window update may have been lost.
      this.probeAllowed = true
      this.pump()
      this.probeAllowed = false
    }
    if (!this.appDone && now - this.lastSendMs >= s.keepAliveIntervalMs) this.sendState()
  }

  /**
   * Closes without FIN: reports `PEER_CLOSED reason` to the application, or fails a pending
   * connect with `PEER_CONNECT_FAILED reason`.
   */
  fail (reason: string): void {
    if (this.state === STATE_CLOSED) return
    const connectCb = this.onConnectResult
    this.onConnectResult = undefined
    if (connectCb !== undefined) {
      this.host.counters.connectFailed++
      this.destroy()
      connectCb(new LodestoneError('PEER_CONNECT_FAILED', { address: `${this.remoteAddress}:${this.remotePort}`, reason }))
      return
    }
    const wasOpenToApp = !this.appDone && this.state === STATE_CONNECTED
    this.destroy()
    if (wasOpenToApp) {
      this.appDone = true
      this.closeReason = new LodestoneError('PEER_CLOSED', { reason })
      this.notifyClose()
    }
  }

  /** Forgets the connection and frees its buffers. */
  destroy (): void {
    if (this.state === STATE_CLOSED) return
    this.state = STATE_CLOSED
    this.recv.clear()
    this.sendRing.discard(this.sendRing.length)
    this.host.removed(this)
  }

  /** Sends a RESET (the manager is closing, or lingering ran out). */
  sendReset (): void {
    if (this.state === STATE_CLOSED) return
    const buf = this.sendRing.bytes
    const o = this.sendRing.scratchOffset
    writeUtpHeader(buf, o, ST_RESET, EXTENSION_NONE, this.sendId, this.host.nowUs(), this.delay.replyMicro, 0, this.host.random16(), this.recv.ackNr)
    this.host.counters.resetsOut++
    this.emit(UTP_HEADER_BYTES)
  }

  // ------------------------------------------------------------------ receiving

  private handleAcks (h: UtpHeader, data: Uint8Array, now: number): void {
    const inFlightBefore = this.bytesInFlight
    let ackedBytes = 0
    this.ackMinRttMs = Infinity
    this.ackNewestRttMs = -1
    let progressed = false
    const ackNr = h.ackNr
    const mask = this.out.mask
    if (seqLess((this.sndUna - 1) & SEQ_MASK, ackNr)) {
      ackedBytes = this.ackCumulative(ackNr, now)
      progressed = true
    } else if (ackNr === ((this.sndUna - 1) & SEQ_MASK) && h.type === ST_STATE && this.sndUna !== this.seqNr) {
      this.dupAcks++
    }
    if (h.sackOffset >= 0 && this.sndUna !== this.seqNr) {
      const before = ackedBytes
      const rtt = this.handleSack(h, data, now)
      if (rtt >= 0) {
        if (rtt < this.ackMinRttMs) this.ackMinRttMs = rtt
        if (this.ackNewestRttMs < 0) this.ackNewestRttMs = rtt
      }
      ackedBytes += this.sackAckedBytes
      if (ackedBytes > before) progressed = true
    }
    const minRttMs = this.ackMinRttMs
    if (this.ackNewestRttMs >= 0) this.rtt.sample(this.ackNewestRttMs)
    if (progressed) {
      this.rtt.timeouts = 0
      this.timeoutAtMs = this.sndUna === this.seqNr ? Infinity : now + this.rtt.rtoMs
    }
    if (this.dupAcks >= DUP_ACK_LIMIT && this.sndUna !== this.seqNr) {
      const i = this.sndUna & mask
      if ((this.out.flags[i]! & (F_FAST | F_SACKED | F_RESEND)) === 0 && this.out.tx[i]! > 0) {
        this.out.flags[i] = this.out.flags[i]! | F_FAST
        this.onLoss(this.sndUna)
        this.host.counters.fastRetransmits++
        this.transmit(i)
      }
    }
    // LEDBAT: the echoed delay is how long our packets queued on the way to the peer.
    const sample = h.timestampDiffUs
    if (sample !== 0 && sample !== 0x7fff_ffff) {
      let delayUs = this.delay.onEchoedDelay(sample, now)
      if (ackedBytes > 0 && inFlightBefore > 0) {
        // A one-way delay cannot exceed the round trip: clamps samples skewed by clock steps.
        if (minRttMs !== Infinity && delayUs > minRttMs * 1000) delayUs = minRttMs * 1000
        const saturated = inFlightBefore + this.packetBytes > this.ledbat.cwnd
        this.ledbat.onAck(ackedBytes, inFlightBefore, delayUs, saturated)
      }
    }
  }

  private sackAckedBytes = 0
  private ackMinRttMs = Infinity
  private ackNewestRttMs = -1

  /** Releases packets up to `ackNr` (cumulative ack); returns the newly acknowledged payload bytes. */
  private ackCumulative (ackNr: number, now: number): number {
    const mask = this.out.mask
    const end = (ackNr + 1) & SEQ_MASK
    let ackedBytes = 0
    for (let seq = this.sndUna; seq !== end; seq = (seq + 1) & SEQ_MASK) {
      const i = seq & mask
      const flags = this.out.flags[i]!
      if ((flags & F_FIN) !== 0) this.finSeq = -2 // acknowledged
      if ((flags & F_SACKED) !== 0) continue
      const len = this.out.len[i]!
      ackedBytes += len
      if ((flags & F_RESEND) !== 0) this.resendPending--
      else this.bytesInFlight -= len
      if (this.out.tx[i] === 1) {
        const rtt = now - this.out.sentMs[i]!
        this.ackNewestRttMs = rtt
        if (rtt < this.ackMinRttMs) this.ackMinRttMs = rtt
      }
    }
    const last = ackNr & mask
    const releasedTo = this.out.pos[last]! + this.out.len[last]!
    this.sendRing.discard(releasedTo - this.ackedPos)
    this.ackedPos = releasedTo
    this.sndUna = end
    if (seqLess(this.resendCursor, end)) this.resendCursor = end
    this.dupAcks = 0
    return ackedBytes
  }

  /**
   * Marks selectively acknowledged packets, and fast-retransmits each packet that at least three
   * later packets were acknowledged past. Returns an RTT sample (ms) or -1.
   */
  private handleSack (h: UtpHeader, data: Uint8Array, now: number): number {
    this.sackAckedBytes = 0
    const mask = this.out.mask
    const first = (h.ackNr + 2) & SEQ_MASK
    const outstanding = seqDistance(this.sndUna, this.seqNr)
    let rttMs = -1
    let highest = -1
    const end = h.sackOffset + h.sackBytes
    for (let o = h.sackOffset, base = 0; o < end; o++, base += 8) {
      const byte = data[o]!
      if (byte === 0) continue
      for (let k = 0; k < 8; k++) {
        if ((byte & (1 << k)) === 0) continue
        const seq = (first + base + k) & SEQ_MASK
        if (seqDistance(this.sndUna, seq) >= outstanding) continue
        highest = base + k
        const i = seq & mask
        const flags = this.out.flags[i]!
        if ((flags & F_SACKED) !== 0) continue
        this.out.flags[i] = (flags | F_SACKED) & ~F_RESEND
        const len = this.out.len[i]!
        this.sackAckedBytes += len
        if ((flags & F_RESEND) !== 0) this.resendPending--
        else this.bytesInFlight -= len
        if (this.out.tx[i] === 1) rttMs = now - this.out.sentMs[i]!
      }
    }
    if (highest < 0) return rttMs
    // Walk down from the highest acknowledged packet counting acknowledged ones; an
    // unacknowledged packet with DUP_ACK_LIMIT acknowledged packets above it is lost.
    let above = 0
    const lowest = this.sndUna
    for (let seq = (first + highest) & SEQ_MASK; ; seq = (seq - 1) & SEQ_MASK) {
      const i = seq & mask
      const flags = this.out.flags[i]!
      if ((flags & F_SACKED) !== 0) above++
      else if (above >= DUP_ACK_LIMIT && (flags & (F_FAST | F_RESEND)) === 0 && this.out.tx[i]! > 0) {
        this.out.flags[i] = flags | F_FAST
        this.onLoss(seq)
        this.host.counters.fastRetransmits++
        this.transmit(i)
      }
      if (seq === lowest) break
    }
    return rttMs
  }

  /** One window cut per window of packets: losses of packets sent before the last cut don't count again. */
  private onLoss (seq: number): void {
    if (!seqLess(this.lossSeq, seq)) return
    this.ledbat.onLoss()
    this.lossSeq = (this.seqNr - 1) & SEQ_MASK
  }

  private handlePayload (h: UtpHeader, data: Uint8Array): void {
    const counters = this.host.counters
    const fin = h.type === ST_FIN
    const n = fin ? 0 : data.length - h.payloadOffset
    const result = this.recv.receive(h.seqNr, data, h.payloadOffset, n, fin)
    switch (result) {
      case RECEIVED_IN_ORDER:
        counters.payloadBytesIn += n
        break
      case RECEIVED_DUPLICATE:
        counters.duplicatePackets++
        break
      case RECEIVED_OUT_OF_WINDOW:
        counters.outOfWindow++
        return
      case RECEIVED_OVERFLOW:
        counters.overflowDropped++
        return
      default:
        counters.payloadBytesIn += n
    }
    this.ackPending = true
  }

  /** Hands in-order bytes to the application, then reports the peer's FIN once all are taken. */
  private deliver (): void {
    const ring = this.recv.ring
    if (this.appDone) {
      // Closed by the application: data still arriving is acknowledged and dropped.
      ring.discard(ring.length)
      return
    }
    if (this.delivering) return
    this.delivering = true
    try {
      while (ring.length > 0 && !this.paused && this.dataCb !== undefined && !this.appDone) {
        const n = ring.firstRunLength
        const view = ring.firstRun(n)
        const cb = this.dataCb
        if (this.borrowed) {
          cb(view)
        } else {
          cb(view.slice())
        }
        ring.discard(n)
      }
    } finally {
      this.delivering = false
    }
    if (this.recv.finReached && ring.length === 0 && !this.appDone && this.dataCb !== undefined) {
      // The peer finished: report it, then finish our side with a FIN.
      this.appDone = true
      this.closeReason = new LodestoneError('PEER_CLOSED', { reason: 'remote closed' })
      this.sendRing.discard(this.ackedPos + this.sendRing.length - this.packetizedPos)
      this.finQueued = true
      this.lingerUntilMs = this.host.nowMs() + this.host.settings.lingerMs
      this.notifyClose()
    }
  }

  // ------------------------------------------------------------------ sending

  /** Sends retransmissions, then new data, then the FIN, as far as the windows allow. */
  private pump (): void {
    const limit = Math.min(this.ledbat.cwnd, this.peerWindow)
    if (this.resendPending > 0) this.resendLost(limit)
    const nagle = this.host.settings.nagle
    for (;;) {
      const unsent = this.ackedPos + this.sendRing.length - this.packetizedPos
      if (unsent <= 0) break
      if (seqDistance(this.sndUna, this.seqNr) >= this.out.mask && !this.growOut()) break
      const len = unsent < this.packetBytes ? unsent : this.packetBytes
      if (len < this.packetBytes && nagle && this.bytesInFlight > 0 && !this.finQueued) break
      if (this.bytesInFlight + len > limit && !(this.bytesInFlight === 0 && (this.probeAllowed || limit >= len))) break
      const i = this.assignSeq(len, 0)
      this.transmit(i)
      this.probeAllowed = false
    }
    if (this.finQueued && !this.finSent && this.ackedPos + this.sendRing.length === this.packetizedPos &&
      (seqDistance(this.sndUna, this.seqNr) < this.out.mask || this.growOut())) {
      this.finSent = true
      const i = this.assignSeq(0, F_FIN)
      this.finSeq = (this.seqNr - 1) & SEQ_MASK
      this.transmit(i)
    }
  }

  private resendLost (limit: number): void {
    const mask = this.out.mask
    while (this.resendPending > 0 && this.resendCursor !== this.seqNr) {
      const seq = this.resendCursor
      const i = seq & mask
      const flags = this.out.flags[i]!
      if ((flags & F_RESEND) !== 0) {
        const len = this.out.len[i]!
        if (this.bytesInFlight > 0 && this.bytesInFlight + len > limit) return
        this.out.flags[i] = flags & ~F_RESEND
        this.resendPending--
        this.bytesInFlight += len
        this.host.counters.retransmits++
        this.transmit(i)
        if (this.state === STATE_CLOSED) return
      }
      this.resendCursor = (seq + 1) & SEQ_MASK
    }
  }

  /** Takes the next sequence number for a packet of `len` payload bytes; returns its index. */
  private assignSeq (len: number, flags: number): number {
    const seq = this.seqNr
    const i = seq & this.out.mask
    this.out.pos[i] = this.packetizedPos
    this.out.len[i] = len
    this.out.tx[i] = 0
    this.out.flags[i] = flags
    this.out.sentMs[i] = 0
    this.packetizedPos += len
    this.bytesInFlight += len
    this.seqNr = (seq + 1) & SEQ_MASK
    return i
  }

  /** What the windows let us have in flight now. */
  private get sendWindow (): number { return Math.min(this.ledbat.cwnd, this.peerWindow) }

  /** The handshake carried the peer's offer (0: none): switch to large packets if both offered. */
  private usePeerOffer (theirOffer: number): void {
    this.peerOffered = theirOffer > 0
    const bytes = agreedPacketBytes(this.offerBytes, theirOffer, this.packetBytes)
    if (bytes === this.packetBytes) return
    this.packetBytes = bytes
    this.ledbat.setPacketBytes(bytes)
    if (this.peerWindow < 4 * bytes) this.peerWindow = 4 * bytes
  }

  private growOut (): boolean {
    return this.out.grow(this.sndUna, this.seqNr)
  }

  /** (Re)sends outstanding packet at index `i`, with a fresh timestamp, ack and window. */
  private transmit (i: number): void {
    const flags = this.out.flags[i]!
    const type = (flags & F_SYN) !== 0 ? ST_SYN : (flags & F_FIN) !== 0 ? ST_FIN : ST_DATA
    const ring = this.sendRing
    const buf = ring.bytes
    const o = ring.scratchOffset
    const seq = (this.sndUna + ((i - this.sndUna) & this.out.mask)) & SEQ_MASK
    const window = this.recv.window
    const syn = type === ST_SYN
    const headerBytes = writeOutgoingHeader(buf, o, type, syn ? this.recvId : this.sendId, this.host.nowUs(),
      this.delay.replyMicro, window, seq, syn ? 0 : this.recv.ackNr, this.recv, syn ? this.offerBytes : 0)
    const len = this.out.len[i]!
    if (len > 0) ring.copyToScratch(this.out.pos[i]! - this.ackedPos, len, headerBytes)
    const now = this.host.nowMs()
    this.out.sentMs[i] = now
    const tx = this.out.tx[i]!
    if (tx < 255) this.out.tx[i] = tx + 1
    this.lastAdvertised = window
    this.ackPending = false
    if (this.timeoutAtMs === Infinity) this.timeoutAtMs = now + this.rtt.rtoMs
    this.host.counters.payloadBytesOut += len
    this.emit(headerBytes + len)
  }

  /** Sends a STATE: our ack, selective ack and window, without a sequence number of its own. */
  private sendState (): void {
    if (this.state === STATE_CLOSED) return
    const ring = this.sendRing
    const buf = ring.bytes
    const o = ring.scratchOffset
    const window = this.recv.window
    // The answer to a SYN states our packet-size offer when the peer made one.
    const offer = this.state === STATE_SYN_RECV && this.peerOffered ? this.offerBytes : 0
    const headerBytes = writeOutgoingHeader(buf, o, ST_STATE, this.sendId, this.host.nowUs(), this.delay.replyMicro, window,
      this.seqNr, this.recv.ackNr, this.recv, offer)
    this.lastAdvertised = window
    this.ackPending = false
    this.emit(headerBytes)
  }

  private emit (bytes: number): void {
    this.lastSendMs = this.host.nowMs()
    this.host.counters.packetsOut++
    this.host.sendDatagram(this.sendRing.scratchView(bytes), this.remoteAddress, this.remotePort)
  }

  private onRetransmitTimeout (now: number): void {
    const counters = this.host.counters
    this.rtt.timeouts++
    counters.timeouts++
    if (this.rtt.timeouts > this.host.settings.maxRetransmits) {
      if (this.appDone) this.destroy()
      else this.fail('timeout')
      return
    }
    this.ledbat.onTimeout(this.bytesInFlight === 0)
    this.lossSeq = (this.seqNr - 1) & SEQ_MASK
    // Everything outstanding is presumed lost and goes again, oldest first, as the window grows.
    const mask = this.out.mask
    for (let seq = this.sndUna; seq !== this.seqNr; seq = (seq + 1) & SEQ_MASK) {
      const i = seq & mask
      const flags = this.out.flags[i]!
      if ((flags & (F_SACKED | F_RESEND)) !== 0) continue
      this.out.flags[i] = (flags | F_RESEND) & ~F_FAST
      this.bytesInFlight -= this.out.len[i]!
      this.resendPending++
    }
    this.resendCursor = this.sndUna
    this.timeoutAtMs = now + this.rtt.rtoMs
    this.pump()
  }

  /** A closing connection is removed once its FIN is acknowledged and the peer's FIN arrived. */
  private checkFinished (): void {
    if (this.state !== STATE_CONNECTED || !this.finSent || this.finSeq !== -2) return
    if (this.recv.finReached || this.closeReason !== undefined) this.destroy()
  }

  private notifyClose (): void {
    if (this.closeNotified || this.closeCb === undefined) return
    this.closeNotified = true
    const cb = this.closeCb
    this.dataCb = undefined
    this.drainCb = undefined
    cb(this.closeReason)
  }
}
