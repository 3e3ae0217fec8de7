/**
 * Network port with explicit backpressure (STYLE.md §6). All callbacks run on the event loop;
 * a socket delivers no data before its `onData` callback is registered.
 */
import type { LodestoneError } from '../errors.js'

/** How a peer connection travels: a TCP stream or uTP (BEP 29) over the engine's UDP socket. */
export type PeerTransport = 'tcp' | 'utp'

/**
 * Where a received chunk's bytes can still be found outside the engine: a transport that keeps
 * what it received (the io-daemon bridge, whose daemon holds each socket's stream for a while)
 * names a delivered range, so storage can have those same bytes written there without carrying
 * them back (IFileHandle.writeReceived). Opaque to the core apart from its arithmetic: `offset`
 * counts bytes of the stream `stream` identifies, and a sub-range of a range is the same stream at
 * a larger offset.
 */
export interface ReceivedRange {
  /** The stream's identity (the transport's own object); only its transport understands it. */
  readonly stream: object
  /** Offset of the range's first byte in that stream. */
  readonly offset: number
  /** Bytes in the range. */
  readonly lengthBytes: number
}

export interface ITcpSocket {
  readonly remoteAddress: string
  readonly remotePort: number
  readonly localPort: number
  /** The transport underneath; absent means 'tcp'. Wrappers (encryption, replay) pass it through. */
  readonly transport?: PeerTransport
  /**
   * Queues bytes for sending. `data` may be shared (an upload block is a view of the read cache):
   * the socket never modifies it (a transport that transforms bytes works on a copy), and the
   * caller does not modify it afterwards either.
   * Returns false once the queued bytes are above the high-water mark: stop sending until `onDrain`.
   */
  send (data: Uint8Array): boolean
  /**
   * Bytes queued and not yet handed to the OS. A socket keeps references only to the last
   * `bufferedBytes` bytes it was given (sends go out in order; one that copies at once holds
   * none): MSE/PE reuses its encrypted send buffers on that promise (transport/mse/send-buffer-pool.ts).
   */
  readonly bufferedBytes: number
  /** Stops delivering `onData` (and reading from the OS) until `resume()`. */
  pause (): void
  resume (): void
  /** The receiver owns each delivered chunk. */
  onData (cb: (data: Uint8Array) => void): void
  /**
   * Optional faster receive path (feature-detected; register it instead of `onData`, not both):
   * each chunk is a view of memory the socket reuses for its next read, valid only until `cb`
   * returns. The receiver copies whatever it keeps (a partial message, a payload it stores).
   * A socket that cannot lend its memory may deliver owned chunks here.
   */
  onBorrowedData?: (cb: (data: Uint8Array) => void) => void
  /**
   * Optional (feature-detected): for a view of a chunk this socket delivered, where those bytes sit
   * in a received stream its transport keeps (see {@link ReceivedRange}); undefined for anything
   * else. A wrapper that changes the bytes it delivers (decryption) must not pass it through.
   */
  receivedRange?: (data: Uint8Array) => ReceivedRange | undefined
  onDrain (cb: () => void): void
  /** Called exactly once, after which no other callback runs. `reason` is absent for a clean close. */
  onClose (cb: (reason?: LodestoneError) => void): void
  /** Closes the socket; `onClose` follows. Idempotent. */
  close (): void
  /**
   * Protocol encryption (MSE/PE) of a socket that runs it: 'rc4' (encrypted stream), 'plaintext'
   * (obfuscated handshake, clear stream), 'none' (a plain BitTorrent opening), null until decided.
   * Absent on plain transports.
   */
  readonly encryption?: 'rc4' | 'plaintext' | 'none' | null
}

export interface ITcpServer {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number
  onConnection (cb: (socket: ITcpSocket) => void): void
  close (): Promise<void>
}

export interface UdpRemote { address: string, port: number }

export interface IUdpSocket {
  readonly port: number
  /**
   * Sends one datagram; errors surface as dropped datagrams (UDP is lossy anyway). The socket is
   * done with `data` when this returns (it copied or sent it), so the caller may reuse it.
   */
  send (data: Uint8Array, host: string, port: number): void
  /** `data` may be a view of memory the socket reuses: valid only during the call. */
  onMessage (cb: (data: Uint8Array, remote: UdpRemote) => void): void
  /**
   * Optional: called once after a run of `onMessage` calls that arrived together (Node: after
   * the poll phase that read them), so a receiver can answer a burst with one datagram (uTP
   * acks). Feature-detected.
   */
  onBatchEnd?: (cb: () => void) => void
  /**
   * Optional: the socket reaches peers of both address families (bound to all interfaces over
   * IPv6 with IPv4 mapped, as a TCP listener on all interfaces is). Absent or false: only the
   * family of the address it was bound to (IPv4 when it was bound to all interfaces).
   */
  readonly dualStack?: boolean
  close (): void
}

export interface ConnectOptions {
  signal?: AbortSignal
  /** @default 10_000 */
  timeoutMs?: number
}

export interface ISocketFactory {
  /** @throws PEER_CONNECT_FAILED, ABORTED */
  connectTcp (host: string, port: number, options?: ConnectOptions): Promise<ITcpSocket>
  /** Listens on `host` (default all interfaces) and `port` (0: any free port). */
  listenTcp (port: number, host?: string): Promise<ITcpServer>
  /** Binds a UDP socket on `host` (default all interfaces) and `port` (0: any free port). */
  bindUdp (port: number, host?: string): Promise<IUdpSocket>
  /**
   * Optional (feature-detected): a UDP socket on `port` of all interfaces, shared with other
   * programs on the host (SO_REUSEADDR) and joined to the multicast `group`, receiving its own
   * datagrams too; for BEP 14 local service discovery. @throws LISTEN_FAILED
   */
  bindUdpMulticast?: (group: string, port: number) => Promise<IUdpSocket>
}
