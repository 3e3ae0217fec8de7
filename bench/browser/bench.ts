/**
 * bench/browser (issue 17): the browser engine against the Node engine on the same payload in the
 * same run, both downloading from one libtorrent seeder over loopback TCP:
 *   node    createNodeEngine into a directory
 *   bridge  the browser bundle's createDaemonEngine in headless Chromium, through `io-daemon`, into
 *           a daemon storage root (same disk)
 *   opfs    createDaemonWithOPFSEngine: sockets through the daemon, files in OPFS
 * plus OPFS write throughput on its own (OpfsFileSystem, 1 MiB positional writes, worker and
 * async backends). Order rotates per round; figures are medians. The Chromium tab is driven over
 * bare CDP (no Playwright: its Network domain copies every body, see test/browser/harness.ts).
 * MB/s are 10^6 bytes per second of the leecher's transfer (add → all pieces verified).
 *
 *   node bench/browser/run.mjs [--size 1G] [--rounds 3] [--smoke] [--modes node,bridge,opfs] [--profile DIR] [--no-write-recv] [--hasher-workers N]
 * --no-write-recv: the io-daemon offers no FILE_WRITE_RECV (writes from its received stream), so the page sends every file
 * byte back over the bridge as before; the A/B switch of that feature.
 * --profile writes the page's main-thread CPU profile of each browser run (DevTools Profiler) to
 * DIR/<mode>-<round>.cpuprofile; --threads prints CPU seconds per thread of this process and the renderer. The io-daemon
 * runs in a child process of its own (io-daemon-child.mjs, as `lodestone io-daemon` would), which
 * `node --cpu-prof bench/browser/dist/bench.mjs --modes bridge` profiles too (fork passes the flag on). The daemon's file-request counters
 * (requests, bytes, ms spent in the daemon per operation) are printed after each bridge run.
 * Targets: bridge >= 100 MB/s and >= 0.5x node.
 */
import { fork } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs'
import { readFile, rm, mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import { makeTorrent, tempDir, removeTempDirs } from '../../interop/helpers/fixtures.js'
import { startLibtorrentPeer } from '../../interop/helpers/libtorrent-peer.js'
import { launchBrowser, startSite } from '../../packages/engine/test/browser/harness.js'

const argv = process.argv.slice(2)
const smoke = argv.includes('--smoke')
const opt = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback
}
function parseSize (text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(text.trim())
  if (m === null) throw new Error(`--size: ${text}`)
  return Math.round(Number(m[1]) * ({ '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]!.toUpperCase()]!)
}
const sizeBytes = parseSize(opt('size', smoke ? '64M' : '1G'))
const rounds = Number(opt('rounds', smoke ? '1' : '3'))
const timeoutMs = 60_000 + sizeBytes / 5e6 * 1000
const modes = opt('modes', 'node,bridge,opfs').split(',') as Array<'node' | 'bridge' | 'opfs'>
/** --hasher-workers N: the bridge page hashes in N workers instead of on its own thread (the preset's default, 0). */
const hasherWorkers = opt('hasher-workers', '') === '' ? null : Number(opt('hasher-workers', ''))
const profileDir = opt('profile', '')
const loopback = { listen: { port: 0, host: '127.0.0.1' }, discovery: { dht: false, lsd: false, portMapping: false, pex: false } }

/**
 * CPU seconds (user + system) of this process and each of its descendants, by role: Chromium's
 * processes by their --type (renderer, network utility, gpu, browser), the libtorrent seeder, and
 * this process (the io-daemon and the Node engine run here). Linux /proc only; {} elsewhere.
 */
function cpuByRole (): Record<string, number> {
  const out: Record<string, number> = {}
  const sys: Record<string, number> = {}
  let entries: string[]
  try { entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e)) } catch { return out }
  const parent = new Map<number, number>()
  const ticks = new Map<number, number>()
  const sysTicks = new Map<number, number>()
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      parent.set(Number(e), Number(fields[1]))
      ticks.set(Number(e), Number(fields[11]) + Number(fields[12]))
      sysTicks.set(Number(e), Number(fields[12]))
    } catch {}
  }
  const mine = (pid: number): boolean => {
    for (let p = pid; p > 1; p = parent.get(p) ?? 0) if (p === process.pid) return true
    return false
  }
  for (const [pid, t] of ticks) {
    if (!mine(pid)) continue
    let role = 'other'
    if (pid === process.pid) role = 'bench'
    else {
      let cmd = ''
      try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') } catch {}
      if (cmd.includes('io-daemon-child')) role = 'io-daemon'
      else if (cmd.includes('chromium')) {
        const type = /--type=(\S+)/.exec(cmd)?.[1] ?? 'browser'
        const sub = /--utility-sub-type=(\S+)/.exec(cmd)?.[1]
        role = `chromium:${type}${sub !== undefined ? `:${sub.split('.').pop() ?? ''}` : ''}`
      } else if (cmd.includes('python')) role = 'libtorrent'
    }
    out[role] = (out[role] ?? 0) + t / 100
    sys[role] = (sys[role] ?? 0) + (sysTicks.get(pid) ?? 0) / 100
  }
  for (const [role, s] of Object.entries(sys)) out[`${role}:sys`] = s
  return out
}
/** `role total (sys s)` per role, largest first, then the sum. */
function cpuDelta (before: Record<string, number>, after: Record<string, number>): string {
  const d = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0)
  const roles = Object.keys(after).filter((k) => !k.endsWith(':sys') && d(k) >= 0.01).sort((a, b) => d(b) - d(a))
  const total = roles.reduce((sum, k) => sum + d(k), 0)
  return `${roles.map((k) => `${k} ${d(k).toFixed(2)} (sys ${d(`${k}:sys`).toFixed(2)})`).join(', ')}; total ${total.toFixed(2)} = ${(total / (sizeBytes / 2 ** 30)).toFixed(2)} per GiB`
}

