/**
 * The ISocketFactory contract: every socket adapter's test calls
 * `runSocketFactoryContract(name, make)`. Time is abstract here: the fixture decides whether
 * `waitFor` / `idle` run in real time (Node) or virtual time (memory network + ManualClock), and no
 * assertion depends on how long anything took.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { LodestoneError } from '../../src/errors.js'
import type { ISocketFactory, ITcpServer, ITcpSocket } from '../../src/interfaces/socket.js'
import { codeOf } from './filesystem.contract.js'

export interface SocketFactoryFixture {
  /** Factory of the connecting side. */
  client: ISocketFactory
  /** Factory of the listening side (may be the same object as `client`). */
  server: ISocketFactory
  /** Address the server side sees for the client. */
  clientHost: string
  /** Address the client dials to reach the server. */
  serverHost: string
  /** Lets time pass until `predicate()` holds; throws (naming `what`) when it never does. */
  waitFor: (predicate: () => boolean, what: string) => Promise<void>
  /** Lets time pass without a condition (to observe that something does NOT happen). */
  idle: (ms: number) => Promise<void>
  /** Lets time pass until `promise` settles, and returns its outcome (connects take virtual time). */
  run: <T>(promise: Promise<T>) => Promise<T>
  /** Open sockets + servers, when the adapter can tell (checked to be 0 after each test). */
  openSocketCount?: () => number
  cleanup: () => Promise<void>
}

/** Byte `i` of the test stream. */
function streamByte (i: number): number {
  return (i % 251) ^ 0x5a
}

const PATTERN = new Uint8Array(251 + (1 << 16)).map((_, i) => streamByte(i))

/** `length` bytes of the test stream starting at `offset` (a fresh buffer: the socket owns it). */
function streamChunk (offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  let done = 0
  while (done < length) {
    const start = (offset + done) % 251
    const n = Math.min(length - done, PATTERN.length - start)
    out.set(PATTERN.subarray(start, start + n), done)
    done += n
  }
  return out
}

/** Checks that `chunk` continues the stream at `offset`. */
function isStreamChunk (chunk: Uint8Array, offset: number): boolean {
  return Buffer.from(chunk).equals(Buffer.from(streamChunk(offset, chunk.length)))
}

interface Recorder {
  chunks: Uint8Array[]
  bytes: number
  closes: Array<LodestoneError | undefined>
  drains: number
}

function record (socket: ITcpSocket, options: { data?: boolean } = {}): Recorder {
  const r: Recorder = { chunks: [], bytes: 0, closes: [], drains: 0 }
  if (options.data !== false) {
    socket.onData((d) => {
      r.chunks.push(d)
      r.bytes += d.length
    })
  }
  socket.onDrain(() => { r.drains++ })
  socket.onClose((reason) => { r.closes.push(reason) })
  return r
}

function joined (chunks: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks))
}

