#!/usr/bin/env node
// bench/mse: protocol encryption (MSE/PE, issue 16) at full speed — one single-file torrent over
// loopback TCP with RC4 forced on both ends, Lodestone against libtorrent in the same run, plus the
// cost of encryption to Lodestone itself:
//   (a) Lodestone (require, rc4) downloads from a forced-RC4 libtorrent seeder   — measured: leecher
//   (b) forced-RC4 libtorrent downloads from a forced-RC4 libtorrent seeder      — measured: leecher
//   (c) forced-RC4 libtorrent downloads from Lodestone (require, rc4)            — measured: seeder
//   (d) = (b) seen from the libtorrent seeder                                    — measured: seeder
//   (e) Lodestone (disable) downloads from libtorrent in plaintext               — measured: leecher
//   (f) libtorrent (plaintext dial) downloads from Lodestone (disable)           — measured: seeder
//   (g) Lodestone (require, rc4) downloads from Lodestone (require, rc4)         — both ends ours
//   (h) Lodestone (disable) downloads from Lodestone (disable)                   — both ends ours
// A round is seven transfers in an order that rotates per round; figures are medians over --rounds.
//
// The ceiling table: each end's busiest thread (CPU seconds over the transfer, from
// /proc/<pid>/task/*/stat) per GiB, and the rate that thread would allow if it had a core to
// itself — 1 / (CPU-s per MB). libtorrent's network thread and Lodestone's main thread do all the
// socket I/O and RC4 of their end, so no peer on the other end can move a transfer faster than this
// end's ceiling: in (a) and (c) the libtorrent end's ceiling bounds what Lodestone can show against
// 1.5x (b). Unlike MB/s, CPU-s per GiB barely moves with the machine's load.
//
// The peers are bench/download's (lodestone-peer.mjs, libtorrent-peer.py: one child process per
// peer measuring itself over the transfer — CPU seconds of all its threads, peak RSS), configured
// through their environment: LT_ENC=rc4 (libtorrent in/out_enc_policy forced, allowed_enc_level
// rc4), LT_OUT_ENC=disabled (libtorrent dials in plaintext), LODESTONE_SETTINGS (engine settings).
//
//   node bench/mse/run.mjs                 1 GiB payload, 3 rounds
//   node bench/mse/run.mjs --smoke         64 MiB, 1 round
//   options: --size N[K|M|G]  --rounds N  --transfers a,b,c,e,f (b and d are one transfer)
//            --prof DIR (each Lodestone child runs under node --cpu-prof, profiles written to DIR)
//
// Targets (issue 16): Lodestone >= 1.5x libtorrent's encrypted throughput both ways (a/b, c/d)
// with CPU <= 1.0x libtorrent's, and encrypted Lodestone >= 0.6x plaintext Lodestone (a/e, c/f;
// and g/h, where no libtorrent end's cipher takes part).
// Results and the machine's load are recorded in bench/mse/RESULTS.md. Build first: npx tsc -b.
import { cpus, loadavg } from 'node:os'
import { commandLine, endMedians, median, parseSize, printRows, requireBuild, sizeText, transferRounds } from '../lib/transfer.mjs'

const { smoke, opt } = commandLine()
const sizeBytes = parseSize(opt('size', smoke ? '64M' : '1G'))
const rounds = Number(opt('rounds', smoke ? 1 : 3))
const transferTimeoutMs = 30_000 + sizeBytes / 5e6 * 1000
// --prof DIR: every Lodestone child runs under node --cpu-prof, its profile written to DIR.
const profDir = opt('prof', null)

requireBuild('bench/mse')

const LT_RC4 = { LT_ENC: 'rc4' }
const LT_PLAIN_DIAL = { LT_OUT_ENC: 'disabled' }
const LS_RC4 = { LODESTONE_SETTINGS: JSON.stringify({ encryption: { mode: 'require', level: 'rc4' } }) }
const LS_PLAIN = { LODESTONE_SETTINGS: JSON.stringify({ encryption: { mode: 'disable' } }) }
// Lodestone to Lodestone would run over uTP (dialled at once with TCP, and preferred); TCP here, as
// against libtorrent (whose uTP is off in the bench).
const LS_RC4_TCP = { LODESTONE_SETTINGS: JSON.stringify({ encryption: { mode: 'require', level: 'rc4' }, transport: { utp: false } }) }
const LS_PLAIN_TCP = { LODESTONE_SETTINGS: JSON.stringify({ encryption: { mode: 'disable' }, transport: { utp: false } }) }

