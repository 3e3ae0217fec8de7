import dgram from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import { NodePortMapper } from '../../../../adapters/node/node-port-mapper.js'
import { hasCode } from '../../../../src/errors.js'
import type { PortMapRequest } from '../../../../src/interfaces/port-mapper.js'

/** A NAT-PMP gateway on 127.0.0.1 that answers with `reply(request, count)` (null: stays silent). */
async function fakeGateway (reply: (request: Buffer, count: number) => Buffer | null): Promise<{ port: number, requests: Buffer[], close: () => void }> {
  const socket = dgram.createSocket('udp4')
  const requests: Buffer[] = []
  socket.on('message', (msg, rinfo) => {
    requests.push(msg)
    const answer = reply(msg, requests.length)
    if (answer !== null) socket.send(answer, rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve) => { socket.bind(0, '127.0.0.1', resolve) })
  return { port: socket.address().port, requests, close: () => { socket.close() } }
}

/** RFC 6886 answers: external address 203.0.113.9; a mapping granted as asked, or `result` as the result code. */
function answer (request: Buffer, result = 0): Buffer {
  const op = request[1]!
  if (op === 0) return Buffer.from([0, 128, 0, result, 0, 0, 0, 7, 203, 0, 113, 9])
  const out = Buffer.alloc(16)
  out[1] = 128 + op
  out.writeUInt16BE(result, 2)
  out.writeUInt32BE(7, 4)
  request.copy(out, 8, 4, 6) // internal port
  request.copy(out, 10, 6, 8) // external port as suggested
  request.copy(out, 12, 8, 12) // lifetime as asked
  return out
}

const REQUEST: PortMapRequest = { protocol: 'udp', internalPort: 6881, lifetimeSec: 600, description: 'test', methods: ['natpmp'] }
const closers: Array<() => void> = []
afterEach(() => { for (const c of closers.splice(0)) c() })

describe('NodePortMapper, NAT-PMP against a gateway on 127.0.0.1', () => {
  it('maps after the external address request, retransmits a lost datagram, and removes with lifetime 0', async () => {
    const gw = await fakeGateway((req, n) => n === 1 ? null : answer(req)) // the first datagram is "lost"
    closers.push(gw.close)
    const mapper = new NodePortMapper({ natPmpGateway: '127.0.0.1', natPmpPort: gw.port })
    const mapped = await mapper.map(REQUEST)
    expect(mapped).toEqual({ protocol: 'udp', internalPort: 6881, externalPort: 6881, lifetimeSec: 600, method: 'natpmp', gateway: '127.0.0.1', internalAddress: '127.0.0.1', externalAddress: '203.0.113.9' })
    expect(gw.requests.map((r) => r.toString('hex'))).toEqual(['0000', '0000', '000100001ae11ae100000258'])
    await mapper.unmap(mapped)
    expect(gw.requests.at(-1)?.toString('hex')).toBe('000100001ae1000000000000')
  })

  it('reports a refusal, a silent gateway and no NAT-PMP listener as PORT_MAPPING_FAILED', async () => {
    const refusing = await fakeGateway((req) => answer(req, req[1] === 0 ? 0 : 2))
    closers.push(refusing.close)
    const fail = async (mapper: NodePortMapper): Promise<string> => {
      try { await mapper.map(REQUEST) } catch (e) { if (hasCode(e, 'PORT_MAPPING_FAILED')) return e.details.reason }
      return 'mapped'
    }
    expect(await fail(new NodePortMapper({ natPmpGateway: '127.0.0.1', natPmpPort: refusing.port }))).toBe('natpmp: result code 2 (not authorized / refused)')
    const silent = await fakeGateway(() => null)
    closers.push(silent.close)
    const started = Date.now()
    expect(await fail(new NodePortMapper({ natPmpGateway: '127.0.0.1', natPmpPort: silent.port, natPmpAttempts: 2 }))).toBe('natpmp: no NAT-PMP answer from 127.0.0.1')
    expect(Date.now() - started).toBeGreaterThanOrEqual(700) // 250 ms, then 500 ms
    expect(silent.requests).toHaveLength(2)
    silent.close()
    closers.length = 1
    // Nothing listening: the ICMP port unreachable ends it at once (ECONNREFUSED), no retransmissions.
    const quick = Date.now()
    expect(await fail(new NodePortMapper({ natPmpGateway: '127.0.0.1', natPmpPort: silent.port }))).toMatch(/^natpmp: 127\.0\.0\.1: .*ECONNREFUSED/)
    expect(Date.now() - quick).toBeLessThan(2_000) // not the 3.75 s of four unanswered sends
  })
})
