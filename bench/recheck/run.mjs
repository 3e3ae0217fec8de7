#!/usr/bin/env node
// bench/recheck (issue 13): a full recheck of a torrent's data — Lodestone against libtorrent 2.0.8
// (python3-libtorrent, force_recheck) on the same files and .torrent, in the same run, interleaved,
// alternating which goes first. Each side first checks the torrent once untimed (on add), then
// rechecks it timed; Lodestone also runs verifyTorrentData (`lodestone verify`'s path).
//
// Page cache: warm (the first check leaves every page cached) or cold: right before every timed
// check the side evicts the payload's pages (evict.py: fsync + posix_fadvise DONTNEED per file, then
// mincore to prove they are gone — only these files, nothing else of the machine), so the check
// reads from the disk. Layouts: one file (1 GiB, 1 MiB pieces) and a tree (300 MiB in 200 files
// in 10 folders, 256 KiB pieces: bench/download's tree).
// Prints per run and medians per row: seconds, GB/s (10^9 B), CPU seconds (all threads), time
// against libtorrent's, and the load average beside each; also the busiest thread's wait for a core
// (schedstat) and the wall time less that wait, with its own ratio (threads.mjs: at load 20+ most of
// the wall time is waiting for a core; on a quiet machine the two agree). Targets: warm >= 2.5 GB/s, cold no slower
// than libtorrent.
//
//   node bench/recheck/run.mjs                       file and tree, cold and warm, 3 rounds
//   options: --cache cold|warm|both  --layout file|tree|both  --rounds N  --sides a,b (lodestone,verify,libtorrent)
//            --size-mib N  --piece-kib N  --kind v1|v2|hybrid      (the file)
//            --tree-mib N  --files N  --tree-piece-kib N           (the tree)
//            --compare DIR   also run Lodestone's recheck from the build in checkout DIR (A/B, interleaved)
// Build first: npx tsc -b. Payloads are made in a temporary directory (random bytes) and removed.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commandLine, median, preparePayload, prepareTreePayload, python, requireBuild } from '../lib/transfer.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const { opt } = commandLine()
const caches = { cold: ['cold'], warm: ['warm'], both: ['cold', 'warm'] }[opt('cache', 'both')]
const layouts = { file: ['file'], tree: ['tree'], both: ['file', 'tree'] }[opt('layout', 'both')]
if (caches === undefined || layouts === undefined) throw new Error('--cache cold|warm|both, --layout file|tree|both')
const rounds = Number(opt('rounds', 3))
const sideNames = opt('sides', 'lodestone,verify,libtorrent').split(',')
const compare = opt('compare', null)
requireBuild('bench/recheck')

const MiB = 1024 * 1024
const work = mkdtempSync(join(tmpdir(), 'lodestone-bench-recheck-'))
const load = () => loadavg()[0].toFixed(1)

/** Every file under `path` read once, so a warm run starts warm whatever ran before it. */
function warm (path) {
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) warm(join(path, name))
  else readFileSync(path)
}

const run = (command, args) => JSON.parse(execFileSync(command, args, { encoding: 'utf8' }).trim().split('\n').pop())
const lodestone = (script, mode, row, cache) => run(process.execPath, [script, mode, row.torrent, row.saveDir, ...(cache === 'cold' ? [row.payload] : [])])
const sides = {
  lodestone: ['lodestone recheck', (row, cache) => lodestone(join(here, 'lodestone-check.mjs'), 'engine', row, cache)],
  verify: ['lodestone verify', (row, cache) => lodestone(join(here, 'lodestone-check.mjs'), 'verify', row, cache)],
  libtorrent: ['libtorrent recheck', (row, cache) => run(python, [join(here, 'libtorrent-recheck.py'), row.torrent, row.saveDir, ...(cache === 'cold' ? [row.payload] : [])])]
}
const chosen = sideNames.map((n) => { if (sides[n] === undefined) throw new Error(`--sides: unknown ${n}`); return sides[n] })
if (compare !== null) {
  // The other checkout's build, driven by this checkout's script (same measurement).
  const script = join(compare, 'bench', 'recheck', 'lodestone-check.mjs')
  chosen.push([`lodestone @${compare.split('/').pop()}`, (row, cache) => lodestone(script, 'engine', row, cache)])
}

