#!/usr/bin/env node
// bench/seed/ab.mjs: A/B of Lodestone seeder variants on the 8-leecher row, for decisions on a loaded
// machine. Each transfer is one fresh Lodestone seeder (lodestone-peer.mjs) and --leechers fresh
// libtorrent leechers; variants alternate in pairs (A B, B A, ...). A variant is a name and the
// seeder's extra environment: LODESTONE_DIST (another build's packages/engine/dist, copied aside
// before changing the source), LODESTONE_SETTINGS (engine settings JSON), BENCH_NODE_FLAGS (node flags).
// Printed per transfer: the seeder's CPU-seconds per GiB served (user + system, every thread), the
// aggregate MB/s (noise under load), its write/read syscalls, peak RSS and the load; then the
// medians. Decide by CPU-seconds while other work shares the cores. The payload is made once in
// $TMPDIR/seed-ab-work-<bytes>.
//
//   node bench/seed/ab.mjs --pairs 4 --variants 'base={"LODESTONE_DIST":"/tmp/base-dist"};new={}'
//   options: --multi-size N[K|M|G] (128M)  --leechers N (8)
import { existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { commandLine, loadText, parseSize, preparePayload, transfer } from '../lib/transfer.mjs'
const { opt } = commandLine()
const bytes = parseSize(opt('multi-size', '128M'))
const count = Number(opt('leechers', 8))
const pairs = Number(opt('pairs', 2))
const variants = opt('variants', 'this={}').split(';').map((s) => { const i = s.indexOf('='); return { name: s.slice(0, i), env: JSON.parse(s.slice(i + 1)) } })
const work = join(tmpdir(), `seed-ab-work-${bytes}`)
if (!existsSync(join(work, 'payload.torrent'))) { mkdirSync(work, { recursive: true }); preparePayload(work, bytes) }
const acc = {}
for (let p = 0; p < pairs; p++) {
  const order = p % 2 === 0 ? variants : [...variants].reverse()
  for (const v of order) {
    const r = await transfer({ work, sizeBytes: bytes, seeder: { name: v.name, tool: 'lodestone', env: v.env }, leechers: Array.from({ length: count }, () => ({ tool: 'libtorrent' })), timeoutMs: 120000 })
    const s = r.seed
    const gib = bytes * count / 2 ** 30
    const line = `${v.name.padEnd(8)} ${(s.cpuSeconds / gib).toFixed(2)} CPU-s/GiB (u ${(s.userSeconds / gib).toFixed(2)} s ${(s.systemSeconds / gib).toFixed(2)}) ${r.mbps.toFixed(0)} MB/s io w${s.io?.syscw} r${s.io?.syscr} rss ${(s.peakRssKiB / 1024).toFixed(0)} [${loadText()}]`
    console.log(line)
    ;(acc[v.name] ??= []).push(s.cpuSeconds / gib)
  }
}
for (const [k, xs] of Object.entries(acc)) { const s = [...xs].sort((a, b) => a - b); console.log(k, 'median', s[Math.floor(s.length / 2)].toFixed(2), xs.map((x) => x.toFixed(2)).join(' ')) }
