// WebRTC interop (issue 17): Lodestone's createBrowserEngine and WebTorrent's browser build in two
// pages of one headless Chromium, through a bittorrent-tracker server in WebSocket mode, both
// directions. The scenario (webrtc-scenario.ts) runs in its own process inside a private network
// namespace: servers on its `lo`, and — because Chromium never gathers loopback ICE candidates — a
// veth pair whose two ends both live in the namespace, with a private address and the default
// route, for the peer-to-peer traffic. Nothing in the namespace can reach any other network.
import { spawn } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'
import { buildBundle } from './harness.js'

const here = dirname(fileURLToPath(import.meta.url))
const engineDir = join(here, '..', '..')

async function runScenario (): Promise<Array<Record<string, unknown>>> {
  await buildBundle()
  // Bundled next to the engine's own node_modules resolution (dist/ is not committed).
  const outfile = join(engineDir, 'dist', 'test-browser', 'webrtc-scenario.mjs')
  await mkdir(dirname(outfile), { recursive: true })
  await build({ entryPoints: [join(here, 'webrtc-scenario.ts')], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' })
  const setup = 'ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 10.99.0.1/24 dev v0 && ip link set v0 up && ip link set v1 up && ip route add default dev v0'
  const child = spawn('unshare', ['--net', 'sh', '-c', `${setup} && exec "${process.execPath}" "${outfile}"`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  if (code !== 0) throw new Error(`scenario exited ${code}: ${out.slice(-3000)}\n${err.slice(-3000)}`)
  return lines
}

describe('WebRTC: Lodestone in Chromium with WebTorrent\'s browser build and with itself', () => {
  it('downloads from a WebTorrent seeder, seeds to a WebTorrent leecher, and to another Lodestone page (byte-identical)', async () => {
    const steps = await runScenario()
    process.stdout.write(`webrtc: ${JSON.stringify(steps)}\n`)
    expect(steps.map((s) => [s.step, s.ok])).toEqual([['webtorrent-to-lodestone', true], ['lodestone-to-webtorrent', true], ['lodestone-to-lodestone', true]])
    expect(steps[1]!.uploaded).toBeGreaterThan(3 * 1024 * 1024)
  })
})
