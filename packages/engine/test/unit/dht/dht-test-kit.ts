/** A DHT of DhtNodes over the memory network under a manual clock, for unit tests and simulations. */
import { ManualClock } from '../../../adapters/memory/manual-clock.js'
import { MemoryNetwork } from '../../../adapters/memory/memory-network.js'
import { seededRandom } from '../../../src/interfaces/random.js'
import type { IUdpSocket } from '../../../src/interfaces/socket.js'
import { DhtNode } from '../../../src/dht/dht-node.js'
import type { DhtSettingsInput } from '../../../src/dht/dht-settings.js'

/** Promise continuations of a lookup are a few levels deep; a few microtask turns settle them (faster than a macrotask). */
export const microSettle = async (): Promise<void> => { for (let i = 0; i < 8; i++) await Promise.resolve() }

export interface DhtWorld {
  clock: ManualClock
  network: MemoryNetwork
  nodes: DhtNode[]
  sockets: IUdpSocket[]
  hosts: string[]
  addNode: (settings?: DhtSettingsInput, state?: unknown) => Promise<DhtNode>
  run: (ms: number) => Promise<void>
  until: <T>(promise: Promise<T>, maxMs?: number) => Promise<T>
  close: () => void
}

export function hostOf (i: number): string {
  return `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${(i & 0xff) + 1}`
}

export async function createDhtWorld (seed = 1, base: DhtSettingsInput = {}): Promise<DhtWorld> {
  const clock = new ManualClock()
  const network = new MemoryNetwork({ clock }, { seed, latencyMs: 10 })
  const world: DhtWorld = {
    clock,
    network,
    nodes: [],
    sockets: [],
    hosts: [],
    async addNode (settings = {}, state = null) {
      const host = hostOf(world.nodes.length)
      const socket = await network.host(host).bindUdp(6881)
      const node = new DhtNode({ socket, clock, random: seededRandom(seed * 100_003 + world.nodes.length) },
        { bootstrapNodes: [], ...base, ...settings }, state)
      world.nodes.push(node)
      world.sockets.push(socket)
      world.hosts.push(host)
      return node
    },
    async run (ms) { await clock.advanceAsync(ms, { settle: microSettle, idleSettleTurns: 2 }) },
    async until<T> (promise: Promise<T>, maxMs = 120_000): Promise<T> {
      let done = false
      let value: T | undefined
      void promise.then((v) => { done = true; value = v })
      await clock.runUntil(() => done, maxMs, { settle: microSettle, idleSettleTurns: 4 })
      if (!done) throw new Error('did not settle in virtual time')
      return value as T
    },
    close () {
      for (const n of world.nodes) n.close()
      for (const s of world.sockets) s.close()
    }
  }
  return world
}
