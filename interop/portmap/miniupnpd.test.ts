/**
 * Port mapping against a real gateway (issue 12): Debian's miniupnpd 2.3 (nftables backend) with
 * UPnP IGD and NAT-PMP on, in network namespaces this test builds:
 *
 *     [lan] 10.77.0.2 --veth-- 10.77.0.1 [gw: miniupnpd] 11.77.0.2 --veth-- 11.77.0.1 [wan]
 *
 * The gateway's "public" side is 11.77.0.2: miniupnpd refuses to map behind a private or reserved
 * external address (it says port forwarding is impossible there), and these namespaces have no
 * route to anywhere real. The gw namespace gets the nftables table and chains miniupnpd's nft
 * backend adds its rules to (Debian's nft_init.sh layout), so a mapping is a real DNAT rule.
 *
 * Lodestone runs as a child process in the LAN namespace (the built node preset, so the real
 * NodePortMapper, listening on all interfaces): it maps its port for TCP and UDP, renews before
 * the lease runs out (the mapping outlives its first lease) and removes both on close; each step
 * is read back from miniupnpd itself (`upnpc -l` from the LAN, its lease file, its nft rules).
 * The CLI run checks the real default: `lodestone seed` maps and removes, `--no-port-mapping` asks
 * nothing. Needs root (namespaces), miniupnpd, miniupnpc (upnpc), nftables (.ci/run installs them).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { makeTorrent, removeTempDirs, tempDir, writeContent } from '../helpers/fixtures.js'

const run = promisify(execFile)
const CHILD = fileURLToPath(new URL('./portmap-child.mjs', import.meta.url))
const PRESET = fileURLToPath(new URL('../../packages/engine/dist/presets/node.js', import.meta.url))
const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))
const ID = `lsp${process.pid % 100_000}`
const NS = { gw: `${ID}g`, lan: `${ID}l`, wan: `${ID}w` }
const LAN_IP = '10.77.0.2'
const GW_LAN_IP = '10.77.0.1'
const WAN_IP = '11.77.0.2'

const NFT_RULESET = `table inet filter {
  chain forward { type filter hook forward priority 0; policy drop; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
`

interface Listed { protocol: string, externalPort: number, internal: string, description: string, leaseSec: number }
interface Line { type: string, [key: string]: unknown }

let work = ''
let miniupnpd: ChildProcess | null = null
let miniupnpdLog = ''
const leaseFile = (): string => join(work, 'leases')

async function sh (args: string[]): Promise<string> {
  const { stdout } = await run(args[0]!, args.slice(1), { timeout: 20_000 })
  return stdout
}
const inNs = async (ns: string, args: string[]): Promise<string> => sh(['ip', 'netns', 'exec', ns, ...args])

async function buildTopology (): Promise<void> {
  for (const ns of Object.values(NS)) await sh(['ip', 'netns', 'add', ns])
  await sh(['ip', 'link', 'add', `${ID}l0`, 'netns', NS.gw, 'type', 'veth', 'peer', 'name', `${ID}l1`, 'netns', NS.lan])
  await sh(['ip', 'link', 'add', `${ID}w0`, 'netns', NS.gw, 'type', 'veth', 'peer', 'name', `${ID}w1`, 'netns', NS.wan])
  const steps: string[][] = [
    ['-n', NS.gw, 'addr', 'add', `${GW_LAN_IP}/24`, 'dev', `${ID}l0`],
    ['-n', NS.gw, 'addr', 'add', `${WAN_IP}/24`, 'dev', `${ID}w0`],
    ['-n', NS.lan, 'addr', 'add', `${LAN_IP}/24`, 'dev', `${ID}l1`],
    ['-n', NS.wan, 'addr', 'add', '11.77.0.1/24', 'dev', `${ID}w1`],
    ...Object.values(NS).map((ns) => ['-n', ns, 'link', 'set', 'lo', 'up']),
    ['-n', NS.gw, 'link', 'set', `${ID}l0`, 'up'], ['-n', NS.gw, 'link', 'set', `${ID}w0`, 'up'],
    ['-n', NS.lan, 'link', 'set', `${ID}l1`, 'up'], ['-n', NS.wan, 'link', 'set', `${ID}w1`, 'up'],
    ['-n', NS.lan, 'route', 'add', 'default', 'via', GW_LAN_IP],
    ['-n', NS.gw, 'route', 'add', 'default', 'via', '11.77.0.1']
  ]
  for (const step of steps) await sh(['ip', ...step])
  await writeFile(join(work, 'ruleset.nft'), NFT_RULESET)
  await inNs(NS.gw, ['nft', '-f', join(work, 'ruleset.nft')])
}

async function startMiniupnpd (): Promise<void> {
  const conf = [
    `ext_ifname=${ID}w0`, `listening_ip=${ID}l0`, 'enable_upnp=yes', 'enable_natpmp=yes', 'secure_mode=yes',
    `lease_file=${leaseFile()}`, 'uuid=3f1c7e0a-7d7b-4c1e-9a3e-0e5b7c9d2a11', 'system_uptime=yes',
    'upnp_table_name=filter', 'upnp_nat_table_name=filter', 'upnp_forward_chain=miniupnpd',
    'upnp_nat_chain=prerouting_miniupnpd', 'upnp_nat_postrouting_chain=postrouting_miniupnpd',
    'allow 1024-65535 10.77.0.0/24 1024-65535', 'deny 0-65535 0.0.0.0/0 0-65535'
  ].join('\n') + '\n'
  await writeFile(join(work, 'miniupnpd.conf'), conf)
  const child = spawn('ip', ['netns', 'exec', NS.gw, 'miniupnpd', '-f', join(work, 'miniupnpd.conf'), '-d', '-P', join(work, 'miniupnpd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] })
  miniupnpd = child
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`miniupnpd did not start:\n${miniupnpdLog}`)) }, 10_000)
    const onData = (chunk: Buffer): void => {
      miniupnpdLog += chunk.toString()
      if (miniupnpdLog.includes('Listening for NAT-PMP/PCP traffic')) { clearTimeout(timer); resolve() }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('error', (error) => { clearTimeout(timer); reject(error) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`miniupnpd exited ${code}:\n${miniupnpdLog}`)) })
  })
}

/** miniupnpd's mappings as a UPnP client on the LAN lists them (GetGenericPortMappingEntry). */
async function listMappings (): Promise<Listed[]> {
  const out = await inNs(NS.lan, ['upnpc', '-l'])
  const listed: Listed[] = []
  for (const m of out.matchAll(/^\s*\d+\s+(TCP|UDP)\s+(\d+)->([\d.]+:\d+)\s+'([^']*)'\s+'[^']*'\s+(\d+)/gm)) {
    listed.push({ protocol: m[1]!, externalPort: Number(m[2]), internal: m[3]!, description: m[4]!, leaseSec: Number(m[5]) })
  }
  return listed.sort((a, b) => a.protocol.localeCompare(b.protocol))
}

