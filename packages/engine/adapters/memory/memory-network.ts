/**
 * A virtual network of hosts inside one process, for swarm tests (STYLE.md §10): TCP-like streams
 * and UDP datagrams between named hosts, timed by an {@link IClock} (a ManualClock in tests), with
 * per-direction latency, bandwidth and (UDP) loss, partitions, and seeded randomness. For a given
 * seed and the same sequence of calls, every run delivers the same bytes at the same virtual times.
 *
 * Model, and why it is shaped this way:
 * - Each TCP direction is a pipe: the sender's queue (`bufferedBytes`) is cut into segments of at
 *   most `segmentBytes` (views of the sent buffers: the socket owns them, so nothing is copied),
 *   each segment passes the sender host's uplink, the link, and the receiver host's downlink one
 *   after the other (each a FIFO with a byte rate), then arrives `latencyMs` later. A pipe emits its
 *   next segment only when its previous one has left the bottleneck, so the queue drains at the
 *   bottleneck rate and `send()` / `onDrain` reflect bandwidth, as with a kernel socket.
 * - A receive window (`receiveWindowBytes`) bounds bytes emitted but not yet consumed by the
 *   receiving application; consumption is acknowledged back after the reverse latency. So a paused
 *   or slow reader stops the sender (backpressure), and throughput is also bounded by window / RTT
 *   as in real TCP.
 * - Segments of one connection arrive in order; TCP never loses data. `close()` is graceful: queued
 *   bytes are flushed, then the peer sees the end of stream (`onClose(PEER_CLOSED 'remote closed')`)
 *   after the data; if the flush cannot finish within `lingerMs` the connection is reset.
 * - A partition stops new segments and datagrams between its two sides (in-flight ones still
 *   arrive); connects across it time out. Acknowledgements still pass, a simplification that only
 *   matters for the receive window.
 * - Connects take a round trip: the server sees the connection after one latency, the client's
 *   promise resolves after two. No listener: refused after a round trip. Unknown host: time-out.
 *
 * Callback timing: network events run from clock timers; the `onClose` that follows a local
 * `close()` runs on a microtask, and `resume()` / late `onData` registration deliver on a
 * zero-delay timer, never inside the call, so a handler is never re-entered.
 */
import { LodestoneError } from '../../src/errors.js'
import type { IClock, ITimer } from '../../src/interfaces/clock.js'
import { seededRandom, type IRandom } from '../../src/interfaces/random.js'
import type {
  ConnectOptions, ISocketFactory, ITcpServer, ITcpSocket, IUdpSocket, UdpRemote
} from '../../src/interfaces/socket.js'

/** Properties of one direction of the path between two hosts. */
export interface LinkSettings {
  /** One-way delay. @default 5 */
  latencyMs: number
  /** UDP only: a random extra delay in [0, jitterMs) per datagram (may reorder datagrams). @default 0 */
  jitterMs: number
  /** Bytes per second in this direction. @default Infinity */
  bandwidthBytesPerSec: number
  /** UDP only: probability in [0, 1] that a datagram is lost. TCP is reliable. @default 0 */
  lossRate: number
  /** UDP only: probability in [0, 1] that a datagram is delivered twice (the copy with its own jitter). @default 0 */
  duplicateRate: number
  /**
   * UDP only: a datagram that would queue longer than this behind the link's earlier traffic is
   * dropped (tail drop at a bottleneck's buffer). @default Infinity
   */
  queueLimitMs: number
}

/** Per-host rate caps, shared by all of the host's connections (a home line's up/down speed). */
export interface HostSettings {
  /** @default Infinity */
  uploadBytesPerSec: number
  /** @default Infinity */
  downloadBytesPerSec: number
}

export interface MemoryNetworkSettings extends LinkSettings {
  /** Seed of the network's randomness (loss, jitter) when no `random` dep is given. @default 1 */
  seed: number
  /** `send()` returns false once this many bytes are queued. @default 65_536 */
  sendHighWaterMarkBytes: number
  /** After `send()` returned false, `onDrain` fires once the queue is at or below this. @default 16_384 */
  sendLowWaterMarkBytes: number
  /** Bytes a TCP direction may have emitted and not yet consumed by the reader. @default 262_144 */
  receiveWindowBytes: number
  /** Largest TCP segment (and so largest chunk an `onData` receives). @default 16_384 */
  segmentBytes: number
  /** How long a closed socket keeps flushing queued bytes before resetting. @default 5_000 */
  lingerMs: number
  /** Connect time-out when the caller gives none. @default 10_000 */
  connectTimeoutMs: number
  /** Larger datagrams are dropped (as EMSGSIZE would). @default 65_507 */
  maxDatagramBytes: number
}

