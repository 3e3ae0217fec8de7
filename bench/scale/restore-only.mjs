#!/usr/bin/env node
// bench/scale (issue 13): a restore alone, for profiles and A/B pairs — restoreSession() until every
// torrent seeds, then exit (no stats loop, idle wait or close, which phase.mjs also times).
//   node bench/scale/restore-only.mjs [dir] [n] [repo]
// dir: a state made by run.mjs (default /tmp/lodestone-scale-10000); repo: the checkout whose build to
// load (default this one; give another checkout's path to compare builds). Prints one JSON line: CPU-s of
// the process and of its main thread (Linux /proc), wall ms, heap used and peak RSS.
// With a profile: node --cpu-prof --cpu-prof-dir=/tmp/prof bench/scale/restore-only.mjs
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'

const here = dirname(fileURLToPath(import.meta.url))
const [dir = '/tmp/lodestone-scale-10000', nArg = '10000', repo = join(here, '..', '..')] = process.argv.slice(2)
const n = Number(nArg)
const { createNodeEngine } = await import(join(repo, 'packages/engine/dist/presets/node.js'))
const { testingSettings } = await import(join(repo, 'packages/engine/dist/src/index.js'))
// The main thread's user + system clock ticks (100 Hz), fields 14 and 15 of /proc/thread-self/stat.
const mainTicks = () => { const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]) }

const engine = createNodeEngine({
  downloadPath: join(dir, 'data'),
  stateDir: join(dir, 'state'),
  host: '127.0.0.1',
  port: 0,
  logLevel: 'off',
  settings: testingSettings({ discovery: { trackers: false } })
})
let seeding = 0
const all = new Promise((resolve) => engine.on('torrent-added', ({ torrent }) => {
  let counted = false
  const check = () => { if (!counted && torrent.state === 'seeding') { counted = true; if (++seeding === n) resolve() } }
  torrent.on('state-changed', check)
  check()
}))
const c0 = process.cpuUsage()
const m0 = mainTicks()
const t0 = performance.now()
await engine.restoreSession()
await all
const c = process.cpuUsage(c0)
console.log(JSON.stringify({
  cpuSec: (c.user + c.system) / 1e6,
  mainThreadCpuSec: (mainTicks() - m0) / 100,
  wallMs: Math.round(performance.now() - t0),
  heapUsedMB: Math.round(process.memoryUsage().heapUsed / 1e6),
  peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024)
}))
process.exit(0)