/** Lines of miniupnpd's lease file for `port` (PROTO:eport:iaddr:iport:expiry:description). */
async function leaseLines (port: number): Promise<string[]> {
  const text = await readFile(leaseFile(), 'utf8').catch(() => '')
  return text.split('\n').filter((l) => l.split(':')[1] === String(port)).map((l) => l.split(':').slice(0, 4).join(':')).sort()
}

/**
 * The lease file once it holds `expected` (or what it holds after 3 s): miniupnpd rewrites it
 * (temporary file, rename) when a mapping is asked for again, e.g. a request retried on a loaded
 * machine, so one read can fall between two writes of the same mapping.
 */
async function settledLeaseLines (port: number, expected: string[]): Promise<string[]> {
  const deadline = Date.now() + 3_000
  for (;;) {
    const lines = await leaseLines(port)
    if (JSON.stringify(lines) === JSON.stringify(expected) || Date.now() > deadline) return lines
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** DNAT rules miniupnpd put in the gateway's nftables for `port`. */
async function dnatRules (port: number): Promise<number> {
  const ruleset = await inNs(NS.gw, ['nft', 'list', 'chain', 'inet', 'filter', 'prerouting_miniupnpd'])
  return ruleset.split('\n').filter((l) => l.includes(`dport ${port} `) && l.includes(`dnat ip to ${LAN_IP}:${port}`)).length
}

class LineProcess {
  readonly lines: Line[] = []
  private readonly waiters = new Set<() => void>()
  stderr = ''
  readonly exited: Promise<number | null>

  constructor (readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try { this.lines.push(JSON.parse(text) as Line) } catch { return }
      for (const w of [...this.waiters]) w()
    })
    child.stderr!.on('data', (c: Buffer) => { this.stderr += c.toString() })
    this.exited = new Promise((resolve) => { child.once('exit', (code) => { resolve(code); for (const w of [...this.waiters]) w() }) })
  }

  async waitFor (count: number, match: (l: Line) => boolean, what: string, timeoutMs = 20_000): Promise<Line[]> {
    const found = (): Line[] => this.lines.filter(match)
    if (found().length >= count) return found()
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (found().length >= count) { done(); resolve(found()) } else if (this.child.exitCode !== null) { done(); reject(new Error(`exited waiting for ${what}: ${this.stderr}\n${JSON.stringify(this.lines)}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(this.lines)}\n${this.stderr}`)) }, timeoutMs)
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
    })
  }

  /** The exit code, failing after `timeoutMs`. */
  async exitCode (timeoutMs = 10_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`did not exit: ${JSON.stringify(this.lines)}\n${this.stderr}`)) }, timeoutMs) })
    try { return await Promise.race([this.exited, timeout]) } finally { clearTimeout(timer) }
  }

  kill (): void { if (this.child.exitCode === null) this.child.kill('SIGKILL') }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const requestsFor = (port: number, method: 'upnp' | 'natpmp'): number => miniupnpdLog.split('\n')
  .filter((l) => method === 'upnp' ? l.includes(`AddPortMapping: ext port ${port} to`) : l.includes(`NAT-PMP port mapping request : ${port}->`) && !l.includes('lifetime=0s')).length