export const defaultMemoryNetworkSettings: Readonly<MemoryNetworkSettings> = {
  latencyMs: 5,
  jitterMs: 0,
  bandwidthBytesPerSec: Infinity,
  lossRate: 0,
  duplicateRate: 0,
  queueLimitMs: Infinity,
  seed: 1,
  sendHighWaterMarkBytes: 65_536,
  sendLowWaterMarkBytes: 16_384,
  receiveWindowBytes: 262_144,
  segmentBytes: 16_384,
  lingerMs: 5_000,
  connectTimeoutMs: 10_000,
  maxDatagramBytes: 65_507
}

export interface MemoryNetworkDeps {
  clock: IClock
  /** @default seededRandom(settings.seed) */
  random?: IRandom
}

/** Open handles, for leak checks. */
export interface MemoryNetworkStats {
  tcpSockets: number
  tcpServers: number
  udpSockets: number
}

const EPHEMERAL_FIRST = 49_152
const PORT_MAX = 65_535
const ANY_ADDRESSES = new Set(['0.0.0.0', '::'])

// ---------------------------------------------------------------------------------------------

/** Items due at non-decreasing times, with one clock timer for the head. */
class DelayLine<T> {
  private items: Array<{ dueMs: number, value: T }> = []
  private head = 0
  private timer: ITimer | undefined
  private armedForMs = 0
  private firing = false

  constructor (private readonly clock: IClock, private readonly handler: (value: T) => void) {}

  push (dueMs: number, value: T): void {
    this.items.push({ dueMs, value })
    if (this.timer === undefined && !this.firing) this.arm()
  }

  /** The last queued item, so a caller can merge into it. */
  last (): { dueMs: number, value: T } | undefined {
    return this.items.length > this.head ? this.items[this.items.length - 1] : undefined
  }

  cancel (): void {
    this.timer?.cancel()
    this.timer = undefined
    this.items = []
    this.head = 0
  }

  private arm (): void {
    const next = this.items[this.head]
    if (next === undefined) return
    this.armedForMs = next.dueMs
    this.timer = this.clock.setTimeout(() => { this.fire() }, Math.max(0, next.dueMs - this.clock.now()))
  }

  private fire (): void {
    this.timer = undefined
    this.firing = true
    try {
      // Everything due at or before the time this timer was armed for is due, whatever rounding
      // the clock applied to `now()`; without this a float ulp could re-arm forever.
      const limitMs = Math.max(this.clock.now(), this.armedForMs)
      for (let item = this.items[this.head]; item !== undefined && item.dueMs <= limitMs; item = this.items[this.head]) {
        this.head++
        this.handler(item.value)
      }
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head)
        this.head = 0
      }
    } finally {
      this.firing = false
    }
    if (this.timer === undefined) this.arm()
  }
}

/** End-of-stream marker travelling behind the data. */
const FIN = Symbol('fin')
type Segment = Uint8Array | typeof FIN

class Host {
  readonly factory: MemorySocketFactory
  settings: HostSettings = { uploadBytesPerSec: Infinity, downloadBytesPerSec: Infinity }
  uplinkBusyUntilMs = 0
  downlinkBusyUntilMs = 0
  readonly tcpListeners = new Map<number, MemoryTcpServer>()
  /** Local TCP ports in use (listeners and outgoing connections) → users. */
  readonly tcpPorts = new Map<number, number>()
  readonly udpSockets = new Map<number, MemoryUdpSocket>()
  private nextTcpPort = EPHEMERAL_FIRST
  private nextUdpPort = EPHEMERAL_FIRST
  openTcpSockets = 0

  constructor (readonly network: MemoryNetwork, readonly address: string) {
    this.factory = new MemorySocketFactory(network, this)
  }

  allocateTcpPort (): number | undefined {
    for (let i = 0; i <= PORT_MAX - EPHEMERAL_FIRST; i++) {
      const port = this.nextTcpPort
      this.nextTcpPort = port >= PORT_MAX ? EPHEMERAL_FIRST : port + 1
      if (!this.tcpPorts.has(port)) return port
    }
    return undefined
  }

  allocateUdpPort (): number | undefined {
    for (let i = 0; i <= PORT_MAX - EPHEMERAL_FIRST; i++) {
      const port = this.nextUdpPort
      this.nextUdpPort = port >= PORT_MAX ? EPHEMERAL_FIRST : port + 1
      if (!this.udpSockets.has(port)) return port
    }
    return undefined
  }

  holdTcpPort (port: number): void { this.tcpPorts.set(port, (this.tcpPorts.get(port) ?? 0) + 1) }

  releaseTcpPort (port: number): void {
    const users = (this.tcpPorts.get(port) ?? 0) - 1
    if (users > 0) this.tcpPorts.set(port, users)
    else this.tcpPorts.delete(port)
  }
}

interface Link {
  settings: LinkSettings
  busyUntilMs: number
}

// ---------------------------------------------------------------------------------------------

