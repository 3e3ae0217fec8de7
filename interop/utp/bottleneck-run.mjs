// The network and the measurement of interop/utp/bottleneck.test.ts. Runs as root in the private
// network namespace the test creates (`unshare --net`): that namespace is the router, and two more
// (`unshare --net sleep`, entered with nsenter) hold the sending and the receiving host, so nothing
// here reaches beyond them.
//   node bottleneck-run.mjs '<json config>'   (fields: see bottleneck.test.ts)
//
//   sender 10.11.0.1 (a0) ── a1 ┐ bridge in the router ┌ b1 ── (b0) 10.11.0.2 receiver
//                                                      └ tbf rate R burst B latency Q on b1's egress
// The bottleneck is a router's queue, not the sending host's own qdisc: there, Linux's TCP Small
// Queues would keep each TCP flow's backlog to a few hundred KB (measured: 23 ms of queue where the
// tbf allowed 300), while UDP fills it, which no real path does. veth links have a 1 500-byte MTU,
// so uTP sends its ordinary 1 400-byte packets and TCP 1 448-byte segments. The TCP sender uses
// CUBIC (`congctl` on its route; this kernel's default is BBR, which keeps no standing queue and is
// not the loss-based TCP LEDBAT is designed to yield to).
//
// 1. A Lodestone seeder (sender) and leecher (receiver), each its own process, uTP only, start a
//    transfer; `warmupMs` after its first byte, uTP alone is measured for `windowMs`.
// 2. A bulk TCP flow starts on the same path; `sharedWarmupMs` later both are measured for
//    `windowMs`, and TCP's RTT (its queue) is read from `ss -tin`.
// 3. The Lodestone peers stop; TCP alone is measured for `tcpWindowMs`, with `ss -tin` again.
// 4. With `latecomerLeechDir`: a fresh uTP transfer joins the queue TCP keeps (LEDBAT's latecomer
//    case); `latecomerWarmupMs` after its first byte both are measured for `windowMs`.
// Prints one JSON line {type:'result', ...} (or {type:'error', message}) on stdout.
import { spawn, spawnSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const cfg = JSON.parse(process.argv[2])
const PEER = fileURLToPath(new URL('./bottleneck-peer.mjs', import.meta.url))
const SENDER = '10.11.0.1'
const RECEIVER = '10.11.0.2'
const emit = (value) => { process.stdout.write(JSON.stringify(value) + '\n') }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

function sh (cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** A network namespace held by a sleeping process; `run` executes a command inside it. */
function startHost () {
  const holder = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' })
  return {
    holder,
    sh: (cmd, args) => sh('nsenter', ['-t', String(holder.pid), '-n', cmd, ...args]),
    spawn: (cmd, args, options) => spawn('nsenter', ['-t', String(holder.pid), '-n', cmd, ...args], options)
  }
}

/** A process of bottleneck-peer.mjs in `host`, with its JSON lines: `next(type)` waits for one. */
function startPeer (host, config, onProgress) {
  const child = host.spawn(process.execPath, [PEER, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr = (stderr + d.toString()).slice(-4000) })
  const lines = []
  const waiting = []
  const exited = new Promise((resolve) => { child.on('exit', resolve) })
  createInterface({ input: child.stdout }).on('line', (line) => {
    let m
    try { m = JSON.parse(line) } catch { return }
    if (m.type === 'progress') { onProgress?.(m); return }
    const w = waiting.findIndex((x) => x.type === m.type)
    if (w >= 0) waiting.splice(w, 1)[0].resolve(m)
    else lines.push(m)
  })
  return {
    next (type, timeoutMs = 30_000) {
      const i = lines.findIndex((m) => m.type === type)
      if (i >= 0) return Promise.resolve(lines.splice(i, 1)[0])
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => { reject(new Error(`${config.role}: no ${type} within ${timeoutMs} ms: ${stderr}`)) }, timeoutMs)
        waiting.push({ type, resolve: (m) => { clearTimeout(t); resolve(m) } })
        void exited.then(() => { clearTimeout(t); reject(new Error(`${config.role} exited before ${type}: ${stderr}`)) })
      })
    },
    /** Closes stdin (an engine peer reports its uTP counters, then every role exits); SIGKILL after 5 s. */
    async stop () {
      child.stdin.end()
      const counters = config.role.startsWith('tcp') ? null : await this.next('utp', 5_000).catch(() => null)
      const killer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
      await exited
      clearTimeout(killer)
      return counters
    }
  }
}

