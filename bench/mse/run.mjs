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
// A round is five transfers in an order that rotates per round; figures are medians over --rounds.
//
// The peers are bench/download's (lodestone-peer.mjs, libtorrent-peer.py: one child process per
// peer measuring itself over the transfer — CPU seconds of all its threads, peak RSS), configured
// through their environment: LT_ENC=rc4 (libtorrent in/out_enc_policy forced, allowed_enc_level
// rc4), LT_OUT_ENC=disabled (libtorrent dials in plaintext), LODESTONE_SETTINGS (engine settings).
//
//   node bench/mse/run.mjs                 1 GiB payload, 3 rounds
//   node bench/mse/run.mjs --smoke         64 MiB, 1 round
//   options: --size N[K|M|G]  --rounds N  --transfers a,b,c,e,f (b and d are one transfer)
//
// Targets (issue 16): Lodestone >= 1.5x libtorrent's encrypted throughput both ways (a/b, c/d)
// with CPU <= 1.0x libtorrent's, and encrypted Lodestone >= 0.6x plaintext Lodestone (a/e, c/f).
// Results and the machine's load are recorded in bench/mse/RESULTS.md. Build first: npx tsc -b.
import { spawn, spawnSync } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')
const peers = join(here, '..', 'download')
const python = '/usr/bin/python3'

const argv = process.argv.slice(2)
const smoke = argv.includes('--smoke')
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback
}

function parseSize (text) {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(?:i?B)?$/i.exec(String(text).trim())
  if (m === null) throw new Error(`--size: expected a number with an optional K/M/G suffix, got ${text}`)
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase()]
  return Math.round(Number(m[1]) * unit)
}

const sizeBytes = parseSize(opt('size', smoke ? '64M' : '1G'))
const rounds = Number(opt('rounds', smoke ? 1 : 3))
const transferTimeoutMs = 30_000 + sizeBytes / 5e6 * 1000

if (!existsSync(join(repo, 'packages', 'engine', 'dist', 'presets', 'node.js'))) {
  console.error('bench/mse: build first (npx tsc -b)')
  process.exit(2)
}

const LT_RC4 = { LT_ENC: 'rc4' }
const LT_PLAIN_DIAL = { LT_OUT_ENC: 'disabled' }
const LS_RC4 = { LODESTONE_SETTINGS: JSON.stringify({ encryption: { mode: 'require', level: 'rc4' } }) }
const LS_PLAIN = { LODESTONE_SETTINGS: JSON.stringify({ encryption: { mode: 'disable' } }) }

/** key → [seeder tool, seeder env, leecher tool, leecher env] */
const TRANSFERS = {
  a: ['libtorrent', LT_RC4, 'lodestone', LS_RC4],
  b: ['libtorrent', LT_RC4, 'libtorrent', LT_RC4],
  c: ['lodestone', LS_RC4, 'libtorrent', LT_RC4],
  e: ['libtorrent', {}, 'lodestone', LS_PLAIN],
  f: ['lodestone', LS_PLAIN, 'libtorrent', LT_PLAIN_DIAL]
}
const picked = opt('transfers', 'a,b,c,e,f').split(',').map((k) => (k === 'd' ? 'b' : k))
const keys = Object.keys(TRANSFERS).filter((k) => picked.includes(k))

function makePayload (path, bytes) {
  const fd = openSync(path, 'w')
  const chunk = new Uint8Array(4 * 1024 * 1024)
  for (let written = 0; written < bytes; written += chunk.length) {
    randomFillSync(chunk)
    writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written))
  }
  closeSync(fd)
}

/** One child peer (bench/download's scripts): JSON lines on stdout, commands on stdin. */
function startPeer (tool, mode, args, env) {
  const command = tool === 'lodestone' ? process.execPath : python
  const script = join(peers, tool === 'lodestone' ? 'lodestone-peer.mjs' : 'libtorrent-peer.py')
  const child = spawn(command, [script, mode, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr = (stderr + d.toString()).slice(-4000) })
  const waiting = []
  const lines = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    let message
    try { message = JSON.parse(line) } catch { return }
    const i = waiting.findIndex((w) => w.event === message.event)
    if (i >= 0) waiting.splice(i, 1)[0].resolve(message)
    else lines.push(message)
  })
  const exited = new Promise((resolve) => { child.on('exit', (code, signal) => { resolve({ code, signal }) }) })
  return {
    send (command) { child.stdin.write(`${command}\n`) },
    next (event) {
      const queued = lines.findIndex((m) => m.event === event)
      if (queued >= 0) return Promise.resolve(lines.splice(queued, 1)[0])
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`${tool} ${mode}: no '${event}' within ${Math.round(transferTimeoutMs / 1000)} s; stderr: ${stderr}`)) }, transferTimeoutMs)
        waiting.push({ event, resolve: (m) => { clearTimeout(timer); resolve(m) } })
        exited.then(({ code, signal }) => {
          clearTimeout(timer)
          reject(new Error(`${tool} ${mode} exited (${code ?? signal}) before '${event}'; stderr: ${stderr}`))
        })
      })
    },
    async stop () {
      child.stdin.end()
      await Promise.race([exited, new Promise((resolve) => { setTimeout(resolve, 10_000).unref() })])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    }
  }
}