/** One direction of a TCP connection: `from`'s send queue towards `to`. */
class Pipe {
  private readonly queue: Uint8Array[] = []
  private headOffset = 0
  queuedBytes = 0
  /** Bytes emitted and not yet acknowledged as consumed by the reader. */
  private unackedBytes = 0
  private lastArrivalMs = 0
  private pumpTimer: ITimer | undefined
  private lingerTimer: ITimer | undefined
  private finQueued = false
  private finSent = false
  stopped = false
  private readonly arrivals: DelayLine<Segment>
  private readonly acks: DelayLine<number>

  constructor (
    private readonly network: MemoryNetwork,
    private readonly from: MemoryTcpSocket,
    private readonly to: MemoryTcpSocket
  ) {
    this.arrivals = new DelayLine(network.clock, (segment) => { this.to.arrive(segment) })
    this.acks = new DelayLine(network.clock, (bytes) => {
      this.unackedBytes -= bytes
      this.pump(false)
    })
    network.activePipes.add(this)
  }

  enqueue (data: Uint8Array): void {
    this.queue.push(data)
    this.queuedBytes += data.length
  }

  /** The reader consumed `bytes`; the acknowledgement reaches the sender after the reverse latency. */
  acknowledge (bytes: number, immediately: boolean): void {
    if (this.stopped) return
    if (immediately) {
      this.unackedBytes -= bytes
      this.pump(false)
      return
    }
    const dueMs = this.network.clock.now() + this.network.linkBetween(this.to.host, this.from.host).settings.latencyMs
    const last = this.acks.last()
    if (last !== undefined && last.dueMs === dueMs) last.value += bytes
    else this.acks.push(dueMs, bytes)
  }

  /** Sends the queued bytes, then the end of stream; resets the peer if that takes over `lingerMs`. */
  finish (): void {
    if (this.stopped || this.finQueued) return
    this.finQueued = true
    this.pump(false)
    if (!this.finSent && !this.stopped) {
      this.lingerTimer = this.network.clock.setTimeout(() => {
        this.lingerTimer = undefined
        if (this.finSent || this.stopped) return
        this.stop()
        this.to.closeWith(new LodestoneError('PEER_CLOSED', { reason: 'reset' }))
      }, this.network.settings.lingerMs)
    }
  }

  /** Discards everything not yet emitted and cancels every timer (the connection is gone). */
  stop (): void {
    if (this.stopped) return
    this.stopped = true
    this.network.activePipes.delete(this)
    this.queue.length = 0
    this.queuedBytes = 0
    this.pumpTimer?.cancel()
    this.pumpTimer = undefined
    this.lingerTimer?.cancel()
    this.lingerTimer = undefined
    this.arrivals.cancel()
    this.acks.cancel()
  }

  /**
   * Emits segments while the window and the link allow. `fromSend` is true when called inside
   * `send()`: then `onDrain` is never called synchronously (the caller is mid-send).
   */
  pump (fromSend: boolean): void {
    if (this.stopped || this.pumpTimer !== undefined) return
    const network = this.network
    const clock = network.clock
    const settings = network.settings
    while (!network.isBlocked(this.from.host, this.to.host)) {
      const head = this.queue[0]
      if (head === undefined) {
        if (this.finQueued && !this.finSent) {
          this.finSent = true
          network.activePipes.delete(this)
          this.lingerTimer?.cancel()
          this.lingerTimer = undefined
          const link = network.linkBetween(this.from.host, this.to.host)
          this.lastArrivalMs = Math.max(this.lastArrivalMs, clock.now() + link.settings.latencyMs)
          this.arrivals.push(this.lastArrivalMs, FIN)
        }
        break
      }
      const windowFree = settings.receiveWindowBytes - this.unackedBytes
      if (windowFree <= 0) break
      const n = Math.min(head.length - this.headOffset, settings.segmentBytes, windowFree)
      const segment = head.subarray(this.headOffset, this.headOffset + n)
      this.headOffset += n
      if (this.headOffset >= head.length) {
        this.queue.shift()
        this.headOffset = 0
      }
      this.queuedBytes -= n
      this.unackedBytes += n
      const doneMs = network.transmit(this.from.host.address, this.to.host.address, n)
      const latencyMs = network.linkBetween(this.from.host, this.to.host).settings.latencyMs
      this.lastArrivalMs = Math.max(this.lastArrivalMs, doneMs + latencyMs)
      this.arrivals.push(this.lastArrivalMs, segment)
      if (doneMs > clock.now()) {
        this.pumpTimer = clock.setTimeout(() => {
          this.pumpTimer = undefined
          this.pump(false)
        }, doneMs - clock.now())
        break
      }
    }
    this.from.afterPump(fromSend)
  }
}

// ---------------------------------------------------------------------------------------------

/** One end of a memory TCP connection. */
class MemoryTcpSocket implements ITcpSocket {
  /** Set by the connection right after both ends exist. */
  out!: Pipe
  /** The peer's pipe towards this socket. */
  in!: Pipe
  private open = true
  private counted = false
  private paused = false
  private needDrain = false
  private dataCb: ((data: Uint8Array) => void) | undefined
  private drainCb: (() => void) | undefined
  private closeCb: ((reason?: LodestoneError) => void) | undefined
  private closeReason: LodestoneError | undefined
  private closeNotified = false
  private readonly received: Segment[] = []
  private delivering = false
  private deliverTimer: ITimer | undefined
  private drainTimer: ITimer | undefined

