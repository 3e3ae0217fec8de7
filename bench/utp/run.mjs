#!/usr/bin/env node
// bench/utp: uTP (BEP 29, issue 11) at full speed — one single-file torrent over loopback uTP,
// Lodestone against libtorrent in the same run:
//   (a) Lodestone (uTP only) downloads from a uTP-only libtorrent seeder          — measured: leecher
//   (b) uTP-only libtorrent downloads from a uTP-only libtorrent seeder           — measured: leecher
//   (c) uTP-only libtorrent downloads from Lodestone (uTP only)                   — measured: seeder
//   (d) = (b) seen from the libtorrent seeder                                     — measured: seeder
//   (e) Lodestone downloads from Lodestone, both uTP only                         — measured: leecher
// A round is four transfers in an order that rotates per round; figures are medians over --rounds.
//
// The peers are bench/download's (lodestone-peer.mjs, libtorrent-peer.py: one child process per
// peer measuring itself over the transfer — CPU seconds of all its threads, peak RSS), configured
// through their environment: LT_UTP=only (libtorrent with TCP off both ways and a 4 MiB socket
// receive buffer), LODESTONE_SETTINGS (engine settings: transport.tcp off).
//
//   node bench/utp/run.mjs                 1 GiB payload, 3 rounds
//   node bench/utp/run.mjs --smoke         64 MiB, 1 round
//   options: --size N[K|M|G]  --rounds N  --transfers a,b,c,e (b and d are one transfer)
//
// Targets (issue 11): >= 150 MB/s Lodestone <-> Lodestone (e), and >= 1.0x libtorrent with a 4 MiB
// receive buffer in each mixed direction (a/b, c/d). Results and the machine's load are recorded in
// bench/utp/RESULTS.md. Build first: npx tsc -b.
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { commandLine, median, parseSize, preparePayload, requireBuild, sizeText, transfer as runTransfer } from '../lib/transfer.mjs'

const { smoke, opt } = commandLine()
const sizeBytes = parseSize(opt('size', smoke ? '64M' : '1G'))
const rounds = Number(opt('rounds', smoke ? 1 : 3))
const transferTimeoutMs = 30_000 + sizeBytes / 5e6 * 1000

requireBuild('bench/utp')

const LT_UTP = { LT_UTP: 'only' }
const LS_UTP = { LODESTONE_SETTINGS: JSON.stringify({ transport: { tcp: false } }) }

/** key → [seeder tool, seeder env, leecher tool, leecher env] */
const TRANSFERS = {
  a: ['libtorrent', LT_UTP, 'lodestone', LS_UTP],
  b: ['libtorrent', LT_UTP, 'libtorrent', LT_UTP],
  c: ['lodestone', LS_UTP, 'libtorrent', LT_UTP],
  e: ['lodestone', LS_UTP, 'lodestone', LS_UTP]
}
const picked = opt('transfers', 'a,b,c,e').split(',').map((k) => (k === 'd' ? 'b' : k))
const keys = Object.keys(TRANSFERS).filter((k) => picked.includes(k))

/** One transfer: a fresh seeder, then a leecher into a fresh directory; both ends measured. */
async function transfer (work, key) {
  const [seederTool, seederEnv, leecherTool, leecherEnv] = TRANSFERS[key]
  return runTransfer({ work, sizeBytes, seeder: { tool: seederTool, env: seederEnv }, leechers: [{ tool: leecherTool, env: leecherEnv }], timeoutMs: transferTimeoutMs })
}

const work = mkdtempSync(join(tmpdir(), 'lodestone-bench-utp-'))
const loadBefore = loadavg()
const results = Object.fromEntries(keys.map((k) => [k, []]))
let version = '?'
let pieceLength = 0
try {
  const info = preparePayload(work, sizeBytes)
  version = info.version
  pieceLength = info.pieceLength
  for (let round = 0; round < rounds; round++) {
    const order = keys.map((_, i) => keys[(i + round) % keys.length])
    for (const key of order) {
      const r = await transfer(work, key)
      results[key].push(r)
      const [seederTool, , leecherTool] = TRANSFERS[key]
      console.log(`  round ${round + 1} (${key}): ${seederTool} -> ${leecherTool}: ${r.mbps.toFixed(0)} MB/s; leecher ${r.leech.cpuSeconds.toFixed(2)} CPU-s ${(r.leech.peakRssKiB / 1024).toFixed(0)} MiB; seeder ${r.seed.cpuSeconds.toFixed(2)} CPU-s ${(r.seed.peakRssKiB / 1024).toFixed(0)} MiB`)
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

/** Medians of one end of one transfer. */
function side (key, end) {
  const runs = results[key] ?? []
  if (runs.length === 0) return null
  return {
    mbps: median(runs.map((r) => r.mbps)),
    cpuSeconds: median(runs.map((r) => r[end].cpuSeconds)),
    peakRssMB: median(runs.map((r) => r[end].peakRssKiB * 1024 / 1e6)),
    all: runs.map((r) => Number(r.mbps.toFixed(0)))
  }
}

const rows = Object.fromEntries([
  ['a', '(a) lodestone  <- libtorrent  utp', side('a', 'leech')],
  ['b', '(b) libtorrent <- libtorrent  utp', side('b', 'leech')],
  ['c', '(c) lodestone  -> libtorrent  utp', side('c', 'seed')],
  ['d', '(d) libtorrent -> libtorrent  utp', side('b', 'seed')],
  ['e', '(e) lodestone  <- lodestone   utp', side('e', 'leech')]
].filter(([, , s]) => s !== null).map(([key, label, s]) => [key, { label, ...s }]))

console.log(`bench/utp: ${sizeText(sizeBytes)} single file, v1, piece ${pieceLength / 1024} KiB, loopback uTP, ${rounds} round(s), ${cpus().length} cores, libtorrent ${version}, node ${process.version}`)
console.log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine skews these figures)`)
console.log('transfer (measured side first)        MB/s   CPU s   peak RSS MB   MB/s per round')
for (const row of Object.values(rows)) {
  console.log(`${row.label.padEnd(36)} ${row.mbps.toFixed(0).padStart(6)} ${row.cpuSeconds.toFixed(2).padStart(7)} ${row.peakRssMB.toFixed(0).padStart(13)}   ${row.all.join(' ')}`)
}

const verdict = (ok) => ok ? 'ok' : 'SHORT'
const ratios = {}
for (const [what, ours, theirs] of [['download', rows.a, rows.b], ['seed', rows.c, rows.d]]) {
  if (ours === undefined || theirs === undefined) continue
  const throughput = ours.mbps / theirs.mbps
  const cpu = ours.cpuSeconds / theirs.cpuSeconds
  ratios[what] = { throughput, cpu }
  console.log(`${what.padEnd(8)} uTP lodestone/libtorrent: throughput ${throughput.toFixed(2)} (target >= 1.0: ${verdict(throughput >= 1)}), CPU ${cpu.toFixed(2)}`)
}
if (rows.e !== undefined) console.log(`lodestone <-> lodestone over uTP: ${rows.e.mbps.toFixed(0)} MB/s (target >= 150: ${verdict(rows.e.mbps >= 150)})`)
console.log(JSON.stringify({ bench: 'utp', sizeBytes, pieceLength, rounds, libtorrent: version, ratios, rows }))
