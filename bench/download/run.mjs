#!/usr/bin/env node
// bench/download: Lodestone against libtorrent moving one single-file torrent over loopback TCP,
// downloading and seeding, on the same payload in the same run:
//   (a) Lodestone downloads from a libtorrent seeder      — measured: the Lodestone leecher
//   (b) libtorrent downloads from a libtorrent seeder     — measured: the libtorrent leecher
//   (c) libtorrent downloads from a Lodestone seeder      — measured: the Lodestone seeder
//   (d) libtorrent downloads from a libtorrent seeder     — measured: the libtorrent seeder
// (b) and (d) are the same transfer seen from its two ends, so a round is three transfers; their
// order rotates from round to round and each figure is the median over `--rounds`.
//
// Each peer is its own child process that measures itself over the transfer (from just before it
// is added / from the leecher's start for a seeder, to the end of the download): CPU seconds of all
// its threads (getrusage) and its peak RSS (VmHWM, reset when the measurement starts, so a
// seeder's start-up check is not counted). Throughput is payload bytes / the leecher's transfer
// time, in MB/s (10^6). Seeders are started fresh for every transfer (libtorrent in seed_mode;
// Lodestone checks the data before it reports ready, outside the measurement); leechers write into
// a fresh directory that is removed (and `sync`ed) after each transfer.
//
// libtorrent (every instance, seeder and leecher): lt.high_performance_seed() base, loopback only,
// DHT / LSD / UPnP / NAT-PMP / uTP off, allow_multiple_connections_per_ip. Lodestone: the node
// preset (createNodeEngine) with default settings.
//
//   npm run bench -- download             1 GiB payload, 3 rounds
//   node bench/download/run.mjs --smoke   64 MiB, 1 round (what `npm run bench:smoke` runs)
//   options: --size N[K|M|G]  --rounds N  --prof DIR (node --cpu-prof for the Lodestone children)
//
// Targets (issue 3): throughput ratio Lodestone/libtorrent >= 1.0, Lodestone peak RSS <= 200 MB,
// CPU ratio <= 1.5. Results and the machine's load are recorded in bench/download/RESULTS.md.
// Build first: npx tsc -b.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { commandLine, endMedians, parseSize, preparePayload, requireBuild, sizeText, transfer as runTransfer } from '../lib/transfer.mjs'

const { smoke, opt } = commandLine()
const sizeBytes = parseSize(opt('size', smoke ? '64M' : '1G'))
const rounds = Number(opt('rounds', smoke ? 1 : 3))
const profDir = opt('prof', null)
// Generous: a transfer slower than 5 MB/s (plus start-up) is a failure, not a result.
const transferTimeoutMs = 30_000 + sizeBytes / 5e6 * 1000

requireBuild('bench/download')

/** One transfer: a fresh seeder, then a leecher into a fresh directory; both ends measured. */
async function transfer (work, seederTool, leecherTool) {
  return runTransfer({ work, sizeBytes, seeder: { tool: seederTool }, leechers: [{ tool: leecherTool }], timeoutMs: transferTimeoutMs, profDir })
}

const transfers = {
  fromLibtorrentToLodestone: ['libtorrent', 'lodestone'],
  fromLibtorrentToLibtorrent: ['libtorrent', 'libtorrent'],
  fromLodestoneToLibtorrent: ['lodestone', 'libtorrent']
}
// --transfers a,c (any of a, b, c, d): run only those (b and d are one transfer); ratios need all.
const picked = opt('transfers', 'a,b,c,d').split(',')
const names = Object.keys(transfers).filter((name) =>
  (name === 'fromLibtorrentToLodestone' && picked.includes('a')) ||
  (name === 'fromLibtorrentToLibtorrent' && (picked.includes('b') || picked.includes('d'))) ||
  (name === 'fromLodestoneToLibtorrent' && picked.includes('c')))

