// Shared by the transfer benches (bench/download, bench/seed, bench/mse, bench/utp): the payload,
// the torrent, one child peer per process (bench/download's lodestone-peer.mjs and
// libtorrent-peer.py: JSON lines on stdout, commands on stdin, each measuring itself) and one
// transfer from a fresh seeder to one or more fresh leechers.
import { spawn, spawnSync } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const repoRoot = join(here, '..', '..')
export const python = '/usr/bin/python3'
const peerDir = join(here, '..', 'download')

/** `--name value` options and the `--smoke` flag of a bench's command line. */
export function commandLine (argv = process.argv.slice(2)) {
  return {
    smoke: argv.includes('--smoke'),
    opt (name, fallback) {
      const i = argv.indexOf(`--${name}`)
      return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback
    }
  }
}

/** '1G', '64M', '300MiB', '4096' → bytes. */
export function parseSize (text) {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(?:i?B)?$/i.exec(String(text).trim())
  if (m === null) throw new Error(`--size: expected a number with an optional K/M/G suffix, got ${text}`)
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase()]
  return Math.round(Number(m[1]) * unit)
}

/** '1 GiB', '64 MiB', '1.5 MiB'. */
export function sizeText (bytes) {
  if (bytes % (1024 ** 3) === 0) return `${bytes / 1024 ** 3} GiB`
  return `${(bytes / 1024 ** 2).toFixed(bytes % (1024 ** 2) === 0 ? 0 : 1)} MiB`
}

/** Exits with a hint when the engine is not built. */
export function requireBuild (bench) {
  if (!existsSync(join(repoRoot, 'packages', 'engine', 'dist', 'presets', 'node.js'))) {
    console.error(`${bench}: build first (npx tsc -b)`)
    process.exit(2)
  }
}

export function median (values) {
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

export function loadText () { return loadavg().map((l) => l.toFixed(2)).join(' ') }

/** `bytes` of random data at `path`. */
export function makePayload (path, bytes) {
  const fd = openSync(path, 'w')
  const chunk = new Uint8Array(4 * 1024 * 1024)
  for (let written = 0; written < bytes; written += chunk.length) {
    randomFillSync(chunk)
    writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written))
  }
  closeSync(fd)
}

/** A torrent of `path` made by libtorrent (bench/create's script): {version, pieceLength, v1, v2}. */
export function makeTorrent (path, out, kind = 'v1', pieceLength = 0) {
  const created = spawnSync(python, [join(here, '..', 'create', 'libtorrent-create.py'), path, kind, String(pieceLength), out], { encoding: 'utf8' })
  if (created.status !== 0) throw new Error(`creating the torrent failed: ${created.stderr}`)
  return JSON.parse(created.stdout.trim().split('\n').pop())
}

/** The Python-driven peers by tool name (bench/download; aria2 and qBittorrent only leech). */
const pythonPeers = { libtorrent: 'libtorrent-peer.py', aria2: 'aria2-peer.py', qbittorrent: 'qbittorrent-peer.py' }

/**
 * One child peer: `tool` 'lodestone', 'libtorrent', 'aria2' or 'qbittorrent', `mode` 'seed' or 'leech'. `env` adds to the
 * child's environment (LT_ENC, LODESTONE_SETTINGS...), `profDir` runs a Lodestone child under
 * node --cpu-prof; BENCH_NODE_FLAGS (in `env` or the environment: node flags for a Lodestone child,
 * space-separated, e.g. '--no-opt' for experiments). `next(event)` waits up to `timeoutMs` for a JSON line with that event.
 */
