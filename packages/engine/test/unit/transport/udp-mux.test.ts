import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { MemoryNetwork } from '../../../adapters/memory/memory-network.js'
import type { IUdpSocket, UdpRemote } from '../../../src/interfaces/socket.js'
import { UdpMux, classifyDatagram, type UdpChannelKind } from '../../../src/transport/udp-mux.js'

function utpPacket (type: number, length = 20): Uint8Array {
  const p = new Uint8Array(length)
  p[0] = (type << 4) | 1
  return p
}

describe('classifyDatagram', () => {
  it('sorts KRPC, uTP and tracker answers by the first byte', () => {
    expect(classifyDatagram(new TextEncoder().encode('d1:ad2:id20:'))).toBe('krpc')
    for (let type = 0; type <= 4; type++) expect(classifyDatagram(utpPacket(type))).toBe('utp')
    // A uTP-looking first byte on a datagram shorter than the 20-byte header is not uTP.
    expect(classifyDatagram(utpPacket(0, 19))).toBe('tracker')
    // Type 5..15 or version 2: not uTP.
    expect(classifyDatagram(utpPacket(5))).toBe('tracker')
    expect(classifyDatagram(new Uint8Array([0x02, ...new Uint8Array(19)]))).toBe('tracker')
    // BEP 15 answers start with the action word (0..3).
    expect(classifyDatagram(new Uint8Array([0, 0, 0, 1, 0, 0, 0, 7]))).toBe('tracker')
    expect(classifyDatagram(new Uint8Array(0))).toBe('tracker')
  })

  it('never calls a KRPC byte uTP and vice versa, over every first byte', () => {
    for (let b0 = 0; b0 < 256; b0++) {
      const kind = classifyDatagram(new Uint8Array([b0, ...new Uint8Array(31)]))
      if (b0 === 0x64) expect(kind).toBe('krpc')
      else if ((b0 & 0x0f) === 1 && (b0 >> 4) <= 4) expect(kind).toBe('utp')
      else expect(kind).toBe('tracker')
    }
  })
})

describe('UdpMux over the memory network', () => {
  async function setup (): Promise<{ clock: ManualClock, network: MemoryNetwork, mux: UdpMux, remote: IUdpSocket }> {
    const clock = new ManualClock()
    const network = new MemoryNetwork({ clock })
    const socket = await network.host('10.0.0.1').bindUdp(6881)
    const mux = new UdpMux(socket)
    const remote = await network.host('10.0.0.2').bindUdp(7000)
    return { clock, network, mux, remote }
  }

  it('routes each kind to its channel, both ways, and counts per kind', async () => {
    const { clock, network, mux, remote } = await setup()
    const got: Array<[UdpChannelKind, number, UdpRemote]> = []
    for (const kind of ['krpc', 'utp', 'tracker'] as const) {
      const ch = mux.channel(kind)
      expect(ch.port).toBe(6881)
      expect(mux.channel(kind)).toBe(ch)
      ch.onMessage((data, from) => { got.push([kind, data.length, from]) })
    }
    const back: number[] = []
    remote.onMessage((data, from) => {
      expect(from).toEqual({ address: '10.0.0.1', port: 6881 })
      back.push(data.length)
    })
    remote.send(new TextEncoder().encode('d1:y1:qe'), '10.0.0.1', 6881)
    remote.send(utpPacket(4, 26), '10.0.0.1', 6881)
    remote.send(new Uint8Array(16), '10.0.0.1', 6881)
    mux.channel('krpc').send(new Uint8Array(5), '10.0.0.2', 7000)
    mux.channel('utp').send(new Uint8Array(21), '10.0.0.2', 7000)
    await clock.advanceUntilIdle()
    const from = { address: '10.0.0.2', port: 7000 }
    expect(got).toEqual([['krpc', 8, from], ['utp', 26, from], ['tracker', 16, from]])
    expect(back).toEqual([5, 21])
    const s = mux.stats()
    expect(s.krpc).toEqual({ packetsIn: 1, bytesIn: 8, packetsOut: 1, bytesOut: 5, dropped: 0, handlerErrors: 0 })
    expect(s.utp).toEqual({ packetsIn: 1, bytesIn: 26, packetsOut: 1, bytesOut: 21, dropped: 0, handlerErrors: 0 })
    expect(s.tracker).toMatchObject({ packetsIn: 1, bytesIn: 16, packetsOut: 0 })
    mux.close()
    remote.close()
    expect(network.openSocketCount).toBe(0)
  })

  it('drops and counts datagrams of a kind nobody listens to; a closed channel stops receiving', async () => {
    const { clock, mux, remote } = await setup()
    const krpc: number[] = []
    const ch = mux.channel('krpc')
    ch.onMessage((d) => krpc.push(d.length))
    remote.send(utpPacket(0), '10.0.0.1', 6881)
    remote.send(new TextEncoder().encode('de'), '10.0.0.1', 6881)
    await clock.advanceUntilIdle()
    ch.close()
    remote.send(new TextEncoder().encode('dee'), '10.0.0.1', 6881)
    await clock.advanceUntilIdle()
    expect(krpc).toEqual([2])
    expect(mux.stats().utp.dropped).toBe(1)
    expect(mux.stats().krpc).toMatchObject({ packetsIn: 2, dropped: 1 })
    mux.close()
    remote.close()
  })

  it('catches and counts what a handler throws; the other kinds keep working', async () => {
    const { clock, mux, remote } = await setup()
    const tracker: number[] = []
    mux.channel('krpc').onMessage(() => { throw new Error('hostile input') })
    mux.channel('tracker').onMessage((d) => tracker.push(d.length))
    for (let i = 0; i < 3; i++) remote.send(new TextEncoder().encode('d'), '10.0.0.1', 6881)
    remote.send(new Uint8Array(8), '10.0.0.1', 6881)
    await clock.advanceUntilIdle()
    expect(mux.stats().krpc.handlerErrors).toBe(3)
    expect(tracker).toEqual([8])
    mux.close()
    remote.close()
  })

  it('sends nothing and delivers nothing after close; close is idempotent', async () => {
    const { clock, network, mux, remote } = await setup()
    const got: number[] = []
    remote.onMessage((d) => got.push(d.length))
    const ch = mux.channel('utp')
    mux.close()
    mux.close()
    ch.send(new Uint8Array(20), '10.0.0.2', 7000)
    await clock.advanceUntilIdle()
    expect(got).toEqual([])
    expect(mux.stats().utp.packetsOut).toBe(0)
    remote.close()
    expect(network.openSocketCount).toBe(0)
  })

  it('reports the end of each receive batch to the channels that ask, once per batch', async () => {
    const { clock, mux, remote } = await setup()
    const events: string[] = []
    const utp = mux.channel('utp')
    utp.onMessage(() => events.push('utp'))
    expect(utp.onBatchEnd).toBeTypeOf('function')
    utp.onBatchEnd!(() => events.push('end'))
    mux.channel('krpc').onBatchEnd!(() => { throw new Error('hostile') })
    for (let i = 0; i < 3; i++) remote.send(utpPacket(0), '10.0.0.1', 6881)
    await clock.advanceUntilIdle()
    expect(events).toEqual(['utp', 'utp', 'utp', 'end'])
    expect(mux.stats().krpc.handlerErrors).toBe(1)
    mux.close()
    remote.close()
  })

  it('offers no onBatchEnd when the socket cannot report batches', () => {
    const plain: IUdpSocket = { port: 1, send: () => {}, onMessage: () => {}, close: () => {} }
    expect(new UdpMux(plain).channel('utp').onBatchEnd).toBeUndefined()
  })
})
