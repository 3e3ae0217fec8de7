#!/usr/bin/env node
// bench/download: issue 13's download rows — Lodestone and the anchors downloading the same torrent
// from the same kind of seeder over loopback TCP, interleaved, in one run:
//   file         one file (--size, 1 GiB) of random bytes, v1, 1 MiB pieces
//   tree         a tree (--tree-size, 300 MiB) of --files (200) files in 10 folders, v1, 256 KiB pieces
//   tree-hybrid  the same tree as a hybrid (v1 + v2) torrent, 256 KiB pieces
// Downloaders (--clients): lodestone (the node preset, default settings), libtorrent 2.0.8
// (python3-libtorrent, lt.high_performance_seed() base), aria2 1.36 (v1 rows only: it has no v2)
// and qBittorrent 4.5.2 (qbittorrent-nox through its WebUI API). The seeder is always a fresh
// libtorrent (high_performance_seed preset, seed_mode) per transfer; the leecher writes into a fresh
// directory, removed and `sync`ed after each transfer. Each row runs every downloader once per
// round, the order rotating per round; figures are medians over --rounds.
//
// Measured: the downloader — CPU seconds of all its threads and peak RSS (VmHWM, reset at the
// start for Lodestone, libtorrent and qBittorrent; aria2's from wait4 over its life), from its
// start to its completed download — and throughput = payload bytes / the transfer as the seeder
// saw it, from its first payload byte sent to its last (MB = 10^6 B; the seeder polls its upload
// counter every 2 ms, LT_UPLOAD_TIMES): the downloaders' start-up differs (aria2 takes ~2-3 s from
// its start to its first request, qBittorrent adds a WebUI round trip), so "from start" (payload
// bytes / the downloader's own start-to-completion time) is printed beside it, not compared. How each is driven and measured:
// the header of lodestone-peer.mjs, libtorrent-peer.py, aria2-peer.py, qbittorrent-peer.py.
// Seeding is bench/seed's.
//
//   node bench/download/run.mjs                       all three rows, all four downloaders, 3 rounds
//   node bench/download/run.mjs --rows tree,tree-hybrid --clients lodestone,libtorrent --rounds 1
//   node bench/download/run.mjs --smoke               rows file (64 MiB) and tree (32 MiB, 40 files),
//                                                     lodestone and libtorrent, 1 round
//   options: --size N[K|M|G]  --tree-size N  --files N  --rounds N  --prof DIR (node --cpu-prof for
//            the Lodestone children)  --lodestone-b DIST (A/B: another build's packages/engine/dist
//            as a fifth downloader, alternating with the others)
// Set-up: aria2c and qbittorrent-nox are installed with apt-get when missing (a missing one fails
// the run). Build first: npx tsc -b.
//
// Targets (issue 13): Lodestone >= 1.0x the fastest anchor on every row, CPU <= 1.0x libtorrent's,
// peak RSS <= 150 MB. Results and the machine's load: bench/download/RESULTS.md.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { commandLine, endMedians, loadText, median, parseSize, prepareTreePayload, preparePayload, requireBuild, sizeText, transfer } from '../lib/transfer.mjs'

const { smoke, opt } = commandLine()
const fileBytes = parseSize(opt('size', smoke ? '64M' : '1G'))
const treeBytes = parseSize(opt('tree-size', smoke ? '32M' : '300M'))
const treeFiles = Number(opt('files', smoke ? 40 : 200))
const rounds = Number(opt('rounds', smoke ? 1 : 3))
const profDir = opt('prof', null)
const distB = opt('lodestone-b', null)
const rowNames = opt('rows', smoke ? 'file,tree' : 'file,tree,tree-hybrid').split(',')
const clientNames = opt('clients', smoke ? 'lodestone,libtorrent' : 'lodestone,libtorrent,aria2,qbittorrent').split(',')

const rowKinds = {
  file: { label: `${sizeText(fileBytes)} file, v1, 1 MiB pieces`, bytes: fileBytes, kind: 'v1', pieceLength: 1024 * 1024 },
  tree: { label: `${sizeText(treeBytes)} tree, ${treeFiles} files, v1, 256 KiB pieces`, bytes: treeBytes, kind: 'v1', pieceLength: 256 * 1024, files: treeFiles },
  'tree-hybrid': { label: `${sizeText(treeBytes)} tree, ${treeFiles} files, hybrid, 256 KiB pieces`, bytes: treeBytes, kind: 'hybrid', pieceLength: 256 * 1024, files: treeFiles }
}
const clientKinds = {
  lodestone: { tool: 'lodestone', env: {} },
  libtorrent: { tool: 'libtorrent', env: {} },
  aria2: { tool: 'aria2', env: {}, v1Only: true, binary: '/usr/bin/aria2c', apt: 'aria2' },
  qbittorrent: { tool: 'qbittorrent', env: {}, binary: '/usr/bin/qbittorrent-nox', apt: 'qbittorrent-nox' }
}
for (const name of [...rowNames, ...clientNames]) {
  if (rowKinds[name] === undefined && clientKinds[name] === undefined) {
    console.error(`bench/download: unknown row or client '${name}' (rows: ${Object.keys(rowKinds).join(', ')}; clients: ${Object.keys(clientKinds).join(', ')})`)
    process.exit(2)
  }
}
const clients = clientNames.map((name) => ({ name, ...clientKinds[name] }))
if (distB !== null) clients.push({ name: 'lodestone-b', tool: 'lodestone', env: { LODESTONE_DIST: distB } })