describe('port mapping against miniupnpd in network namespaces', () => {
  const children: LineProcess[] = []

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lodestone-portmap-'))
    await buildTopology()
    await startMiniupnpd()
  }, 60_000)

  afterAll(async () => {
    for (const c of children) c.kill()
    miniupnpd?.kill('SIGTERM')
    for (const ns of Object.values(NS)) await sh(['ip', 'netns', 'del', ns]).catch(() => {})
    await rm(work, { recursive: true, force: true })
    await removeTempDirs()
  })

  for (const method of ['upnp', 'natpmp'] as const) {
    it(`${method}: maps the listen port for TCP and UDP, renews it before the lease ends, removes it on close`, async () => {
      const port = method === 'upnp' ? 16881 : 16882
      const leaseSec = 6
      const child = new LineProcess(spawn('ip', ['netns', 'exec', NS.lan, process.execPath, CHILD,
        JSON.stringify({ presetPath: PRESET, dir: await tempDir(), port, upnp: method === 'upnp', natPmp: method === 'natpmp', leaseSec })], { stdio: ['pipe', 'pipe', 'pipe'] }))
      children.push(child)
      // A failed case must not leave its child renewing mappings into the next case's log.
      onTestFinished(() => { child.kill() })
      await child.waitFor(1, (l) => l.type === 'listening', 'listening')
      const mapped = await child.waitFor(2, (l) => l.type === 'port-mapping' && l.state === 'mapped', 'both mappings')
      const mappedAt = Date.now()
      expect(mapped.map((e) => [e.protocol, e.internalPort, e.externalPort, e.externalAddress, e.method, e.renewal]).sort()).toEqual([
        ['tcp', port, port, WAN_IP, method, false], ['udp', port, port, WAN_IP, method, false]
      ])
      const listed = (await listMappings()).filter((m) => m.externalPort === port)
      expect(listed.map((m) => [m.protocol, m.internal])).toEqual([['TCP', `${LAN_IP}:${port}`], ['UDP', `${LAN_IP}:${port}`]])
      if (method === 'upnp') expect(listed.map((m) => m.description)).toEqual([`Lodestone TCP ${port}`, `Lodestone UDP ${port}`])
      expect(listed.every((m) => m.leaseSec > 0 && m.leaseSec <= leaseSec)).toBe(true)
      const leases = [`TCP:${port}:${LAN_IP}:${port}`, `UDP:${port}:${LAN_IP}:${port}`]
      expect(await settledLeaseLines(port, leases)).toEqual(leases)
      expect(await dnatRules(port)).toBe(2)

      // Renewed at half the lease: both are still there well after the first lease would have ended.
      await child.waitFor(2, (l) => l.type === 'port-mapping' && l.state === 'mapped' && l.renewal === true, 'a renewal of each')
      await sleep(Math.max(0, mappedAt + leaseSec * 1000 + 1_500 - Date.now()))
      expect((await listMappings()).filter((m) => m.externalPort === port).map((m) => m.protocol)).toEqual(['TCP', 'UDP'])
      expect(requestsFor(port, method)).toBeGreaterThanOrEqual(4) // first mapping + at least one renewal, per protocol
      child.child.stdin!.write('stats\n')
      const [stats] = await child.waitFor(1, (l) => l.type === 'stats', 'stats')
      const pm = stats!.portMapping as { active: boolean, externalAddress: string, mappings: Array<{ state: string, renewals: number, gateway: string }> }
      expect(pm.active).toBe(true)
      expect(pm.externalAddress).toBe(WAN_IP)
      expect(pm.mappings.every((m) => m.state === 'mapped' && m.renewals >= 1 && m.gateway === GW_LAN_IP)).toBe(true)

      child.child.stdin!.end('close\n')
      await child.waitFor(1, (l) => l.type === 'closed', 'close')
      expect(child.lines.filter((l) => l.type === 'port-mapping' && l.state === 'removed').map((l) => [l.protocol, l.error ?? null]).sort()).toEqual([['tcp', null], ['udp', null]])
      expect(await child.exitCode()).toBe(0)
      expect((await listMappings()).filter((m) => m.externalPort === port)).toEqual([])
      expect(await leaseLines(port)).toEqual([])
      expect(await dnatRules(port)).toBe(0)
      expect(child.lines.filter((l) => l.type === 'warning')).toEqual([])
    }, 60_000)
  }

  it('lodestone seed maps its port by default and removes it on SIGTERM; --no-port-mapping asks nothing', async () => {
    const dir = await tempDir()
    await writeContent(dir, 'payload.bin', 100_000)
    const torrentPath = join(dir, 'payload.torrent')
    await makeTorrent(dir, 'payload.bin', 'v1', torrentPath)
    const seed = (port: number, extra: string[]): LineProcess => {
      const p = new LineProcess(spawn('ip', ['netns', 'exec', NS.lan, process.execPath, CLI, 'seed', torrentPath, '-d', dir, '--port', String(port), '--json', '--no-dht', ...extra],
        { stdio: ['ignore', 'pipe', 'pipe'] }))
      children.push(p)
      onTestFinished(() => { p.kill() })
      return p
    }

    const cli = seed(16883, [])
    const mapped = await cli.waitFor(2, (l) => l.type === 'port-mapping' && l.state === 'mapped', 'both mappings')
    expect(mapped.map((e) => [e.protocol, e.externalPort, e.externalAddress, e.method]).sort()).toEqual([['tcp', 16883, WAN_IP, 'upnp'], ['udp', 16883, WAN_IP, 'upnp']])
    expect((await listMappings()).filter((m) => m.externalPort === 16883).map((m) => [m.protocol, m.internal])).toEqual([['TCP', `${LAN_IP}:16883`], ['UDP', `${LAN_IP}:16883`]])
    cli.child.kill('SIGTERM')
    expect(await cli.exitCode()).toBe(0)
    expect(cli.lines.filter((l) => l.type === 'port-mapping' && l.state === 'removed').map((l) => l.protocol).sort()).toEqual(['tcp', 'udp'])
    expect((await listMappings()).filter((m) => m.externalPort === 16883)).toEqual([])

    const before = miniupnpdLog.length
    const off = seed(16884, ['--no-port-mapping'])
    await off.waitFor(1, (l) => l.type === 'state-changed' && l.to === 'seeding', 'seeding')
    await sleep(3_000)
    off.child.kill('SIGTERM')
    expect(await off.exitCode()).toBe(0)
    expect(off.lines.filter((l) => l.type === 'port-mapping')).toEqual([])
    expect(miniupnpdLog.slice(before)).not.toMatch(/SSDP M-SEARCH|AddPortMapping|NAT-PMP/)
  }, 60_000)
})
