import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { WebSocket } from 'ws'
import { startIoDaemon, type IoDaemon } from '@lodestone/io-daemon'
import { DaemonConnection, type BridgeWebSocketConstructor } from '../../../../adapters/daemon/daemon-connection.js'
import { DaemonSocketFactory } from '../../../../adapters/daemon/daemon-socket-factory.js'
import { NodeSocketFactory } from '../../../../adapters/node/node-socket-factory.js'
import { runSocketFactoryContract } from '../../../contracts/socket-factory.contract.js'
import type { ITcpSocket } from '../../../../src/interfaces/socket.js'

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

async function waitFor (predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await sleep(2)
  }
}

const WS = WebSocket as unknown as BridgeWebSocketConstructor

async function connect (daemon: IoDaemon): Promise<DaemonConnection> {
  return DaemonConnection.connect({ port: daemon.port, authToken: daemon.token, WebSocket: WS })
}

// Both ends through the bridge (each its own WebSocket session), so every frame kind is exercised.
runSocketFactoryContract('DaemonSocketFactory (io-daemon, both ends)', async () => {
  const daemon = await startIoDaemon()
  const a = await connect(daemon)
  const b = await connect(daemon)
  return {
    client: new DaemonSocketFactory(a),
    server: new DaemonSocketFactory(b),
    clientHost: '127.0.0.1',
    serverHost: '127.0.0.1',
    waitFor,
    idle: sleep,
    run: async (promise) => promise,
    cleanup: async () => { a.close(); b.close(); await daemon.close() }
  }
})

// The bridge against a plain Node peer on the other side.
runSocketFactoryContract('DaemonSocketFactory client, NodeSocketFactory server', async () => {
  const daemon = await startIoDaemon()
  const a = await connect(daemon)
  return {
    client: new DaemonSocketFactory(a),
    server: new NodeSocketFactory(),
    clientHost: '127.0.0.1',
    serverHost: '127.0.0.1',
    waitFor,
    idle: sleep,
    run: async (promise) => promise,
    cleanup: async () => { a.close(); await daemon.close() }
  }
})

describe('DaemonSocketFactory flow control', () => {
  it('a paused socket holds at most the daemon\'s receive window; the daemon stops reading and the remote sender stalls', async () => {
    const { RECV_WINDOW_BYTES } = await import('@lodestone/io-daemon')
    const daemon = await startIoDaemon()
    const conn = await connect(daemon)
    const node = new NodeSocketFactory()
    const server = await node.listenTcp(0, '127.0.0.1')
    const accepted: ITcpSocket[] = []
    server.onConnection((s) => accepted.push(s))
    const client = await new DaemonSocketFactory(conn).connectTcp('127.0.0.1', server.port)
    client.pause()
    let received = 0
    client.onData((d) => { received += d.length })
    await waitFor(() => accepted.length === 1, 'accepted')
    const remote = accepted[0]!
    let sent = 0
    const chunk = 256 * 1024
    const pump = (): void => { while (sent < (256 << 20) && remote.send(new Uint8Array(chunk))) sent += chunk }
    remote.onDrain(pump)
    pump()
    let last = -1
    while (sent !== last) { last = sent; await sleep(300) }
    expect(received).toBe(0)
    expect(client.heldBytes).toBeLessThanOrEqual(RECV_WINDOW_BYTES + 1024 * 1024)
    expect(sent).toBeLessThan(256 << 20)
    client.resume()
    await waitFor(() => received >= client.heldBytes && received > RECV_WINDOW_BYTES / 2, 'held bytes delivered on resume')
    client.close(); remote.close(); await server.close(); conn.close(); await daemon.close()
  })
})

describe('DaemonSocketFactory receive path', () => {
  it('a dialled socket delivers every byte in order, from short reads (copied) and long ones (pooled frames the kernel reads into, reused)', async () => {
    const daemon = await startIoDaemon()
    const conn = await connect(daemon)
    const accepted: Socket[] = []
    const server = createServer((s) => { accepted.push(s) })
    await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
    const client = await new DaemonSocketFactory(conn).connectTcp('127.0.0.1', (server.address() as AddressInfo).port)
    const total = 8 << 20
    const got = new Uint8Array(total)
    let received = 0
    client.onData((d) => { got.set(d, received); received += d.length })
    await waitFor(() => accepted.length === 1, 'accepted')
    const remote = accepted[0]!
    // A byte pattern that differs in every frame: a frame buffer reused too early shows as wrong bytes.
    const expected = new Uint8Array(total)
    let x = 0x9e3779b9
    for (let i = 0; i < total; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; expected[i] = x & 0xff }
    let sent = 0
    for (let round = 0; sent < total; round++) {
      // Tiny writes after a pause (short reads) between floods (long reads).
      const size = round % 3 === 0 ? 1 + (round % 700) : 64 * 1024 + (round * 4099) % (512 * 1024)
      const n = Math.min(size, total - sent)
      const ok = remote.write(expected.subarray(sent, sent + n))
      sent += n
      if (round % 3 === 2) await sleep(1)
      if (!ok) await new Promise((resolve) => remote.once('drain', resolve))
    }
    await waitFor(() => received === total, 'all bytes received', 60_000)
    expect(Buffer.compare(got, expected)).toBe(0)
    client.close(); remote.destroy(); server.close(); conn.close(); await daemon.close()
  })
})

describe('DaemonConnection', () => {
  let daemon: IoDaemon
  beforeAll(async () => { daemon = await startIoDaemon() })
  afterAll(async () => { await daemon.close() })

  it('refuses a wrong token with PEER_CONNECT_FAILED', async () => {
    await expect(DaemonConnection.connect({ port: daemon.port, authToken: 'nope', WebSocket: WS })).rejects.toMatchObject({ code: 'PEER_CONNECT_FAILED' })
  })

  it('closes every socket when the bridge goes away', async () => {
    const conn = await connect(daemon)
    const factory = new DaemonSocketFactory(conn)
    const server = await new NodeSocketFactory().listenTcp(0, '127.0.0.1')
    const socket = await factory.connectTcp('127.0.0.1', server.port)
    const reasons: unknown[] = []
    socket.onClose((r) => reasons.push(r))
    conn.close()
    await waitFor(() => reasons.length === 1, 'socket closed')
    expect(reasons[0]).toMatchObject({ code: 'PEER_CLOSED' })
    await server.close()
  })
})
