/** Randomness port, so tests can be deterministic. */
export interface IRandom {
  /** A float in [0, 1). */
  next (): number
  /** Fills and returns `bytes` with random values. */
  fill (bytes: Uint8Array): Uint8Array
}

/** How many 32-bit values {@link cryptoRandom}.next draws from WebCrypto at once. */
const NEXT_POOL_SIZE = 256

/**
 * Default randomness from WebCrypto (available on every platform the core runs on). `next()`
 * takes its values from a pool refilled 256 at a time: the picker asks for one per piece it picks,
 * and a WebCrypto call plus a fresh array each time was ~1 % of a downloading main thread
 * (CPU profile of bench/mse's 256 MiB download); the values are the same CSPRNG output.
 */
export const cryptoRandom: IRandom = (() => {
  const pool = new Uint32Array(NEXT_POOL_SIZE)
  let at = NEXT_POOL_SIZE
  return {
    next () {
      if (at === NEXT_POOL_SIZE) {
        crypto.getRandomValues(pool)
        at = 0
      }
      return pool[at++]! / 0x1_0000_0000
    },
    fill (bytes) { return crypto.getRandomValues(bytes) }
  }
})()

/** A seeded PRNG (mulberry32) for tests and reproducible simulations. */
export function seededRandom (seed: number): IRandom {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000
  }
  return {
    next,
    fill (bytes) {
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256)
      return bytes
    }
  }
}
