/**
 * uTP on a real bottleneck (BEP 29 / LEDBAT, issue 11), in private network namespaces the test
 * creates (`unshare --net`, as root; bottleneck-run.mjs builds the network and measures): a sender
 * and a receiver host joined through a router (a bridge) whose port towards the receiver has a
 * token bucket, `tbf rate 80mbit` (10 MB/s) with a queue of up to 300 ms. Links are veth with a
 * 1 500-byte MTU: uTP sends its ordinary 1 400-byte packets, TCP 1 448-byte segments. Why this:
 * - This kernel has no `netem` qdisc (nor tc classifiers or actions): no added delay, jitter or
 *   random loss can be shaped, only rate and queue (tbf, htb, pfifo, bfifo). The base RTT is the
 *   processes' own (well under a millisecond on the wire), all the delay a flow adds is queue at the
 *   bottleneck, and losses are the tail drops of a full queue, as at a drop-tail router. So the
 *   issue's 40 ms RTT / 1 % loss case cannot be built here; random loss would in any case cap any
 *   loss-based flow far below the link (Mathis: ~0.4 MB/s for TCP at 40 ms and 1 %).
 * - The queue sits in a router, not in the sending host's own qdisc, where Linux's TCP Small Queues
 *   would keep a TCP flow's backlog to ~20 ms while UDP fills it.
 * - 300 ms of queue, deeper than LEDBAT's 100 ms target: a loss-based TCP (CUBIC, set on the
 *   sender's route; this kernel defaults to BBR, which keeps no standing queue) fills it until it
 *   drops, so it builds more delay than the target and LEDBAT sees it.
 * - 10 MB/s rather than the issue's example 20: the test is about the controller, not the CPU; at
 *   10 MB/s each Node process handles ~7 000 packets a second, which a loaded CI machine keeps up
 *   with, and the measurement windows stay a few seconds long.
 * Asserts: uTP alone moves >= 80 % of the link (3 s, after 3 s of warm-up from its first byte);
 * a bulk TCP flow joins, and over 3 s after 5 s of warm-up TCP has the larger share (a CUBIC flow
 * joining a queue LEDBAT holds near its target grows into it over seconds); TCP alone
 * then fills the link (the bottleneck is real and TCP can use it); and LEDBAT's latecomer case: a
 * fresh uTP transfer that joins the queue TCP keeps (its base delay starts out holding that queue)
 * still leaves TCP the larger share, over 3 s after 2 s from its first byte. Figures go to the log.
 */
import { spawn } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { makeTorrent, removeTempDirs, tempDir, writeContent } from '../helpers/fixtures.js'

afterAll(async () => { await removeTempDirs() })

const RUNNER = fileURLToPath(new URL('./bottleneck-run.mjs', import.meta.url))
const PRESET = fileURLToPath(new URL('../../packages/engine/dist/presets/node.js', import.meta.url))
const RATE_MBIT = 80
const PAYLOAD_BYTES = 96 * 1024 * 1024

interface BottleneckResult {
  type: 'result'
  loadAverage: number
  linkMBps: number
  utpAloneMBps: number
  utpAloneShare: number
  sharedUtpMBps: number
  sharedTcpMBps: number
  tcpAloneMBps: number
  tcpShared: { rttMs: number | null, cwnd: number | null, cc: string | null }
  tcpAlone: { rttMs: number | null, cwnd: number | null, cc: string | null }
  latecomer: { utpMBps: number, tcpMBps: number, tcp: { rttMs: number | null } } | null
}

async function runBottleneck (config: Record<string, unknown>): Promise<BottleneckResult> {
  const child = spawn('unshare', ['--net', process.execPath, RUNNER, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  const line = stdout.split('\n').find((l) => l.startsWith('{"type":'))
  const parsed = line !== undefined ? JSON.parse(line) as BottleneckResult | { type: 'error', message: string } : undefined
  if (parsed?.type !== 'result') throw new Error(`bottleneck run failed (exit ${code}): ${parsed?.type === 'error' ? parsed.message : stdout}\n${stderr}`)
  return parsed
}

describe('uTP on a real bottleneck (tbf in a network namespace)', () => {
  it('fills the link alone and leaves the larger share to a TCP flow', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'payload.bin', PAYLOAD_BYTES)
    const torrentPath = join(await tempDir(), 'bottleneck.torrent')
    await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath, 1024 * 1024)
    const leechDir = await tempDir()
    await mkdir(leechDir, { recursive: true })
    const latecomerLeechDir = await tempDir()
    const r = await runBottleneck({
      presetPath: PRESET,
      rateMbit: RATE_MBIT,
      burst: '32kb',
      queueMs: 300,
      warmupMs: 3_000,
      sharedWarmupMs: 5_000,
      windowMs: 3_000,
      tcpWindowMs: 2_000,
      torrentPath,
      seedDir,
      leechDir,
      latecomerLeechDir,
      latecomerWarmupMs: 2_000
    })
    const pct = (x: number): string => `${(100 * x / r.linkMBps).toFixed(0)} %`
    const figures = `link ${r.linkMBps} MB/s, load ${r.loadAverage.toFixed(1)}: uTP alone ${r.utpAloneMBps.toFixed(2)} MB/s (${pct(r.utpAloneMBps)}); ` +
      `shared: uTP ${r.sharedUtpMBps.toFixed(2)} (${pct(r.sharedUtpMBps)}), TCP ${r.sharedTcpMBps.toFixed(2)} (${pct(r.sharedTcpMBps)}), TCP RTT ${r.tcpShared.rttMs ?? '?'} ms; ` +
      `TCP alone ${r.tcpAloneMBps.toFixed(2)} (${pct(r.tcpAloneMBps)}), RTT ${r.tcpAlone.rttMs ?? '?'} ms (${r.tcpAlone.cc ?? '?'})` +
      (r.latecomer !== null ? `; uTP joining TCP's queue: uTP ${r.latecomer.utpMBps.toFixed(2)} (${pct(r.latecomer.utpMBps)}), TCP ${r.latecomer.tcpMBps.toFixed(2)} (${pct(r.latecomer.tcpMBps)}), TCP RTT ${r.latecomer.tcp.rttMs ?? '?'} ms` : '')
    console.log(`bottleneck: ${figures}\n${JSON.stringify(r)}`)
    expect(r.tcpAloneMBps, figures).toBeGreaterThan(0.8 * r.linkMBps)
    expect(r.tcpAloneMBps, figures).toBeLessThan(1.2 * r.linkMBps)
    expect(r.utpAloneMBps, figures).toBeGreaterThanOrEqual(0.8 * r.linkMBps)
    expect(r.sharedTcpMBps, figures).toBeGreaterThan(r.sharedUtpMBps)
    // The latecomer case: uTP joining the queue TCP built alone still leaves TCP the larger share.
    expect(r.latecomer, figures).not.toBeNull()
    expect(r.latecomer!.tcpMBps, figures).toBeGreaterThan(r.latecomer!.utpMBps)
  })
})