/** key → [seeder tool, seeder env, leecher tool, leecher env] */
const TRANSFERS = {
  a: ['libtorrent', LT_RC4, 'lodestone', LS_RC4],
  b: ['libtorrent', LT_RC4, 'libtorrent', LT_RC4],
  c: ['lodestone', LS_RC4, 'libtorrent', LT_RC4],
  e: ['libtorrent', {}, 'lodestone', LS_PLAIN],
  f: ['lodestone', LS_PLAIN, 'libtorrent', LT_PLAIN_DIAL],
  g: ['lodestone', LS_RC4_TCP, 'lodestone', LS_RC4_TCP],
  h: ['lodestone', LS_PLAIN_TCP, 'lodestone', LS_PLAIN_TCP]
}
const picked = opt('transfers', 'a,b,c,e,f,g,h').split(',').map((k) => (k === 'd' ? 'b' : k))
const { results, version, pieceLength, loadBefore } = await transferRounds({
  bench: 'bench/mse', sizeBytes, rounds, timeoutMs: transferTimeoutMs, profDir,
  transfers: Object.fromEntries(Object.entries(TRANSFERS).filter(([k]) => picked.includes(k)))
})
const side = (key, end) => endMedians(results[key], end)

const rows = Object.fromEntries([
  ['a', '(a) lodestone  <- libtorrent  rc4', side('a', 'leech')],
  ['b', '(b) libtorrent <- libtorrent  rc4', side('b', 'leech')],
  ['c', '(c) lodestone  -> libtorrent  rc4', side('c', 'seed')],
  ['d', '(d) libtorrent -> libtorrent  rc4', side('b', 'seed')],
  ['e', '(e) lodestone  <- libtorrent  plain', side('e', 'leech')],
  ['f', '(f) lodestone  -> libtorrent  plain', side('f', 'seed')],
  ['g', '(g) lodestone  <- lodestone   rc4', side('g', 'leech')],
  ['h', '(h) lodestone  <- lodestone   plain', side('h', 'leech')]
].filter(([, , s]) => s !== null).map(([key, label, s]) => [key, { label, ...s }]))

