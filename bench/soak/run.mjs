#!/usr/bin/env node
// Soak run (issue 15; a script, not CI): one Lodestone seeder and one Lodestone leecher (the dist
// build's node preset, each in its own process: bench/soak/lodestone-peer.mjs) with 4 libtorrent
// 2.0.8 peers churning around them (bench/soak/libtorrent-churn.py): every few seconds one of them
// pauses, resumes, re-dials, drops its copy and starts over, or is killed and replaced by a new
// process. The Lodestone leecher downloads, seeds a while, removes the torrent with its files and
// adds it again, over and over. Everything is on 127.0.0.1 with discovery off, and rate-capped so
// the run costs little CPU on a shared machine.
//
// Every sample interval it records, for both Lodestone processes: RSS and open file descriptors
// (/proc/PID), Node's active handles by kind (timers, TCP sockets, file handles, ...), the heap after a full GC,
// and the engine's connection count; then prints the curve and a verdict per series (see verdict()).
//
//   npm run build && nice node bench/soak/run.mjs [--minutes 60] [--sample-sec 30] [--churn-ms 4000] [--out soak.json] [--snapshots DIR]
//   node bench/soak/run.mjs --judge soak.json          (the verdict of a saved run)
//
// SIGINT/SIGTERM end the run early and still print the curve and the verdict.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
function arg (name, fallback) {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback
}
const MINUTES = Number(arg('minutes', process.env.SOAK_MINUTES ?? 60))
const SAMPLE_SEC = Number(arg('sample-sec', 30))
const OUT = arg('out', null)
const CHURN_MS = Number(arg('churn-ms', 4000))
/**
 * With --snapshots DIR: heap snapshots of both Lodestone processes after the warm-up and at the end
 * (compare them in DevTools). Taking one inflates RSS by tens of MiB: judge RSS on runs without.
 */
const SNAPSHOTS = arg('snapshots', null)
const PAYLOAD_BYTES = 16 * 1024 * 1024
const PYTHON = '/usr/bin/python3'
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PRESET = join(ROOT, 'packages/engine/dist/presets/node.js')
const LODESTONE_PEER = fileURLToPath(new URL('./lodestone-peer.mjs', import.meta.url))
const LT_PEER = fileURLToPath(new URL('./libtorrent-churn.py', import.meta.url))

const work = mkdtempSync(join(tmpdir(), 'lodestone-soak-'))
const children = new Set()
const log = (text) => { process.stdout.write(text + '\n') }