const work = mkdtempSync(join(tmpdir(), 'lodestone-bench-download-'))
const loadBefore = loadavg()
const results = Object.fromEntries(names.map((n) => [n, []]))
let version = '?'
let pieceLength = 0
try {
  const info = preparePayload(work, sizeBytes)
  version = info.version
  pieceLength = info.pieceLength
  if (profDir !== null) mkdirSync(profDir, { recursive: true })
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length])
    for (const name of order) {
      const [seederTool, leecherTool] = transfers[name]
      const r = await transfer(work, seederTool, leecherTool)
      results[name].push(r)
      console.log(`  round ${round + 1}: ${seederTool} -> ${leecherTool}: ${r.mbps.toFixed(0)} MB/s; leecher ${r.leech.cpuSeconds.toFixed(2)} CPU-s ${(r.leech.peakRssKiB / 1024).toFixed(0)} MiB; seeder ${r.seed.cpuSeconds.toFixed(2)} CPU-s ${(r.seed.peakRssKiB / 1024).toFixed(0)} MiB${typeof r.leech.firstByteSeconds === 'number' ? `; first byte after ${r.leech.firstByteSeconds.toFixed(2)} s` : ''}`)
      // BENCH_THREADS=1: CPU seconds per thread of the Lodestone peers since their start (not only the
      // measured transfer); BENCH_THREADS_DETAIL=1 splits the unnamed ones (V8 platform, libuv pool, hashers) by id.
      if (process.env.BENCH_THREADS !== undefined) for (const side of ['leech', 'seed']) if (r[side].threads !== undefined) console.log(`    ${side} threads ${JSON.stringify(r[side].threads)}`)
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

const side = (name, end) => endMedians(results[name], end)

const rows = Object.fromEntries([
  ['a', '(a) lodestone  <- libtorrent', side('fromLibtorrentToLodestone', 'leech')],
  ['b', '(b) libtorrent <- libtorrent', side('fromLibtorrentToLibtorrent', 'leech')],
  ['c', '(c) lodestone  -> libtorrent', side('fromLodestoneToLibtorrent', 'seed')],
  ['d', '(d) libtorrent -> libtorrent', side('fromLibtorrentToLibtorrent', 'seed')]
].filter(([, , s]) => s !== null).map(([key, label, s]) => [key, { label, ...s }]))

console.log(`bench/download: ${sizeText(sizeBytes)} single file, v1, piece ${pieceLength / 1024} KiB, loopback TCP, ${rounds} round(s), ${cpus().length} cores, libtorrent ${version}, node ${process.version}`)
console.log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine skews these figures)`)
console.log('transfer (measured side first)   MB/s   CPU s (user+sys)   peak RSS MB   MB/s per round')
for (const row of Object.values(rows)) {
  console.log(`${row.label.padEnd(31)} ${row.mbps.toFixed(0).padStart(6)} ${`${row.cpuSeconds.toFixed(2)} (${row.userSeconds.toFixed(2)}+${row.systemSeconds.toFixed(2)})`.padStart(18)} ${row.peakRssMB.toFixed(0).padStart(13)}   ${row.all.join(' ')}`)
}

const verdict = (ok) => ok ? 'ok' : 'SHORT'
const ratios = {}
for (const [what, ours, theirs] of [['download', rows.a, rows.b], ['seed', rows.c, rows.d]]) {
  if (ours === undefined || theirs === undefined) continue
  const throughput = ours.mbps / theirs.mbps
  const cpu = ours.cpuSeconds / theirs.cpuSeconds
  ratios[what] = { throughput, cpu, rssMB: ours.peakRssMB }
  console.log(`${what.padEnd(8)} lodestone/libtorrent: throughput ${throughput.toFixed(2)} (target >= 1.0: ${verdict(throughput >= 1)}), ` +
    `CPU ${cpu.toFixed(2)} (target <= 1.5: ${verdict(cpu <= 1.5)}), peak RSS ${ours.peakRssMB.toFixed(0)} MB (target <= 200: ${verdict(ours.peakRssMB <= 200)})`)
}
console.log(JSON.stringify({ bench: 'download', sizeBytes, pieceLength, rounds, libtorrent: version, ratios, rows }))
