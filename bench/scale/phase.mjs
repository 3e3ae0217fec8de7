#!/usr/bin/env node
// One phase of bench/scale (run.mjs starts each in its own process, so peak RSS is the phase's own).
//   node bench/scale/phase.mjs add <dir> <n>       fresh state dir: add every .torrent, wait until all seed
//   node bench/scale/phase.mjs restore <dir> <n>   same state dir: restoreSession(), wait until all seed
//   node bench/scale/phase.mjs restore-only <dir> <n> [repo]
//                                                  the restore alone, for profiles and A/B pairs: exits once
//                                                  all seed (no stats loop, idle wait or close); repo: the
//                                                  checkout whose build to load (default this one)
//   With a profile: node --cpu-prof --cpu-prof-dir=/tmp/prof bench/scale/phase.mjs restore-only <dir> <n>
// Prints one JSON line. Loopback only: 127.0.0.1, DHT / LSD / port mapping / trackers off.
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { writeHeapSnapshot } from 'node:v8'

const here = dirname(fileURLToPath(import.meta.url))
const [mode, dir, nArg, repo = join(here, '..', '..')] = process.argv.slice(2)
const { createNodeEngine } = await import(join(repo, 'packages/engine/dist/presets/node.js'))
const { testingSettings } = await import(join(repo, 'packages/engine/dist/src/index.js'))
// The main thread's user + system clock ticks (100 Hz), fields 14 and 15 of /proc/thread-self/stat.
const mainTicks = () => { const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]) }

const n = Number(nArg)
const heapSnapshot = process.env.SCALE_HEAP_SNAPSHOT === '1'

const engine = createNodeEngine({
  downloadPath: join(dir, 'data'),
  stateDir: join(dir, 'state'),
  host: '127.0.0.1',
  port: 0,
  logLevel: 'off',
  // Loopback, no DHT / LSD / port mapping / PEX (testingSettings), and no trackers either.
  settings: testingSettings({ discovery: { trackers: false } })
})
let warnings = 0
engine.on('warning', ({ error }) => { if (warnings++ < 3) console.error('warning:', String(error?.message ?? error)) })

let seeding = 0
let hashingEntered = 0
const allSeeding = new Promise((resolve) => {
  const watch = (t) => {
    let counted = false
    const check = () => {
      if (!counted && t.state === 'seeding') { counted = true; if (++seeding === n) resolve() }
    }
    t.on('state-changed', ({ to }) => { if (to === 'hashing') hashingEntered++; check() })
    check()
  }
  engine.on('torrent-added', ({ torrent }) => { watch(torrent) })
})

const result = { mode, n }
const cpuStart = process.cpuUsage()
const mainTicksStart = mainTicks()
const t0 = performance.now()
if (mode === 'add') {
  const files = readdirSync(join(dir, 'torrents')).filter((f) => f.endsWith('.torrent')).slice(0, n)
  // A bulk add (a seedbox importing its torrents): up to 64 addTorrent calls in flight.
  let next = 0
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < files.length) await engine.addTorrent(readFileSync(join(dir, 'torrents', files[next++])))
  }))
  result.addCallsMs = performance.now() - t0
} else {
  const r = await engine.restoreSession()
  result.restoreCallMs = performance.now() - t0
  result.restored = r.restored.length
  result.failed = r.failed.length
}
await allSeeding
result.allSeedingMs = performance.now() - t0
const cpuUsed = process.cpuUsage(cpuStart)
result.cpuSec = (cpuUsed.user + cpuUsed.system) / 1e6
result.hashingEntered = hashingEntered
if (mode === 'restore-only') {
  result.mainThreadCpuSec = (mainTicks() - mainTicksStart) / 100
  result.heapUsedMB = process.memoryUsage().heapUsed / 1e6
  result.peakRssMB = process.resourceUsage().maxRSS / 1024
  console.log(JSON.stringify(result))
  process.exit(0)
}

// What a UI does each refresh: list the torrents, read each one's stats.
const listTimes = []
const statsTimes = []
for (let i = 0; i < 5; i++) {
  let s = performance.now()
  const list = engine.torrents
  listTimes.push(performance.now() - s)
  s = performance.now()
  let have = 0
  for (const t of list) have += t.stats().havePieces
  statsTimes.push(performance.now() - s)
  if (have < n) throw new Error(`only ${have} pieces`)
}
result.torrentsListMs = Math.min(...listTimes)
result.allStatsMs = Math.min(...statsTimes)
let s = performance.now()
engine.stats()
result.engineStatsMs = performance.now() - s

// Idle for a while: timers per torrent would show as CPU here.
const cpu0 = process.cpuUsage()
await new Promise((resolve) => setTimeout(resolve, 5_000))
const cpu1 = process.cpuUsage(cpu0)
result.idleCpuPct = (cpu1.user + cpu1.system) / 1e3 / 5_000 * 100

s = performance.now()
await engine.saveState()
result.saveStateMs = performance.now() - s
if (heapSnapshot) result.heapSnapshot = writeHeapSnapshot(join(dir, `${mode}.heapsnapshot`))
result.heapUsedMB = process.memoryUsage().heapUsed / 1e6
s = performance.now()
await engine.close()
result.closeMs = performance.now() - s
result.warnings = warnings
result.peakRssMB = process.resourceUsage().maxRSS / 1024
console.log(JSON.stringify(result))