  constructor (
    private readonly network: MemoryNetwork,
    readonly host: Host,
    readonly localPort: number,
    readonly remoteAddress: string,
    readonly remotePort: number,
    /** Outgoing connections hold an ephemeral port, released on close once the connect resolved. */
    private ownsPort: boolean
  ) {}

  /** The connect resolved: from now on closing releases the ephemeral port (or now, if already closed). */
  takePortOwnership (): void {
    if (this.open) this.ownsPort = true
    else this.host.releaseTcpPort(this.localPort)
  }

  /** Resets both ends (an RST): each gets `onClose(PEER_CLOSED 'reset')`. */
  reset (): void {
    const reason = new LodestoneError('PEER_CLOSED', { reason: 'reset' })
    this.closeWith(reason)
    this.peer.closeWith(reason)
  }

  get bufferedBytes (): number { return this.out.queuedBytes }

  /** The other end of the connection. */
  peer!: MemoryTcpSocket

  /** Whether the user may still use this socket (not closed by either side). */
  get isOpen (): boolean { return this.open }

  /** Counts this socket as an open handle (once handed to the user). */
  markOpen (): void {
    if (this.counted || !this.open) return
    this.counted = true
    this.host.openTcpSockets++
  }

  send (data: Uint8Array): boolean {
    if (!this.open) return false
    if (data.length > 0) {
      // Receivers own what they get (they may decrypt it in place) while the sender may share what it
      // sends (a view of its read cache), so the bytes are copied, as a real network does; into a
      // plain Uint8Array (as from the Node adapter), even if a Buffer was sent.
      this.out.enqueue(new Uint8Array(data))
      this.out.pump(true)
    }
    const ok = this.out.queuedBytes < this.network.settings.sendHighWaterMarkBytes
    if (!ok) this.needDrain = true
    return ok
  }

  pause (): void { this.paused = true }

  resume (): void {
    if (!this.paused) return
    this.paused = false
    this.scheduleDelivery()
  }

  onData (cb: (data: Uint8Array) => void): void {
    this.dataCb = cb
    this.scheduleDelivery()
  }

  onDrain (cb: () => void): void { this.drainCb = cb }

  onClose (cb: (reason?: LodestoneError) => void): void {
    this.closeCb = cb
    if (!this.open && !this.closeNotified) queueMicrotask(() => { this.notifyClose() })
  }

  close (): void {
    if (!this.open) return
    this.markClosed(undefined)
    this.out.finish()
    queueMicrotask(() => { this.notifyClose() })
  }

  /** Closed by the network (end of stream, reset): stops sending and reports `reason` now. */
  closeWith (reason: LodestoneError): void {
    if (!this.open) return
    this.markClosed(reason)
    this.out.stop()
    this.notifyClose()
  }

  /** A segment reached this socket. */
  arrive (segment: Segment): void {
    if (!this.open) {
      // Nobody will read it; acknowledge at once so a sender that is flushing before its own
      // close is not held up by a reader that is gone.
      if (segment !== FIN) this.in.acknowledge(segment.length, true)
      return
    }
    this.received.push(segment)
    this.deliver()
  }

  /** Called by the out pipe after it emitted: fires `onDrain` once the queue is low enough. */
  afterPump (fromSend: boolean): void {
    if (!this.open || !this.needDrain || this.out.queuedBytes > this.network.settings.sendLowWaterMarkBytes) return
    if (!fromSend) {
      this.needDrain = false
      this.drainCb?.()
    } else if (this.drainTimer === undefined) {
      this.drainTimer = this.network.clock.setTimeout(() => {
        this.drainTimer = undefined
        this.afterPump(false)
      }, 0)
    }
  }

  private markClosed (reason: LodestoneError | undefined): void {
    this.open = false
    this.closeReason = reason
    this.received.length = 0
    this.deliverTimer?.cancel()
    this.deliverTimer = undefined
    this.drainTimer?.cancel()
    this.drainTimer = undefined
    if (this.counted) this.host.openTcpSockets--
    if (this.ownsPort) this.host.releaseTcpPort(this.localPort)
    this.network.socketClosed(this)
  }

  private notifyClose (): void {
    if (this.closeNotified || this.closeCb === undefined) return
    this.closeNotified = true
    const cb = this.closeCb
    this.dataCb = undefined
    this.drainCb = undefined
    cb(this.closeReason)
  }

  private scheduleDelivery (): void {
    if (this.deliverTimer !== undefined || !this.open || this.received.length === 0) return
    this.deliverTimer = this.network.clock.setTimeout(() => {
      this.deliverTimer = undefined
      this.deliver()
    }, 0)
  }

