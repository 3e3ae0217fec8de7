import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { readIncomingHandshakeHeader } from '../../../src/peer/incoming-handshake.js'
import { hasCode } from '../../../src/errors.js'
import { concat, FakeSocket, flush, INFO_HASH, remoteHandshake } from './peer-test-kit.js'

/** A FakeSocket that delivers every chunk through one reused buffer, as the Node adapter does. */
class LendingSocket extends FakeSocket {
  readonly shared = new Uint8Array(256)
  private lender: ((data: Uint8Array) => void) | null = null
  onBorrowedData = (cb: (data: Uint8Array) => void): void => { this.lender = cb }
  lend (bytes: Uint8Array): void {
    this.shared.set(bytes)
    this.lender?.(this.shared.subarray(0, bytes.length))
  }
}

describe('readIncomingHandshakeHeader', () => {
  it('resolves with the info hash after 48 bytes and replays every byte to the next reader', async () => {
    const clock = new ManualClock()
    const socket = new FakeSocket()
    const promise = readIncomingHandshakeHeader({ socket, clock })
    const bytes = concat(remoteHandshake(), Uint8Array.from([0, 0, 0, 1, 2]))
    socket.feed(bytes.subarray(0, 30))
    socket.feed(bytes.subarray(30, 50))
    const { header, socket: routed } = await promise
    expect(header.infoHash).toEqual(INFO_HASH)
    expect(header.features.fastExtension).toBe(true)
    expect(socket.paused).toBe(true) // nothing is read until the torrent takes over
    expect(socket.sent).toHaveLength(0) // and nothing was answered
    expect(clock.pendingTimers).toBe(0)

    const received: Uint8Array[] = []
    routed.onData((chunk) => received.push(chunk))
    expect(received).toHaveLength(0) // replay is asynchronous
    await flush()
    expect(socket.paused).toBe(false)
    socket.feed(bytes.subarray(50))
    expect(concat(...received)).toEqual(bytes)
  })

  it('over a socket that lends one reused read buffer: the header and replay are copies, live data is lent', async () => {
    const clock = new ManualClock()
    const socket = new LendingSocket()
    const promise = readIncomingHandshakeHeader({ socket, clock })
    const bytes = concat(remoteHandshake(), Uint8Array.from([0, 0, 0, 1, 2]))
    socket.lend(bytes.subarray(0, 30))
    socket.lend(bytes.subarray(30, 50))
    const { header, socket: routed } = await promise
    socket.lend(new Uint8Array(50).fill(0xee)) // the shared buffer is overwritten by the next read
    expect(header.infoHash).toEqual(INFO_HASH)
    expect(routed.onBorrowedData).toBeDefined()
    const received: Uint8Array[] = []
    const views: Uint8Array[] = []
    routed.onBorrowedData!((chunk) => {
      views.push(chunk)
      received.push(chunk.slice())
    })
    await flush()
    socket.lend(bytes.subarray(50))
    expect(concat(...received)).toEqual(concat(bytes.subarray(0, 50), new Uint8Array(50).fill(0xee), bytes.subarray(50)))
    expect(views.at(-1)?.buffer).toBe(socket.shared.buffer) // live data: the socket's own memory, no copy
  })

  it('replays a close that happened before the reader registered', async () => {
    const clock = new ManualClock()
    const socket = new FakeSocket()
    const promise = readIncomingHandshakeHeader({ socket, clock })
    socket.feed(remoteHandshake())
    const { socket: routed } = await promise
    socket.remoteClosed()
    const events: string[] = []
    routed.onData(() => events.push('data'))
    routed.onClose(() => events.push('close'))
    await flush()
    expect(events).toEqual(['data', 'close'])
  })

  it('refuses a non-BitTorrent peer with PEER_HANDSHAKE_FAILED and closes it', async () => {
    const socket = new FakeSocket()
    const promise = readIncomingHandshakeHeader({ socket, clock: new ManualClock() })
    socket.feed(new TextEncoder().encode('GET / HTTP/1.1\r\n'))
    const error = await promise.catch((e: unknown) => e)
    expect(hasCode(error, 'PEER_HANDSHAKE_FAILED')).toBe(true)
    expect(socket.closed).toBe(true)
  })

  it('times out on the clock and closes the socket', async () => {
    const clock = new ManualClock()
    const socket = new FakeSocket()
    const promise = readIncomingHandshakeHeader({ socket, clock }, { timeoutMs: 5_000 })
    socket.feed(remoteHandshake().subarray(0, 10))
    clock.advance(5_000)
    const error = await promise.catch((e: unknown) => e)
    expect(hasCode(error, 'PEER_TIMEOUT')).toBe(true)
    expect(socket.closed).toBe(true)
  })

  it('fails with PEER_CLOSED when the peer hangs up first, and ABORTED on its signal', async () => {
    const socket = new FakeSocket()
    const promise = readIncomingHandshakeHeader({ socket, clock: new ManualClock() })
    socket.remoteClosed()
    expect(hasCode(await promise.catch((e: unknown) => e), 'PEER_CLOSED')).toBe(true)

    const controller = new AbortController()
    const other = new FakeSocket()
    const aborted = readIncomingHandshakeHeader({ socket: other, clock: new ManualClock() }, { signal: controller.signal })
    controller.abort()
    expect(hasCode(await aborted.catch((e: unknown) => e), 'ABORTED')).toBe(true)
    expect(other.closed).toBe(true)
  })
})