function makeRow (layout) {
  const dir = join(work, layout)
  mkdirSync(dir, { recursive: true })
  if (layout === 'file') {
    const sizeMiB = Number(opt('size-mib', 1024))
    const kind = opt('kind', 'v1')
    const pieceKiB = Number(opt('piece-kib', 1024))
    preparePayload(dir, sizeMiB * MiB, kind, pieceKiB * 1024)
    return { name: `file ${sizeMiB} MiB ${kind} ${pieceKiB} KiB pieces`, bytes: sizeMiB * MiB, pieces: Math.ceil(sizeMiB * 1024 / pieceKiB), torrent: join(dir, 'payload.torrent'), saveDir: join(dir, 'seed'), payload: join(dir, 'seed', 'payload.bin') }
  }
  const treeMiB = Number(opt('tree-mib', 300))
  const files = Number(opt('files', 200))
  const pieceKiB = Number(opt('tree-piece-kib', 256))
  prepareTreePayload(dir, treeMiB * MiB, files, 'v1', pieceKiB * 1024)
  return { name: `tree ${treeMiB} MiB ${files} files v1 ${pieceKiB} KiB pieces`, bytes: treeMiB * MiB, pieces: Math.ceil(treeMiB * 1024 / pieceKiB), torrent: join(dir, 'payload.torrent'), saveDir: join(dir, 'seed'), payload: join(dir, 'seed', 'tree') }
}

try {
  const rows = layouts.map(makeRow)
  const results = new Map() // `${row} ${cache} ${side}` -> runs
  console.log(`bench/recheck: ${rows.map((r) => r.name).join('; ')}; cache ${caches.join(', ')}; ${rounds} rounds; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  for (let r = 0; r < rounds; r++) {
    for (const row of rows) {
      for (const cache of caches) {
        const order = r % 2 === 0 ? chosen : [...chosen].reverse()
        for (const [name, measure] of order) {
          if (cache === 'warm') warm(row.payload)
          const before = load()
          const m = measure(row, cache)
          if (m.pieces !== row.pieces) throw new Error(`${name}: ${m.pieces} of ${row.pieces} pieces passed`)
          if (cache === 'cold' && !(m.residentBytes <= row.bytes / 100)) throw new Error(`${name}: ${m.residentBytes} bytes still cached after the eviction`)
          const key = `${row.name} | ${cache} | ${name}`
          if (!results.has(key)) results.set(key, [])
          results.get(key).push({ ...m, load: before })
          console.log(`  round ${r + 1} ${row.name.slice(0, 4)} ${cache} ${name.padEnd(20)} ${m.seconds.toFixed(3)} s  ${(row.bytes / m.seconds / 1e9).toFixed(2)} GB/s  ${m.cpuSec.toFixed(2)} CPU-s  core wait ${m.coreWaitSec.toFixed(2)} s  load ${before}`)
        }
      }
    }
  }
  console.log('medians:')
  for (const row of rows) {
    for (const cache of caches) {
      const lt = results.get(`${row.name} | ${cache} | libtorrent recheck`)
      const ltSeconds = lt === undefined ? NaN : median(lt.map((m) => m.seconds))
      const ltLess = lt === undefined ? NaN : median(lt.map((m) => m.lessWaitSec))
      console.log(`${row.name}, ${cache} cache:`)
      for (const [name] of chosen) {
        const ms = results.get(`${row.name} | ${cache} | ${name}`)
        const s = median(ms.map((m) => m.seconds))
        const less = median(ms.map((m) => m.lessWaitSec))
        console.log(`  ${name.padEnd(20)} ${s.toFixed(3)} s  ${(row.bytes / s / 1e9).toFixed(2)} GB/s  ${median(ms.map((m) => m.cpuSec)).toFixed(2)} CPU-s  ` +
          `time vs libtorrent ${(s / ltSeconds).toFixed(2)}  | less core wait ${less.toFixed(3)} s  ${(row.bytes / less / 1e9).toFixed(2)} GB/s  vs libtorrent ${(less / ltLess).toFixed(2)}  (load ${ms.map((m) => m.load).join('/')})`)
      }
    }
  }
  console.log(`load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
