// Lodestone's side of bench/download: one createNodeEngine (the built dist, as a library user runs
// it) that seeds or downloads one torrent over loopback TCP, measuring itself over the transfer
// (process.cpuUsage covers every thread: the hasher workers and libuv's file pool too).
//
//   node lodestone-peer.mjs seed  <torrent> <dir>
//       checks the data, prints {"event":"ready","port":N}; then reads commands on stdin, one a
//       line: "mark" starts the measurement (prints {"event":"marked"}), "stop" prints the result.
//   node lodestone-peer.mjs leech <torrent> <dir> <peer port>
//       downloads from 127.0.0.1:<peer port> into <dir>, prints the result, exits.
// LODESTONE_HOST=<address> listens and dials on that address instead of 127.0.0.1 (bench/utp's
// bottleneck runs its peers on a non-loopback address in a private network namespace).
//
// Result: {"event":"result","seconds","cpuSeconds","userSeconds","systemSeconds","peakRssKiB","bytes"},
// peak RSS being VmHWM reset (clear_refs 5) when the measurement starts, and "threads": CPU
// seconds per thread over the process's life ("main", and "node" for the rest: V8's GC and
// compiler threads, hasher workers, libuv's pool; BENCH_THREADS_DETAIL=1 lists each thread), and
// "busiestThread": {name, tid, cpuSeconds, waitSeconds} of the thread that used the most CPU over
// the measurement (waitSeconds: runnable but waiting for a core, from /proc's schedstat) (the main thread, which does all socket I/O and RC4: bytes / its CPU seconds is the
// most this end can move; bench/mse prints it).
// Diagnostics: BENCH_MEM=1 adds "memory" (the memory at the RSS peak, sampled every 10 ms; BENCH_MEM_SERIES=<file> writes every sample), LODESTONE_LOG=debug (engine log on stderr), LODESTONE_SETTINGS='<json>' (engine
// settings), LODESTONE_DIST=<dir> (another build of packages/engine/dist), BENCH_WARM=1 (leech: download
// the torrent once unmeasured first, so the measured download runs warm). Build first: npx tsc -b.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { getHeapSpaceStatistics } from 'node:v8'

const dist = process.env.LODESTONE_DIST ?? new URL('../../packages/engine/dist', import.meta.url).pathname
const { createNodeEngine } = await import(`${dist}/presets/node.js`)

const [mode, torrentPath, dir, peerPort] = process.argv.slice(2)

function emit (value) { process.stdout.write(`${JSON.stringify(value)}\n`) }

/** CPU seconds per thread name over the process's life (diagnostic: main thread vs hasher workers vs libuv pool). */
function threadCpu () {
  const out = {}
  for (const [tid, { comm, seconds }] of threadTicks()) {
    const name = tid === String(process.pid) ? 'main' : (process.env.BENCH_THREADS_DETAIL !== undefined ? `${comm}:${tid}` : comm)
    out[name] = Number(((out[name] ?? 0) + seconds).toFixed(2))
  }
  return out
}

/** tid → {comm, seconds}: CPU seconds (utime + stime) of every thread so far. */
function threadTicks () {
  const out = new Map()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // schedstat: ns on the CPU, ns runnable but waiting for one, timeslices
      const waitNs = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[1])
      // clock ticks of 10 ms (USER_HZ 100 on Linux)
      out.set(tid, { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), seconds: (Number(fields[11]) + Number(fields[12])) / 100, waitSeconds: waitNs / 1e9 })
    } catch {
      // the thread exited meanwhile
    }
  }
  return out
}

/** The thread that used the most CPU since `before` (a threadTicks() sample). */
function busiestSince (before) {
  let busiest = { name: '', tid: 0, cpuSeconds: -1, waitSeconds: 0 }
  for (const [tid, { comm, seconds, waitSeconds }] of threadTicks()) {
    const used = seconds - (before.get(tid)?.seconds ?? 0)
    const waited = waitSeconds - (before.get(tid)?.waitSeconds ?? 0)
    if (used > busiest.cpuSeconds) busiest = { name: tid === String(process.pid) ? 'main' : comm, tid: Number(tid), cpuSeconds: Number(used.toFixed(2)), waitSeconds: Number(waited.toFixed(2)) }
  }
  return busiest
}

/** The process's I/O counters (/proc/self/io): read/write system calls (pread and recv count as reads, writev and send as writes) and bytes. */
function ioCounters () {
  const out = {}
  for (const line of readFileSync('/proc/self/io', 'utf8').split('\n')) {
    const [key, value] = line.split(': ')
    if (key === 'syscr' || key === 'syscw' || key === 'rchar' || key === 'wchar') out[key] = Number(value)
  }
  return out
}

function startMeter () {
  writeFileSync('/proc/self/clear_refs', '5')
  const ticks = threadTicks()
  const io = ioCounters()
  const cpu = process.cpuUsage()
  const start = performance.now()
  return (bytes) => {
    const seconds = (performance.now() - start) / 1000
    const used = process.cpuUsage(cpu)
    const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))
    const userSeconds = used.user / 1e6
    const systemSeconds = used.system / 1e6
    return {
      event: 'result',
      seconds,
      cpuSeconds: userSeconds + systemSeconds,
      userSeconds,
      systemSeconds,
      peakRssKiB: hwm !== null ? Number(hwm[1]) : process.resourceUsage().maxRSS,
      bytes,
      threads: threadCpu(),
      busiestThread: busiestSince(ticks),
      // CPU seconds of each thread over the measurement, by thread id in creation order (main first;
      // V8's platform workers — compiler and GC — come next, libuv's pool once the first file is read).
      threadsWindow: [...threadTicks()].map(([tid, { seconds }]) => [Number(tid), Number((seconds - (ticks.get(tid)?.seconds ?? 0)).toFixed(2))]).filter(([, s]) => s > 0),
      // System calls over the measurement: "syscw" is the seeder's socket writes, "syscr" its reads (file and socket).
      io: Object.fromEntries(Object.entries(ioCounters()).map(([k, v]) => [k, v - io[k]])),
      // uTP counters when the engine has its UDP socket (bench/utp): where a uTP transfer's time went.
      utp: engine.stats().udp?.utp ?? null
    }
  }
}