  private deliver (): void {
    if (this.delivering) return
    this.delivering = true
    try {
      while (this.open && !this.paused && this.dataCb !== undefined) {
        const segment = this.received.shift()
        if (segment === undefined) break
        if (segment === FIN) {
          this.closeWith(new LodestoneError('PEER_CLOSED', { reason: 'remote closed' }))
          break
        }
        this.in.acknowledge(segment.length, false)
        this.dataCb(segment)
      }
    } finally {
      this.delivering = false
    }
  }
}

// ---------------------------------------------------------------------------------------------

class MemoryTcpServer implements ITcpServer {
  private connectionCb: ((socket: ITcpSocket) => void) | undefined
  private readonly backlog: MemoryTcpSocket[] = []
  private backlogTimer: ITimer | undefined
  private open = true

  constructor (private readonly network: MemoryNetwork, private readonly host: Host, readonly port: number) {}

  get isOpen (): boolean { return this.open }

  onConnection (cb: (socket: ITcpSocket) => void): void {
    this.connectionCb = cb
    if (this.backlog.length > 0 && this.backlogTimer === undefined) {
      this.backlogTimer = this.network.clock.setTimeout(() => {
        this.backlogTimer = undefined
        this.flushBacklog()
      }, 0)
    }
  }

  /** @internal A connection was accepted on this port. */
  accept (socket: MemoryTcpSocket): void {
    socket.markOpen()
    this.backlog.push(socket)
    this.flushBacklog()
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the port is async; closing is immediate here
  async close (): Promise<void> {
    if (!this.open) return
    this.open = false
    this.backlogTimer?.cancel()
    this.backlogTimer = undefined
    this.host.tcpListeners.delete(this.port)
    this.host.releaseTcpPort(this.port)
    this.network.serverClosed()
    // Connections accepted by the kernel but never handed to the application are reset.
    for (const socket of this.backlog.splice(0)) socket.reset()
  }

  private flushBacklog (): void {
    while (this.connectionCb !== undefined && this.open) {
      const socket = this.backlog.shift()
      if (socket === undefined) break
      if (socket.isOpen) this.connectionCb(socket)
    }
  }
}

// ---------------------------------------------------------------------------------------------

class MemoryUdpSocket implements IUdpSocket {
  private messageCb: ((data: Uint8Array, remote: UdpRemote) => void) | undefined
  private batchEndCb: (() => void) | undefined
  private batchTimer: ITimer | undefined
  private open = true

  constructor (private readonly network: MemoryNetwork, private readonly host: Host, readonly port: number) {}

  send (data: Uint8Array, host: string, port: number): void {
    if (!this.open) return
    this.network.sendDatagram(this.host, this.port, data, host, port)
  }

  onMessage (cb: (data: Uint8Array, remote: UdpRemote) => void): void { this.messageCb = cb }

  /** After the datagrams due at one virtual instant have been delivered (a zero-delay timer). */
  onBatchEnd (cb: () => void): void { this.batchEndCb = cb }

  /** @internal */
  receive (data: Uint8Array, remote: UdpRemote): void {
    if (!this.open) return
    this.messageCb?.(data, remote)
    if (this.batchEndCb !== undefined && this.batchTimer === undefined && this.open) {
      this.batchTimer = this.network.clock.setTimeout(() => {
        this.batchTimer = undefined
        if (this.open) this.batchEndCb?.()
      }, 0)
    }
  }

