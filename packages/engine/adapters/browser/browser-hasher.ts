/**
 * {@link IHasher} for browsers: WebCrypto digests on a pool of dedicated workers, so piece checks
 * run beside the page's event loop (the engine's own work: parsing, picking, sending) instead of
 * competing with it. Where workers are unavailable (or `workers: 0`) digests run on the calling
 * thread through WebCrypto, as the core's WebCryptoHasher does.
 *
 * Each digest copies its input once into a buffer that is transferred to the worker (the caller's
 * piece buffer is never detached: the port says the hasher only reads it). A multi-part input is
 * concatenated by the same copy. The worker transfers the buffer back with the digest and it is
 * reused for the next input of that size: a fresh 1 MiB buffer per piece cost the page's main
 * thread more than the copy (new memory is zeroed and faulted in page by page). Jobs go to the
 * worker with the fewest bytes queued.
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

/** The worker program: `{ id, algorithm, data }` → `{ id, digest, data }` or `{ id, error, data }` (the input handed back). */
export function hasherWorkerMain (): void {
  const scope = self as unknown as {
    onmessage: ((ev: { data: { id: number, algorithm: 'SHA-1' | 'SHA-256', data: ArrayBuffer } }) => void) | null
    postMessage: (message: unknown, transfer?: Transferable[]) => void
  }
  scope.onmessage = (ev) => {
    const { id, algorithm, data } = ev.data
    crypto.subtle.digest(algorithm, data).then((digest) => {
      scope.postMessage({ id, digest, data }, [digest, data])
    }, (err: unknown) => {
      scope.postMessage({ id, error: String((err as { message?: unknown })?.message ?? err), data }, [data])
    })
  }
}

/** Inputs at least this long are copied into recycled buffers (smaller ones are cheap to allocate). */
const RECYCLE_MIN_BYTES = 64 * 1024
/** Recycled buffers kept per size, and in bytes over all sizes. */
const RECYCLE_PER_SIZE = 8
const RECYCLE_MAX_BYTES = 32 * 1024 * 1024

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
  /** Input buffers the workers handed back, by size, for reuse. */
  private readonly spare = new Map<number, ArrayBuffer[]>()
  private spareBytes = 0

  constructor (settings: Partial<BrowserHasherSettings> = {}) {
    const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : 1
    const wanted = settings.workers ?? Math.min(4, Math.max(1, (cores || 2) - 1))
    if (wanted > 0 && typeof Worker !== 'undefined') {
      this.url = URL.createObjectURL(new Blob([`(${hasherWorkerMain.toString()})()`], { type: 'text/javascript' }))
      for (let i = 0; i < wanted; i++) {
        const lane: Lane = { worker: new Worker(this.url), queuedBytes: 0, pending: new Map() }
        lane.worker.onmessage = (ev: MessageEvent<{ id: number, digest?: ArrayBuffer, error?: string, data?: ArrayBuffer }>) => {
          if (ev.data.data !== undefined) this.recycle(ev.data.data)
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
    const copy = this.bufferOf(total)
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

  /** A buffer of `bytes` for an input: a recycled one when there is one. */
  private bufferOf (bytes: number): Uint8Array {
    const buffer = bytes >= RECYCLE_MIN_BYTES ? this.spare.get(bytes)?.pop() : undefined
    if (buffer !== undefined) this.spareBytes -= bytes
    return buffer !== undefined ? new Uint8Array(buffer) : new Uint8Array(bytes)
  }

  private recycle (buffer: ArrayBuffer): void {
    if (buffer.byteLength < RECYCLE_MIN_BYTES || this.closed) return
    const list = this.spare.get(buffer.byteLength) ?? []
    if (list.length >= RECYCLE_PER_SIZE || this.spareBytes + buffer.byteLength > RECYCLE_MAX_BYTES) return
    list.push(buffer)
    this.spareBytes += buffer.byteLength
    this.spare.set(buffer.byteLength, list)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.spare.clear()
    this.spareBytes = 0
    for (const lane of this.lanes) {
      lane.worker.terminate()
      for (const job of lane.pending.values()) job.reject(new LodestoneError('CLOSED', { what: 'hasher' }))
      lane.pending.clear()
    }
    if (this.url !== null) URL.revokeObjectURL(this.url)
    await this.fallback.close()
  }
}
