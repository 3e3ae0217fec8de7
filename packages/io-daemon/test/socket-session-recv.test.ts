// The receive path of a dialled socket (issue 17): the kernel reads into pooled TCP_RECV frames,
// and a frame's buffer is read into again only after the WebSocket has let go of it. A stand-in
// WebSocket here holds every frame it is given, uncopied, until the test releases it — as ws does
// while the browser's socket is congested — so reusing a buffer early would change held frames.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Op, decodeFrame, tcpAckFrame, tcpConnectFrame } from '@lodestone/engine/adapters/daemon'
import type { WebSocket } from 'ws'
import { SocketSession } from '../src/socket-session.js'

class HoldingWebSocket {
  readonly OPEN = 1
  readyState = 1
  readonly held: Array<{ frame: Uint8Array, done: () => void }> = []
  send (frame: Uint8Array, _options: unknown, done: () => void): void { this.held.push({ frame, done }) }
  /** Frames given so far, in order; releases them when asked (the kernel took them). */
  take (release: boolean): Uint8Array[] {
    const out = this.held.splice(0)
    if (release) for (const h of out) h.done()
    return out.map((h) => h.frame)
  }
}

async function until (predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

const cleanups: Array<() => void> = []
afterEach(() => { for (const c of cleanups.splice(0)) c() })

describe('SocketSession receive path (dialled sockets)', () => {
  it('frames every byte in order and never reads into a buffer the WebSocket still holds', async () => {
    let remote: Socket | undefined
    const server: Server = createServer((s) => { remote = s })
    await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
    const ws = new HoldingWebSocket()
    const session = new SocketSession(ws as unknown as WebSocket, (reason) => { throw new Error(`violation: ${reason}`) })
    cleanups.push(() => { session.close(); server.close() })
    session.onMessage(tcpConnectFrame(7, 1, '127.0.0.1', (server.address() as AddressInfo).port))
    await until(() => remote !== undefined && ws.held.some((h) => decodeFrame(h.frame).opcode === Op.TCP_CONNECTED), 'connected')
    ws.take(true)

    const total = 6 << 20
    const expected = new Uint8Array(total)
    let x = 0x2545f491
    for (let i = 0; i < total; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; expected[i] = x & 0xff }
    const got = new Uint8Array(total)
    let received = 0
    let heldViews: Uint8Array[] = []
    const collect = (release: boolean): void => {
      for (const frame of ws.take(release)) {
        const f = decodeFrame(frame)
        if (f.opcode !== Op.TCP_RECV) continue
        const data = f.payload.subarray(4)
        if (release) got.set(data, received)
        else heldViews.push(data) // the held frame's own memory, not a copy
        received += data.length
      }
    }
    // Phase 1: hold every frame (a congested WebSocket) while 3 MiB arrive in writes of every size.
    let sent = 0
    for (let round = 0; sent < total / 2; round++) {
      const n = Math.min(round % 2 === 0 ? 1 + round * 37 % 5000 : 100_000 + round * 7919 % 300_000, total / 2 - sent)
      remote!.write(expected.subarray(sent, sent + n))
      sent += n
      if (round % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 1))
    }
    await until(() => { collect(false); return received === sent }, 'first half framed')
    // Every held frame still carries what was read into it, though reads went on meanwhile.
    let at = 0
    for (const view of heldViews) { got.set(view, at); at += view.length }
    expect(Buffer.compare(got.subarray(0, sent), expected.subarray(0, sent))).toBe(0)
    expect(heldViews.length).toBeGreaterThan(3)
    heldViews = []
    // Phase 2: release them (their buffers are read into again), acknowledge, send the rest.
    for (const h of ws.held.splice(0)) h.done()
    session.onMessage(tcpAckFrame(Op.TCP_RECV_ACK, 1, received))
    remote!.write(expected.subarray(sent))
    await until(() => { collect(true); return received === total }, 'second half framed')
    expect(Buffer.compare(got, expected)).toBe(0)
  })
})
