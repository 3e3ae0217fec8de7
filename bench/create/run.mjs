#!/usr/bin/env node
// bench/create: hash one file into a hybrid torrent, Lodestone (the built CLI, as a user runs it)
// against libtorrent (create_torrent + set_piece_hashes through its Python binding), on the same
// file, in the same run, alternating which goes first. Prints medians of wall time, CPU seconds
// (user + system, all threads) and peak RSS per tool, and the wall-time ratio Lodestone / libtorrent
// (target ≤ 1.0). Both use their automatic piece length (the same rule: 512 KiB for 1 GiB), and the
// info hashes are checked to be identical so both did the same work.
//
//   npm run bench -- create          1 GiB payload, 5 rounds
//   node bench/create/run.mjs --smoke   16 MiB, 1 round
//   options: --size-mib N  --rounds N  --kind v1|v2|hybrid
//
// The payload (random bytes) is created in /tmp on first use and kept; the page cache is warmed
// before timing, so this measures hashing, not the disk. Build first: npx tsc -b.
//
// Last results (2026-11-22, 2-core AMD EPYC VM, 24 GiB, Node 20.20, libtorrent 2.0.8; other
// sessions were running test suites on the same machine, load average 1–3), medians:
//   hybrid, load ≈ 1.3: Lodestone 1.33–1.38 s, 2.4–2.5 CPU-s, 92 MiB RSS; libtorrent 1.51–1.55 s,
//                       1.54–1.60 CPU-s, 1046 MiB RSS (it maps the file)  → ratio 0.88–0.89
//   hybrid, load ≈ 3:   ratio 1.35–1.6 (Lodestone needs both cores and spends ≈ 1.5× libtorrent's
//                       CPU: per-16-KiB-block calls into node:crypto, read copies vs mmap)
//   v1, load ≈ 1.5: 0.76 s vs 0.86 s → 0.88;  v2, load ≈ 1.5: 1.06 s vs 0.90 s → 1.17
import { existsSync, openSync, writeSync, closeSync, readFileSync, rmSync, statSync, mkdtempSync } from 'node:fs'
import { randomFillSync } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { loadavg, cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')
const cli = join(repo, 'packages', 'cli', 'bin', 'lodestone.js')
const python = '/usr/bin/python3'

const argv = process.argv.slice(2)
const smoke = argv.includes('--smoke')
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback
}
const sizeMiB = Number(opt('size-mib', smoke ? 16 : 1024))
const rounds = Number(opt('rounds', smoke ? 1 : 5))
const kind = opt('kind', 'hybrid')

function ensurePayload (mib) {
  const path = join('/tmp', `lodestone-bench-${mib}m.bin`)
  if (existsSync(path) && statSync(path).size === mib * 1024 * 1024) return path
  const fd = openSync(path, 'w')
  const chunk = new Uint8Array(4 * 1024 * 1024)
  for (let written = 0; written < mib * 1024 * 1024; written += chunk.length) {
    randomFillSync(chunk)
    writeSync(fd, chunk, 0, Math.min(chunk.length, mib * 1024 * 1024 - written))
  }
  closeSync(fd)
  return path
}

function measure (command, args) {
  const run = spawnSync(python, [join(here, 'measure.py'), command, ...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
  if (run.status !== 0) throw new Error(`measure.py failed: ${run.stderr}`)
  const m = JSON.parse(run.stdout.trim().split('\n').pop())
  if (m.exitCode !== 0) throw new Error(`${command} ${args.join(' ')} exited ${m.exitCode}: ${m.stderr}`)
  return m
}

function median (values) {
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

if (!existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js'))) {
  console.error('bench/create: build first (npx tsc -b)')
  process.exit(2)
}
const payload = ensurePayload(sizeMiB)
readFileSync(payload) // warm the page cache for both tools
const out = mkdtempSync(join(tmpdir(), 'lodestone-bench-create-'))
const loadBefore = loadavg()

const results = { lodestone: [], libtorrent: [] }
let hashes = null
try {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['lodestone', 'libtorrent'] : ['libtorrent', 'lodestone']
    for (const tool of order) {
      if (tool === 'lodestone') {
        const m = measure(process.execPath, [cli, 'create', payload, '-o', join(out, 'lodestone.torrent'), `--${kind}`, '--no-date'])
        const v1 = /v1 ([0-9a-f]{40})/.exec(m.stdout)?.[1] ?? null
        const v2 = /v2 ([0-9a-f]{64})/.exec(m.stdout)?.[1] ?? null
        results.lodestone.push({ ...m, v1, v2 })
      } else {
        const m = measure(python, [join(here, 'libtorrent-create.py'), payload, kind, '0', join(out, 'libtorrent.torrent')])
        const info = JSON.parse(m.stdout.trim().split('\n').pop())
        results.libtorrent.push({ ...m, ...info })
      }
    }
  }
  const a = results.lodestone[0]
  const b = results.libtorrent[0]
  hashes = { lodestone: [a.v1, a.v2], libtorrent: [b.v1, b.v2], match: a.v1 === b.v1 && a.v2 === b.v2 }
} finally {
  rmSync(out, { recursive: true, force: true })
}

const summary = {}
for (const [tool, runs] of Object.entries(results)) {
  summary[tool] = {
    wallSeconds: median(runs.map((r) => r.wallSeconds)),
    cpuSeconds: median(runs.map((r) => r.userSeconds + r.systemSeconds)),
    userSeconds: median(runs.map((r) => r.userSeconds)),
    systemSeconds: median(runs.map((r) => r.systemSeconds)),
    maxRssMiB: median(runs.map((r) => r.maxRssKiB / 1024)),
    walls: runs.map((r) => Number(r.wallSeconds.toFixed(3)))
  }
}
const ratio = summary.lodestone.wallSeconds / summary.libtorrent.wallSeconds
const mbps = (s) => (sizeMiB * 1024 * 1024 / s / 1e6).toFixed(0)
console.log(`bench/create: ${kind} torrent of a ${sizeMiB} MiB file, ${rounds} round(s), ${cpus().length} cores, libtorrent ${results.libtorrent[0].version}`)
console.log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine skews wall times)`)
console.log('tool         wall s (median)   MB/s    CPU s (user+sys)   peak RSS MiB   walls')
for (const tool of ['lodestone', 'libtorrent']) {
  const s = summary[tool]
  console.log(`${tool.padEnd(12)} ${s.wallSeconds.toFixed(3).padStart(15)} ${mbps(s.wallSeconds).padStart(7)} ${`${s.cpuSeconds.toFixed(2)} (${s.userSeconds.toFixed(2)}+${s.systemSeconds.toFixed(2)})`.padStart(18)} ${s.maxRssMiB.toFixed(0).padStart(14)}   ${s.walls.join(' ')}`)
}
console.log(`wall-time ratio lodestone/libtorrent: ${ratio.toFixed(2)} (target <= 1.0)`)
console.log(`info hashes identical: ${hashes.match ? 'yes' : `NO (lodestone ${hashes.lodestone.join(' ')}, libtorrent ${hashes.libtorrent.join(' ')})`}`)
console.log(JSON.stringify({ bench: 'create', kind, sizeMiB, rounds, ratio, hashesMatch: hashes.match, summary }))
if (!hashes.match) process.exit(1)
