import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { MemoryNetwork } from '../../../adapters/memory/memory-network.js'
import { createMemoryEngine } from '../../../presets/memory.js'
import { LodestoneError } from '../../../src/errors.js'
import type { IPortMapper, PortMapRequest, PortMapResult } from '../../../src/interfaces/port-mapper.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { resolveSettings, testingSettings, type PartialEngineSettings } from '../../../src/session/engine-settings.js'
import { EnginePortMapping, type PortMappingEvent } from '../../../src/session/port-mapping.js'

/** A gateway that grants what it is asked (lease capped at `grantSec`) unless told to fail. */
class FakeMapper implements IPortMapper {
  readonly requests: PortMapRequest[] = []
  readonly removed: PortMapResult[] = []
  readonly active = new Map<string, PortMapResult>()
  failNext = 0
  hangUnmap = false
  constructor (private readonly grantSec: number) {}

  async map (request: PortMapRequest): Promise<PortMapResult> {
    this.requests.push(request)
    if (this.failNext > 0) {
      this.failNext--
      throw new LodestoneError('PORT_MAPPING_FAILED', { protocol: request.protocol, internalPort: request.internalPort, method: 'upnp', reason: '718 ConflictInMappingEntry' })
    }
    const result: PortMapResult = {
      protocol: request.protocol,
      internalPort: request.internalPort,
      externalPort: request.externalPort ?? request.internalPort,
      lifetimeSec: Math.min(request.lifetimeSec, this.grantSec),
      method: request.methods[0] ?? 'upnp',
      gateway: '10.0.0.254',
      internalAddress: '10.0.0.1',
      externalAddress: '203.0.113.7'
    }
    this.active.set(`${request.protocol}:${result.externalPort}`, result)
    return result
  }

  async unmap (mapping: PortMapResult, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.hangUnmap) {
      await new Promise<void>((_resolve, reject) => { options.signal?.addEventListener('abort', () => { reject(new Error('aborted')) }) })
    }
    this.removed.push(mapping)
    this.active.delete(`${mapping.protocol}:${mapping.externalPort}`)
  }

  close (): void {}
}

function setup (partial: PartialEngineSettings, mapper: FakeMapper | undefined): { clock: ManualClock, mapper: FakeMapper | undefined, events: PortMappingEvent[], pm: EnginePortMapping } {
  const clock = new ManualClock()
  const settings = resolveSettings({ listen: { host: '' }, ...partial })
  const events: PortMappingEvent[] = []
  const pm = new EnginePortMapping({ mapper, clock, settings: () => settings, onEvent: (e) => { events.push(e) } })
  return { clock, mapper, events, pm }
}

