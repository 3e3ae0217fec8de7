import { describe, expect, it } from 'vitest'
import { SystemClock } from '../../../../adapters/node/node-clock.js'
import { NodeSocketFactory } from '../../../../adapters/node/node-socket-factory.js'
import type { ITcpSocket } from '../../../../src/interfaces/socket.js'
import { UdpMux } from '../../../../src/transport/udp-mux.js'
import { UtpManager } from '../../../../src/transport/utp/utp-manager.js'
import { collect, equalBytes, pattern, writeAll } from './utp-test-kit.js'

async function waitFor (predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('uTP over real UDP on 127.0.0.1 (through the UDP mux)', () => {
  it('moves 8 MB each way between two managers, byte-identical, acking in batches', async () => {
    const factory = new NodeSocketFactory()
    const clock = new SystemClock()
    const muxA = new UdpMux(await factory.bindUdp(0, '127.0.0.1'))
    const muxB = new UdpMux(await factory.bindUdp(0, '127.0.0.1'))
    const a = new UtpManager({ channel: muxA.channel('utp'), clock })
    const b = new UtpManager({ channel: muxB.channel('utp'), clock })
    let server: ITcpSocket | undefined
    b.onConnection((s) => { server = s })
    const client = await a.connect('127.0.0.1', muxB.port)
    const up = pattern(8_000_000, 1)
    const down = pattern(8_000_000, 2)
    writeAll(client, up)
    await waitFor(() => server !== undefined, 'accept')
    const serverGot = collect(server!)
    const clientGot = collect(client)
    writeAll(server!, down)
    await waitFor(() => serverGot.bytes === up.length && clientGot.bytes === down.length, 'transfer')
    expect(equalBytes(serverGot.concat(), up)).toBe(true)
    expect(equalBytes(clientGot.concat(), down)).toBe(true)
    const sa = a.stats()
    expect(sa.handlerErrors + sa.invalidPackets).toBe(0)
    expect(muxA.stats().utp.packetsOut).toBe(sa.packetsOut)
    client.close()
    await waitFor(() => serverGot.closed && a.stats().connections === 0 && b.stats().connections === 0, 'close')
    a.close()
    b.close()
    muxA.close()
    muxB.close()
  })
})
