import { describe, expect, it } from 'vitest'
import { NodeSocketFactory } from '../../../../adapters/node/node-socket-factory.js'
import type { ITcpSocket } from '../../../../src/interfaces/socket.js'
import { codeOf } from '../../../contracts/filesystem.contract.js'
import { runSocketFactoryContract } from '../../../contracts/socket-factory.contract.js'

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

runSocketFactoryContract('NodeSocketFactory (127.0.0.1)', async () => {
  const factory = new NodeSocketFactory()
  return {
    client: factory,
    server: factory,
    clientHost: '127.0.0.1',
    serverHost: '127.0.0.1',
    waitFor,
    idle: sleep,
    run: async (promise) => promise,
    cleanup: async () => {}
  }
})

describe('NodeSocketFactory specifics', () => {
  it('connect time-out throws PEER_CONNECT_FAILED with reason timeout', async () => {
    // A loopback listener that never accepts and has a full accept queue drops further SYNs,
    // so a connect to it can only time out (no non-loopback address needed).
    const { spawn } = await import('node:child_process')
    const python = spawn('/usr/bin/python3', ['-c', [
      'import socket, sys, time',
      's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
      'print(s.getsockname()[1], flush=True)',
      'time.sleep(60)'
    ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const port = await new Promise<number>((resolve, reject) => {
        python.stdout.once('data', (d: Buffer) => { resolve(Number(d.toString().trim())) })
        python.once('error', reject)
      })
      const factory = new NodeSocketFactory()
      const fillers: ITcpSocket[] = []
      let err: { code?: string, details?: { reason?: string } } | undefined
      for (let i = 0; i < 8 && err === undefined; i++) {
        try {
          fillers.push(await factory.connectTcp('127.0.0.1', port, { timeoutMs: 300 }))
        } catch (e) {
          err = e as typeof err
        }
      }
      for (const f of fillers) f.close()
      expect(err?.code).toBe('PEER_CONNECT_FAILED')
      expect(err?.details?.reason).toBe('timeout')
    } finally {
      python.kill()
    }
  })

  it('an abort during the connect throws ABORTED', async () => {
    const factory = new NodeSocketFactory()
    const server = await factory.listenTcp(0, '127.0.0.1')
    const ac = new AbortController()
    const pending = factory.connectTcp('127.0.0.1', server.port, { signal: ac.signal })
    ac.abort()
    expect(await codeOf(pending)).toBe('ABORTED')
    await server.close()
  })

  it('refuses bad ports and unbindable addresses with typed errors', async () => {
    const factory = new NodeSocketFactory()
    expect(await codeOf(factory.connectTcp('127.0.0.1', 0))).toBe('PEER_CONNECT_FAILED')
    expect(await codeOf(factory.connectTcp('127.0.0.1', 70_000))).toBe('PEER_CONNECT_FAILED')
    expect(await codeOf(factory.listenTcp(0, '192.0.2.1'))).toBe('LISTEN_FAILED')
    expect(await codeOf(factory.listenTcp(70_000, '127.0.0.1'))).toBe('LISTEN_FAILED')
    expect(await codeOf(factory.bindUdp(0, '192.0.2.1'))).toBe('LISTEN_FAILED')
  })

  it('a reset by the peer reports PEER_CLOSED with the errno', async () => {
    const factory = new NodeSocketFactory()
    const server = await factory.listenTcp(0, '127.0.0.1')
    const { Socket } = await import('node:net')
    const raw = new Socket()
    raw.on('error', () => {})
    raw.connect(server.port, '127.0.0.1')
    const accepted = await new Promise<ITcpSocket>((resolve) => { server.onConnection(resolve) })
    const reasons: Array<string | undefined> = []
    accepted.onData(() => {})
    accepted.onClose((r) => reasons.push(r?.code === 'PEER_CLOSED' ? (r.details as { reason: string }).reason : r?.code))
    raw.resetAndDestroy()
    await waitFor(() => reasons.length === 1, 'close after reset')
    expect(reasons).toEqual(['ECONNRESET'])
    await server.close()
  })

  it('dialled sockets read into one shared buffer: onBorrowedData lends views, onData gets owned copies, nothing is lost before registration', async () => {
    const factory = new NodeSocketFactory({ readBufferBytes: 4096 })
    const server = await factory.listenTcp(0, '127.0.0.1')
    const accepted: ITcpSocket[] = []
    server.onConnection((s) => { accepted.push(s) })
    const payload = new Uint8Array(300_000)
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >>> 8)) & 0xff
    const lender = await factory.connectTcp('127.0.0.1', server.port)
    const owner = await factory.connectTcp('127.0.0.1', server.port)
    await waitFor(() => accepted.length === 2, 'two accepts')
    // Sent before either receiver is registered: must still arrive, in order.
    for (const s of accepted) s.send(payload.slice())
    await sleep(50)
    expect(lender.onBorrowedData).toBeDefined()
    const lent: Uint8Array[] = []
    const copies: number[][] = []
    const borrowed: Uint8Array[] = []
    lender.onBorrowedData?.((chunk) => {
      expect(chunk.length).toBeLessThanOrEqual(4096)
      borrowed.push(chunk)
      lent.push(chunk.slice())
    })
    const owned: Uint8Array[] = []
    owner.onData((chunk) => {
      owned.push(chunk)
      copies.push(Array.from(chunk.subarray(0, 8)))
    })
    const total = (parts: Uint8Array[]): number => parts.reduce((n, p) => n + p.length, 0)
    await waitFor(() => total(lent) === payload.length && total(owned) === payload.length, 'both payloads')
    const join = (parts: Uint8Array[]): Uint8Array => {
      const out = new Uint8Array(total(parts))
      let at = 0
      for (const p of parts) { out.set(p, at); at += p.length }
      return out
    }
    // Byte comparison, not toEqual: the matcher walks 300 000 elements one by one (seconds under load).
    expect(Buffer.compare(join(lent), payload)).toBe(0)
    expect(Buffer.compare(join(owned), payload)).toBe(0)
    // Owned chunks kept their bytes while later reads went through the shared buffer.
    expect(owned.map((c) => Array.from(c.subarray(0, 8)))).toEqual(copies)
    // Lent chunks are views of memory that later reads overwrote (they must not be kept).
    expect(new Set(borrowed.map((c) => c.buffer)).size).toBe(1)
    for (const s of [lender, owner, ...accepted]) s.close()
    await server.close()
  })

  it('works over IPv6 loopback with IPv4-mapped addresses normalized', async () => {
    const factory = new NodeSocketFactory()
    const server = await factory.listenTcp(0) // all interfaces, dual stack
    const accepted: string[] = []
    server.onConnection((s) => { accepted.push(s.remoteAddress); s.close() })
    const v4 = await factory.connectTcp('127.0.0.1', server.port)
    await waitFor(() => accepted.length === 1, 'v4 accept')
    v4.close()
    expect(accepted[0]).toBe('127.0.0.1')
    const v6 = await factory.connectTcp('::1', server.port)
    await waitFor(() => accepted.length === 2, 'v6 accept')
    v6.close()
    expect(accepted[1]).toBe('::1')
    await server.close()
  })

  it('UDP: a reused send buffer is safe (the socket copies), and a burst ends with one batch-end call', async () => {
    const factory = new NodeSocketFactory()
    const rx = await factory.bindUdp(0, '127.0.0.1')
    const tx = await factory.bindUdp(0, '127.0.0.1')
    const got: number[] = []
    const events: string[] = []
    rx.onMessage((d) => { got.push(d[0]!); events.push('m') })
    rx.onBatchEnd!(() => { events.push('end') })
    const scratch = new Uint8Array(1_400)
    for (let i = 0; i < 50; i++) {
      scratch[0] = i
      tx.send(scratch, '127.0.0.1', rx.port) // the same memory every time
    }
    await waitFor(() => got.length === 50, '50 datagrams')
    await sleep(20)
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i))
    const ends = events.filter((e) => e === 'end').length
    expect(ends).toBeGreaterThanOrEqual(1)
    expect(ends).toBeLessThan(50)
    expect(events.at(-1)).toBe('end')
    rx.close()
    tx.close()
  })
})
