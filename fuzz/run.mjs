#!/usr/bin/env node
/**
 * `npm run fuzz -- <target|all> [--runs N | --seconds S] [--seed N] [--time-limit-ms N] [--max-heap-mb N]`
 *
 * Runs a mutational campaign (campaign.mjs) against one target of targets.mjs, or each in turn, in
 * a worker thread with a capped heap. A failing input (an untyped throw, a slow input, a hang, the
 * heap exhausted) is written to fuzz/regressions/<target>/<sha1>.bin, which `npm test` replays
 * (fuzz/fuzz.test.ts) and every later campaign starts from. Prints counts and executions per second.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { regressionInputs } from './regressions.mjs'
import { TARGETS } from './targets.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const MAX_INPUT_BYTES = 64 * 1024

function usage (message) {
  if (message !== undefined) console.error(message)
  console.error(`usage: npm run fuzz -- <target|all> [--runs N | --seconds S] [--seed N] [--time-limit-ms N] [--max-heap-mb N]\ntargets: ${Object.keys(TARGETS).join(', ')}`)
  process.exit(2)
}

function saveFailure (target, input, kind, message) {
  const dir = join(here, 'regressions', target)
  mkdirSync(dir, { recursive: true })
  const name = createHash('sha1').update(input).digest('hex').slice(0, 16)
  writeFileSync(join(dir, `${name}.bin`), input)
  writeFileSync(join(dir, `${name}.txt`), `${kind}\n${message}\n`)
  return join('fuzz', 'regressions', target, `${name}.bin`)
}

async function runOne (target, options) {
  const shared = new SharedArrayBuffer(8 + MAX_INPUT_BYTES)
  const progress = new Int32Array(shared, 0, 2)
  const inputBytes = new Uint8Array(shared, 8)
  const worker = new Worker(join(here, 'worker.mjs'), {
    workerData: { target, ...options, shared, extraCorpus: regressionInputs(target) },
    resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb }
  })
  const failures = []
  const current = () => inputBytes.slice(0, Atomics.load(progress, 1))
  return await new Promise((resolve) => {
    let last = -1
    let stalledSince = performance.now()
    let result = null
    const watchdog = setInterval(() => {
      const now = Atomics.load(progress, 0)
      if (now !== last) { last = now; stalledSince = performance.now(); return }
      if (performance.now() - stalledSince > options.timeLimitMs * 3 + 2_000) {
        failures.push(saveFailure(target, current(), 'hang', `no progress for ${Math.round(performance.now() - stalledSince)} ms`))
        void worker.terminate()
      }
    }, 250)
    worker.on('message', (m) => {
      if (m.type === 'failure') failures.push(saveFailure(target, m.input, m.kind, `${m.message}\n${m.stack}`))
      else if (m.type === 'done') result = m.result
    })
    worker.on('error', (error) => { failures.push(saveFailure(target, current(), 'crash', String(error?.stack ?? error))) })
    worker.on('exit', () => {
      clearInterval(watchdog)
      resolve({ result, failures, executed: Atomics.load(progress, 0) })
    })
  })
}

async function main () {
  const args = process.argv.slice(2)
  const name = args.shift()
  if (name === undefined || name.startsWith('-')) usage()
  const options = { runs: undefined, seconds: undefined, seed: Date.now() >>> 0, timeLimitMs: 2_000, maxHeapMb: 512 }
  while (args.length > 0) {
    const flag = args.shift()
    const value = Number(args.shift())
    if (!Number.isFinite(value) || value < 0) usage(`${flag} needs a number`)
    if (flag === '--runs') options.runs = value
    else if (flag === '--seconds') options.seconds = value
    else if (flag === '--seed') options.seed = value
    else if (flag === '--time-limit-ms') options.timeLimitMs = value
    else if (flag === '--max-heap-mb') options.maxHeapMb = value
    else usage(`unknown flag ${flag}`)
  }
  if (options.runs === undefined && options.seconds === undefined) options.seconds = 10
  const names = name === 'all' ? Object.keys(TARGETS) : [name]
  for (const n of names) if (TARGETS[n] === undefined) usage(`unknown target ${n}`)
  let failed = 0
  for (const n of names) {
    const { result, failures, executed } = await runOne(n, options)
    failed += failures.length
    const rate = result === null ? '' : `, ${Math.round(result.execPerSec)} exec/s, ${result.outcomes} distinct outcomes, corpus ${result.corpus}`
    console.log(`${n}: ${executed} inputs${rate}, ${failures.length} failures (seed ${options.seed})`)
    for (const f of failures) console.log(`  saved ${f}`)
  }
  process.exit(failed > 0 ? 1 : 0)
}

await main()