export function runSocketFactoryContract (name: string, make: () => Promise<SocketFactoryFixture>): void {
  describe(`ISocketFactory contract: ${name}`, () => {
    let fx: SocketFactoryFixture
    const toClose: Array<ITcpSocket | ITcpServer | { close: () => void }> = []

    beforeEach(async () => {
      fx = await make()
    })

    afterEach(async () => {
      for (const s of toClose.splice(0)) await s.close()
      await fx.idle(50)
      const open = fx.openSocketCount?.()
      await fx.cleanup()
      if (open !== undefined) expect(open, 'sockets left open').toBe(0)
    })

    async function listen (): Promise<{ server: ITcpServer, accepted: ITcpSocket[] }> {
      const server = await fx.server.listenTcp(0, fx.serverHost)
      toClose.push(server)
      const accepted: ITcpSocket[] = []
      server.onConnection((s) => {
        accepted.push(s)
        toClose.push(s)
      })
      return { server, accepted }
    }

    async function pair (): Promise<{ server: ITcpServer, client: ITcpSocket, remote: ITcpSocket }> {
      const { server, accepted } = await listen()
      const client = await fx.run(fx.client.connectTcp(fx.serverHost, server.port))
      toClose.push(client)
      await fx.waitFor(() => accepted.length === 1, 'the server accepts')
      return { server, client, remote: accepted[0]! }
    }

    describe('TCP', () => {
      it('connects; both ends know each other\'s address and ports', async () => {
        const { server, client, remote } = await pair()
        expect(server.port).toBeGreaterThan(0)
        expect(client.remoteAddress).toBe(fx.serverHost)
        expect(client.remotePort).toBe(server.port)
        expect(remote.remoteAddress).toBe(fx.clientHost)
        expect(remote.remotePort).toBe(client.localPort)
        expect(remote.localPort).toBe(server.port)
        expect(client.bufferedBytes).toBe(0)
      })

      it('carries bytes both ways, in order, whatever the chunking', async () => {
        const { client, remote } = await pair()
        const atServer = record(remote)
        const atClient = record(client)
        let offset = 0
        for (let i = 0; i < 300; i++) {
          const length = 1 + ((i * 7919) % 9000)
          client.send(streamChunk(offset, length))
          offset += length
        }
        remote.send(new TextEncoder().encode('pong'))
        await fx.waitFor(() => atServer.bytes === offset && atClient.bytes === 4, 'all bytes arrive')
        expect(isStreamChunk(joined(atServer.chunks), 0)).toBe(true)
        expect(new TextDecoder().decode(joined(atClient.chunks))).toBe('pong')
        for (const c of atServer.chunks) expect(Object.getPrototypeOf(c)).toBe(Uint8Array.prototype)
      })

      it('delivers nothing before onData is registered, and loses nothing either', async () => {
        const { client, remote } = await pair()
        remote.send(new TextEncoder().encode('early bytes'))
        await fx.idle(100)
        const r = record(client)
        await fx.waitFor(() => r.bytes === 11, 'late reader gets the early bytes')
        expect(new TextDecoder().decode(joined(r.chunks))).toBe('early bytes')
      })

      it('backpressure: a paused reader makes send() return false and stalls the sender; resume drains it', async () => {
        const { client, remote } = await pair()
        const reader = record(remote)
        remote.pause()
        const writer = record(client, { data: false })
        const targetBytes = 64 << 20
        const chunkBytes = 64 << 10
        let sent = 0
        let refusals = 0
        const pump = (): void => {
          while (sent < targetBytes) {
            const ok = client.send(streamChunk(sent, chunkBytes))
            sent += chunkBytes
            if (!ok) { refusals++; return }
          }
        }
        client.onDrain(() => { writer.drains++; pump() })
        pump()
        expect(refusals).toBe(1)
        // Wait until the sender stops making progress (the paused reader's buffers are full).
        let last = -1
        while (sent !== last) {
          last = sent
          await fx.idle(200)
        }
        expect(reader.bytes, 'nothing is delivered while paused').toBe(0)
        expect(sent, 'the sender is stalled before the end').toBeLessThan(targetBytes)
        expect(client.bufferedBytes).toBeGreaterThan(0)
        const drainsWhileStalled = writer.drains

        remote.resume()
        let verified = 0
        let intact = true
        const verify = (): void => {
          for (const c of reader.chunks.splice(0)) {
            intact &&= isStreamChunk(c, verified)
            verified += c.length
          }
        }
        await fx.waitFor(() => { verify(); return verified === targetBytes }, 'everything arrives after resume')
        expect(intact).toBe(true)
        expect(writer.drains).toBeGreaterThan(drainsWhileStalled)
        expect(refusals).toBeGreaterThan(1)
      })

      it('pause() inside onData stops delivery until resume()', async () => {
        const { client, remote } = await pair()
        const got: Uint8Array[] = []
        remote.onData((d) => {
          got.push(d)
          remote.pause()
        })
        const total = 200_000
        for (let off = 0; off < total; off += 10_000) client.send(streamChunk(off, 10_000))
        await fx.waitFor(() => got.length === 1, 'the first chunk')
        await fx.idle(100)
        expect(got.length).toBe(1)
        let bytes = got[0]!.length
        remote.onData((d) => {
          got.push(d)
          bytes += d.length
        })
        remote.resume()
        await fx.waitFor(() => bytes === total, 'the rest after resume')
        expect(isStreamChunk(joined(got), 0)).toBe(true)
      })

      it('close(): onClose once without reason locally; the peer gets the data, then PEER_CLOSED', async () => {
        const { client, remote } = await pair()
        const atServer = record(remote)
        const atClient = record(client)
        client.send(streamChunk(0, 100_000))
        client.close()
        client.close()
        expect(client.send(new Uint8Array(10))).toBe(false)
        await fx.waitFor(() => atServer.closes.length === 1 && atClient.closes.length === 1, 'both ends close')
        expect(atClient.closes).toEqual([undefined])
        expect(atServer.bytes).toBe(100_000)
        expect(isStreamChunk(joined(atServer.chunks), 0)).toBe(true)
        expect(atServer.closes[0]?.code).toBe('PEER_CLOSED')
        await fx.idle(100)
        expect(atClient.closes.length).toBe(1)
        expect(atServer.closes.length).toBe(1)
        expect(atClient.chunks.length).toBe(0)
        remote.close()
        await fx.idle(50)
        expect(atServer.closes.length).toBe(1)
      })

      it('onClose registered after the close still runs exactly once', async () => {
        const { client, remote } = await pair()
        record(remote)
        client.close()
        await fx.idle(50)
        const reasons: Array<LodestoneError | undefined> = []
        client.onClose((r) => reasons.push(r))
        await fx.idle(50)
        expect(reasons).toEqual([undefined])
      })

      it('no callback runs after onClose', async () => {
        const { client, remote } = await pair()
        const events: string[] = []
        client.onData(() => events.push('data'))
        client.onDrain(() => events.push('drain'))
        client.onClose(() => events.push('close'))
        record(remote)
        remote.send(streamChunk(0, 50_000))
        client.close()
        await fx.idle(200)
        expect(events).toEqual(['close'])
      })

      it('refused connections throw PEER_CONNECT_FAILED', async () => {
        const server = await fx.server.listenTcp(0, fx.serverHost)
        const port = server.port
        await server.close()
        expect(await codeOf(fx.run(fx.client.connectTcp(fx.serverHost, port)))).toBe('PEER_CONNECT_FAILED')
      })

      it('an aborted signal throws ABORTED', async () => {
        const { server } = await listen()
        const ac = new AbortController()
        ac.abort()
        expect(await codeOf(fx.run(fx.client.connectTcp(fx.serverHost, server.port, { signal: ac.signal })))).toBe('ABORTED')
      })

      it('listening on a taken port throws LISTEN_FAILED; after close the port is free again', async () => {
        const first = await fx.server.listenTcp(0, fx.serverHost)
        expect(await codeOf(fx.server.listenTcp(first.port, fx.serverHost))).toBe('LISTEN_FAILED')
        await first.close()
        await first.close()
        const again = await fx.server.listenTcp(first.port, fx.serverHost)
        expect(again.port).toBe(first.port)
        await again.close()
      })

      it('closing the server keeps accepted connections working', async () => {
        const { server, client, remote } = await pair()
        await server.close()
        const r = record(remote)
        client.send(new TextEncoder().encode('still open'))
        await fx.waitFor(() => r.bytes === 10, 'data after server close')
        expect(r.closes).toEqual([])
      })
    })

    describe('UDP', () => {
      it('sends datagrams both ways with the sender\'s address and port', async () => {
        const a = await fx.client.bindUdp(0, fx.clientHost)
        const b = await fx.server.bindUdp(0, fx.serverHost)
        toClose.push(a, b)
        const atB: Array<{ text: string, address: string, port: number }> = []
        const atA: string[] = []
        b.onMessage((data, remote) => {
          atB.push({ text: new TextDecoder().decode(data), ...remote })
          b.send(new TextEncoder().encode('re:' + new TextDecoder().decode(data)), remote.address, remote.port)
        })
        a.onMessage((data) => { atA.push(new TextDecoder().decode(data)) })
        const msg = new TextEncoder().encode('ping')
        a.send(msg, fx.serverHost, b.port)
        msg.fill(0) // the socket must not depend on the caller's buffer after send()
        await fx.waitFor(() => atA.length === 1, 'the reply')
        expect(atB).toEqual([{ text: 'ping', address: fx.clientHost, port: a.port }])
        expect(atA).toEqual(['re:ping'])
      })

      it('binding a taken port throws LISTEN_FAILED; close is idempotent and frees it', async () => {
        const a = await fx.server.bindUdp(0, fx.serverHost)
        expect(await codeOf(fx.server.bindUdp(a.port, fx.serverHost))).toBe('LISTEN_FAILED')
        a.close()
        a.close()
        const again = await fx.server.bindUdp(a.port, fx.serverHost)
        expect(again.port).toBe(a.port)
        again.close()
      })

      it('a closed socket neither sends nor receives', async () => {
        const a = await fx.client.bindUdp(0, fx.clientHost)
        const b = await fx.server.bindUdp(0, fx.serverHost)
        toClose.push(a)
        const got: Uint8Array[] = []
        b.onMessage((d) => got.push(d))
        b.close()
        a.send(new Uint8Array([1]), fx.serverHost, b.port)
        await fx.idle(100)
        expect(got).toEqual([])
        a.close()
        a.send(new Uint8Array([1]), fx.serverHost, b.port)
      })
    })
  })
}