/**
 * With --threads: CPU seconds per thread name (/proc/PID/task/TID/comm) of this process and of
 * Chromium's renderers — which thread of the bridge's path does the work (the page's main thread,
 * the bridge worker, libuv's file-write pool, V8's GC helpers).
 */
function cpuByThread (): Record<string, number> {
  const out: Record<string, number> = {}
  const pids: Array<[number, string]> = [[process.pid, 'bench']]
  try {
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue
      try { if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes('--type=renderer')) pids.push([Number(e), 'renderer']) } catch {}
    }
  } catch { return out }
  for (const [pid, role] of pids) {
    let tids: string[] = []
    try { tids = readdirSync(`/proc/${pid}/task`) } catch { continue }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[\d:]+$/, '')
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        const key = `${role}/${comm}`
        out[key] = (out[key] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100
      } catch {}
    }
  }
  return out
}
const showThreads = argv.includes('--threads')

type FileStats = Record<string, { requests: number, ms: number, bytes: number }>

/** The io-daemon in a child process (io-daemon-child.mjs); fileStats over IPC. */
async function startDaemonProcess (options: { roots: Array<{ label: string, dir: string }>, allowOrigins: string[], recvHoldBytes?: number }): Promise<{
  port: number, token: string, roots: Array<{ key: string, label: string }>, fileStats: () => Promise<FileStats>, close: () => Promise<void>
}> {
  // bench.ts runs bundled from bench/browser/dist/.
  const child = fork(fileURLToPath(new URL('../io-daemon-child.mjs', import.meta.url)), [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const waiting = new Map<number, (stats: FileStats) => void>()
  let nextId = 1
  const ready = await new Promise<{ port: number, token: string, roots: Array<{ key: string, label: string }> }>((resolve, reject) => {
    child.once('exit', (code) => { reject(new Error(`io-daemon child exited ${String(code)}`)) })
    child.on('message', (m: any) => {
      if (m.t === 'ready') resolve(m)
      else if (m.t === 'stats') { waiting.get(m.id)?.(m.stats); waiting.delete(m.id) }
    })
  })
  return {
    ...ready,
    fileStats: async () => new Promise<FileStats>((resolve) => { const id = nextId++; waiting.set(id, resolve); child.send({ t: 'stats', id }) }),
    close: async () => new Promise<void>((resolve) => { child.once('exit', () => { resolve() }); child.send({ t: 'close' }) })
  }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN }
const mbps = (seconds: number): number => sizeBytes / 1e6 / seconds

async function main (): Promise<void> {
  const load0 = loadavg()
  const src = await tempDir('lodestone-bench-browser-')
  const payload = join(src, 'payload.bin')
  const fd = openSync(payload, 'w')
  const chunk = new Uint8Array(4 << 20)
  for (let done = 0; done < sizeBytes; done += chunk.length) { randomFillSync(chunk); writeSync(fd, chunk, 0, Math.min(chunk.length, sizeBytes - done)) }
  closeSync(fd)
  const torrentPath = join(src, 'payload.torrent')
  await makeTorrent(src, 'payload.bin', 'v1', torrentPath, 1 << 20)
  const torrentBytes = await readFile(torrentPath)

  const seeder = await startLibtorrentPeer({ torrentPath, savePath: src, mode: 'seed' })
  await seeder.waitFor((s) => s.isSeeding, 120_000)
  const site = await startSite()
  site.serve('/payload.torrent', torrentBytes)
  const dl = await tempDir('lodestone-bench-browser-dl-')
  // --no-write-recv: the daemon offers no FILE_WRITE_RECV, so the page sends every file byte back (the A/B of writes from the received stream).
  const daemon = await startDaemonProcess({ roots: [{ label: 'bench', dir: dl }], allowOrigins: [site.origin], ...(argv.includes('--no-write-recv') ? { recvHoldBytes: 0 } : {}) })
  const browser = await launchBrowser({ driver: 'cdp' })
  const page = await browser.open(site)
  const results: Record<string, number[]> = { node: [], bridge: [], opfs: [] }

  const runNode = async (): Promise<number> => {
    const dir = join(dl, 'node')
    await mkdir(dir, { recursive: true })
    const engine = createNodeEngine({ downloadPath: dir, settings: loopback })
    const start = performance.now()
    const t = await engine.addTorrent(torrentBytes, { peers: [`127.0.0.1:${seeder.port}`] })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('node: timed out')) }, timeoutMs)
      t.on('completed', () => { clearTimeout(timer); resolve() })
    })
    const seconds = (performance.now() - start) / 1000
    await engine.close()
    await rm(dir, { recursive: true, force: true })
    return seconds
  }

  const runPage = async (mode: 'bridge' | 'opfs', round: number): Promise<number> => {
    const cdp = page as unknown as { send?: (method: string, params?: Record<string, unknown>) => Promise<any> }
    if (profileDir !== '' && cdp.send !== undefined) {
      await cdp.send('Profiler.enable')
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
      await cdp.send('Profiler.start')
    }
    const filesBefore = await daemon.fileStats()
    const seconds = await page.evaluate(async ({ mode, port, token, roots, seederPort, settings, timeoutMs, hasherWorkers }) => {
      const w = window as any
      const L = w.L
      const engine = mode === 'bridge'
        ? await L.createDaemonEngine({ daemon: { port, authToken: token }, contentRoots: roots, settings, ...(hasherWorkers !== null ? { hasherWorkers } : {}) })
        : await L.createDaemonWithOPFSEngine({ daemon: { port, authToken: token }, opfsRoot: 'bench', sessionStore: new L.MemorySessionStore(), settings: { ...settings, listen: { enabled: false } } })
      const bytes = new Uint8Array(await (await fetch('/payload.torrent')).arrayBuffer())
      const start = performance.now()
      const t = await engine.addTorrent(bytes, { peers: [`127.0.0.1:${seederPort}`] })
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`${mode}: timed out at ${JSON.stringify(t.stats())}`)) }, timeoutMs)
        t.on('completed', () => { clearTimeout(timer); resolve() })
      })
      const s = (performance.now() - start) / 1000
      await engine.close()
      if (mode === 'opfs') await (await navigator.storage.getDirectory()).removeEntry('bench', { recursive: true })
      return s
    }, { mode, port: daemon.port, token: daemon.token, roots: daemon.roots, seederPort: seeder.port, settings: loopback, timeoutMs, hasherWorkers })
    if (profileDir !== '' && cdp.send !== undefined) {
      const { profile } = await cdp.send('Profiler.stop')
      await mkdir(profileDir, { recursive: true })
      await writeFile(join(profileDir, `${mode}-${round + 1}.cpuprofile`), JSON.stringify(profile))
    }
    if (mode === 'bridge') {
      await rm(join(dl, 'payload.bin'), { force: true })
      const after = await daemon.fileStats()
      const delta = Object.entries(after).map(([op, c]) => {
        const b = filesBefore[op] ?? { requests: 0, ms: 0, bytes: 0 }
        return `${op} ${c.requests - b.requests} req ${((c.bytes - b.bytes) / 2 ** 20).toFixed(0)} MiB ${(c.ms - b.ms).toFixed(0)} ms`
      }).filter((line) => !line.includes(' 0 req '))
      process.stdout.write(`  io-daemon files: ${delta.join('; ')}\n`)
    }
    return seconds
  }

  const kinds = modes
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(k + r) % kinds.length]!
      const cpu0 = cpuByRole()
      const threads0 = showThreads ? cpuByThread() : {}
      const seconds = kind === 'node' ? await runNode() : await runPage(kind, r)
      results[kind]!.push(seconds)
      process.stdout.write(`round ${r + 1} ${kind}: ${seconds.toFixed(2)} s, ${mbps(seconds).toFixed(0)} MB/s; CPU s: ${cpuDelta(cpu0, cpuByRole())}\n`)
      if (showThreads) {
        const t1 = cpuByThread()
        const rows = Object.entries(t1).map(([k, v]) => [k, v - (threads0[k] ?? 0)] as const).filter(([, v]) => v >= 0.02).sort((a, b) => b[1] - a[1])
        process.stdout.write(`  threads: ${rows.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}\n`)
      }
    }
  }

  // OPFS writes alone: 1 MiB positional writes of the payload size (capped at 256 MiB), each backend.
  const opfsBytes = Math.min(sizeBytes, 256 << 20)
  const opfs = !modes.includes('opfs') ? { worker: NaN, async: NaN } : await page.evaluate(async (total) => {
    const L = (window as any).L
    const out: Record<string, number> = {}
    for (const backend of ['worker', 'async']) {
      const fs = await L.OpfsFileSystem.create({ root: 'bench-write', backend })
      const h = await fs.open('w.bin', 'w')
      const buf = new Uint8Array(1 << 20).fill(7)
      const start = performance.now()
      const inflight: Array<Promise<unknown>> = []
      for (let off = 0; off < total; off += buf.length) {
        inflight.push(h.write(buf, off))
        if (inflight.length >= 4 || backend === 'async') await inflight.shift()
      }
      await Promise.all(inflight)
      await h.sync()
      out[backend] = total / 1e6 / ((performance.now() - start) / 1000)
      await h.close()
      fs.close()
      await (await navigator.storage.getDirectory()).removeEntry('bench-write', { recursive: true })
    }
    return out
  }, opfsBytes)

  await page.close()
  await browser.close()
  await daemon.close()
  await site.close()
  await seeder.close()
  await removeTempDirs()

  const node = median(results.node!)
  const bridge = median(results.bridge!)
  const opfsDl = median(results.opfs!)
  const summary = {
    sizeMiB: sizeBytes / 2 ** 20,
    rounds,
    nodeMBps: Number(mbps(node).toFixed(1)),
    bridgeMBps: Number(mbps(bridge).toFixed(1)),
    opfsDownloadMBps: Number(mbps(opfsDl).toFixed(1)),
    bridgeVsNode: Number((node / bridge).toFixed(2)),
    opfsWriteMBps: { worker: Number(opfs.worker!.toFixed(1)), async: Number(opfs.async!.toFixed(1)), bytesMiB: opfsBytes / 2 ** 20 },
    machine: { cpus: cpus().length, loadBefore: load0.map((l) => Number(l.toFixed(2))), loadAfter: loadavg().map((l) => Number(l.toFixed(2))) }
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  process.stdout.write(`targets: bridge >= 100 MB/s: ${summary.bridgeMBps >= 100 ? 'met' : 'NOT met'}; bridge >= 0.5x node: ${summary.bridgeVsNode >= 0.5 ? 'met' : 'NOT met'}\n`)
}

main().then(() => { process.exit(0) }, (err: unknown) => { process.stderr.write(`bench/browser: ${String((err as Error)?.stack ?? err)}\n`); process.exit(1) })