/** TCP's smoothed RTT (its queue at the bottleneck) and cwnd from `ss -tin` in the sender. */
function tcpInfo (sender, port) {
  const out = sender.sh('ss', ['-tin', 'dst', `${RECEIVER}:${port}`])
  const rtt = /\brtt:([\d.]+)\//.exec(out)
  const cwnd = /\bcwnd:(\d+)/.exec(out)
  const cc = /\b(cubic|bbr|reno)\b/.exec(out)
  return { rttMs: rtt !== null ? Number(rtt[1]) : null, cwnd: cwnd !== null ? Number(cwnd[1]) : null, cc: cc?.[1] ?? null }
}

/** Bytes at time `t` from [t, bytes] samples (linear between samples). */
function bytesAt (samples, t) {
  let prev = samples[0]
  for (const s of samples) {
    if (s[0] >= t) return s[0] === prev[0] ? s[1] : prev[1] + (s[1] - prev[1]) * (t - prev[0]) / (s[0] - prev[0])
    prev = s
  }
  return prev[1]
}
/** MB/s over [from, to] (ms) from [t, bytes] samples. */
const rate = (samples, from, to) => (bytesAt(samples, to) - bytesAt(samples, from)) / (to - from) / 1000

const pick = (c) => c === null ? null : { packetsOut: c.packetsOut, packetsIn: c.packetsIn, retransmits: c.retransmits, fastRetransmits: c.fastRetransmits, timeouts: c.timeouts }

/**
 * A Lodestone seeder in `sender` (or the running one of `seeding`) and a leecher into `leechDir` in
 * `receiver`, uTP only; resolves at the leecher's first byte with {seeder, port, leecher, utp
 * ([t, bytes] samples), t0, completedAt()}.
 */
async function startTransfer (sender, receiver, leechDir, seeding = null) {
  let seeder = seeding?.seeder
  let port = seeding?.port
  if (seeder === undefined) {
    seeder = startPeer(sender, { role: 'seed', presetPath: cfg.presetPath, host: SENDER, torrentPath: cfg.torrentPath, dir: cfg.seedDir })
    peers.push(seeder)
    port = (await seeder.next('ready')).port
  }
  const utp = []
  let firstByte
  const started = new Promise((resolve) => { firstByte = resolve })
  const leecher = startPeer(receiver, {
    role: 'leech', presetPath: cfg.presetPath, host: RECEIVER, torrentPath: cfg.torrentPath, dir: leechDir, peerHost: SENDER, peerPort: port
  }, (m) => { utp.push([m.t, m.bytes]); if (m.bytes > 0) firstByte(m.t) })
  peers.push(leecher)
  let completedAt = null
  void leecher.next('completed', 600_000).then((m) => { completedAt = m.t }, () => {})
  const t0 = await Promise.race([started, sleep(20_000).then(() => { throw new Error('no byte over uTP within 20 s') })])
  return { seeder, port, leecher, utp, t0, completedAt: () => completedAt }
}

