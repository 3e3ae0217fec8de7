import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
