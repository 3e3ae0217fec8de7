#!/usr/bin/env node
// bench/download/ab.mjs: A/B of engine builds on one download row, for decisions on a loaded
// machine. Each transfer is one fresh libtorrent seeder and one Lodestone leecher (lodestone-peer.mjs)
// with the build given by its dist directory; builds alternate in pairs (A B, B A, A B ...). Printed
// per transfer: seeder-side MB/s, the leecher's CPU-seconds (user+sys, every thread), peak RSS, the
// main thread's CPU-seconds and the load. Decide by CPU-seconds and system time, not by MB/s, while
// other work shares the cores. The payload is kept in --work between runs (made once).
//
//   node bench/download/ab.mjs --row file|tree|tree-hybrid --dists base=/tmp/base-dist,new=packages/engine/dist --pairs 4
//   options: --size N[K|M|G] (default 1G for file, 300M for the trees)  --settings '<engine settings json>'
//            --work DIR (default $TMPDIR/lodestone-bench-ab)  --node-args '--cpu-prof ...'
//            --keep-stdout DIR (the leecher's whole stdout per run, e.g. with --node-args --trace-gc)
//            --wrap 'strace -c -f -o /tmp/%N.strace' (a command the leecher runs under; %N = the build's name)
//   environment: BENCH_MEM=1 (memory at the RSS peak), BENCH_THREADS=1 BENCH_THREADS_DETAIL=1 (CPU per thread)
// A dist to compare against: git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci), or
// copy packages/engine/dist aside before changing the source.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { commandLine, loadText, parseSize, prepareTreePayload, preparePayload, startPeer } from '../lib/transfer.mjs'

const { opt } = commandLine()
const row = opt('row', 'file')
const sizeBytes = parseSize(opt('size', row === 'file' ? '1G' : '300M'))
const dists = opt('dists', `this=${new URL('../../packages/engine/dist', import.meta.url).pathname}`).split(',').map((s) => {
  const [name, dir] = s.split('=')
  return [name, resolve(dir)]
})
const pairs = Number(opt('pairs', 1))
const wrap = opt('wrap', null)
const settings = opt('settings', null)
const nodeArgs = (opt('node-args', '') ?? '').split(' ').filter(Boolean)
const keepStdout = opt('keep-stdout', null)
const work = join(opt('work', join(tmpdir(), 'lodestone-bench-ab')), `${row}-${sizeBytes}`)
const peerScript = new URL('lodestone-peer.mjs', import.meta.url).pathname

if (!['file', 'tree', 'tree-hybrid'].includes(row)) throw new Error(`--row: file, tree or tree-hybrid, not ${row}`)
if (!existsSync(join(work, 'payload.torrent'))) {
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  if (row === 'file') preparePayload(work, sizeBytes, 'v1', 1024 * 1024)
  else prepareTreePayload(work, sizeBytes, 200, row === 'tree' ? 'v1' : 'hybrid', 256 * 1024)
}

async function leech (name, dist) {
  const dir = mkdtempSync(join(work, 'leech-'))
  const seed = startPeer('libtorrent', 'seed', [join(work, 'payload.torrent'), join(work, 'seed')], { env: { LT_UPLOAD_TIMES: '1' }, timeoutMs: 300_000 })
  try {
    const { port } = await seed.next('ready')
    seed.send('mark')
    await seed.next('marked')
    const prefix = wrap !== null ? wrap.split(' ').map((s) => s.replace('%N', name)) : []
    const args = [...prefix.slice(1), ...(prefix.length > 0 ? [process.execPath] : []), ...nodeArgs, peerScript, 'leech', join(work, 'payload.torrent'), dir, String(port)]
    const env = { ...process.env, LODESTONE_DIST: dist, ...(settings !== null ? { LODESTONE_SETTINGS: settings } : {}) }
    const child = spawn(prefix[0] ?? process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    const code = await new Promise((resolve) => { child.on('close', resolve) })
    if (keepStdout !== null) writeFileSync(join(keepStdout, `${name}-${Date.now()}.stdout`), out)
    const line = out.trim().split('\n').filter((l) => l.includes('"result"')).pop()
    if (line === undefined) throw new Error(`${name}: the leecher exited (${code}) without a result`)
    const r = JSON.parse(line)
    seed.send('stop')
    const s = await seed.next('result')
    const mbps = sizeBytes / (s.lastUploadSeconds - s.firstUploadSeconds) / 1e6
    console.log(`${name.padEnd(8)} ${mbps.toFixed(0).padStart(5)} MB/s  CPU ${r.cpuSeconds.toFixed(2)} (${r.userSeconds.toFixed(2)}+${r.systemSeconds.toFixed(2)})  peak RSS ${(r.peakRssKiB * 1024 / 1e6).toFixed(0)} MB  main thread ${r.threads.main}  load ${loadText()}${r.memory !== undefined ? `\n         memory ${JSON.stringify(r.memory)}` : ''}${process.env.BENCH_THREADS !== undefined ? `\n         threads ${JSON.stringify(r.threads)}` : ''}`)
  } finally {
    await seed.stop()
    rmSync(dir, { recursive: true, force: true })
    spawnSync('sync')
  }
}

console.log(`bench/download/ab: row ${row}, ${sizeBytes} bytes, ${pairs} pair(s), load ${loadText()}`)
for (let p = 0; p < pairs; p++) {
  for (const [name, dist] of p % 2 === 0 ? dists : [...dists].reverse()) await leech(name, dist)
}
