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
import { cpus, loadavg } from 'node:os'
import { commandLine, endMedians, median, parseSize, printRows, requireBuild, sizeText, transferRounds } from '../lib/transfer.mjs'

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
const { results, version, pieceLength, loadBefore } = await transferRounds({
  bench: 'bench/utp', sizeBytes, rounds, timeoutMs: transferTimeoutMs,
  transfers: Object.fromEntries(Object.entries(TRANSFERS).filter(([k]) => picked.includes(k)))
})
const side = (key, end) => endMedians(results[key], end)

const rows = Object.fromEntries([
  ['a', '(a) lodestone  <- libtorrent  utp', side('a', 'leech')],
  ['b', '(b) libtorrent <- libtorrent  utp', side('b', 'leech')],
  ['c', '(c) lodestone  -> libtorrent  utp', side('c', 'seed')],
  ['d', '(d) libtorrent -> libtorrent  utp', side('b', 'seed')],
  ['e', '(e) lodestone  <- lodestone   utp', side('e', 'leech')]
].filter(([, , s]) => s !== null).map(([key, label, s]) => [key, { label, ...s }]))

console.log(`bench/utp: ${sizeText(sizeBytes)} single file, v1, piece ${pieceLength / 1024} KiB, loopback uTP, ${rounds} round(s), ${cpus().length} cores, libtorrent ${version}, node ${process.version}`)
console.log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine skews these figures)`)
printRows(rows)

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
// The measured Lodestone end's uTP counters (medians over the rounds): how many datagrams a MB
// takes each way and how often the receiving side acknowledges (a quiet machine's batches are
// smaller than a loaded one's, so it acks more often).
const packets = {}
for (const [key, end] of [['a', 'leech'], ['c', 'seed'], ['e', 'leech']]) {
  const runs = (results[key] ?? []).map((r) => r[end].utp).filter((u) => u !== null && u !== undefined)
  if (runs.length === 0) continue
  const mb = sizeBytes / 1e6
  packets[key] = { inPerMB: median(runs.map((u) => u.packetsIn / mb)), outPerMB: median(runs.map((u) => u.packetsOut / mb)) }
  const received = key === 'c' ? 'acks from libtorrent' : 'datagrams received'
  const ratio = key === 'c' ? `one per ${(packets[key].outPerMB / packets[key].inPerMB).toFixed(1)} sent` : `we answer one per ${(packets[key].inPerMB / packets[key].outPerMB).toFixed(1)}`
  console.log(`uTP packets (${key}, Lodestone ${end === 'leech' ? 'leecher' : 'seeder'}): ${packets[key].inPerMB.toFixed(0)} in and ${packets[key].outPerMB.toFixed(0)} out per MB (${received}: ${ratio})`)
}
console.log(JSON.stringify({ bench: 'utp', sizeBytes, pieceLength, rounds, libtorrent: version, ratios, packets, rows }))