const hosts = []
const peers = []
try {
  const sender = startHost()
  const receiver = startHost()
  hosts.push(sender, receiver)
  await sleep(100)
  sh('ip', ['link', 'set', 'lo', 'up'])
  sh('ip', ['link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'a1'])
  sh('ip', ['link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1'])
  sh('ip', ['link', 'set', 'a0', 'netns', String(sender.holder.pid)])
  sh('ip', ['link', 'set', 'b0', 'netns', String(receiver.holder.pid)])
  sh('ip', ['link', 'add', 'br0', 'type', 'bridge'])
  for (const dev of ['a1', 'b1']) sh('ip', ['link', 'set', dev, 'master', 'br0'])
  for (const dev of ['br0', 'a1', 'b1']) sh('ip', ['link', 'set', dev, 'up'])
  sh('tc', ['qdisc', 'add', 'dev', 'b1', 'root', 'tbf', 'rate', `${cfg.rateMbit}mbit`, 'burst', cfg.burst, 'latency', `${cfg.queueMs}ms`])
  for (const [host, dev, address] of [[sender, 'a0', SENDER], [receiver, 'b0', RECEIVER]]) {
    host.sh('ip', ['link', 'set', 'lo', 'up'])
    host.sh('ip', ['addr', 'add', `${address}/24`, 'dev', dev])
    host.sh('ip', ['link', 'set', dev, 'up'])
    host.sh('ip', ['route', 'replace', '10.11.0.0/24', 'dev', dev, 'proto', 'kernel', 'scope', 'link', 'src', address, 'congctl', 'cubic'])
  }
  const linkMBps = cfg.rateMbit / 8
  const load = loadavg()[0]

  const first = await startTransfer(sender, receiver, cfg.leechDir)
  const { seeder, leecher, utp, t0 } = first
  // This process and the peers read the same clock (Date.now()).
  const aloneFrom = t0 + cfg.warmupMs
  const aloneTo = aloneFrom + cfg.windowMs
  await sleep(aloneTo - Date.now() + 100)

  const tcp = []
  const tcpReceiver = startPeer(receiver, { role: 'tcp-receive', host: RECEIVER }, (m) => { tcp.push([m.t, m.bytes]) })
  peers.push(tcpReceiver)
  const tcpPort = (await tcpReceiver.next('ready')).port
  const tcpSender = startPeer(sender, { role: 'tcp-send', host: RECEIVER, peerPort: tcpPort })
  peers.push(tcpSender)
  const sharedFrom = Date.now() + cfg.sharedWarmupMs
  const sharedTo = sharedFrom + cfg.windowMs
  await sleep(sharedFrom + cfg.windowMs / 2 - Date.now())
  const tcpShared = tcpInfo(sender, tcpPort)
  await sleep(sharedTo - Date.now() + 100)
  const leecherCounters = await leecher.stop()
  // With a latecomer phase the seeder stays (idle, it has no other peer) and serves that transfer.
  const seederCounters = cfg.latecomerLeechDir === undefined ? await seeder.stop() : null
  const tcpAloneFrom = Date.now() + 300
  const tcpAloneTo = tcpAloneFrom + cfg.tcpWindowMs
  await sleep(tcpAloneFrom + cfg.tcpWindowMs / 2 - Date.now())
  const tcpAlone = tcpInfo(sender, tcpPort)
  await sleep(tcpAloneTo - Date.now() + 100)

  // 4. LEDBAT's latecomer case (when cfg.latecomerLeechDir is set): a fresh uTP transfer joins the
  //    queue TCP built alone, so its base delay starts out holding that queue; `latecomerWarmupMs`
  //    after its first byte both flows are measured for `windowMs`.
  let latecomer = null
  if (cfg.latecomerLeechDir !== undefined) {
    const late = await startTransfer(sender, receiver, cfg.latecomerLeechDir, first)
    const lateFrom = late.t0 + cfg.latecomerWarmupMs
    const lateTo = lateFrom + cfg.windowMs
    await sleep(lateFrom + cfg.windowMs / 2 - Date.now())
    const tcpLate = tcpInfo(sender, tcpPort)
    await sleep(lateTo - Date.now() + 100)
    const lateLeecher = await late.leecher.stop()
    const seederBoth = await seeder.stop()
    if (late.completedAt() !== null) throw new Error('the payload is too small: the latecomer transfer completed')
    latecomer = { utpMBps: rate(late.utp, lateFrom, lateTo), tcpMBps: rate(tcp, lateFrom, lateTo), tcp: tcpLate, seederBothTransfers: pick(seederBoth), leecher: pick(lateLeecher) }
  }

  if (first.completedAt() !== null && first.completedAt() < sharedTo) throw new Error(`the payload is too small: the transfer completed inside a measurement window (${first.completedAt() - t0} ms after its first byte, the window ended ${sharedTo - t0} ms after)`)
  emit({
    type: 'result',
    loadAverage: load,
    linkMBps,
    utpAloneMBps: rate(utp, aloneFrom, aloneTo),
    sharedUtpMBps: rate(utp, sharedFrom, sharedTo),
    sharedTcpMBps: rate(tcp, sharedFrom, sharedTo),
    tcpAloneMBps: rate(tcp, tcpAloneFrom, tcpAloneTo),
    tcpShared,
    tcpAlone,
    seeder: pick(seederCounters),
    leecher: pick(leecherCounters),
    latecomer,
    qdisc: sh('tc', ['-s', 'qdisc', 'show', 'dev', 'b1']).replace(/\s+/g, ' ').trim()
  })
} catch (error) {
  emit({ type: 'error', message: String(error?.stack ?? error) })
} finally {
  for (const p of peers) await p.stop().catch(() => {})
  for (const h of hosts) h.holder.kill('SIGKILL')
}
process.exit(0)
