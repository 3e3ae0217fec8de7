import { describe, expect, it } from 'vitest'
import { ConnectionManager } from '../../../src/peer/connection-manager.js'
import { defaultConnectionSettings } from '../../../src/peer/connection-settings.js'
import { ListenRouter } from '../../../src/peer/listen-router.js'
import type { LodestoneError } from '../../../src/errors.js'
import type { IClock, ITcpServer, ITcpSocket, ISocketFactory } from '../../../src/interfaces/index.js'
import { encodeHandshake } from '../../../src/protocol/handshake.js'

class FakeSocket implements ITcpSocket {
  readonly localPort = 6881
  bufferedBytes = 0
  closed = false
  private data: ((d: Uint8Array) => void) | null = null
  private closeCb: ((r?: LodestoneError) => void) | null = null
  constructor (readonly remoteAddress: string, readonly remotePort: number) {}
  send (): boolean { return true }
  pause (): void {}
  resume (): void {}
  onData (cb: (d: Uint8Array) => void): void { this.data = cb }
  onDrain (): void {}
  onClose (cb: (r?: LodestoneError) => void): void { this.closeCb = cb }
  close (): void { if (this.closed) return; this.closed = true; this.closeCb?.() }
  push (d: Uint8Array): void { this.data?.(d) }
}

function setup (limits: { maxConnections?: number, maxPendingIncoming?: number } = {}) {
  const clock: IClock = { now: () => 0, wallNow: () => 0, setTimeout: () => ({ cancel () {} }), setInterval: () => ({ cancel () {} }) }
  let onConn: ((s: ITcpSocket) => void) | null = null
  let serverClosed = false
  const server: ITcpServer = { port: 40000, onConnection (cb) { onConn = cb }, close: async () => { serverClosed = true } }
  const socketFactory: ISocketFactory = {
    connectTcp: async () => { throw new Error('unused') },
    listenTcp: async () => server,
    bindUdp: async () => { throw new Error('unused') }
  }
  const connections = new ConnectionManager({ socketFactory, clock, peerId: new Uint8Array(20) }, { ...defaultConnectionSettings, maxConnections: 2, maxPendingIncoming: 2, ...limits })
  const router = new ListenRouter({ socketFactory, clock, connections })
  return { router, connections, connect: (s: FakeSocket) => onConn?.(s), isServerClosed: () => serverClosed }
}

const flush = async (): Promise<void> => { for (let i = 0; i < 10; i++) await Promise.resolve() }
const hash = (b: number): Uint8Array => new Uint8Array(20).fill(b)
const hs = (infoHash: Uint8Array): Uint8Array => encodeHandshake({ infoHash, peerId: new Uint8Array(20).fill(9), features: { extensionProtocol: true, fastExtension: true, dht: false } })

describe('ListenRouter', () => {
  it('routes by info hash, split at any byte, and closes unknown torrents', async () => {
    const { router, connect, connections } = setup()
    expect(await router.listen(0, '127.0.0.1')).toBe(40000)
    const routed: string[] = []
    router.register(hash(1), (socket, header, ticket) => {
      routed.push(socket.remoteAddress)
      expect(header.infoHash).toEqual(hash(1))
      const slot = ticket.claim('t')
      expect(slot).toBe('unknown-torrent')
    })
    const a = new FakeSocket('10.0.0.1', 1000)
    connect(a)
    const bytes = hs(hash(1))
    a.push(bytes.subarray(0, 30)); a.push(bytes.subarray(30))
    await flush()
    expect(routed).toEqual(['10.0.0.1'])
    const b = new FakeSocket('10.0.0.2', 1000)
    connect(b)
    b.push(hs(hash(2)))
    await flush()
    expect(b.closed).toBe(true)
    expect(router.stats()).toMatchObject({ accepted: 2, unknownInfoHash: 1 })
    expect(connections.stats().pendingIncoming).toBe(0)
  })

  it('refuses banned hosts and drops non-BitTorrent peers', async () => {
    const { router, connect, connections } = setup()
    await router.listen(0, '')
    connections.ban('10.0.0.66', 'test')
    const banned = new FakeSocket('10.0.0.66', 1)
    connect(banned)
    expect(banned.closed).toBe(true)
    const s1 = new FakeSocket('10.0.0.1', 1)
    connect(s1)
    s1.push(new TextEncoder().encode('GET / HTTP/1.1\r\n'))
    await flush()
    expect(s1.closed).toBe(true)
    expect(router.stats()).toMatchObject({ refused: 1, handshakeFailures: 1, pendingHandshakes: 0 })
    expect(connections.stats().pendingIncoming).toBe(0)
  })

  it('keeps pending handshakes in their own budget: the oldest makes room, established peers keep their slots', async () => {
    const { router, connect, connections } = setup({ maxConnections: 1, maxPendingIncoming: 2 })
    await router.listen(0, '')
    const routed: FakeSocket[] = []
    const sockets: FakeSocket[] = []
    router.register(hash(1), (socket, _header, ticket) => {
      connections.addTorrent('t', { wantsConnections: () => true, onOutgoing: () => {} })
      const slot = ticket.claim('t')
      if (typeof slot === 'string') socket.close()
      else routed.push(sockets.find((s) => s.remotePort === socket.remotePort)!)
    })
    // Silent connections: each new one evicts the oldest once the budget of 2 is full.
    for (let i = 0; i < 5; i++) {
      const s = new FakeSocket('10.0.0.9', 100 + i)
      sockets.push(s)
      connect(s)
    }
    expect(sockets.map((s) => s.closed)).toEqual([true, true, true, false, false])
    expect(router.stats()).toMatchObject({ accepted: 5, evicted: 3, pendingHandshakes: 2 })
    // An honest peer arrives in the middle of the flood and completes its handshake at once.
    const honest = new FakeSocket('10.0.0.1', 1)
    sockets.push(honest)
    connect(honest)
    honest.push(hs(hash(1)))
    await flush()
    expect(routed).toEqual([honest])
    expect(connections.stats()).toMatchObject({ connections: 1 })
    // With every connection slot taken, new sockets are refused rather than admitted to wait.
    const late = new FakeSocket('10.0.0.2', 1)
    connect(late)
    expect(late.closed).toBe(true)
    expect(router.stats()).toMatchObject({ refused: 1 })
  })

  it('close() stops the server and drops pending handshakes', async () => {
    const { router, connect, connections, isServerClosed } = setup()
    await router.listen(0, '')
    const s = new FakeSocket('10.0.0.1', 1)
    connect(s)
    await router.close()
    await flush()
    expect(isServerClosed()).toBe(true)
    expect(s.closed).toBe(true)
    expect(connections.stats().pendingIncoming).toBe(0)
    await expect(router.listen(0, '')).rejects.toMatchObject({ code: 'CLOSED' })
  })
})
