#!/usr/bin/env node
// bench/utp/bottleneck.mjs: uTP on a real bottleneck (issue 11), the same network and measurement
// as interop/utp/bottleneck.test.ts (interop/utp/bottleneck-run.mjs, run in a private network
// namespace, as root): a sender and a receiver host joined through a bridge whose port to the
// receiver has `tbf rate R burst 32kb latency 300ms`; the TCP sender uses CUBIC. Per round:
//   1. uTP alone: Lodestone -> Lodestone (both transport.tcp off), 3 s measured after 3 s;
//   2. uTP + TCP: a bulk TCP flow joins; both measured for 3 s after 5 s;
//   3. TCP alone, 2 s;
//   4. with --latecomer: a fresh uTP transfer joins the queue TCP keeps (LEDBAT's latecomer case);
//      both measured for 3 s after 5 s from its first byte.
// Every figure is MB/s as the receiving process counted it. Not a timed test: figures go to RESULTS.md.
// Why not the namespace's lo (this bench's earlier form): the sending host's own qdisc is then the
// bottleneck, where Linux's TCP Small Queues keep a TCP flow's backlog to ~20 ms while UDP fills it,
// and this kernel's default TCP is BBR, which keeps no standing queue for LEDBAT to see.
//
//   node bench/utp/bottleneck.mjs [--rate-mbit 80] [--size 96M] [--rounds 3] [--latecomer]
// Build first: npx tsc -b.
import { spawnSync } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const runner = join(here, '..', '..', 'interop', 'utp', 'bottleneck-run.mjs')
const presetPath = join(here, '..', '..', 'packages', 'engine', 'dist', 'presets', 'node.js')
const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback
}
const rateMbit = Number(opt('rate-mbit', '80'))
const sizeBytes = Number(opt('size', '96').replace(/M$/i, '')) * 1024 * 1024
const rounds = Number(opt('rounds', '3'))
const latecomer = argv.includes('--latecomer')

const work = mkdtempSync(join(tmpdir(), 'lodestone-bench-bottleneck-'))
try {
  mkdirSync(join(work, 'seed'))
  const fd = openSync(join(work, 'seed', 'payload.bin'), 'w')
  const chunk = new Uint8Array(4 * 1024 * 1024)
  for (let w = 0; w < sizeBytes; w += chunk.length) { randomFillSync(chunk); writeSync(fd, chunk, 0, Math.min(chunk.length, sizeBytes - w)) }
  closeSync(fd)
  const created = spawnSync('/usr/bin/python3', [join(here, '..', 'create', 'libtorrent-create.py'), join(work, 'seed', 'payload.bin'), 'v1', '0', join(work, 'payload.torrent')], { encoding: 'utf8' })
  if (created.status !== 0) throw new Error(`libtorrent-create.py: ${created.stderr}`)
  const linkMBps = rateMbit / 8
  const pct = (x) => `${(100 * x / linkMBps).toFixed(0).padStart(3)} %`
  console.log(`bench/utp bottleneck: tbf ${rateMbit} mbit/s (${linkMBps} MB/s), 300 ms queue, in a router between two namespaces; ${(sizeBytes / 1024 ** 2).toFixed(0)} MiB over uTP`)
  for (let round = 1; round <= rounds; round++) {
    const leechDir = join(work, `leech-${round}`)
    mkdirSync(leechDir)
    const config = {
      presetPath, rateMbit, burst: '32kb', queueMs: 300, warmupMs: 3_000, sharedWarmupMs: 5_000, windowMs: 3_000, tcpWindowMs: 2_000,
      torrentPath: join(work, 'payload.torrent'), seedDir: join(work, 'seed'), leechDir,
      ...(latecomer ? { latecomerLeechDir: join(leechDir, 'latecomer'), latecomerWarmupMs: 5_000 } : {})
    }
    const run = spawnSync('unshare', ['--net', process.execPath, runner, JSON.stringify(config)], { encoding: 'utf8' })
    const line = run.stdout.split('\n').find((l) => l.startsWith('{"type":'))
    const r = line !== undefined ? JSON.parse(line) : { type: 'error', message: run.stderr }
    if (r.type !== 'result') { console.log(`round ${round}: failed: ${r.message}`); continue }
    console.log(`round ${round} (load ${loadavg()[0].toFixed(1)} after, ${r.loadAverage.toFixed(1)} before): uTP alone ${r.utpAloneMBps.toFixed(2)} MB/s (${pct(r.utpAloneMBps)}); ` +
      `shared uTP ${r.sharedUtpMBps.toFixed(2)} (${pct(r.sharedUtpMBps)}) / TCP ${r.sharedTcpMBps.toFixed(2)} (${pct(r.sharedTcpMBps)}), TCP RTT ${r.tcpShared.rttMs} ms; ` +
      `TCP alone ${r.tcpAloneMBps.toFixed(2)} (${pct(r.tcpAloneMBps)}), RTT ${r.tcpAlone.rttMs} ms (${r.tcpAlone.cc})` +
      (r.latecomer !== null ? `; uTP joins TCP's queue: uTP ${r.latecomer.utpMBps.toFixed(2)} (${pct(r.latecomer.utpMBps)}) / TCP ${r.latecomer.tcpMBps.toFixed(2)} (${pct(r.latecomer.tcpMBps)}), TCP RTT ${r.latecomer.tcp.rttMs} ms` : ''))
    console.log(JSON.stringify({ bench: 'utp-bottleneck', round, ...r }))
    rmSync(leechDir, { recursive: true, force: true })
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
