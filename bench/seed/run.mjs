#!/usr/bin/env node
// bench/seed: Lodestone and libtorrent 2.0.8 as the seeder of the same payload, to libtorrent
// leechers over loopback TCP (issue 13's seeding rows):
//   row 1: one libtorrent leecher downloads --size (1 GiB) from the seeder
//   row N: --leechers N (8) libtorrent leechers download --multi-size (256 MiB) from it at once
// Each row alternates the seeders (order rotating per round); figures are medians over --rounds.
// Measured: the seeder (CPU seconds of all its threads and peak RSS from just before the leechers
// start to the end of the last download) and throughput = payload bytes of all leechers / the
// wall time from the first leecher's start to the last one's end (MB = 10^6 B). The leechers only
// know the seeder (no tracker, PEX or DHT), so every byte they get is the seeder's upload.
//
// The peers are bench/download's (lodestone-peer.mjs, libtorrent-peer.py; bench/lib/transfer.mjs):
// libtorrent with lt.high_performance_seed() as the base (seeder and leechers), Lodestone with the
// node preset's default settings (LODESTONE_SETTINGS='<json>' overrides them for experiments).
//
//   node bench/seed/run.mjs                  both rows, 3 rounds
//   node bench/seed/run.mjs --smoke          64 MiB to 1 leecher and 16 MiB to 8, 1 round
//   options: --size N[K|M|G]  --multi-size N[K|M|G]  --leechers 1,8 (the rows)  --rounds N
//            --prof DIR (node --cpu-prof for the Lodestone children)
//            --lodestone-b DIST (A/B: a third seeder, Lodestone built in another
//              packages/engine/dist, alternating with the other two)
//            --seeders NAMES (which of lodestone,libtorrent,lodestone-b run; A/B of two builds
//              without libtorrent: --lodestone-b DIST --seeders lodestone,lodestone-b)
//
// Targets (issue 13): throughput Lodestone/libtorrent >= 1.0 on both rows, seeder CPU <= 1.0x.
// Results and the machine's load: bench/seed/RESULTS.md. Build first: npx tsc -b.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { commandLine, loadText, median, parseSize, preparePayload, requireBuild, sizeText, transfer } from '../lib/transfer.mjs'

const { smoke, opt } = commandLine()
const singleBytes = parseSize(opt('size', smoke ? '64M' : '1G'))
const multiBytes = parseSize(opt('multi-size', smoke ? '16M' : '256M'))
const rowCounts = opt('leechers', '1,8').split(',').map(Number)
const rounds = Number(opt('rounds', smoke ? 1 : 3))
const profDir = opt('prof', null)
const distB = opt('lodestone-b', null)

requireBuild('bench/seed')

const onlySeeders = opt('seeders', null)?.split(',') ?? null
const seeders = [
  { name: 'lodestone', tool: 'lodestone', env: {} },
  { name: 'libtorrent', tool: 'libtorrent', env: {} },
  ...(distB !== null ? [{ name: 'lodestone-b', tool: 'lodestone', env: { LODESTONE_DIST: distB } }] : [])
].filter((s) => onlySeeders === null || onlySeeders.includes(s.name))

