import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../../adapters/memory/manual-clock.js'
import { MemoryNetwork } from '../../../../adapters/memory/memory-network.js'
import { hasCode, type LodestoneError } from '../../../../src/errors.js'
import { seededRandom } from '../../../../src/interfaces/random.js'
import type { ITcpSocket } from '../../../../src/interfaces/socket.js'
import { CRYPTO_PLAINTEXT, CRYPTO_RC4 } from '../../../../src/transport/mse/mse-handshake.js'
import { MseSocket } from '../../../../src/transport/mse/mse-socket.js'
import { toHex } from '../../../../src/util/bytes.js'
import { ascii, concat, selectPreferRc4, SKEY, skeyTable } from './mse-test-kit.js'

const BT_HANDSHAKE = concat([ascii('\x13BitTorrent protocol'), new Uint8Array(8), SKEY, ascii('-LS0100-aaaaaaaaaaaa')])

/** Records what a socket delivers and how it closes. */
class Sink {
  readonly chunks: Uint8Array[] = []
  closed: { reason: LodestoneError | undefined } | null = null
  constructor (socket: ITcpSocket, borrow: boolean) {
    const onChunk = (chunk: Uint8Array): void => { this.chunks.push(borrow ? chunk.slice() : chunk) }
    if (borrow && socket.onBorrowedData !== undefined) socket.onBorrowedData(onChunk)
    else socket.onData(onChunk)
    socket.onClose((reason) => { this.closed = { reason } })
  }

  get bytes (): Uint8Array { return concat(this.chunks) }
}

/** Taps an inner socket: everything that goes over the wire in either direction. */
function tap (socket: ITcpSocket, wire: Uint8Array[]): ITcpSocket {
  const send = socket.send.bind(socket)
  socket.send = (data) => {
    wire.push(data.slice())
    return send(data)
  }
  return socket
}

/**
 * Lends every chunk from one reused buffer, scribbled over after each callback (as the Node
 * adapter's shared read buffer is reused): whatever keeps a borrowed view reads garbage.
 */
function borrowing (inner: ITcpSocket): ITcpSocket {
  const shared = new Uint8Array(4_096)
  const wrapped: ITcpSocket = {
    get remoteAddress () { return inner.remoteAddress },
    get remotePort () { return inner.remotePort },
    get localPort () { return inner.localPort },
    get bufferedBytes () { return inner.bufferedBytes },
    send: (data) => inner.send(data),
    pause: () => { inner.pause() },
    resume: () => { inner.resume() },
    onData: () => { throw new Error('use onBorrowedData') },
    onBorrowedData: (cb) => {
      inner.onData((chunk) => {
        for (let at = 0; at < chunk.length; at += shared.length) {
          const part = chunk.subarray(at, at + shared.length)
          shared.set(part)
          cb(shared.subarray(0, part.length))
          shared.fill(0xee)
        }
      })
    },
    onDrain: (cb) => { inner.onDrain(cb) },
    onClose: (cb) => { inner.onClose(cb) },
    close: () => { inner.close() }
  }
  return wrapped
}

/**
 * A transport that keeps what it received and names where a delivered chunk sits in that stream
 * (ITcpSocket.receivedRange), as the io-daemon bridge's sockets do. `stream`: every byte received.
 */
function ranging (inner: ITcpSocket): ITcpSocket & { stream: () => Uint8Array } {
  const received: Uint8Array[] = []
  const bases = new WeakMap<ArrayBufferLike, number>()
  let next = 0
  const wrapped: ITcpSocket & { stream: () => Uint8Array } = {
    get remoteAddress () { return inner.remoteAddress },
    get remotePort () { return inner.remotePort },
    get localPort () { return inner.localPort },
    get bufferedBytes () { return inner.bufferedBytes },
    send: (data) => inner.send(data),
    pause: () => { inner.pause() },
    resume: () => { inner.resume() },
    onData: (cb) => {
      inner.onData((chunk) => {
        const own = chunk.slice()
        received.push(own.slice())
        bases.set(own.buffer, next)
        next += own.length
        cb(own)
      })
    },
    receivedRange: (data) => {
      const base = bases.get(data.buffer)
      return base === undefined ? undefined : { stream: wrapped, offset: base + data.byteOffset, lengthBytes: data.length }
    },
    onDrain: (cb) => { inner.onDrain(cb) },
    onClose: (cb) => { inner.onClose(cb) },
    close: () => { inner.close() },
    stream: () => concat(received)
  }
  return wrapped
}

/**
 * Holds every sent buffer by reference, as Node's socket does until the kernel has the bytes, and
 * passes them on only at flush(); `bufferedBytes` counts what it holds. Whatever reuses a sent
 * buffer too early changes bytes still waiting here.
 */
