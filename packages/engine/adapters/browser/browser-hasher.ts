/**
 * {@link IHasher} for browsers: WebCrypto digests on a pool of dedicated workers, so piece checks
 * run beside the page's event loop (the engine's own work: parsing, picking, sending) instead of
 * competing with it. Where workers are unavailable (or `workers: 0`) digests run on the calling
 * thread through WebCrypto, as the core's WebCryptoHasher does.
 *
 * Each digest copies its input once into a fresh buffer that is transferred to the worker (the
 * caller's piece buffer is never detached: the port says the hasher only reads it). A multi-part
 * input is concatenated by the same copy. Jobs go to the worker with the fewest bytes queued.
 *
 * The worker's code is {@link hasherWorkerMain}, started from a Blob URL of its source (self-contained).
 */
import { LodestoneError } from '../../src/errors.js'
import type { HashAlgorithm, IHasher } from '../../src/interfaces/hasher.js'
import { WebCryptoHasher } from '../../src/hashing/web-crypto-hasher.js'

export interface BrowserHasherSettings {
  /** Worker count; 0 hashes on the calling thread. @default min(4, max(1, hardwareConcurrency - 1)) */
  workers: number
}

/** The worker program: `{ id, algorithm, data }` → `{ id, digest }` or `{ id, error }`. */
export function hasherWorkerMain (): void {
  const scope = self as unknown as {
    onmessage: ((ev: { data: { id: number, algorithm: 'SHA-1' | 'SHA-256', data: ArrayBuffer } }) => void) | null
    postMessage: (message: unknown, transfer?: Transferable[]) => void
  }
  scope.onmessage = (ev) => {
    const { id, algorithm, data } = ev.data
    crypto.subtle.digest(algorithm, data).then((digest) => {
      scope.postMessage({ id, digest }, [digest])
    }, (err: unknown) => {
      scope.postMessage({ id, error: String((err as { message?: unknown })?.message ?? err) })
    })
  }
}

const NAMES: Record<HashAlgorithm, 'SHA-1' | 'SHA-256'> = { sha1: 'SHA-1', sha256: 'SHA-256' }

interface Lane {
  worker: Worker
  queuedBytes: number
  pending: Map<number, { resolve: (d: Uint8Array) => void, reject: (e: unknown) => void, bytes: number }>
}

export class BrowserHasher implements IHasher {
  readonly concurrency: number
  private readonly lanes: Lane[] = []
  private readonly fallback = new WebCryptoHasher()
  private readonly url: string | null = null
  private nextId = 1
  private closed = false

  constructor (settings: Partial<BrowserHasherSettings> = {}) {
    const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : 1
    const wanted = settings.workers ?? Math.min(4, Math.max(1, (cores || 2) - 1))
    if (wanted > 0 && typeof Worker !== 'undefined') {
      this.url = URL.createObjectURL(new Blob([`(${hasherWorkerMain.toString()})()`], { type: 'text/javascript' }))
      for (let i = 0; i < wanted; i++) {
        const lane: Lane = { worker: new Worker(this.url), queuedBytes: 0, pending: new Map() }
        lane.worker.onmessage = (ev: MessageEvent<{ id: number, digest?: ArrayBuffer, error?: string }>) => {
          const job = lane.pending.get(ev.data.id)
          if (job === undefined) return
          lane.pending.delete(ev.data.id)
          lane.queuedBytes -= job.bytes
          if (ev.data.digest !== undefined) job.resolve(new Uint8Array(ev.data.digest))
          else job.reject(new LodestoneError('INTERNAL', { reason: `hash worker: ${ev.data.error ?? 'failed'}` }))
        }
        this.lanes.push(lane)
      }
    }
    this.concurrency = Math.max(1, this.lanes.length)
  }

  /** Workers running (0: digests on the calling thread). */
  get workerCount (): number { return this.lanes.length }

  async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'hasher' })
    if (this.lanes.length === 0) return this.fallback.digest(algorithm, data)
    const parts = data instanceof Uint8Array ? [data] : data
    let total = 0
    for (const p of parts) total += p.length
    const copy = new Uint8Array(total)
    let off = 0
    for (const p of parts) { copy.set(p, off); off += p.length }
    let lane = this.lanes[0] as Lane
    for (const l of this.lanes) if (l.queuedBytes < lane.queuedBytes) lane = l
    const id = this.nextId++
    return new Promise<Uint8Array>((resolve, reject) => {
      lane.pending.set(id, { resolve, reject, bytes: total })
      lane.queuedBytes += total
      lane.worker.postMessage({ id, algorithm: NAMES[algorithm], data: copy.buffer }, [copy.buffer])
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const lane of this.lanes) {
      lane.worker.terminate()
      for (const job of lane.pending.values()) job.reject(new LodestoneError('CLOSED', { what: 'hasher' }))
      lane.pending.clear()
    }
    if (this.url !== null) URL.revokeObjectURL(this.url)
    await this.fallback.close()
  }
}