export function startPeer (tool, mode, args, { env = {}, profDir = null, timeoutMs }) {
  const command = tool === 'lodestone' ? process.execPath : python
  const scriptArgs = tool === 'lodestone'
    ? [...((env.BENCH_NODE_FLAGS ?? process.env.BENCH_NODE_FLAGS)?.split(' ') ?? []), ...(profDir !== null ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `${mode}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}.cpuprofile`] : []), join(peerDir, 'lodestone-peer.mjs')]
    : [join(peerDir, pythonPeers[tool])]
  const child = spawn(command, [...scriptArgs, mode, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr = (stderr + d.toString()).slice(-4000) })
  const waiting = []
  const lines = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    let message
    try { message = JSON.parse(line) } catch { return }
    message.receivedAtMs = performance.now()
    const i = waiting.findIndex((w) => w.event === message.event)
    if (i >= 0) waiting.splice(i, 1)[0].resolve(message)
    else lines.push(message)
  })
  // 'close', not 'exit': 'exit' may come before the last lines on stdout were read, and a peer that
  // prints its result and exits at once then looked as if it had exited without one (seen at load 19).
  const exited = new Promise((resolve) => { child.on('close', (code, signal) => { resolve({ code, signal }) }) })
  return {
    child,
    send (command) { child.stdin.write(`${command}\n`) },
    next (event) {
      const queued = lines.findIndex((m) => m.event === event)
      if (queued >= 0) return Promise.resolve(lines.splice(queued, 1)[0])
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`${tool} ${mode}: no '${event}' within ${Math.round(timeoutMs / 1000)} s; stderr: ${stderr}`)) }, timeoutMs)
        waiting.push({ event, resolve: (m) => { clearTimeout(timer); resolve(m) } })
        exited.then(({ code, signal }) => {
          clearTimeout(timer)
          reject(new Error(`${tool} ${mode} exited (${code ?? signal}) before '${event}'; stderr: ${stderr}`))
        })
      })
    },
    /** Waits up to 10 s for the child to exit by itself (a profile is written at exit), then kills it. */
    async stop () {
      child.stdin.end()
      await Promise.race([exited, new Promise((resolve) => { setTimeout(resolve, 10_000).unref() })])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    }
  }
}

/**
 * One transfer of `work`/payload.torrent (data in `work`/seed): a fresh seeder, then `leechers`
 * (each {tool, env}) started together, each into a fresh directory removed (and `sync`ed)
 * afterwards. The seeder is measured from just before the leechers start to after the last one
 * finished. Returns {mbps, seconds, leech (the first leecher's result), leeches, seed}: `seconds`
 * is the wall time from the first leecher's start to the last one's end, `mbps` the payload bytes
 * of all leechers over it (MB = 10^6 B).
 */
export async function transfer ({ work, sizeBytes, seeder, leechers, timeoutMs, profDir = null }) {
  const dirs = leechers.map(() => mkdtempSync(join(work, 'leech-')))
  const seed = startPeer(seeder.tool, 'seed', [join(work, 'payload.torrent'), join(work, 'seed')], { env: seeder.env, profDir, timeoutMs })
  const started = []
  try {
    const { port } = await seed.next('ready')
    seed.send('mark')
    await seed.next('marked')
    for (const [i, l] of leechers.entries()) started.push(startPeer(l.tool, 'leech', [join(work, 'payload.torrent'), dirs[i], String(port)], { env: l.env, profDir, timeoutMs }))
    const leeches = await Promise.all(started.map(async (p) => p.next('result')))
    seed.send('stop')
    const seedResult = await seed.next('result')
    for (const [i, r] of leeches.entries()) {
      if (r.bytes < sizeBytes) throw new Error(`${leechers[i].tool} leecher ${i} reports ${r.bytes} of ${sizeBytes} bytes`)
    }
    const first = Math.min(...leeches.map((r) => r.receivedAtMs - r.seconds * 1000))
    const last = Math.max(...leeches.map((r) => r.receivedAtMs))
    const seconds = leeches.length === 1 ? leeches[0].seconds : (last - first) / 1000
    return { mbps: sizeBytes * leeches.length / seconds / 1e6, seconds, leech: leeches[0], leeches, seed: seedResult }
  } finally {
    await seed.stop()
    await Promise.all(started.map(async (p) => p.stop()))
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
    spawnSync('sync')
  }
}

/** A work directory with `seed`/payload.bin of `sizeBytes` and payload.torrent beside it. */
export function preparePayload (work, sizeBytes, kind = 'v1', pieceLength = 0) {
  mkdirSync(join(work, 'seed'))
  makePayload(join(work, 'seed', 'payload.bin'), sizeBytes)
  return makeTorrent(join(work, 'seed', 'payload.bin'), join(work, 'payload.torrent'), kind, pieceLength)
}