  close (): void {
    if (!this.open) return
    this.open = false
    this.batchTimer?.cancel()
    this.batchTimer = undefined
    this.batchEndCb = undefined
    this.messageCb = undefined
    this.host.udpSockets.delete(this.port)
    this.network.udpClosed()
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * The {@link ISocketFactory} of one host of a {@link MemoryNetwork}: its sockets have this
 * host's address. Get it with `network.host(address)`.
 */
export class MemorySocketFactory implements ISocketFactory {
  /** @internal use `network.host(address)`. */
  constructor (private readonly network: MemoryNetwork, private readonly hostState: Host) {}

  /** This host's address (what peers see as `remoteAddress`). */
  get address (): string { return this.hostState.address }

  /** Open TCP sockets, TCP servers and UDP sockets of this host. */
  get openSocketCount (): number {
    return this.hostState.openTcpSockets + this.hostState.tcpListeners.size + this.hostState.udpSockets.size
  }

  /**
   * @throws PEER_CONNECT_FAILED (refused: reason 'ECONNREFUSED'; no answer: reason 'timeout'),
   *   ABORTED (through `options.signal`)
   */
  async connectTcp (host: string, port: number, options: ConnectOptions = {}): Promise<ITcpSocket> {
    return this.network.connect(this.hostState, host, port, options)
  }

  /** @throws LISTEN_FAILED when the port is taken ('EADDRINUSE') or `host` is not this host ('EADDRNOTAVAIL'). */
  // eslint-disable-next-line @typescript-eslint/require-await -- async so that errors become rejections
  async listenTcp (port: number, host?: string): Promise<ITcpServer> {
    return this.network.listen(this.hostState, port, host)
  }

  /** @throws LISTEN_FAILED as {@link listenTcp}. */
  // eslint-disable-next-line @typescript-eslint/require-await -- async so that errors become rejections
  async bindUdp (port: number, host?: string): Promise<IUdpSocket> {
    return this.network.bindUdp(this.hostState, port, host)
  }
}

/**
 * A virtual network. `network.host('10.0.0.1')` gives that host's {@link MemorySocketFactory};
 * addresses are arbitrary strings. Configure links with {@link setLink} / {@link setLinks}, hosts
 * with {@link host}'s second argument, failures with {@link partition} and {@link resetConnections}.
 */
export class MemoryNetwork {
  readonly clock: IClock
  readonly settings: Readonly<MemoryNetworkSettings>
  private readonly random: IRandom
  private readonly hosts = new Map<string, Host>()
  private readonly links = new Map<string, Link>()
  private readonly linkOverrides = new Map<string, Partial<LinkSettings>>()
  private readonly blocked = new Set<string>()
  private readonly sockets = new Set<MemoryTcpSocket>()
  /** @internal Pipes that may still have something to send (for {@link heal}). */
  readonly activePipes = new Set<Pipe>()
  private tcpServerCount = 0
  private udpSocketCount = 0

  constructor (deps: MemoryNetworkDeps, settings: Partial<MemoryNetworkSettings> = {}) {
    this.clock = deps.clock
    this.settings = { ...defaultMemoryNetworkSettings, ...settings }
    validateSettings(this.settings)
    this.random = deps.random ?? seededRandom(this.settings.seed)
  }

  /** The socket factory of host `address` (created on first use; settings update it). */
  host (address: string, settings: Partial<HostSettings> = {}): MemorySocketFactory {
    let host = this.hosts.get(address)
    if (host === undefined) {
      host = new Host(this, address)
      this.hosts.set(address, host)
    }
    host.settings = { ...host.settings, ...settings }
    return host.factory
  }

  /** Overrides the link properties from `from` to `to` (one direction). */
  setLink (from: string, to: string, settings: Partial<LinkSettings>): void {
    const key = linkKey(from, to)
    this.linkOverrides.set(key, { ...this.linkOverrides.get(key), ...settings })
    const link = this.links.get(key)
    if (link !== undefined) link.settings = { ...link.settings, ...settings }
  }

  /** {@link setLink} in both directions. */
  setLinks (a: string, b: string, settings: Partial<LinkSettings>): void {
    this.setLink(a, b, settings)
    this.setLink(b, a, settings)
  }

  /** Cuts every host of `sideA` off from every host of `sideB`, both ways, until {@link heal}. */
  partition (sideA: readonly string[], sideB: readonly string[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.blocked.add(linkKey(a, b))
        this.blocked.add(linkKey(b, a))
      }
    }
  }

  /** Removes every partition; stalled connections resume. */
  heal (): void {
    this.blocked.clear()
    for (const pipe of [...this.activePipes]) pipe.pump(false)
  }

  /**
   * Resets open TCP connections (all, those of host `a`, or those between `a` and `b`): both ends
   * get `onClose(PEER_CLOSED 'reset')`. Returns how many sockets were reset.
   */
  resetConnections (a?: string, b?: string): number {
    let count = 0
    for (const socket of [...this.sockets]) {
      const local = socket.host.address
      const remote = socket.remoteAddress
      const matches = a === undefined ||
        (b === undefined ? local === a || remote === a : (local === a && remote === b) || (local === b && remote === a))
      if (matches && socket.isOpen) {
        socket.closeWith(new LodestoneError('PEER_CLOSED', { reason: 'reset' }))
        count++
      }
    }
    return count
  }

  /** Open handles over all hosts. */
  stats (): MemoryNetworkStats {
    let tcpSockets = 0
    for (const host of this.hosts.values()) tcpSockets += host.openTcpSockets
    return { tcpSockets, tcpServers: this.tcpServerCount, udpSockets: this.udpSocketCount }
  }

  /** Open TCP sockets + TCP servers + UDP sockets over all hosts: 0 after a clean shutdown. */
  get openSocketCount (): number {
    const s = this.stats()
    return s.tcpSockets + s.tcpServers + s.udpSockets
  }

  // --- internals used by the sockets ---

  /** @internal */
  isBlocked (from: Host, to: Host): boolean {
    return this.blocked.size > 0 && this.blocked.has(linkKey(from.address, to.address))
  }

  /** @internal */
  linkBetween (from: Host, to: Host): Link {
    return this.link(from.address, to.address)
  }

  /**
   * @internal Books `bytes` through the sender's uplink, the link and the receiver's downlink
   * (store and forward, each a FIFO at its rate); returns when the last byte has left them.
   */
  transmit (fromAddress: string, toAddress: string, bytes: number): number {
    const from = this.hosts.get(fromAddress)
    const to = this.hosts.get(toAddress)
    const link = this.link(fromAddress, toAddress)
    let t = this.clock.now()
    if (from !== undefined && Number.isFinite(from.settings.uploadBytesPerSec)) {
      t = Math.max(t, from.uplinkBusyUntilMs) + bytes * 1000 / from.settings.uploadBytesPerSec
      from.uplinkBusyUntilMs = t
    }
    if (Number.isFinite(link.settings.bandwidthBytesPerSec)) {
      t = Math.max(t, link.busyUntilMs) + bytes * 1000 / link.settings.bandwidthBytesPerSec
      link.busyUntilMs = t
    }
    if (to !== undefined && Number.isFinite(to.settings.downloadBytesPerSec)) {
      t = Math.max(t, to.downlinkBusyUntilMs) + bytes * 1000 / to.settings.downloadBytesPerSec
      to.downlinkBusyUntilMs = t
    }
    return t
  }

  /** @internal */
  socketClosed (socket: MemoryTcpSocket): void { this.sockets.delete(socket) }
  /** @internal */
  serverClosed (): void { this.tcpServerCount-- }
  /** @internal */
  udpClosed (): void { this.udpSocketCount-- }

  /** @internal */
  async connect (client: Host, address: string, port: number, options: ConnectOptions): Promise<ITcpSocket> {
    const target = `${address}:${port}`
    const signal = options.signal
    if (signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'connect' })
    if (!isPort(port) || port === 0) throw new LodestoneError('PEER_CONNECT_FAILED', { address: target, reason: 'EINVAL: bad port' })
    const localPort = client.allocateTcpPort()
    if (localPort === undefined) throw new LodestoneError('PEER_CONNECT_FAILED', { address: target, reason: 'EADDRNOTAVAIL: no free port' })
    client.holdTcpPort(localPort)

    return new Promise<ITcpSocket>((resolve, reject) => {
      let settled = false
      const timeoutMs = options.timeoutMs ?? this.settings.connectTimeoutMs
      const finish = (error: LodestoneError | undefined, socket?: MemoryTcpSocket): void => {
        if (settled) return
        settled = true
        timer.cancel()
        signal?.removeEventListener('abort', onAbort)
        if (error !== undefined || socket === undefined) {
          client.releaseTcpPort(localPort)
          reject(error ?? new LodestoneError('INTERNAL', { reason: 'connect settled without a socket' }))
        } else {
          socket.takePortOwnership()
          socket.markOpen()
          resolve(socket)
        }
      }
      const onAbort = (): void => { finish(new LodestoneError('ABORTED', { operation: 'connect' })) }
      const timer = this.clock.setTimeout(() => {
        finish(new LodestoneError('PEER_CONNECT_FAILED', { address: target, reason: 'timeout' }))
      }, timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })

      const server = this.hosts.get(address)
      if (server === undefined || this.isBlocked(client, server)) return // SYN lost: time-out
      const forward = this.link(client.address, address).settings.latencyMs
      const backward = this.link(address, client.address).settings.latencyMs
      this.clock.setTimeout(() => {
        if (settled) return // the client gave up before the SYN arrived
        const listener = server.tcpListeners.get(port)
        if (listener === undefined) {
          this.clock.setTimeout(() => {
            finish(new LodestoneError('PEER_CONNECT_FAILED', { address: target, reason: 'ECONNREFUSED' }))
          }, backward)
          return
        }
        const serverSide = new MemoryTcpSocket(this, server, port, client.address, localPort, false)
        const clientSide = new MemoryTcpSocket(this, client, localPort, address, port, false)
        serverSide.out = new Pipe(this, serverSide, clientSide)
        clientSide.out = new Pipe(this, clientSide, serverSide)
        serverSide.in = clientSide.out
        clientSide.in = serverSide.out
        serverSide.peer = clientSide
        clientSide.peer = serverSide
        this.sockets.add(serverSide)
        this.sockets.add(clientSide)
        listener.accept(serverSide)
        const synAckLost = this.isBlocked(server, client)
        this.clock.setTimeout(() => {
          if (settled || synAckLost) {
            // The client is gone (timed out or aborted), or will time out: its side never existed
            // for the application, and the server side learns it through a reset.
            clientSide.reset()
            return
          }
          if (!clientSide.isOpen) {
            // Reset before the handshake completed (server closed its backlog, resetConnections).
            finish(new LodestoneError('PEER_CONNECT_FAILED', { address: target, reason: 'ECONNRESET' }))
            return
          }
          finish(undefined, clientSide)
        }, backward)
      }, forward)
    })
  }

