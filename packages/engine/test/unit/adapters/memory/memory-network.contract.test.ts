import { ManualClock } from '../../../../adapters/memory/manual-clock.js'
import { MemoryNetwork } from '../../../../adapters/memory/memory-network.js'
import { runSocketFactoryContract } from '../../../contracts/socket-factory.contract.js'

runSocketFactoryContract('MemoryNetwork (ManualClock)', async () => {
  const clock = new ManualClock()
  const network = new MemoryNetwork({ clock }, { latencyMs: 5, bandwidthBytesPerSec: 50_000_000 })
  return {
    client: network.host('10.0.0.1'),
    server: network.host('10.0.0.2'),
    clientHost: '10.0.0.1',
    serverHost: '10.0.0.2',
    waitFor: async (predicate, what) => {
      if (!await clock.runUntil(predicate, 600_000)) throw new Error(`never happened (virtual time): ${what}`)
    },
    idle: async (ms) => { await clock.advanceAsync(ms) },
    run: async <T>(promise: Promise<T>): Promise<T> => {
      let outcome: { ok: true, value: T } | { ok: false, error: unknown } | undefined
      promise.then((value) => { outcome = { ok: true, value } }, (error: unknown) => { outcome = { ok: false, error } })
      if (!await clock.runUntil(() => outcome !== undefined, 600_000) || outcome === undefined) throw new Error('promise never settled (virtual time)')
      if (!outcome.ok) throw outcome.error
      return outcome.value
    },
    openSocketCount: () => network.openSocketCount,
    cleanup: async () => {
      if (!await clock.advanceUntilIdle(60_000)) throw new Error('timers still pending after cleanup')
      if (clock.pendingTimers !== 0) throw new Error(`${clock.pendingTimers} timers left`)
    }
  }
})