/**
 * A work directory with `seed`/tree: `files` files of random data, `sizeBytes` in all, in 10
 * folders, sizes spread from ~1/8 to ~2.5x the mean (a fixed pseudo-random sequence, so every run
 * has the same tree) and none a multiple of 16 KiB, so pieces and blocks span file boundaries;
 * payload.torrent beside it (`kind` v1|v2|hybrid). Returns makeTorrent's answer.
 */
export function prepareTreePayload (work, sizeBytes, files, kind = 'v1', pieceLength = 0) {
  let state = 13
  const random = () => { state = (state * 1103515245 + 12345) % 2147483648; return state / 2147483648 }
  const weights = Array.from({ length: files }, () => Math.exp(3 * random()))
  const sum = weights.reduce((a, b) => a + b, 0)
  const sizes = weights.map((w) => Math.max(1, Math.floor(w / sum * sizeBytes) | 1))
  sizes[files - 1] += sizeBytes - sizes.reduce((a, b) => a + b, 0)
  const root = join(work, 'seed', 'tree')
  for (const [i, bytes] of sizes.entries()) {
    const dir = join(root, `d${i % 10}`)
    mkdirSync(dir, { recursive: true })
    makePayload(join(dir, `f${i}.bin`), bytes)
  }
  return makeTorrent(root, join(work, 'payload.torrent'), kind, pieceLength)
}

/**
 * Runs each transfer of `transfers` (key → [seeder tool, seeder env, leecher tool, leecher env])
 * once per round on a fresh payload in a temporary directory, rotating the order every round so no
 * transfer always runs first, printing each result. Returns {results (key → runs), version,
 * pieceLength, loadBefore}.
 */
export async function transferRounds ({ bench, sizeBytes, rounds, transfers, timeoutMs, profDir = null }) {
  const keys = Object.keys(transfers)
  const work = mkdtempSync(join(tmpdir(), `lodestone-${bench.replace('/', '-')}-`))
  const loadBefore = loadavg()
  const results = Object.fromEntries(keys.map((k) => [k, []]))
  try {
    const { version, pieceLength } = preparePayload(work, sizeBytes)
    for (let round = 0; round < rounds; round++) {
      for (const key of keys.map((_, i) => keys[(i + round) % keys.length])) {
        const [seederTool, seederEnv, leecherTool, leecherEnv] = transfers[key]
        const r = await transfer({ work, sizeBytes, seeder: { tool: seederTool, env: seederEnv }, leechers: [{ tool: leecherTool, env: leecherEnv }], timeoutMs, profDir })
        results[key].push(r)
        console.log(`  round ${round + 1} (${key}): ${seederTool} -> ${leecherTool}: ${r.mbps.toFixed(0)} MB/s; leecher ${r.leech.cpuSeconds.toFixed(2)} CPU-s ${(r.leech.peakRssKiB / 1024).toFixed(0)} MiB; seeder ${r.seed.cpuSeconds.toFixed(2)} CPU-s ${(r.seed.peakRssKiB / 1024).toFixed(0)} MiB`)
      }
    }
    return { results, version, pieceLength, loadBefore }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** Medians over `runs` of one end ('leech' or 'seed') of a transfer; null when there are none. */
export function endMedians (runs = [], end) {
  if (runs.length === 0) return null
  return {
    mbps: median(runs.map((r) => r.mbps)),
    cpuSeconds: median(runs.map((r) => r[end].cpuSeconds)),
    userSeconds: median(runs.map((r) => r[end].userSeconds)),
    systemSeconds: median(runs.map((r) => r[end].systemSeconds)),
    peakRssMB: median(runs.map((r) => r[end].peakRssKiB * 1024 / 1e6)),
    all: runs.map((r) => Number(r.mbps.toFixed(0)))
  }
}

/** Prints the header and table of labelled rows ({label, mbps, cpuSeconds, peakRssMB, all}). */
export function printRows (rows) {
  console.log('transfer (measured side first)        MB/s   CPU s   peak RSS MB   MB/s per round')
  for (const row of Object.values(rows)) {
    console.log(`${row.label.padEnd(36)} ${row.mbps.toFixed(0).padStart(6)} ${row.cpuSeconds.toFixed(2).padStart(7)} ${row.peakRssMB.toFixed(0).padStart(13)}   ${row.all.join(' ')}`)
  }
}