/** One transfer: a fresh seeder, then a leecher into a fresh directory; both ends measured. */
async function transfer (work, key) {
  const [seederTool, seederEnv, leecherTool, leecherEnv] = TRANSFERS[key]
  const leechDir = mkdtempSync(join(work, 'leech-'))
  const seeder = startPeer(seederTool, 'seed', [join(work, 'payload.torrent'), join(work, 'seed')], seederEnv)
  let leecher
  try {
    const { port } = await seeder.next('ready')
    seeder.send('mark')
    await seeder.next('marked')
    leecher = startPeer(leecherTool, 'leech', [join(work, 'payload.torrent'), leechDir, String(port)], leecherEnv)
    const leech = await leecher.next('result')
    seeder.send('stop')
    const seed = await seeder.next('result')
    if (leech.bytes < sizeBytes) throw new Error(`${leecherTool} leecher reports ${leech.bytes} of ${sizeBytes} bytes`)
    return { mbps: sizeBytes / leech.seconds / 1e6, leech, seed }
  } finally {
    await seeder.stop()
    if (leecher !== undefined) await leecher.stop()
    rmSync(leechDir, { recursive: true, force: true })
    spawnSync('sync')
  }
}

function median (values) {
  const s = [...values].sort((x, y) => x - y)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

const work = mkdtempSync(join(tmpdir(), 'lodestone-bench-mse-'))
const loadBefore = loadavg()
const results = Object.fromEntries(keys.map((k) => [k, []]))
let version = '?'
let pieceLength = 0
try {
  mkdirSync(join(work, 'seed'))
  makePayload(join(work, 'seed', 'payload.bin'), sizeBytes)
  const created = spawnSync(python, [join(here, '..', 'create', 'libtorrent-create.py'), join(work, 'seed', 'payload.bin'), 'v1', '0', join(work, 'payload.torrent')], { encoding: 'utf8' })
  if (created.status !== 0) throw new Error(`creating the torrent failed: ${created.stderr}`)
  const info = JSON.parse(created.stdout.trim().split('\n').pop())
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
  ['a', '(a) lodestone  <- libtorrent  rc4', side('a', 'leech')],
  ['b', '(b) libtorrent <- libtorrent  rc4', side('b', 'leech')],
  ['c', '(c) lodestone  -> libtorrent  rc4', side('c', 'seed')],
  ['d', '(d) libtorrent -> libtorrent  rc4', side('b', 'seed')],
  ['e', '(e) lodestone  <- libtorrent  plain', side('e', 'leech')],
  ['f', '(f) lodestone  -> libtorrent  plain', side('f', 'seed')]
].filter(([, , s]) => s !== null).map(([key, label, s]) => [key, { label, ...s }]))

const sizeText = sizeBytes % (1024 ** 3) === 0 ? `${sizeBytes / 1024 ** 3} GiB` : `${(sizeBytes / 1024 ** 2).toFixed(0)} MiB`
console.log(`bench/mse: ${sizeText} single file, v1, piece ${pieceLength / 1024} KiB, loopback TCP, ${rounds} round(s), ${cpus().length} cores, libtorrent ${version}, node ${process.version}`)
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
  console.log(`${what.padEnd(8)} encrypted lodestone/libtorrent: throughput ${throughput.toFixed(2)} (target >= 1.5: ${verdict(throughput >= 1.5)}), CPU ${cpu.toFixed(2)} (target <= 1.0: ${verdict(cpu <= 1)})`)
}
for (const [what, encrypted, plain] of [['download', rows.a, rows.e], ['seed', rows.c, rows.f]]) {
  if (encrypted === undefined || plain === undefined) continue
  const throughput = encrypted.mbps / plain.mbps
  ratios[`${what}Cost`] = { throughput, cpu: encrypted.cpuSeconds / plain.cpuSeconds }
  console.log(`${what.padEnd(8)} lodestone encrypted/plaintext: throughput ${throughput.toFixed(2)} (target >= 0.6: ${verdict(throughput >= 0.6)}), CPU ${(encrypted.cpuSeconds / plain.cpuSeconds).toFixed(2)}`)
}
console.log(JSON.stringify({ bench: 'mse', sizeBytes, pieceLength, rounds, libtorrent: version, ratios, rows }))
