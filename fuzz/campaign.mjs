/**
 * A mutational fuzzer without coverage instrumentation (Jazzer.js 4.0.0 installs from the registry
 * with its prebuilt libFuzzer binding inside the package, but the binding needs glibc 2.38 and
 * Debian 12 has 2.36; 2.x downloads its binary at install time). Inputs start from each target's
 * seeds and the regression corpus; each is mutated 1-6 times (bit flips, interesting bytes and
 * 32-bit values, inserts, deletes, duplicated ranges, splices with another entry, bencode tokens).
 * Feedback instead of coverage: an input whose outcome (success, or the error code and reason) was
 * not seen before joins the corpus, so the campaign drifts toward new parser paths.
 *
 * The invariant checked per input: only a LodestoneError escapes (INTERNAL, the wrapper for
 * untyped throws, counts as a failure), within `timeLimitMs`; the heap stays under `maxHeapBytes`.
 */
import { isLodestoneError } from '../packages/engine/dist/src/errors.js'

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x30, 0x39, 0x3a, 0x64, 0x65, 0x69, 0x6c, 0x2d]
const INTERESTING_32 = [0, 1, 0xff, 0x4000, 0x7fff, 0xffff, 0x10000, 0x100000, 0x7fffffff, 0x80000000, 0xffffffff]
const TOKENS = ['d', 'e', 'l', 'i', '0:', '1:', '4:', '-1', 'i-0e', 'i99999999999999999999e', '18446744073709551616:', 'de', 'le', ':', '%', '%2', '&', '=', '\u0000']
const te = new TextEncoder()
const MAX_INPUT_BYTES = 64 * 1024
const MAX_CORPUS = 2_000

/** xorshift32: fast and reproducible from a seed. */
export function createRng (seed) {
  let x = (seed >>> 0) || 0x9e3779b9
  return {
    next () { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x },
    below (n) { return n <= 0 ? 0 : this.next() % n }
  }
}

export function mutate (input, corpus, rng) {
  let b = input.slice()
  const count = 1 + rng.below(6)
  for (let i = 0; i < count; i++) {
    const at = rng.below(b.length + 1)
    switch (rng.below(9)) {
      case 0: if (b.length > 0) b[at % b.length] ^= 1 << rng.below(8); break
      case 1: if (b.length > 0) b[at % b.length] = INTERESTING_8[rng.below(INTERESTING_8.length)]; break
      case 2: if (b.length >= 4) new DataView(b.buffer, b.byteOffset).setUint32(rng.below(b.length - 3), INTERESTING_32[rng.below(INTERESTING_32.length)], rng.below(2) === 0); break
      case 3: { const n = 1 + rng.below(16); const ins = new Uint8Array(n).map(() => rng.below(256)); b = concat(b.subarray(0, at), ins, b.subarray(at)); break }
      case 4: { const n = 1 + rng.below(Math.max(1, b.length >> 2)); b = concat(b.subarray(0, at), b.subarray(at + n)); break }
      case 5: { const from = rng.below(b.length + 1); const n = rng.below(Math.min(64, b.length - from) + 1); b = concat(b.subarray(0, at), b.subarray(from, from + n), b.subarray(at)); break }
      case 6: { const other = corpus[rng.below(corpus.length)]; const cut = rng.below(other.length + 1); b = concat(b.subarray(0, at), other.subarray(cut)); break }
      case 7: { const t = te.encode(TOKENS[rng.below(TOKENS.length)]); b = concat(b.subarray(0, at), t, b.subarray(at)); break }
      default: if (b.length > 0) { const from = rng.below(b.length); b[at % b.length] = b[from] + rng.below(3) - 1 }
    }
  }
  return b.length > MAX_INPUT_BYTES ? b.subarray(0, MAX_INPUT_BYTES) : b
}

function concat (...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/** What an input did: '' for success, else the error's code and reason. Throws on a violation. */
export async function check (target, input, timeLimitMs) {
  const started = performance.now()
  const outcome = await outcomeOf(target, input)
  const ms = performance.now() - started
  if (ms > timeLimitMs) {
    // Wall-clock time: on a loaded machine the process can be descheduled for seconds. A slow
    // input is slow again; one that is fast the second time was a stall, not a finding.
    const again = performance.now()
    await outcomeOf(target, input)
    const msAgain = performance.now() - again
    if (msAgain > timeLimitMs) throw new FuzzFailure('slow', new Error(`input took ${ms.toFixed(0)} ms, then ${msAgain.toFixed(0)} ms (limit ${timeLimitMs} ms)`))
  }
  return outcome
}

async function outcomeOf (target, input) {
  try {
    await target.run(input)
    return ''
  } catch (error) {
    if (isLodestoneError(error) && error.code !== 'INTERNAL') return `${error.code}:${String(error.details?.reason ?? '').slice(0, 40)}`
    if (target.allow?.(error) === true) return `${error.name}:${String(error.message).slice(0, 40)}`
    throw new FuzzFailure('untyped-throw', error)
  }
}

export class FuzzFailure extends Error {
  constructor (kind, cause) {
    super(`${kind}: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`, { cause })
    this.kind = kind
  }
}

/**
 * Runs `target` until `runs` inputs or `seconds` have passed. `onInput(input)` sees each input
 * before it runs (the watchdog keeps it); failures go to `onFailure(input, failure)` and the
 * campaign goes on. Resolves with counts.
 */
export async function runCampaign (target, options) {
  const { runs = Infinity, seconds = Infinity, seed = 1, timeLimitMs = 1_000, maxHeapBytes = 512 * 2 ** 20, extraCorpus = [], onInput, onFailure } = options
  const rng = createRng(seed)
  const corpus = [...(await target.seeds()), ...extraCorpus]
  const seen = new Set()
  let executed = 0
  let failures = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  // Seeds and regression inputs run first, as they are.
  const queue = [...corpus]
  while (executed < runs && (executed % 256 !== 0 || performance.now() < deadline)) {
    const input = queue.length > 0 ? queue.shift() : mutate(corpus[rng.below(corpus.length)], corpus, rng)
    onInput?.(input)
    executed++
    try {
      const outcome = await check(target, input, timeLimitMs)
      if (!seen.has(outcome)) {
        seen.add(outcome)
        if (corpus.length < MAX_CORPUS) corpus.push(input)
      }
    } catch (failure) {
      failures++
      onFailure?.(input, failure)
    }
    if (executed % 4096 === 0 && process.memoryUsage().heapUsed > maxHeapBytes) {
      globalThis.gc?.()
      if (process.memoryUsage().heapUsed > maxHeapBytes) {
        failures++
        onFailure?.(input, new FuzzFailure('memory', new Error(`heap ${process.memoryUsage().heapUsed} bytes`)))
        break
      }
    }
  }
  const elapsedSec = (performance.now() - started) / 1000
  return { executed, failures, elapsedSec, execPerSec: executed / elapsedSec, outcomes: seen.size, corpus: corpus.length }
}