  /** @internal */
  listen (host: Host, port: number, bindAddress: string | undefined): MemoryTcpServer {
    const chosen = this.choosePort(host, port, bindAddress, 'tcp')
    const server = new MemoryTcpServer(this, host, chosen)
    host.tcpListeners.set(chosen, server)
    host.holdTcpPort(chosen)
    this.tcpServerCount++
    return server
  }

  /** @internal */
  bindUdp (host: Host, port: number, bindAddress: string | undefined): MemoryUdpSocket {
    const chosen = this.choosePort(host, port, bindAddress, 'udp')
    const socket = new MemoryUdpSocket(this, host, chosen)
    host.udpSockets.set(chosen, socket)
    this.udpSocketCount++
    return socket
  }

  /** @internal */
  sendDatagram (from: Host, fromPort: number, data: Uint8Array, address: string, port: number): void {
    if (data.length > this.settings.maxDatagramBytes || !isPort(port) || port === 0) return
    const to = this.hosts.get(address)
    if (to === undefined || this.isBlocked(from, to)) return
    const link = this.link(from.address, address)
    if (link.settings.lossRate > 0 && this.random.next() < link.settings.lossRate) return
    if (Number.isFinite(link.settings.queueLimitMs) && link.busyUntilMs - this.clock.now() > link.settings.queueLimitMs) return
    const copy = new Uint8Array(data) // a real copy even for a Buffer, whose slice() is a view
    const doneMs = this.transmit(from.address, address, copy.length)
    const remote: UdpRemote = { address: from.address, port: fromPort }
    const copies = link.settings.duplicateRate > 0 && this.random.next() < link.settings.duplicateRate ? 2 : 1
    for (let i = 0; i < copies; i++) {
      const jitterMs = link.settings.jitterMs > 0 ? this.random.next() * link.settings.jitterMs : 0
      const arrivalMs = doneMs + link.settings.latencyMs + jitterMs
      this.clock.setTimeout(() => {
        to.udpSockets.get(port)?.receive(copy, remote)
      }, Math.max(0, arrivalMs - this.clock.now()))
    }
  }