describe('EnginePortMapping', () => {
  it('maps TCP and UDP on the listen port, renews at half the granted lease, removes on close', async () => {
    const { clock, mapper, events, pm } = setup({ portMapping: { leaseSec: 600 } }, new FakeMapper(120))
    pm.start(6881, ['tcp', 'udp'])
    await clock.advanceAsync(0)
    expect(mapper!.requests.map((r) => [r.protocol, r.internalPort, r.externalPort, r.lifetimeSec, r.methods])).toEqual([
      ['tcp', 6881, 6881, 600, ['upnp', 'natpmp']], ['udp', 6881, 6881, 600, ['upnp', 'natpmp']]
    ])
    expect(pm.stats()).toMatchObject({ active: true, externalAddress: '203.0.113.7' })
    expect(pm.stats().mappings.map((m) => [m.protocol, m.state, m.externalPort, m.expiresAtMs])).toEqual([['tcp', 'mapped', 6881, 120_000], ['udp', 'mapped', 6881, 120_000]])
    expect(events.map((e) => [e.protocol, e.state, e.renewal])).toEqual([['tcp', 'mapped', false], ['udp', 'mapped', false]])

    await clock.advanceAsync(59_999)
    expect(mapper!.requests).toHaveLength(2) // not before half of the 120 s granted
    await clock.advanceAsync(1)
    expect(mapper!.requests).toHaveLength(4)
    expect(pm.stats().mappings.map((m) => m.renewals)).toEqual([1, 1])
    expect(events.slice(2).map((e) => [e.protocol, e.state, e.renewal])).toEqual([['tcp', 'mapped', true], ['udp', 'mapped', true]])

    await pm.close()
    expect(mapper!.removed.map((m) => m.protocol).sort()).toEqual(['tcp', 'udp'])
    expect(mapper!.active.size).toBe(0)
    expect(pm.stats().mappings.map((m) => m.state)).toEqual(['removed', 'removed'])
    expect(events.slice(4).map((e) => e.state)).toEqual(['removed', 'removed'])
    await clock.advanceAsync(3_600_000)
    expect(mapper!.requests).toHaveLength(4) // no renewal after close
  })

  it('retries a failed mapping with a doubling delay, and reports the failure', async () => {
    const mapper = new FakeMapper(3600)
    mapper.failNext = 3
    const { clock, events, pm } = setup({ portMapping: { retryMs: 1_000, maxRetryMs: 3_000, natPmp: false } }, mapper)
    pm.start(7000, ['tcp'])
    await clock.advanceAsync(0)
    expect(pm.stats().mappings[0]).toMatchObject({ state: 'failed', failures: 1, externalPort: null })
    expect(pm.stats().mappings[0]?.lastError?.code).toBe('PORT_MAPPING_FAILED')
    expect(events[0]).toMatchObject({ state: 'failed', protocol: 'tcp' })
    expect(mapper.requests[0]?.methods).toEqual(['upnp'])
    const times: number[] = []
    while (mapper.requests.length < 4) { await clock.advanceAsync(100); if (times.length < mapper.requests.length - 1) times.push(clock.now()) }
    expect(times).toEqual([1_000, 3_000, 6_000]) // 1 s, 2 s, then capped at 3 s
    expect(pm.stats().mappings[0]).toMatchObject({ state: 'mapped', failures: 0, externalPort: 7000 })
    await pm.close()
  })

  it('a failed renewal keeps the mapping and retries before the lease ends', async () => {
    const mapper = new FakeMapper(100)
    const { clock, pm } = setup({ portMapping: { retryMs: 60_000 } }, mapper)
    pm.start(7000, ['tcp'])
    await clock.advanceAsync(0)
    mapper.failNext = 1
    await clock.advanceAsync(50_000) // renewal fails at 50 s; the lease ends at 100 s
    expect(pm.stats().mappings[0]).toMatchObject({ state: 'failed', externalPort: 7000, expiresAtMs: 100_000 })
    await clock.advanceAsync(25_000) // retried at half of what is left, not after the 60 s back-off
    expect(pm.stats().mappings[0]).toMatchObject({ state: 'mapped', renewals: 1 })
    await pm.close()
  })

  it('close does not wait longer than unmapTimeoutMs for a gateway that does not answer', async () => {
    const mapper = new FakeMapper(3600)
    const { clock, events, pm } = setup({ portMapping: { unmapTimeoutMs: 2_000 } }, mapper)
    pm.start(7000, ['tcp'])
    await clock.advanceAsync(0)
    mapper.hangUnmap = true
    let closed = false
    const closing = pm.close().then(() => { closed = true })
    await clock.advanceAsync(1_999)
    expect(closed).toBe(false)
    await clock.advanceAsync(1)
    await closing
    expect(events.at(-1)).toMatchObject({ state: 'removed' })
    expect(events.at(-1)?.error?.code).toBe('PORT_MAPPING_FAILED')
  })

  it('maps nothing when off, without a mapper, or for a loopback listener', async () => {
    for (const [partial, mapper] of [
      [{ portMapping: { enabled: false } }, new FakeMapper(60)],
      [{ discovery: { portMapping: false } }, new FakeMapper(60)],
      [{ portMapping: { upnp: false, natPmp: false } }, new FakeMapper(60)],
      [{ listen: { host: '127.0.0.1' } }, new FakeMapper(60)],
      [{ listen: { host: '::1' } }, new FakeMapper(60)],
      [{}, undefined]
    ] as const) {
      const { clock, pm } = setup(partial, mapper)
      pm.start(6881, ['tcp', 'udp'])
      await clock.advanceAsync(1_000)
      expect(mapper?.requests ?? []).toEqual([])
      expect(pm.stats()).toEqual({ active: false, externalAddress: null, mappings: [] })
    }
    expect(testingSettings().portMapping.enabled).toBe(false)
    expect(resolveSettings().portMapping.enabled).toBe(true)
    expect(resolveSettings().discovery.portMapping).toBe(true)
  })
})

describe('BtEngine port mapping', () => {
  it('maps its listen port (TCP and UDP) once bound, shows it in stats, events and alerts, and removes it on close', async () => {
    const clock = new ManualClock()
    const network = new MemoryNetwork({ clock, random: seededRandom(7) }, { latencyMs: 1 })
    const mapper = new FakeMapper(3600)
    const engine = createMemoryEngine({
      socketFactory: network.host('10.0.0.1'),
      clock,
      portMapper: mapper,
      settings: { discovery: { portMapping: true }, portMapping: { enabled: true } }
    })
    const events: PortMappingEvent[] = []
    engine.on('port-mapping', (e) => { events.push(e) })
    const port = await engine.listen()
    await clock.advanceAsync(0)
    expect(port).not.toBeNull()
    expect(mapper.requests.map((r) => [r.protocol, r.internalPort])).toEqual([['tcp', port], ['udp', port]])
    const stats = engine.stats().portMapping
    expect(stats.externalAddress).toBe('203.0.113.7')
    expect(stats.mappings.map((m) => [m.protocol, m.state, m.externalPort, m.method])).toEqual([['tcp', 'mapped', port, 'upnp'], ['udp', 'mapped', port, 'upnp']])
    expect(events.map((e) => e.state)).toEqual(['mapped', 'mapped'])
    expect(engine.alerts.popAlerts().filter((a) => a.type === 'port-mapping').map((a) => a.message)).toEqual([
      `port mapping TCP ${port} mapped as 203.0.113.7:${port} (upnp)`, `port mapping UDP ${port} mapped as 203.0.113.7:${port} (upnp)`
    ])
    await engine.close()
    expect(mapper.active.size).toBe(0)
    expect(events.map((e) => e.state)).toEqual(['mapped', 'mapped', 'removed', 'removed'])
  })

  it('testing settings map nothing', async () => {
    const clock = new ManualClock()
    const network = new MemoryNetwork({ clock, random: seededRandom(8) }, { latencyMs: 1 })
    const mapper = new FakeMapper(3600)
    const engine = createMemoryEngine({ socketFactory: network.host('10.0.0.2'), clock, portMapper: mapper })
    await engine.listen()
    await clock.advanceAsync(1_000)
    expect(mapper.requests).toEqual([])
    expect(engine.stats().portMapping.active).toBe(false)
    await engine.close()
  })
})
