/** `transport.utpTargetDelayMs` reaches LEDBAT: at bind, and at run time for open connections (issue 11). */
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { MemoryNetwork } from '../../../adapters/memory/memory-network.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import { EngineUdp } from '../../../src/session/engine-udp.js'
import { defaultEngineSettings, resolveSettings } from '../../../src/session/engine-settings.js'
import { defaultTransportSettings, type TransportSettings } from '../../../src/transport/transport-settings.js'

describe('transport.utpTargetDelayMs', () => {
  it('sets the uTP manager\'s LEDBAT target when the socket binds and when settings change', async () => {
    const clock = new ManualClock()
    const network = new MemoryNetwork({ clock })
    let settings: TransportSettings = { ...defaultTransportSettings, utpTargetDelayMs: 40 }
    const udp = new EngineUdp({ socketFactory: network.host('10.0.0.1'), clock, random: seededRandom(1), settings: () => settings, onIncomingUtp: () => {} })
    await udp.bind(6881, '10.0.0.1')
    const manager = udp.utpFor('10.0.0.2')
    expect(manager?.settings.targetDelayMs).toBe(40)
    settings = { ...settings, utpTargetDelayMs: 150 }
    udp.applySettings()
    expect(manager?.settings.targetDelayMs).toBe(150)
    udp.close()
  })

  it('defaults to BEP 29\'s 100 ms and refuses 0', () => {
    expect(defaultEngineSettings().transport.utpTargetDelayMs).toBe(100)
    expect(() => resolveSettings({ transport: { utpTargetDelayMs: 0 } }, defaultEngineSettings())).toThrow(/utpTargetDelayMs/)
  })
})