  private choosePort (host: Host, port: number, bindAddress: string | undefined, kind: 'tcp' | 'udp'): number {
    if (bindAddress !== undefined && !ANY_ADDRESSES.has(bindAddress) && bindAddress !== host.address) {
      throw new LodestoneError('LISTEN_FAILED', { address: bindAddress, port, reason: 'EADDRNOTAVAIL' })
    }
    const address = bindAddress ?? host.address
    if (!isPort(port)) throw new LodestoneError('LISTEN_FAILED', { address, port, reason: 'EINVAL: bad port' })
    if (port === 0) {
      const chosen = kind === 'tcp' ? host.allocateTcpPort() : host.allocateUdpPort()
      if (chosen === undefined) throw new LodestoneError('LISTEN_FAILED', { address, port, reason: 'EADDRINUSE: no free port' })
      return chosen
    }
    const taken = kind === 'tcp' ? host.tcpPorts.has(port) : host.udpSockets.has(port)
    if (taken) throw new LodestoneError('LISTEN_FAILED', { address, port, reason: 'EADDRINUSE' })
    return port
  }

  private link (from: string, to: string): Link {
    const key = linkKey(from, to)
    let link = this.links.get(key)
    if (link === undefined) {
      const s = this.settings
      link = {
        settings: {
          latencyMs: s.latencyMs,
          jitterMs: s.jitterMs,
          bandwidthBytesPerSec: s.bandwidthBytesPerSec,
          lossRate: s.lossRate,
          duplicateRate: s.duplicateRate,
          queueLimitMs: s.queueLimitMs,
          ...this.linkOverrides.get(key)
        },
        busyUntilMs: 0
      }
      this.links.set(key, link)
    }
    return link
  }
}

function linkKey (from: string, to: string): string {
  return `${from}\u0000${to}`
}

function isPort (port: number): boolean {
  return Number.isInteger(port) && port >= 0 && port <= PORT_MAX
}

function validateSettings (s: MemoryNetworkSettings): void {
  const positive: Array<keyof MemoryNetworkSettings> = ['segmentBytes', 'receiveWindowBytes', 'sendHighWaterMarkBytes']
  for (const key of positive) {
    const value = s[key]
    if (!(value > 0)) throw new LodestoneError('SETTINGS_INVALID', { key, reason: 'must be > 0' })
  }
  if (!(s.sendLowWaterMarkBytes >= 0 && s.sendLowWaterMarkBytes < s.sendHighWaterMarkBytes)) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'sendLowWaterMarkBytes', reason: 'must be in [0, sendHighWaterMarkBytes)' })
  }
  if (!(s.latencyMs >= 0) || !(s.jitterMs >= 0) || !(s.bandwidthBytesPerSec > 0) || !(s.lossRate >= 0 && s.lossRate <= 1) ||
    !(s.duplicateRate >= 0 && s.duplicateRate <= 1) || !(s.queueLimitMs >= 0)) {
    throw new LodestoneError('SETTINGS_INVALID', { key: 'link', reason: 'latency/jitter/queueLimitMs >= 0, bandwidth > 0, lossRate and duplicateRate in [0, 1]' })
  }
}
