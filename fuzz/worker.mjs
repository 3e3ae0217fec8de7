/**
 * One fuzz campaign in a worker thread (see run.mjs): the parent watches the shared progress
 * counter (a hang stops it) and the worker's exit (out of memory), and keeps the input that was
 * running from the shared buffer.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { runCampaign } from './campaign.mjs'
import { TARGETS } from './targets.mjs'

const { target, runs, seconds, seed, timeLimitMs, shared, extraCorpus } = workerData
const progress = new Int32Array(shared, 0, 2) // [executed, input length]
const inputBytes = new Uint8Array(shared, 8)

const result = await runCampaign(TARGETS[target], {
  runs, seconds, seed, timeLimitMs, extraCorpus,
  onInput: (input) => {
    inputBytes.set(input.subarray(0, inputBytes.length))
    Atomics.store(progress, 1, Math.min(input.length, inputBytes.length))
    Atomics.add(progress, 0, 1)
  },
  onFailure: (input, failure) => {
    parentPort.postMessage({ type: 'failure', input, kind: failure.kind, message: failure.message, stack: failure.cause?.stack ?? '' })
  }
})
parentPort.postMessage({ type: 'done', result })