const work = mkdtempSync(join(tmpdir(), 'lodestone-bench-seed-'))
const before = loadText()
const results = {}
let version = '?'
const pieceLengths = {}
try {
  if (profDir !== null) mkdirSync(profDir, { recursive: true })
  const payloads = {}
  for (const count of rowCounts) {
    const bytes = count === 1 ? singleBytes : multiBytes
    if (payloads[bytes] !== undefined) continue
    const dir = join(work, `payload-${bytes}`)
    mkdirSync(dir)
    const info = preparePayload(dir, bytes)
    version = info.version
    pieceLengths[bytes] = info.pieceLength
    payloads[bytes] = dir
  }
  for (let round = 0; round < rounds; round++) {
    for (const count of rowCounts) {
      const bytes = count === 1 ? singleBytes : multiBytes
      const order = seeders.map((_, i) => seeders[(i + round) % seeders.length])
      for (const seeder of order) {
        // Generous: an aggregate slower than 5 MB/s (plus start-up) is a failure, not a result.
        const timeoutMs = 60_000 + bytes * count / 5e6 * 1000
        const r = await transfer({
          work: payloads[bytes], sizeBytes: bytes, seeder, timeoutMs, profDir,
          leechers: Array.from({ length: count }, () => ({ tool: 'libtorrent' }))
        })
        const key = `${count}/${seeder.name}`
        ;(results[key] ??= []).push(r)
        const io = r.seed.io !== undefined ? `, ${r.seed.io.syscw} writes ${r.seed.io.syscr} reads (syscalls)` : ''
        console.log(`  round ${round + 1}: ${seeder.name} -> ${count} libtorrent: ${r.mbps.toFixed(0)} MB/s in ${r.seconds.toFixed(2)} s; seeder ${r.seed.cpuSeconds.toFixed(2)} CPU-s (${r.seed.userSeconds.toFixed(2)}+${r.seed.systemSeconds.toFixed(2)}) ${(r.seed.peakRssKiB / 1024).toFixed(0)} MiB${io}; load ${loadText()}`)
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

console.log(`bench/seed: v1, pieces ${Object.values(pieceLengths).map((p) => `${p / 1024} KiB`).join('/')}, loopback TCP, ${rounds} round(s), ${cpus().length} cores, libtorrent ${version}, node ${process.version}`)
console.log(`load average before ${before}, after ${loadText()} (other work on the machine skews these figures)`)
console.log('row                         seeder        MB/s  seeder CPU s  CPU s/GB  peak RSS MB   MB/s per round')
const rows = {}
for (const count of rowCounts) {
  const bytes = count === 1 ? singleBytes : multiBytes
  const label = `${count} leecher${count > 1 ? 's' : ''} x ${sizeText(bytes)}`
  for (const seeder of seeders) {
    const runs = results[`${count}/${seeder.name}`] ?? []
    if (runs.length === 0) continue
    const row = {
      mbps: median(runs.map((r) => r.mbps)),
      cpuSeconds: median(runs.map((r) => r.seed.cpuSeconds)),
      peakRssMB: median(runs.map((r) => r.seed.peakRssKiB * 1024 / 1e6)),
      all: runs.map((r) => Number(r.mbps.toFixed(0)))
    }
    row.cpuPerGB = row.cpuSeconds / (bytes * count / 1e9)
    rows[`${count}/${seeder.name}`] = row
    console.log(`${label.padEnd(27)} ${seeder.name.padEnd(12)} ${row.mbps.toFixed(0).padStart(5)} ${row.cpuSeconds.toFixed(2).padStart(13)} ${row.cpuPerGB.toFixed(2).padStart(9)} ${row.peakRssMB.toFixed(0).padStart(12)}   ${row.all.join(' ')}`)
  }
}
const verdict = (ok) => ok ? 'ok' : 'SHORT'
const ratios = {}
for (const count of rowCounts) {
  const theirs = rows[`${count}/libtorrent`]
  for (const name of ['lodestone', 'lodestone-b']) {
    const ours = rows[`${count}/${name}`]
    if (ours === undefined || theirs === undefined) continue
    const throughput = ours.mbps / theirs.mbps
    const cpu = ours.cpuSeconds / theirs.cpuSeconds
    ratios[`${count}/${name}`] = { throughput, cpu }
    console.log(`${count} leecher(s) ${name}/libtorrent: throughput ${throughput.toFixed(2)} (target >= 1.0: ${verdict(throughput >= 1)}), seeder CPU ${cpu.toFixed(2)} (target <= 1.0: ${verdict(cpu <= 1)})`)
  }
}
console.log(JSON.stringify({ bench: 'seed', singleBytes, multiBytes, rounds, libtorrent: version, ratios, rows }))