class HoldingTransport {
  readonly held: Uint8Array[] = []
  /** Every buffer it was given. */
  readonly seen = new Set<Uint8Array>()
  constructor (private readonly inner: ITcpSocket) {}
  wrap (): ITcpSocket {
    const inner = this.inner
    const held = this.held
    return {
      get remoteAddress () { return inner.remoteAddress },
      get remotePort () { return inner.remotePort },
      get localPort () { return inner.localPort },
      get bufferedBytes () { return held.reduce((n, d) => n + d.length, 0) },
      send: (data) => { held.push(data); this.seen.add(data); return true },
      pause: () => { inner.pause() },
      resume: () => { inner.resume() },
      onData: (cb) => { inner.onData(cb) },
      onDrain: (cb) => { inner.onDrain(cb) },
      onClose: (cb) => { inner.onClose(cb) },
      close: () => { inner.close() }
    }
  }

  /** Passes on (copies of) what it holds and lets go of the buffers. */
  flush (): void {
    for (const data of this.held.splice(0)) this.inner.send(data.slice())
  }
}

async function setup (options: {
  provide?: number
  select?: (provide: number) => number
  allowPlaintext?: boolean
  allowEncrypted?: boolean
  plainClient?: boolean
  borrow?: boolean
  timeoutMs?: number
  /** Wraps the dialling side's transport (under the wire tap). */
  wrapClientInner?: (socket: ITcpSocket) => ITcpSocket
} = {}): Promise<{ clock: ManualClock, client: ITcpSocket, server: MseSocket | null, serverInner: ITcpSocket, wire: Uint8Array[], network: MemoryNetwork }> {
  const clock = new ManualClock()
  const network = new MemoryNetwork({ clock, random: seededRandom(4) }, { latencyMs: 5 })
  const listener = await network.host('10.0.0.2').listenTcp(6881)
  const random = seededRandom(77)
  let server: MseSocket | null = null
  let serverInner: ITcpSocket | null = null
  listener.onConnection((socket) => {
    serverInner = socket
    server = MseSocket.accept(options.borrow === true ? borrowing(socket) : socket, { clock, random }, {
      findSkey: skeyTable([SKEY]),
      selectCrypto: options.select ?? selectPreferRc4,
      allowPlaintext: options.allowPlaintext ?? true,
      allowEncrypted: options.allowEncrypted ?? true,
      timeoutMs: options.timeoutMs ?? 10_000
    })
  })
  const connecting = network.host('10.0.0.1').connectTcp('10.0.0.2', 6881)
  await clock.runUntil(() => serverInner !== null)
  await clock.advanceAsync(20)
  const wire: Uint8Array[] = []
  const connected = await connecting
  const transport = options.borrow === true ? borrowing(connected) : connected
  const inner = tap(options.wrapClientInner?.(transport) ?? transport, wire)
  const client = options.plainClient === true
    ? inner
    : MseSocket.initiate(inner, { clock, random }, { skey: SKEY, cryptoProvide: options.provide ?? (CRYPTO_PLAINTEXT | CRYPTO_RC4), timeoutMs: options.timeoutMs ?? 10_000 })
  return { clock, client, server, serverInner: serverInner!, wire, network }
}

