/**
 * Waiting on a {@link RateLimiter} from async code: peers' uploads (a block is read only once its
 * bytes are granted) and web seeds' downloads (a range is requested only once its bytes are).
 */
import { LodestoneError } from '../errors.js'
import type { RateLimiter } from './rate-limiter.js'

/** True when no level from `limiter` up limits anything (the common case: skip the bookkeeping). */
export function isUnlimited (limiter: RateLimiter): boolean {
  for (let l: RateLimiter | null = limiter; l !== null; l = l.parent) if (l.rateBytesPerSec !== 0) return false
  return true
}

/**
 * Resolves once `limiter` has granted `bytes` (in as many grants as it takes). A limiter has one
 * wake-up callback per consumer: callers sharing one must take turns.
 * @throws LodestoneError ABORTED when `signal` fires while waiting (nothing more is asked for).
 */
export async function waitForBytes (limiter: RateLimiter, bytes: number, signal?: AbortSignal): Promise<void> {
  let need = bytes - limiter.request(bytes)
  while (need > 0) {
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(new LodestoneError('ABORTED', { operation: 'rate limit wait' }))
        return
      }
      const onAbort = (): void => {
        cancel()
        reject(new LodestoneError('ABORTED', { operation: 'rate limit wait' }))
      }
      const cancel = limiter.onAvailable(() => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      })
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    need -= limiter.request(need)
  }
}
