/** A pair of uTP managers on two hosts of a memory network, under a manual clock. */
import { ManualClock } from '../../../../adapters/memory/manual-clock.js'
import { MemoryNetwork, type LinkSettings } from '../../../../adapters/memory/memory-network.js'
import type { LodestoneError } from '../../../../src/errors.js'
import { seededRandom, type IRandom } from '../../../../src/interfaces/random.js'
import type { ITcpSocket, IUdpSocket } from '../../../../src/interfaces/socket.js'
import { UtpManager } from '../../../../src/transport/utp/utp-manager.js'
import type { UtpSettings } from '../../../../src/transport/utp/utp-settings.js'

export const HOST_A = '10.0.0.1'
export const HOST_B = '10.0.0.2'
export const PORT = 6881

/** Settles promise continuations between timers without a macrotask turn (fast). */
export async function microSettle (): Promise<void> {
  for (let i = 0; i < 4; i++) await Promise.resolve()
}

export interface Pair {
  clock: ManualClock
  network: MemoryNetwork
  a: UtpManager
  b: UtpManager
  udpA: IUdpSocket
  udpB: IUdpSocket
  hostA: string
  hostB: string
  runUntil: (predicate: () => boolean, maxMs?: number) => Promise<boolean>
}

export interface PairOptions {
  seed?: number
  link?: Partial<LinkSettings>
  settingsA?: Partial<UtpSettings>
  settingsB?: Partial<UtpSettings>
  randomA?: IRandom
  randomB?: IRandom
  /** Addresses of the two hosts. @default HOST_A, HOST_B */
  hostA?: string
  hostB?: string
}

export async function makePair (options: PairOptions = {}): Promise<Pair> {
  const seed = options.seed ?? 1
  const clock = new ManualClock()
  const network = new MemoryNetwork({ clock }, { latencyMs: 10, seed, ...options.link })
  const hostA = options.hostA ?? HOST_A
  const hostB = options.hostB ?? HOST_B
  const udpA = await network.host(hostA).bindUdp(PORT)
  const udpB = await network.host(hostB).bindUdp(PORT)
  const a = new UtpManager({ channel: udpA, clock, random: options.randomA ?? seededRandom(seed * 7 + 1) }, options.settingsA)
  const b = new UtpManager({ channel: udpB, clock, random: options.randomB ?? seededRandom(seed * 13 + 5) }, options.settingsB)
  const runUntil = async (predicate: () => boolean, maxMs = 120_000): Promise<boolean> =>
    clock.runUntil(predicate, maxMs, { settle: microSettle, idleSettleTurns: 2 })
  return { clock, network, a, b, udpA, udpB, hostA, hostB, runUntil }
}

/** Connects A → B; returns both ends once B has accepted (after A's first write). */
export async function connectPair (pair: Pair, greeting = new Uint8Array([1, 2, 3])): Promise<{ client: ITcpSocket, server: ITcpSocket, serverGot: Sink }> {
  let server: ITcpSocket | undefined
  let serverGot: Sink | undefined
  pair.b.onConnection((socket) => {
    server = socket
    serverGot = collect(socket)
  })
  let client: ITcpSocket | undefined
  let failure: unknown
  pair.a.connect(pair.hostB, PORT).then((s) => { client = s }, (e: unknown) => { failure = e })
  await pair.runUntil(() => client !== undefined || failure !== undefined)
  if (client === undefined) throw new Error(`connect failed: ${String(failure)}`)
  client.send(greeting)
  await pair.runUntil(() => serverGot !== undefined && serverGot.bytes >= greeting.length)
  if (server === undefined || serverGot === undefined) throw new Error('server never accepted')
  return { client, server, serverGot }
}

export interface Sink {
  chunks: Uint8Array[]
  bytes: number
  closed: boolean
  reason: LodestoneError | undefined
  concat: () => Uint8Array
}

/** Collects everything `socket` delivers (copies borrowed chunks). */
export function collect (socket: ITcpSocket, borrowed = true): Sink {
  const sink: Sink = {
    chunks: [],
    bytes: 0,
    closed: false,
    reason: undefined,
    concat: () => {
      const out = new Uint8Array(sink.bytes)
      let o = 0
      for (const c of sink.chunks) { out.set(c, o); o += c.length }
      return out
    }
  }
  const take = (data: Uint8Array): void => {
    sink.chunks.push(borrowed ? data.slice() : data)
    sink.bytes += data.length
  }
  if (borrowed && socket.onBorrowedData !== undefined) socket.onBorrowedData(take)
  else socket.onData(take)
  socket.onClose((reason) => {
    sink.closed = true
    sink.reason = reason
  })
  return sink
}

/** Writes `data` in `chunkBytes` pieces, honouring `send()` backpressure and `onDrain`. */
export function writeAll (socket: ITcpSocket, data: Uint8Array, chunkBytes = 16_384): { done: () => boolean, stalls: () => number } {
  let offset = 0
  let stalls = 0
  const pump = (): void => {
    while (offset < data.length) {
      const n = Math.min(chunkBytes, data.length - offset)
      const ok = socket.send(data.slice(offset, offset + n))
      offset += n
      if (!ok) { stalls++; return }
    }
  }
  socket.onDrain(pump)
  pump()
  return { done: () => offset >= data.length, stalls: () => stalls }
}

export function pattern (bytes: number, seed = 1): Uint8Array {
  const out = new Uint8Array(bytes)
  seededRandom(seed).fill(out)
  return out
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
