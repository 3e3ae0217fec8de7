/**
 * The socket a TCP/uTP dial race hands out when TCP connects while the uTP SYN is still
 * unanswered (see peer-dialer.ts).
 *
 * Why not hold the TCP socket back until uTP has had its chance: that wait (it was up to twice the
 * TCP connect time plus 20 ms) came straight on top of every connection to a peer we had never
 * dialled — the better part of the time a trackerless magnet spent between finding its first peer
 * and having the metadata. So the TCP socket is used at once: the MSE and BitTorrent handshakes
 * start on it with no wait. It stays *provisional* until the peer's first byte arrives over TCP;
 * until then every byte we send is also kept. If uTP answers first (uTP is still preferred: LEDBAT
 * yields to other traffic) or the peer closes TCP without a byte (a uTP-only peer accepts TCP and
 * closes it), the kept bytes are replayed on the uTP socket and the connection carries on there.
 * Nothing the peer said has been read yet, so the replay is exactly what a uTP-only dial would
 * have sent. Once the peer's first TCP byte is in, or `graceMs` after TCP connected, TCP is kept
 * and the uTP attempt is aborted.
 *
 * A TCP socket the peer closed unread waits for uTP a short while only (twice the TCP connect
 * time plus 20 ms, at most `graceMs`): a TCP-only peer that refuses the encrypted opening closes
 * TCP the same way, and its plaintext re-dial should not wait for a uTP time-out.
 */
import type { LodestoneError } from '../errors.js'
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { ITcpSocket, PeerTransport, ReceivedRange } from '../interfaces/socket.js'

/** More than this many bytes sent before the peer's first byte: TCP is kept (bounds the copy). */
const MAX_KEPT_BYTES = 65_536
/** Floor of the wait for uTP after the peer closed TCP unread (timer granularity, loopback). */
const MIN_WAIT_MS = 20

export interface RaceSocketOptions {
  clock: IClock
  /** How long after TCP connected uTP may still take over. */
  graceMs: number
  /** How long the TCP connect took (bounds the wait after the peer closed TCP unread). */
  tcpConnectMs: number
  /** Aborts the pending uTP connect. */
  abortUtp: () => void
  /** The race is decided for `transport` (once; not when the socket closes undecided). */
  onDecided: (transport: PeerTransport) => void
  /** The TCP socket was dropped: uTP answered first, or the peer closed it unread. */
  onTcpDiscarded: () => void
}

export class RaceSocket implements ITcpSocket {
  readonly remoteAddress: string
  readonly remotePort: number
  private current: ITcpSocket
  private readonly tcp: ITcpSocket
  private provisional = true
  private kept: Uint8Array[] = []
  private keptBytes = 0
  /** The peer closed TCP unread (its reason) while uTP may still answer. */
  private tcpGone: { reason: LodestoneError | undefined } | null = null
  private timer: ITimer | null
  private closing = false
  private closedDone = false
  private closedReason: { reason: LodestoneError | undefined } | null = null
  /** The uTP connect has settled (connected or failed): nothing left to abort. */
  private utpSettled = false
  private paused = false
  private waitingDrain = false
  private dataCb: ((data: Uint8Array) => void) | null = null
  private borrowed = false
  private drainCb: (() => void) | null = null
  private closeCb: ((reason?: LodestoneError) => void) | null = null

  constructor (tcp: ITcpSocket, utp: Promise<ITcpSocket>, private readonly options: RaceSocketOptions) {
    this.tcp = tcp
    this.current = tcp
    this.remoteAddress = tcp.remoteAddress
    this.remotePort = tcp.remotePort
    tcp.onClose((reason) => { this.onTcpClose(reason) })
    tcp.onDrain(() => { this.onInnerDrain(tcp) })
    this.timer = options.clock.setTimeout(() => {
      this.timer = null
      if (this.provisional && this.tcpGone === null) this.keepTcp()
    }, options.graceMs)
    utp.then((socket) => {
      this.utpSettled = true
      this.onUtp(socket)
    }, () => {
      this.utpSettled = true
      this.onUtpFailed()
    })
  }

  get transport (): PeerTransport { return this.current.transport ?? 'tcp' }
  get localPort (): number { return this.current.localPort }
  get bufferedBytes (): number { return this.current.bufferedBytes }

  send (data: Uint8Array): boolean {
    if (this.provisional) {
      this.kept.push(data.slice())
      this.keptBytes += data.length
      if (this.keptBytes > MAX_KEPT_BYTES) {
        if (this.tcpGone === null) this.keepTcp()
        else queueMicrotask(() => { if (this.current === this.tcp && !this.closedDone) this.giveUp() })
      }
    }
    if (this.tcpGone !== null && this.current === this.tcp) {
      // Waiting for uTP: the bytes are kept and go out with the replay.
      return true
    }
    const ok = this.current.send(data)
    if (!ok) this.waitingDrain = true
    return ok
  }