/** A child speaking JSON lines: `send`, `next(type)`, its latest message by type. */
function startChild (command, argv, name) {
  const child = spawn(command, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } })
  children.add(child)
  const latest = new Map()
  const waiters = []
  let stderr = ''
  let buffered = ''
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr = (stderr + d).slice(-4000) })
  child.stdin.on('error', () => {})
  child.stdout.setEncoding('utf8').on('data', (d) => {
    buffered += d
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      let msg
      try { msg = JSON.parse(line) } catch { continue }
      latest.set(msg.type, msg)
      if (msg.type === 'command-error') ltTrouble.commandErrors++
      for (const w of waiters.splice(0)) w.type === msg.type ? w.resolve(msg) : waiters.push(w)
    }
  })
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => { children.delete(child); resolve(signal ?? code) }))
  return {
    name,
    child,
    latest,
    exited,
    get stderr () { return stderr },
    send (cmd) { child.stdin.write(JSON.stringify(cmd) + '\n') },
    next (type, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no ${type} within ${timeoutMs} ms\n${stderr}`)), timeoutMs)
        waiters.push({ type, resolve: (m) => { clearTimeout(timer); resolve(m) } })
      })
    }
  }
}

async function makeContent () {
  const seedDir = join(work, 'seed')
  mkdirSync(join(seedDir), { recursive: true })
  const torrentPath = join(work, 'soak.torrent')
  const script = `
import os, sys, json, libtorrent as lt
d, t, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(os.path.join(d, 'soak.bin'), 'wb') as f: f.write(os.urandom(size))
fs = lt.file_storage(); lt.add_files(fs, os.path.join(d, 'soak.bin'))
ct = lt.create_torrent(fs, 262144, flags=lt.create_torrent.v1_only)
lt.set_piece_hashes(ct, d)
open(t, 'wb').write(lt.bencode(ct.generate()))
`
  const c = startChild(PYTHON, ['-c', script, seedDir, torrentPath, String(PAYLOAD_BYTES)], 'make-content')
  const code = await c.exited
  if (code !== 0) throw new Error(`making the payload failed (${code}): ${c.stderr}`)
  return { seedDir, torrentPath }
}

function procStats (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return { rssMiB: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length }
}
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0]

async function startLodestone (mode, torrentPath, dir, extra) {
  const cfg = { presetPath: PRESET, mode, torrentPath, dir, name: 'soak.bin', seedAfterCompleteMs: 20_000, ...extra }
  const p = startChild(process.execPath, ['--expose-gc', LODESTONE_PEER, JSON.stringify(cfg)], `lodestone-${mode}`)
  const listening = await p.next('listening')
  p.port = listening.port
  return p
}

const ltPeers = []
let ltSerial = 0
/** libtorrent peers that exited on their own (not killed by the churn), and their command errors. */
const ltTrouble = { died: 0, commandErrors: 0 }
async function startLt (torrentPath, dialPorts, slot) {
  const savePath = join(work, `lt${ltSerial++}`)
  mkdirSync(savePath, { recursive: true })
  const p = startChild(PYTHON, [LT_PEER, JSON.stringify({ torrentPath, savePath, downloadRate: 150_000, uploadRate: 100_000 })], `libtorrent-${ltSerial}`)
  const listening = await p.next('listening')
  p.port = listening.port
  p.killedByUs = false
  void p.exited.then(() => {
    if (p.killedByUs || stopping) return
    // It died on its own: count it and put a fresh one in its place, so 4 keep churning.
    ltTrouble.died++
    log(`libtorrent peer ${p.port} exited on its own: ${p.stderr.slice(-300)}`)
    startLt(torrentPath, dialPorts, slot).then((n) => { if (stopping) n.child.kill('SIGKILL'); else ltPeers[slot] = n }, () => {})
  })
  for (const port of dialPorts) p.send({ cmd: 'connect', port })
  return p
}

const samples = []
let stopping = false
async function main () {
  const { seedDir, torrentPath } = await makeContent()
  const seeder = await startLodestone('seed', torrentPath, seedDir, { uploadRate: 3_000_000, downloadRate: 0 })
  const leechDir = join(work, 'leech')
  mkdirSync(leechDir, { recursive: true })
  const leecher = await startLodestone('leech', torrentPath, leechDir, { uploadRate: 1_000_000, downloadRate: 1_000_000, peers: [seeder.port] })
  const lodestonePorts = [seeder.port, leecher.port]
  for (let i = 0; i < 4; i++) ltPeers.push(await startLt(torrentPath, lodestonePorts, i))
  log(`soak: ${MINUTES} min, sample every ${SAMPLE_SEC} s, churn every ${CHURN_MS} ms; seeder :${seeder.port} (pid ${seeder.child.pid}), leecher :${leecher.port} (pid ${leecher.child.pid}), libtorrent ${ltPeers.map((p) => p.port).join(' ')}; work ${work}`)

  const churnCounts = { pause: 0, resume: 0, redial: 0, readd: 0, restart: 0 }
  const churn = setInterval(() => {
    const i = Math.floor(Math.random() * ltPeers.length)
    const p = ltPeers[i]
    const r = Math.random()
    if (r < 0.25) { p.send({ cmd: 'pause' }); churnCounts.pause++ } else if (r < 0.55) { p.send({ cmd: 'resume' }); churnCounts.resume++ } else if (r < 0.75) {
      for (const port of lodestonePorts) p.send({ cmd: 'connect', port })
      churnCounts.redial++
    } else if (r < 0.9) { p.send({ cmd: 'readd' }); churnCounts.readd++ } else {
      churnCounts.restart++
      p.killedByUs = true
      p.child.kill('SIGKILL')
      ltPeers[i] = { send () {}, child: { kill () {} } }
      startLt(torrentPath, lodestonePorts, i).then((n) => { if (stopping) n.child.kill('SIGKILL'); else ltPeers[i] = n }, (e) => log(`restart failed: ${e.message}`))
    }
  }, CHURN_MS)

  const t0 = Date.now()
  const header = 'min   load | seed rss MiB fds timers tcp heap conns | leech rss MiB fds timers tcp heap conns rounds | churn'
  log(header)
  const endAt = t0 + MINUTES * 60_000
  while (!stopping && Date.now() < endAt) {
    const row = { minute: (Date.now() - t0) / 60_000, load: Number(loadavg()) }
    for (const [key, p] of [['seed', seeder], ['leech', leecher]]) {
      p.send({ cmd: 'sample' })
      const s = await p.next('sample')
      const ps = procStats(p.child.pid)
      row[key] = { rssMiB: ps.rssMiB, fds: ps.fds, timers: s.resources.Timeout ?? 0, tcp: (s.resources.TCPSocketWrap ?? 0) + (s.resources.TCPServerWrap ?? 0), heapMiB: s.heapUsed / 1048576, connections: s.connections.connections ?? 0, peers: s.peers, rounds: s.rounds, resources: s.resources, warnings: s.warnings }
    }
    row.churn = { ...churnCounts }
    samples.push(row)
    const f = (v, w, d = 0) => v.toFixed(d).padStart(w)
    log(`${f(row.minute, 5, 1)} ${f(row.load, 5, 2)} | ${f(row.seed.rssMiB, 12, 1)} ${f(row.seed.fds, 3)} ${f(row.seed.timers, 6)} ${f(row.seed.tcp, 3)} ${f(row.seed.heapMiB, 4, 1)} ${f(row.seed.connections, 5)} | ${f(row.leech.rssMiB, 13, 1)} ${f(row.leech.fds, 3)} ${f(row.leech.timers, 6)} ${f(row.leech.tcp, 3)} ${f(row.leech.heapMiB, 4, 1)} ${f(row.leech.connections, 5)} ${f(row.leech.rounds, 6)} | ${Object.values(churnCounts).join('/')}`)
    if (OUT !== null) writeFileSync(OUT, JSON.stringify(samples, null, 1))
    if (SNAPSHOTS !== null && samples.length === 3) await snapshot(seeder, leecher, 'early')
    await new Promise((resolve) => { const t = setTimeout(resolve, SAMPLE_SEC * 1000); stopWaiters.push(() => { clearTimeout(t); resolve() }) })
  }
  clearInterval(churn)
  if (SNAPSHOTS !== null) await snapshot(seeder, leecher, 'late')
  verdict()
  log(`churn actions (pause/resume/redial/readd/restart): ${Object.values(churnCounts).join('/')}; libtorrent peers that died on their own ${ltTrouble.died}, command errors ${ltTrouble.commandErrors}; leecher rounds (full downloads): ${samples.at(-1)?.leech.rounds ?? 0}`)
  for (const p of [seeder, leecher]) p.send({ cmd: 'quit' })
  await Promise.race([Promise.all([seeder.exited, leecher.exited]), new Promise((resolve) => setTimeout(resolve, 5000))])
}
const stopWaiters = []

async function snapshot (seeder, leecher, label) {
  mkdirSync(SNAPSHOTS, { recursive: true })
  for (const [name, p] of [['seed', seeder], ['leech', leecher]]) {
    p.send({ cmd: 'snapshot', path: join(SNAPSHOTS, `${name}-${label}.heapsnapshot`) })
    log(`heap snapshot ${(await p.next('snapshot', 120_000)).path}`)
  }
}

/**
 * Per series, after a warm-up (10 % of the samples, at least 2): "growing" when the mean of the
 * last third exceeds the mean of the first third by more than the series' slack plus 5 %; the
 * least-squares slope is printed as growth per hour. Means, not maxima: connections, sockets and
 * RSS swing with the churn; a leak shows as a level that keeps rising.
 */
function verdict () {
  if (samples.length < 6) { log(`verdict: too few samples (${samples.length}) to judge`); return }
  const warm = Math.max(2, Math.floor(samples.length * 0.1))
  const rest = samples.slice(warm)
  const third = Math.max(1, Math.floor(rest.length / 3))
  const series = [['rssMiB', 8], ['fds', 4], ['timers', 4], ['tcp', 4], ['heapMiB', 1], ['connections', 4]]
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
  let growing = 0
  for (const proc of ['seed', 'leech']) {
    for (const [k, slack] of series) {
      const xs = rest.map((s) => s.minute)
      const ys = rest.map((s) => s[proc][k])
      const mx = mean(xs)
      const my = mean(ys)
      const slopePerMin = xs.reduce((acc, x, i) => acc + (x - mx) * (ys[i] - my), 0) / Math.max(1e-9, xs.reduce((acc, x) => acc + (x - mx) ** 2, 0))
      const early = mean(ys.slice(0, third))
      const late = mean(ys.slice(-third))
      const ok = late <= early * 1.05 + slack
      if (!ok) growing++
      const all = samples.map((s) => s[proc][k])
      log(`  ${proc.padEnd(5)} ${k.padEnd(11)} min ${Math.min(...all).toFixed(1).padStart(7)} max ${Math.max(...all).toFixed(1).padStart(7)}  early mean ${early.toFixed(1).padStart(7)} late mean ${late.toFixed(1).padStart(7)}  trend ${(slopePerMin * 60).toFixed(1).padStart(7)}/h -> ${ok ? 'bounded' : 'GROWING'}`)
    }
  }
  log(`verdict: ${growing === 0 ? 'bounded' : `growing (${growing} series)`} over ${samples.at(-1).minute.toFixed(1)} min, ${samples.length} samples, load ${Math.min(...samples.map((s) => s.load)).toFixed(1)}-${Math.max(...samples.map((s) => s.load)).toFixed(1)}`)
}

/** Re-judges a saved run: node bench/soak/run.mjs --judge samples.json */
if (arg('judge', null) !== null) {
  samples.push(...JSON.parse(readFileSync(arg('judge', null), 'utf8')))
  verdict()
  rmSync(work, { recursive: true, force: true })
  process.exit(0)
}

function cleanup () {
  for (const c of children) c.kill('SIGKILL')
  rmSync(work, { recursive: true, force: true })
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopping = true; for (const w of stopWaiters.splice(0)) w() })
main().then(() => { cleanup(); process.exit(0) }, (e) => { log(`soak failed: ${e.stack ?? e}`); cleanup(); process.exit(1) })
