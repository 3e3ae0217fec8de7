/** Randomness port, so tests can be deterministic. */
export interface IRandom {
  /** A float in [0, 1). */
  next (): number
  /** Fills and returns `bytes` with random values. */
  fill (bytes: Uint8Array): Uint8Array
}

/** Default randomness from WebCrypto (available on every platform the core runs on). */
export const cryptoRandom: IRandom = {
  next () {
    const v = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0
    return v / 0x1_0000_0000
  },
  fill (bytes) { return crypto.getRandomValues(bytes) }
}

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