  /** Delivered bytes are the current transport's own. */
  receivedRange (data: Uint8Array): ReceivedRange | undefined { return this.current.receivedRange?.(data) }

  pause (): void {
    this.paused = true
    this.current.pause()
  }

  resume (): void {
    this.paused = false
    this.current.resume()
  }

  onData (cb: (data: Uint8Array) => void): void {
    this.dataCb = cb
    this.borrowed = false
    this.attachData(this.current)
  }

  onBorrowedData (cb: (data: Uint8Array) => void): void {
    this.dataCb = cb
    this.borrowed = true
    this.attachData(this.current)
  }

  onDrain (cb: () => void): void { this.drainCb = cb }

  onClose (cb: (reason?: LodestoneError) => void): void {
    this.closeCb = cb
    const done = this.closedReason
    if (done !== null) {
      this.closedReason = null
      cb(done.reason)
    }
  }

  close (): void {
    if (this.closing || this.closedDone) return
    this.closing = true
    this.stopRace()
    if (this.tcpGone !== null && this.current === this.tcp) this.finish(undefined)
    else this.current.close()
  }

  private attachData (socket: ITcpSocket): void {
    if (this.dataCb === null) return
    const deliver = (data: Uint8Array): void => {
      if (socket !== this.current) return
      if (this.provisional && socket === this.tcp) this.keepTcp()
      this.dataCb?.(data)
    }
    if (this.borrowed && socket.onBorrowedData !== undefined) socket.onBorrowedData(deliver)
    else socket.onData(deliver)
  }

  private onInnerDrain (socket: ITcpSocket): void {
    if (socket !== this.current) return
    this.waitingDrain = false
    this.drainCb?.()
  }

  private onTcpClose (reason: LodestoneError | undefined): void {
    if (this.current !== this.tcp) return
    if (this.provisional && !this.closing) {
      // Maybe a uTP-only peer: wait briefly for uTP, with what we sent kept for the replay.
      this.tcpGone = { reason }
      this.options.onTcpDiscarded()
      this.timer?.cancel()
      const waitMs = Math.min(this.options.graceMs, 2 * this.options.tcpConnectMs + MIN_WAIT_MS)
      this.timer = this.options.clock.setTimeout(() => {
        this.timer = null
        if (this.current === this.tcp) this.giveUp()
      }, waitMs)
      return
    }
    this.finish(reason)
  }

  private onUtp (socket: ITcpSocket): void {
    if (!this.provisional || this.closing || this.closedDone) {
      socket.close()
      return
    }
    const tcp = this.tcp
    const tcpOpen = this.tcpGone === null
    this.provisional = false
    this.tcpGone = null
    this.timer?.cancel()
    this.timer = null
    this.current = socket
    socket.onClose((reason) => { this.finish(reason) })
    socket.onDrain(() => { this.onInnerDrain(socket) })
    this.attachData(socket)
    if (this.paused) socket.pause()
    const kept = this.kept
    this.kept = []
    this.keptBytes = 0
    let ok = true
    for (const chunk of kept) ok = socket.send(chunk)
    if (tcpOpen) {
      this.options.onTcpDiscarded()
      tcp.close()
    }
    this.options.onDecided('utp')
    if (!ok) this.waitingDrain = true
    else if (this.waitingDrain) this.onInnerDrain(socket)
  }

  private onUtpFailed (): void {
    if (!this.provisional || this.closing || this.closedDone) return
    if (this.tcpGone !== null) this.giveUp()
    else this.keepTcp()
  }

  /** The peer's first byte came over TCP (or uTP ran out of time): TCP it is. */
  private keepTcp (): void {
    if (!this.provisional) return
    this.provisional = false
    this.kept = []
    this.keptBytes = 0
    this.stopRace()
    this.options.onDecided('tcp')
  }

  /** TCP was closed unread and uTP did not answer: the connection ends with TCP's reason. */
  private giveUp (): void {
    const gone = this.tcpGone
    this.provisional = false
    this.kept = []
    this.stopRace()
    this.finish(gone?.reason)
  }

  private stopRace (): void {
    this.timer?.cancel()
    this.timer = null
    if (!this.utpSettled) this.options.abortUtp()
  }

  private finish (reason: LodestoneError | undefined): void {
    if (this.closedDone) return
    this.closedDone = true
    this.stopRace()
    if (this.closeCb !== null) this.closeCb(reason)
    else this.closedReason = { reason }
  }
}
