#!/usr/bin/env node
// bench/utp/bottleneck.mjs: uTP on a real bottleneck (issue 11). In a private network namespace
// (`unshare --net`, root) the loopback gets a token bucket (`tc qdisc … tbf`, default 20 MB/s with
// a 300 ms queue; this kernel has no netem, so no added delay or loss), then:
//   1. uTP alone: Lodestone -> Lodestone (both transport.tcp off) — share of the bottleneck;
//   2. TCP alone: one bulk TCP flow (node:net) for a few seconds — what TCP gets;
//   3. both at once: the same uTP transfer while the TCP flow runs — LEDBAT should yield (its
//      100 ms target is below the 300 ms queue TCP fills), so TCP keeps the larger share.
// Every figure is MB/s measured by the receiving side. Not a timed test: figures go to RESULTS.md.
//
// Addresses: the shaped interface is the namespace's loopback, but the peers and the TCP flow use
// 10.11.0.1, an address added to it, so uTP behaves as on a network path: two Lodestone peers on a
// loopback address (127.0.0.1) agree on 60 000-byte packets (utp.loopbackPacketBytes), which no
// real bottleneck carries. --loopback runs them on 127.0.0.1 instead (large packets).
//
//   node bench/utp/bottleneck.mjs [--rate-mbit 160] [--size 48M] [--loopback]   (re-runs itself in a namespace)
// Build first: npx tsc -b.
import { spawn, spawnSync } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const peersDir = join(here, '..', 'download')
const python = '/usr/bin/python3'
const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback
}
const rateMbit = Number(opt('rate-mbit', '160'))
const sizeBytes = Number(opt('size', '48').replace(/M$/i, '')) * 1024 * 1024

if (!argv.includes('--inside')) {
  const run = spawnSync('unshare', ['--net', process.execPath, fileURLToPath(import.meta.url), ...argv, '--inside'], { stdio: 'inherit' })
  process.exit(run.status ?? 1)
}

function sh (cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}
sh('ip', ['link', 'set', 'lo', 'up'])
const address = argv.includes('--loopback') ? '127.0.0.1' : '10.11.0.1'
if (address !== '127.0.0.1') sh('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo'])
sh('tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', `${rateMbit}mbit`, 'burst', '256kb', 'latency', '300ms'])
const bottleneckMBps = rateMbit / 8

function startPeer (mode, args, env) {
  const child = spawn(process.execPath, [join(peersDir, 'lodestone-peer.mjs'), mode, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr = (stderr + d.toString()).slice(-2000) })
  const messages = []
  const waiting = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    let m
    try { m = JSON.parse(line) } catch { return }
    const w = waiting.findIndex((x) => x.event === m.event)
    if (w >= 0) waiting.splice(w, 1)[0].resolve(m)
    else messages.push(m)
  })
  const exited = new Promise((resolve) => { child.on('exit', resolve) })
  return {
    next (event) {
      const i = messages.findIndex((m) => m.event === event)
      if (i >= 0) return Promise.resolve(messages.splice(i, 1)[0])
      return new Promise((resolve, reject) => {
        waiting.push({ event, resolve })
        exited.then(() => { reject(new Error(`lodestone ${mode} exited before ${event}: ${stderr}`)) })
      })
    },
    send (line) { child.stdin.write(`${line}\n`) },
    async stop () { child.stdin.end(); await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]); child.kill('SIGKILL') }
  }
}

/** A bulk TCP flow over loopback; `sample()` gives bytes received so far. */
async function tcpFlow () {
  let received = 0
  const server = createServer((socket) => { socket.on('data', (d) => { received += d.length }) })
  await new Promise((resolve) => server.listen(0, address, resolve))
  const client = connect(server.address().port, address)
  const chunk = new Uint8Array(256 * 1024)
  let stopped = false
  const pump = () => { while (!stopped && client.write(chunk)); }
  client.on('drain', pump)
  client.on('connect', pump)
  return {
    sample: () => received,
    async stop () { stopped = true; client.destroy(); await new Promise((resolve) => server.close(resolve)) }
  }
}