requireBuild('bench/download')

/** The bench's set-up: the anchors' Debian packages, installed when missing. */
function ensureInstalled (client) {
  if (client.binary === undefined || existsSync(client.binary)) return
  console.log(`bench/download: installing ${client.apt} (apt-get install -y ${client.apt})`)
  const run = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', client.apt], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  if (run.status !== 0 || !existsSync(client.binary)) {
    console.error(`bench/download: ${client.binary} is missing and apt-get could not install ${client.apt}`)
    process.exit(2)
  }
}
for (const client of clients) ensureInstalled(client)

const loadBefore = loadText()
const tables = []
const root = mkdtempSync(join(tmpdir(), 'lodestone-bench-download-'))
try {
  if (profDir !== null) mkdirSync(profDir, { recursive: true })
  for (const rowName of rowNames) {
    const row = rowKinds[rowName]
    const work = join(root, rowName)
    mkdirSync(work)
    const info = row.files === undefined
      ? preparePayload(work, row.bytes, row.kind, row.pieceLength)
      : prepareTreePayload(work, row.bytes, row.files, row.kind, row.pieceLength)
    const runners = clients.filter((c) => !(c.v1Only === true && row.kind !== 'v1'))
    const results = Object.fromEntries(runners.map((c) => [c.name, []]))
    // Generous: a transfer slower than 5 MB/s (plus start-up) is a failure, not a result.
    const timeoutMs = 60_000 + row.bytes / 5e6 * 1000
    console.log(`row ${rowName}: ${row.label} (load ${loadText()})`)
    for (let round = 0; round < rounds; round++) {
      for (const client of runners.map((_, i) => runners[(i + round) % runners.length])) {
        const t = await transfer({ work, sizeBytes: row.bytes, seeder: { tool: 'libtorrent', env: { LT_UPLOAD_TIMES: '1' } }, leechers: [{ tool: client.tool, env: client.env }], timeoutMs, profDir })
        const r = { ...t, mbps: row.bytes / (t.seed.lastUploadSeconds - t.seed.firstUploadSeconds) / 1e6, wallMbps: t.mbps }
        results[client.name].push(r)
        console.log(`  round ${round + 1}: ${client.name.padEnd(11)} ${r.mbps.toFixed(0).padStart(5)} MB/s (${r.wallMbps.toFixed(0)} from its start)  ${r.leech.cpuSeconds.toFixed(2)} CPU-s (${r.leech.userSeconds.toFixed(2)}+${r.leech.systemSeconds.toFixed(2)})  ${(r.leech.peakRssKiB * 1024 / 1e6).toFixed(0)} MB  load ${loadText()}`)
        if (process.env.BENCH_THREADS !== undefined && r.leech.threads !== undefined) console.log(`    threads ${JSON.stringify(r.leech.threads)}`)
      }
    }
    rmSync(work, { recursive: true, force: true })
    tables.push({ rowName, label: row.label, libtorrent: info.version, medians: Object.fromEntries(runners.map((c) => [c.name, { ...endMedians(results[c.name], 'leech'), wallMbps: median(results[c.name].map((r) => r.wallMbps)) }])) })
  }
} finally {
  rmSync(root, { recursive: true, force: true })
}

const verdict = (ok) => ok ? 'ok' : 'SHORT'
console.log(`\nbench/download: ${rounds} round(s), loopback TCP, libtorrent ${tables[0]?.libtorrent ?? '?'} seeder, ${cpus().length} cores, node ${process.version}`)
console.log(`load average before ${loadBefore}, after ${loadText()} (other work on the machine skews these figures)`)
const summary = []
for (const t of tables) {
  console.log(`\n${t.rowName}: ${t.label}`)
  console.log('downloader     MB/s  from start   CPU s (user+sys)   peak RSS MB   MB/s per round')
  for (const [name, m] of Object.entries(t.medians)) {
    console.log(`${name.padEnd(12)} ${m.mbps.toFixed(0).padStart(6)} ${m.wallMbps.toFixed(0).padStart(11)} ${`${m.cpuSeconds.toFixed(2)} (${m.userSeconds.toFixed(2)}+${m.systemSeconds.toFixed(2)})`.padStart(18)} ${m.peakRssMB.toFixed(0).padStart(13)}   ${m.all.join(' ')}`)
  }
  const ours = t.medians.lodestone
  const anchors = Object.entries(t.medians).filter(([name]) => !name.startsWith('lodestone'))
  if (ours === undefined || anchors.length === 0) continue
  const [bestName, best] = anchors.reduce((a, b) => (b[1].mbps > a[1].mbps ? b : a))
  const lt = t.medians.libtorrent
  const throughput = ours.mbps / best.mbps
  const cpu = lt !== undefined ? ours.cpuSeconds / lt.cpuSeconds : null
  summary.push({ row: t.rowName, best: bestName, throughput, cpuVsLibtorrent: cpu, rssMB: ours.peakRssMB })
  console.log(`lodestone / best anchor (${bestName}): throughput ${throughput.toFixed(2)} (target >= 1.0: ${verdict(throughput >= 1)})` +
    (cpu !== null ? `, CPU / libtorrent's ${cpu.toFixed(2)} (target <= 1.0: ${verdict(cpu <= 1)})` : '') +
    `, peak RSS ${ours.peakRssMB.toFixed(0)} MB (target <= 150: ${verdict(ours.peakRssMB <= 150)})`)
}
console.log(JSON.stringify({ bench: 'download', rounds, summary, tables }))