describe('MseSocket', () => {
  for (const [innerBorrows, borrow] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    it(`carries both directions over RC4, IA first, nothing readable on the wire (${innerBorrows ? 'lending' : 'owning'} transport, ${borrow ? 'borrowing' : 'owning'} consumers)`, async () => {
      const { clock, client, server, wire } = await setup({ borrow: innerBorrows })
      const toServer = new Sink(server!, borrow)
      const toClient = new Sink(client, borrow)
      const random = seededRandom(5)
      const bulkUp = random.fill(new Uint8Array(300_000))
      const bulkDown = random.fill(new Uint8Array(500_000))
      // bulkUp and bulkDown are sent as they are, not copies: RC4 works on a copy (senders share
      // what they send, e.g. views of the read cache), so they still equal what arrives.
      client.send(BT_HANDSHAKE.slice()) // becomes the IA
      client.send(bulkUp) // waits for crypto_select
      await clock.runUntil(() => (server as MseSocket).encryption !== null)
      expect(server!.encryption).toBe('rc4')
      expect((client as MseSocket).encryption).toBe(null) // step 4 still in flight
      server!.send(bulkDown)
      await clock.runUntil(() => toServer.bytes.length === BT_HANDSHAKE.length + bulkUp.length && toClient.bytes.length === bulkDown.length)
      expect((client as MseSocket).encryption).toBe('rc4')
      expect(toHex(toServer.bytes.subarray(0, 68))).toBe(toHex(BT_HANDSHAKE))
      expect(Buffer.from(toServer.bytes.subarray(68)).equals(Buffer.from(bulkUp))).toBe(true)
      expect(Buffer.from(toClient.bytes).equals(Buffer.from(bulkDown))).toBe(true)
      const onWire = Buffer.from(concat(wire))
      expect(onWire.includes(Buffer.from('BitTorrent protocol'))).toBe(false)
      expect(onWire.includes(Buffer.from(bulkUp.subarray(1000, 1032)))).toBe(false)
      expect(toHex(server!.skey!)).toBe(toHex(SKEY))
      client.close()
      await clock.advanceAsync(100)
      expect(toClient.closed).toEqual({ reason: undefined })
      expect(toServer.closed?.reason?.code).toBe('PEER_CLOSED')
      expect(clock.pendingTimers).toBe(0)
    })
  }

  it('encrypts sent blocks into buffers it reuses only once the transport no longer holds them', async () => {
    const holder: { transport: HoldingTransport | null } = { transport: null }
    const { clock, client, server } = await setup({
      wrapClientInner: (socket) => {
        holder.transport = new HoldingTransport(socket)
        return holder.transport.wrap()
      }
    })
    const hold = holder.transport!
    const toServer = new Sink(server!, false)
    const random = seededRandom(9)
    client.send(BT_HANDSHAKE.slice())
    // The handshake itself is let through as it goes.
    expect(await clock.runUntil(() => { hold.flush(); return (client as MseSocket).encryption === 'rc4' }, 5_000)).toBe(true)
    const blocks = Array.from({ length: 40 }, () => random.fill(new Uint8Array(16_384)))
    for (const [k, block] of blocks.entries()) {
      client.send(block)
      // The transport lets go of what it holds every fifth block; until then nothing is reused.
      if (k % 5 === 4) hold.flush()
    }
    hold.flush()
    expect(await clock.runUntil(() => toServer.bytes.length === BT_HANDSHAKE.length + 40 * 16_384, 5_000)).toBe(true)
    expect(Buffer.from(toServer.bytes.subarray(68)).equals(Buffer.from(concat(blocks)))).toBe(true)
    const blockBuffers = [...hold.seen].filter((d) => d.length === 16_384)
    // 40 blocks went out in at most a handful of buffers, and never the sender's own.
    expect(blockBuffers.length).toBeLessThanOrEqual(6)
    expect(blockBuffers.some((d) => blocks.includes(d))).toBe(false)
    client.close()
    await clock.advanceAsync(100)
  })

  for (const mode of ['rc4', 'plaintext'] as const) {
    it(`names where received bytes sit in its transport's stream only while nothing decrypts them (${mode})`, async () => {
      let transport: ReturnType<typeof ranging> | null = null
      const { clock, client, server } = await setup({
        select: mode === 'rc4' ? (p) => p & CRYPTO_RC4 : (p) => p & CRYPTO_PLAINTEXT,
        wrapClientInner: (socket) => { transport = ranging(socket); return transport }
      })
      const delivered: Array<{ bytes: Uint8Array, range: ReturnType<NonNullable<ITcpSocket['receivedRange']>> }> = []
      let total = 0
      client.onData((chunk) => { delivered.push({ bytes: chunk.slice(), range: client.receivedRange?.(chunk) }); total += chunk.length })
      client.send(BT_HANDSHAKE.slice())
      await clock.runUntil(() => server!.encryption !== null)
      const payload = seededRandom(3).fill(new Uint8Array(200_000))
      server!.send(payload)
      await clock.runUntil(() => total === payload.length)
      expect(Buffer.from(concat(delivered.map((d) => d.bytes))).equals(Buffer.from(payload))).toBe(true)
      const ranged = delivered.filter((d) => d.range !== undefined)
      if (mode === 'rc4') {
        // RC4 decrypts in place: the transport's bytes are ciphertext, so no range may be named.
        expect(ranged).toEqual([])
      } else {
        expect(ranged.length).toBeGreaterThan(0)
        const stream = transport!.stream()
        for (const d of ranged) {
          expect(d.range!.stream).toBe(transport)
          expect(Buffer.from(stream.subarray(d.range!.offset, d.range!.offset + d.range!.lengthBytes)).equals(Buffer.from(d.bytes))).toBe(true)
        }
      }
      client.close()
      await clock.advanceAsync(100)
    })
  }

  it('plaintext after an MSE handshake: the payload is in the clear, the handshake is not', async () => {
    const { clock, client, server, wire } = await setup({ select: (p) => p & CRYPTO_PLAINTEXT })
    const toServer = new Sink(server!, false)
    client.send(BT_HANDSHAKE.slice())
    client.send(ascii('payload-after-select'))
    await clock.runUntil(() => toServer.bytes.length === 68 + 20)
    expect(server!.encryption).toBe('plaintext')
    const onWire = Buffer.from(concat(wire))
    expect(onWire.includes(Buffer.from('BitTorrent protocol'))).toBe(false)
    expect(onWire.includes(Buffer.from('payload-after-select'))).toBe(true)
  })

  it('passes a plaintext BitTorrent opening through unchanged when allowed', async () => {
    const { clock, client, server } = await setup({ plainClient: true })
    const toServer = new Sink(server!, false)
    const toClient = new Sink(client, false)
    client.send(BT_HANDSHAKE.slice(0, 7))
    client.send(BT_HANDSHAKE.slice(7))
    client.send(ascii('more'))
    await clock.runUntil(() => toServer.bytes.length === 72)
    expect(server!.encryption).toBe('none')
    expect(server!.skey).toBeNull()
    expect(toHex(toServer.bytes)).toBe(toHex(concat([BT_HANDSHAKE, ascii('more')])))
    server!.send(ascii('answer'))
    await clock.runUntil(() => toClient.bytes.length === 6)
    expect(new TextDecoder().decode(toClient.bytes)).toBe('answer')
  })

  it('refuses a plaintext opening when encryption is required, and an encrypted one when disabled', async () => {
    const plain = await setup({ plainClient: true, allowPlaintext: false })
    const sink = new Sink(plain.server!, false)
    const clientSink = new Sink(plain.client, false)
    plain.client.send(BT_HANDSHAKE.slice())
    await plain.clock.runUntil(() => sink.closed !== null && clientSink.closed !== null)
    expect(hasCode(sink.closed!.reason, 'PEER_ENCRYPTION_FAILED') && sink.closed!.reason.details.reason).toBe('plaintext-refused')
    expect(sink.chunks).toHaveLength(0)

    const encrypted = await setup({ allowEncrypted: false })
    const sink2 = new Sink(encrypted.server!, false)
    const clientSink2 = new Sink(encrypted.client, false)
    await encrypted.clock.runUntil(() => sink2.closed !== null && clientSink2.closed !== null)
    expect(hasCode(sink2.closed!.reason, 'PEER_ENCRYPTION_FAILED') && sink2.closed!.reason.details.reason).toBe('encrypted-refused')
    // The dialling side learns that its encrypted attempt failed (and may retry in plaintext).
    expect(hasCode(clientSink2.closed!.reason, 'PEER_ENCRYPTION_FAILED') && clientSink2.closed!.reason.details.reason).toBe('closed')
  })

  it('an RC4-only dialler meeting a plaintext-only responder fails on both sides with crypto-refused / closed', async () => {
    const { clock, client, server } = await setup({ provide: CRYPTO_RC4, select: (p) => p & CRYPTO_PLAINTEXT })
    const serverSink = new Sink(server!, false)
    const clientSink = new Sink(client, false)
    client.send(BT_HANDSHAKE.slice())
    await clock.runUntil(() => serverSink.closed !== null && clientSink.closed !== null)
    expect(serverSink.closed!.reason?.details).toEqual({ reason: 'crypto-refused' })
    expect(clientSink.closed!.reason?.details).toEqual({ reason: 'closed' })
  })

  it('a peer that goes silent is closed at the time limit with reason timeout', async () => {
    const { clock, server, serverInner } = await setup({ plainClient: true, timeoutMs: 3_000 })
    const sink = new Sink(server!, false)
    void serverInner
    await clock.advanceAsync(2_900)
    expect(sink.closed).toBeNull()
    await clock.advanceAsync(200)
    expect(sink.closed?.reason?.details).toEqual({ reason: 'timeout' })
  })

  it('holds data for a paused consumer and delivers it in order on resume (lending transport)', async () => {
    const { clock, client, server } = await setup({ borrow: true })
    const toServer = new Sink(server!, false)
    client.send(BT_HANDSHAKE.slice())
    await clock.runUntil(() => toServer.bytes.length === 68)
    server!.pause()
    const random = seededRandom(8)
    const bulk = random.fill(new Uint8Array(200_000))
    for (let at = 0; at < bulk.length; at += 16_384) client.send(bulk.slice(at, at + 16_384))
    await clock.advanceAsync(500)
    const before = toServer.bytes.length
    server!.resume()
    await clock.runUntil(() => toServer.bytes.length === 68 + bulk.length)
    expect(before).toBeLessThan(68 + bulk.length)
    expect(Buffer.from(toServer.bytes.subarray(68)).equals(Buffer.from(bulk))).toBe(true)
  })
})