const UTP_ONLY = {
  LODESTONE_HOST: address,
  // Nothing but the transfer on the wire (a non-loopback listener would otherwise start DHT, LSD, UPnP).
  LODESTONE_SETTINGS: JSON.stringify({ transport: { tcp: false }, discovery: { dht: false, lsd: false, portMapping: false, pex: false } })
}
const work = mkdtempSync(join(tmpdir(), 'lodestone-bench-bottleneck-'))
try {
  mkdirSync(join(work, 'seed'))
  const fd = openSync(join(work, 'seed', 'payload.bin'), 'w')
  const chunk = new Uint8Array(4 * 1024 * 1024)
  for (let w = 0; w < sizeBytes; w += chunk.length) { randomFillSync(chunk); writeSync(fd, chunk, 0, Math.min(chunk.length, sizeBytes - w)) }
  closeSync(fd)
  sh(python, [join(here, '..', 'create', 'libtorrent-create.py'), join(work, 'seed', 'payload.bin'), 'v1', '0', join(work, 'payload.torrent')])

  const utpTransfer = async (during) => {
    const seeder = startPeer('seed', [join(work, 'payload.torrent'), join(work, 'seed')], UTP_ONLY)
    const { port } = await seeder.next('ready')
    const leechDir = mkdtempSync(join(work, 'leech-'))
    const before = during?.sample() ?? 0
    const t0 = performance.now()
    const leecher = startPeer('leech', [join(work, 'payload.torrent'), leechDir, String(port)], UTP_ONLY)
    const result = await leecher.next('result')
    const seconds = (performance.now() - t0) / 1000
    const tcpBytes = (during?.sample() ?? 0) - before
    await leecher.stop()
    seeder.send('stop')
    const seeded = await seeder.next('result')
    await seeder.stop()
    const su = seeded.utp ?? {}
    result.seederUtp = { packetsOut: su.packetsOut, retransmits: su.retransmits, fastRetransmits: su.fastRetransmits, timeouts: su.timeouts }
    rmSync(leechDir, { recursive: true, force: true })
    const u = result.utp ?? {}
    return {
      utpMBps: result.bytes / result.seconds / 1e6,
      tcpMBps: tcpBytes / seconds / 1e6,
      seederUtp: result.seederUtp,
      leecherUtp: { packetsIn: u.packetsIn, duplicates: u.duplicatePackets, outOfWindow: u.outOfWindow, overflowDropped: u.overflowDropped },
      seconds: result.seconds,
      cpuSeconds: result.cpuSeconds
    }
  }

  const load = loadavg().map((l) => l.toFixed(2)).join(' ')
  const alone = await utpTransfer(null)
  const tcp = await tcpFlow()
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const t0 = tcp.sample()
  await new Promise((resolve) => setTimeout(resolve, 4_000))
  const tcpAlone = (tcp.sample() - t0) / 4 / 1e6
  const shared = await utpTransfer(tcp)
  await tcp.stop()
  console.log(`bench/utp bottleneck: lo with tbf ${rateMbit} mbit/s (${bottleneckMBps.toFixed(1)} MB/s), 300 ms queue, peers on ${address}, ${(sizeBytes / 1024 ** 2).toFixed(0)} MiB over uTP; load average ${load}`)
  console.log(`uTP alone          ${alone.utpMBps.toFixed(1).padStart(6)} MB/s  (${(100 * alone.utpMBps / bottleneckMBps).toFixed(0)} % of the bottleneck; target >= 80 %)`)
  console.log(`TCP alone          ${tcpAlone.toFixed(1).padStart(6)} MB/s`)
  console.log(`uTP + TCP: uTP     ${shared.utpMBps.toFixed(1).padStart(6)} MB/s, TCP ${shared.tcpMBps.toFixed(1)} MB/s (TCP keeps the larger share: ${shared.tcpMBps > shared.utpMBps ? 'yes' : 'NO'})`)
  console.log(JSON.stringify({ bench: 'utp-bottleneck', rateMbit, sizeBytes, address, alone, tcpAlone, shared }))
} finally {
  rmSync(work, { recursive: true, force: true })
}
