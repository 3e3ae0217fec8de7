/**
 * Our outstanding KRPC queries: transaction ids, time-outs, and the global send budget.
 *
 * - Transaction ids are 2 bytes from a counter that starts at a random value; an answer is matched
 *   by id and must come from the endpoint we asked (when that was an IP literal: a bootstrap router
 *   given by name answers from whatever address the name resolved to). Unmatched answers are
 *   dropped and counted, so nobody can inject answers without seeing our queries.
 * - A query is "slow" after `slowMs` (a lookup stops waiting for it and asks another node, as
 *   libtorrent's short time-out does) and failed after `timeoutMs`.
 * - At most `maxInFlight` queries are out and at most `perSec` leave per second; the rest wait in a
 *   bounded queue (overflow fails at once). Every packet we send is a query made here or a reply
 *   to a rate-limited query, which bounds what hostile answers can make us send.
 */
import type { IClock, ITimer } from '../interfaces/clock.js'
import type { IRandom } from '../interfaces/random.js'
import type { UdpRemote } from '../interfaces/socket.js'
import { ipFamily } from '../tracker/compact-peers.js'
import type { KrpcErrorMessage, KrpcResponse } from './krpc-codec.js'
import { TokenBucket } from './query-rate-limiter.js'

export type QueryOutcome =
  | { kind: 'response', response: KrpcResponse, from: UdpRemote }
  | { kind: 'error', code: number, message: string }
  | { kind: 'timeout' }
  /** Never sent: the queue was full or the node closed. */
  | { kind: 'dropped' }

export interface KrpcTransactionSettings {
  slowMs: number
  timeoutMs: number
  maxInFlight: number
  perSec: number
  /** Queries waiting for the budget; more are dropped. */
  maxQueued: number
}

export interface QueryOptions {
  /** Called once if the query is still unanswered after `slowMs`. */
  onSlow?: () => void
}

interface Pending {
  host: string
  port: number
  /** The answer must come from host:port (false for bootstrap names). */
  checkSource: boolean
  resolve: (outcome: QueryOutcome) => void
  slowTimer: ITimer | undefined
  timeoutTimer: ITimer
}

interface Queued {
  host: string
  port: number
  build: (t: Uint8Array) => Uint8Array
  options: QueryOptions
  resolve: (outcome: QueryOutcome) => void
}

export class KrpcTransactions {
  private readonly pending = new Map<number, Pending>()
  private readonly queue: Queued[] = []
  private readonly budget: TokenBucket
  private nextId: number
  private drainTimer: ITimer | undefined
  private closed = false
  /** Answers that matched no query (unknown id, wrong source). */
  unmatched = 0
  sent = 0
  timeouts = 0

  constructor (
    private readonly clock: IClock,
    random: IRandom,
    private readonly settings: KrpcTransactionSettings,
    private readonly send: (data: Uint8Array, host: string, port: number) => void
  ) {
    this.budget = new TokenBucket({ perSecond: settings.perSec, burst: Math.max(1, Math.ceil(settings.perSec / 4)) }, clock.now())
    this.nextId = Math.floor(random.next() * 0x10000)
  }

  get inFlight (): number { return this.pending.size }
  get queued (): number { return this.queue.length }

  /** Sends a query built by `build(t)` to host:port and resolves with what became of it (never rejects). */
  async query (host: string, port: number, build: (t: Uint8Array) => Uint8Array, options: QueryOptions = {}): Promise<QueryOutcome> {
    return new Promise<QueryOutcome>((resolve) => {
      if (this.closed) { resolve({ kind: 'dropped' }); return }
      if (this.canSendNow()) { this.start({ host, port, build, options, resolve }); return }
      if (this.queue.length >= this.settings.maxQueued) { resolve({ kind: 'dropped' }); return }
      this.queue.push({ host, port, build, options, resolve })
      this.scheduleDrain()
    })
  }

  /** Hands an answer to its query. False when it matches none (then the caller counts it). */
  resolve (message: KrpcResponse | KrpcErrorMessage, from: UdpRemote): boolean {
    if (message.t.length !== 2) { this.unmatched++; return false }
    const id = ((message.t[0] ?? 0) << 8) | (message.t[1] ?? 0)
    const pending = this.pending.get(id)
    if (pending === undefined || (pending.checkSource && (pending.host !== from.address || pending.port !== from.port))) {
      this.unmatched++
      return false
    }
    this.finish(id, pending)
    pending.resolve(message.kind === 'response' ? { kind: 'response', response: message, from } : { kind: 'error', code: message.code, message: message.message })
    this.drain()
    return true
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.drainTimer?.cancel()
    for (const [id, p] of [...this.pending]) { this.finish(id, p); p.resolve({ kind: 'dropped' }) }
    for (const q of this.queue.splice(0)) q.resolve({ kind: 'dropped' })
  }

  private canSendNow (): boolean {
    return this.pending.size < this.settings.maxInFlight && this.queue.length === 0 && this.budget.take(this.clock.now())
  }

  private start (q: Queued): void {
    let id = this.nextId
    // Skip ids still in use (at most maxInFlight of 65 536).
    while (this.pending.has(id)) id = (id + 1) & 0xffff
    this.nextId = (id + 1) & 0xffff
    const t = Uint8Array.of(id >> 8, id & 0xff)
    const pending: Pending = {
      host: q.host,
      port: q.port,
      checkSource: ipFamily(q.host) !== null,
      resolve: q.resolve,
      slowTimer: q.options.onSlow === undefined
        ? undefined
        : this.clock.setTimeout(() => { pending.slowTimer = undefined; q.options.onSlow?.() }, this.settings.slowMs),
      timeoutTimer: this.clock.setTimeout(() => {
        this.timeouts++
        this.finish(id, pending)
        q.resolve({ kind: 'timeout' })
        this.drain()
      }, this.settings.timeoutMs)
    }
    this.pending.set(id, pending)
    this.sent++
    this.send(q.build(t), q.host, q.port)
  }

  private finish (id: number, p: Pending): void {
    this.pending.delete(id)
    p.slowTimer?.cancel()
    p.timeoutTimer.cancel()
  }

  private drain (): void {
    while (this.queue.length > 0 && !this.closed) {
      if (this.pending.size >= this.settings.maxInFlight) return
      if (!this.budget.take(this.clock.now())) { this.scheduleDrain(); return }
      const next = this.queue.shift()
      if (next !== undefined) this.start(next)
    }
  }

  private scheduleDrain (): void {
    if (this.drainTimer !== undefined || this.closed) return
    const waitMs = Math.max(1, this.budget.waitMs(this.clock.now()))
    this.drainTimer = this.clock.setTimeout(() => { this.drainTimer = undefined; this.drain() }, waitMs)
  }
}