/**
 * BENCH_MEM=1: every 10 ms, process.memoryUsage() and the torrent's piece buffers (complete pieces
 * waiting for the disk, pieces in memory); returns the sample at the RSS peak and the largest of each.
 */
function sampleMemory (torrent) {
  const mb = (b) => Number((b / 1e6).toFixed(1))
  let atPeak = null
  const max = { awaitingMB: 0, inFlightPieces: 0, arrayBuffersMB: 0, heapUsedMB: 0 }
  // BENCH_MEM_SERIES=<file>: every sample, as JSON lines, for plotting where the peak comes from.
  const series = process.env.BENCH_MEM_SERIES !== undefined ? [] : null
  const timer = setInterval(() => {
    const m = process.memoryUsage()
    const s = torrent.stats()
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, x.space_size]))
    const sample = { rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed), heapTotalMB: mb(m.heapTotal), newSpaceMB: mb(spaces.new_space ?? 0), oldSpaceMB: mb(spaces.old_space ?? 0), arrayBuffersMB: mb(m.arrayBuffers), externalMB: mb(m.external), awaitingMB: mb(s.awaitingBytes), inFlightPieces: s.inFlightPieces }
    if (series !== null) series.push({ ms: Math.round(performance.now()), ...sample, downloadedMB: mb(s.downloadedBytes) })
    if (atPeak === null || sample.rssMB > atPeak.rssMB) atPeak = sample
    for (const k of Object.keys(max)) max[k] = Math.max(max[k], sample[k])
  }, 10)
  return {
    stop () {
      clearInterval(timer)
      if (series !== null) writeFileSync(process.env.BENCH_MEM_SERIES, series.map((x) => JSON.stringify(x)).join('\n') + '\n')
      return { atPeak, max }
    }
  }
}

function waitFor (torrent, done) {
  return new Promise((resolve, reject) => {
    if (done()) { resolve(); return }
    const check = () => { if (done()) resolve() }
    torrent.on('state-changed', check)
    torrent.on('completed', check)
    torrent.on('error', ({ error }) => { reject(error) })
  })
}

// LODESTONE_LOG=debug|info: the engine's log on stderr with ms since start (diagnostics).
const logLevel = process.env.LODESTONE_LOG ?? 'off'
const engine = createNodeEngine({
  downloadPath: dir,
  port: 0,
  host: process.env.LODESTONE_HOST ?? '127.0.0.1',
  logLevel,
  // LODESTONE_SETTINGS='{"peer":{...}}': engine settings for experiments (default: the defaults).
  ...(process.env.LODESTONE_SETTINGS !== undefined ? { settings: JSON.parse(process.env.LODESTONE_SETTINGS) } : {}),
  ...(logLevel !== 'off' ? { onLog: (entry) => { process.stderr.write(`${performance.now().toFixed(0)} ${entry.level} ${entry.message} ${JSON.stringify(entry.fields ?? {})}\n`) } } : {})
})
const metainfo = new Uint8Array(readFileSync(torrentPath))
try {
  if (mode === 'seed') {
    const torrent = await engine.addTorrent(metainfo)
    await waitFor(torrent, () => torrent.state === 'seeding')
    emit({ event: 'ready', port: engine.port })
    let finish = null
    for await (const line of createInterface({ input: process.stdin })) {
      if (line.trim() === 'mark') {
        finish = startMeter()
        emit({ event: 'marked' })
      } else if (line.trim() === 'stop') break
    }
    finish ??= startMeter()
    emit(finish(torrent.stats().uploadedBytes))
  } else if (mode === 'leech') {
    if (process.env.BENCH_WARM !== undefined) {
      // Diagnostic: one unmeasured download of the same torrent first (then removed with its
      // files), so the measured one runs with the JIT warm: the gap between the two is warm-up.
      // The seeder-side MB/s covers both downloads then; read the CPU figures only.
      const warm = await engine.addTorrent(metainfo, { peers: [`${process.env.LODESTONE_HOST ?? '127.0.0.1'}:${peerPort}`] })
      let warmDone = false
      warm.on('completed', () => { warmDone = true })
      await waitFor(warm, () => warmDone)
      await engine.removeTorrent(warm.id, { deleteFiles: true })
    }
    const finish = startMeter()
    const torrent = await engine.addTorrent(metainfo, { peers: [`${process.env.LODESTONE_HOST ?? '127.0.0.1'}:${peerPort}`] })
    const memory = process.env.BENCH_MEM !== undefined ? sampleMemory(torrent) : null
    let completed = false
    torrent.on('completed', () => { completed = true })
    await waitFor(torrent, () => completed)
    emit({ ...finish(torrent.stats().downloadedBytes), ...(memory !== null ? { memory: memory.stop() } : {}) })
  } else {
    throw new Error('usage: lodestone-peer.mjs seed|leech <torrent> <dir> [peer port]')
  }
} finally {
  await engine.close()
}