console.log(`bench/mse: ${sizeText(sizeBytes)} single file, v1, piece ${pieceLength / 1024} KiB, loopback TCP, ${rounds} round(s), ${cpus().length} cores, libtorrent ${version}, node ${process.version}`)
console.log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine skews these figures)`)
printRows(rows)

// Each end's busiest thread: medians over the rounds of its CPU seconds, per GiB and as a ceiling;
// and the pair's: both processes' CPU seconds against the machine's cores (both ends share them).
const GiB = 1024 ** 3
const cores = cpus().length
const ceilings = {}
// busy: the share of the transfer's wall time that thread ran + the share it was runnable but
// waiting for a core (schedstat): near 100 % in all, it is the bottleneck (the second part is the
// machine's other load); well below, it waited for something else. For the pair, the cores both
// processes used on average (near the core count: CPU-bound).
console.log(`ceilings (CPU-s/GiB -> MB/s, run+wait)  seeder's busiest thread                 leecher's busiest thread                both processes on ${cores} cores`)
for (const [key, runs] of Object.entries(results)) {
  const [seederTool, , leecherTool] = TRANSFERS[key]
  const ends = {}
  for (const end of ['seed', 'leech']) {
    const seconds = median(runs.map((r) => r[end].busiestThread.cpuSeconds))
    ends[end] = {
      tool: end === 'seed' ? seederTool : leecherTool,
      thread: runs[0][end].busiestThread.name,
      cpuSecondsPerGiB: seconds * GiB / sizeBytes,
      ceilingMBps: sizeBytes / 1e6 / seconds,
      perRound: runs.map((r) => Number((r[end].busiestThread.cpuSeconds * GiB / sizeBytes).toFixed(2))),
      busy: median(runs.map((r) => r[end].busiestThread.cpuSeconds / r.seconds)),
      waiting: median(runs.map((r) => (r[end].busiestThread.waitSeconds ?? 0) / r.seconds))
    }
  }
  const both = median(runs.map((r) => r.seed.cpuSeconds + r.leech.cpuSeconds))
  ends.pair = { cpuSecondsPerGiB: both * GiB / sizeBytes, ceilingMBps: cores * sizeBytes / 1e6 / both, coresUsed: median(runs.map((r) => (r.seed.cpuSeconds + r.leech.cpuSeconds) / r.seconds)) }
  ceilings[key] = ends
  const cell = (e) => `${`${e.tool} ${e.thread}`.padEnd(18)} ${e.cpuSecondsPerGiB.toFixed(2).padStart(5)} ${e.ceilingMBps.toFixed(0).padStart(5)} ${`${(100 * e.busy).toFixed(0)}+${(100 * e.waiting).toFixed(0)}%`.padStart(8)}`
  console.log(`(${key}) ${`${seederTool} -> ${leecherTool}`.padEnd(25)} ${cell(ends.seed)}   ${cell(ends.leech)}   ${ends.pair.cpuSecondsPerGiB.toFixed(2).padStart(5)} ${ends.pair.ceilingMBps.toFixed(0).padStart(5)} ${ends.pair.coresUsed.toFixed(2)} cores   per round: ${ends.seed.perRound.join(' ')} | ${ends.leech.perRound.join(' ')}`)
}

const verdict = (ok) => ok ? 'ok' : 'SHORT'
const ratios = {}
for (const [what, ours, theirs] of [['download', rows.a, rows.b], ['seed', rows.c, rows.d]]) {
  if (ours === undefined || theirs === undefined) continue
  const throughput = ours.mbps / theirs.mbps
  const cpu = ours.cpuSeconds / theirs.cpuSeconds
  ratios[what] = { throughput, cpu }
  console.log(`${what.padEnd(8)} encrypted lodestone/libtorrent: throughput ${throughput.toFixed(2)} (target >= 1.5: ${verdict(throughput >= 1.5)}), CPU ${cpu.toFixed(2)} (target <= 1.0: ${verdict(cpu <= 1)})`)
  // The libtorrent end of the mixed transfer bounds it: can that end move 1.5x (b) at all?
  const [key, otherEnd] = what === 'download' ? ['a', 'seed'] : ['c', 'leech']
  const other = ceilings[key]?.[otherEnd]
  if (other !== undefined) {
    const needed = 1.5 * theirs.mbps
    ratios[what].otherEndCeilingMBps = other.ceilingMBps
    console.log(`${''.padEnd(8)} 1.5x needs ${needed.toFixed(0)} MB/s; the libtorrent ${otherEnd}er's ${other.thread} thread in (${key}) allows ${other.ceilingMBps.toFixed(0)} MB/s (${other.cpuSecondsPerGiB.toFixed(2)} CPU-s/GiB): ${other.ceilingMBps >= needed ? 'reachable' : 'UNREACHABLE against this peer'}`)
    // Both processes share the cores: at `needed` MB/s a GiB leaves cores x seconds of CPU in all.
    const otherProcess = median(results[key].map((r) => r[otherEnd].cpuSeconds)) * GiB / sizeBytes
    const budget = cores * GiB / 1e6 / needed - otherProcess
    ratios[what].lodestoneBudgetCpuSecondsPerGiB = budget
    console.log(`${''.padEnd(8)} on ${cores} cores the libtorrent process takes ${otherProcess.toFixed(2)} CPU-s/GiB, leaving Lodestone at most ${budget.toFixed(2)} CPU-s/GiB at that rate (it used ${(ours.cpuSeconds * GiB / sizeBytes).toFixed(2)})`)
  }
}
for (const [what, encrypted, plain, key, otherEnd] of [['download', rows.a, rows.e, 'a', 'seed'], ['seed', rows.c, rows.f, 'c', 'leech'], ['ours', rows.g, rows.h]]) {
  if (encrypted === undefined || plain === undefined) continue
  const throughput = encrypted.mbps / plain.mbps
  ratios[`${what}Cost`] = { throughput, cpu: encrypted.cpuSeconds / plain.cpuSeconds }
  console.log(`${what.padEnd(8)} lodestone encrypted/plaintext${what === 'ours' ? ' (g/h: both ends lodestone)' : ''}: throughput ${throughput.toFixed(2)} (target >= 0.6: ${verdict(throughput >= 0.6)}), CPU ${(encrypted.cpuSeconds / plain.cpuSeconds).toFixed(2)}`)
  const other = key !== undefined ? ceilings[key]?.[otherEnd] : undefined
  if (other !== undefined) {
    const needed = 0.6 * plain.mbps
    console.log(`${''.padEnd(8)} 0.6x needs ${needed.toFixed(0)} MB/s encrypted; the libtorrent ${otherEnd}er's ${other.thread} thread in (${key}) allows ${other.ceilingMBps.toFixed(0)} MB/s: ${other.ceilingMBps >= needed ? 'reachable' : 'UNREACHABLE against this peer'}`)
    const otherProcess = median(results[key].map((r) => r[otherEnd].cpuSeconds)) * GiB / sizeBytes
    console.log(`${''.padEnd(8)} on ${cores} cores the libtorrent process takes ${otherProcess.toFixed(2)} CPU-s/GiB, leaving Lodestone at most ${(cores * GiB / 1e6 / needed - otherProcess).toFixed(2)} CPU-s/GiB at that rate (it used ${(encrypted.cpuSeconds * GiB / sizeBytes).toFixed(2)})`)
  }
}
console.log(JSON.stringify({ bench: 'mse', sizeBytes, pieceLength, rounds, libtorrent: version, ratios, rows, ceilings }))
