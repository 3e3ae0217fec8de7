/**
 * Shared set-up for the tracker interop tests: free loopback ports, an opentracker process, the
 * Node adapters wired into Lodestone's tracker clients, and announce parameters for fake peers.
 *
 * Everything binds to 127.0.0.1. A missing opentracker binary makes `startOpentracker` reject,
 * so the test fails (STYLE.md §10: never a skip).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeHttpClient } from '../../packages/engine/adapters/node/node-http-client.js'
import { NodeSocketFactory } from '../../packages/engine/adapters/node/node-socket-factory.js'
import { SystemClock } from '../../packages/engine/adapters/node/node-clock.js'
import { cryptoRandom } from '../../packages/engine/src/interfaces/random.js'
import type { AnnounceEvent, AnnounceParams, TrackerSettings } from '../../packages/engine/src/tracker/announce.js'
import { UdpTrackerSocket } from '../../packages/engine/src/tracker/udp-tracker.js'
import { toHex } from '../../packages/engine/src/util/bytes.js'

export const OPENTRACKER = '/usr/bin/opentracker'

/** Tracker limits for tests: a short UDP back-off base so a lost datagram costs a second, not 15. */
export const interopTrackerSettings: Partial<TrackerSettings> = { udpRetransmitBaseMs: 1_000, udpMaxRetransmits: 3, httpTimeoutMs: 10_000 }

/** A port free for both TCP and UDP on 127.0.0.1 right now (the caller binds it soon after). */
export async function freePort (): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer()
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const address = server.address()
        server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
      })
    })
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4')
      socket.once('error', () => { socket.close(); resolve(false) })
      socket.bind(port, '127.0.0.1', () => { socket.close(() => { resolve(true) }) })
    })
    if (port > 0 && udpFree) return port
  }
  throw new Error('no free port found')
}

export interface RunningOpentracker {
  port: number
  httpUrl: string
  udpUrl: string
  stop: () => Promise<void>
}

/**
 * Starts opentracker on 127.0.0.1 (HTTP and UDP on one port) with a whitelist of `infoHashes`:
 * Debian builds it whitelist-only, so anything else is refused. Retries on a port clash.
 */
export async function startOpentracker (infoHashes: readonly Uint8Array[]): Promise<RunningOpentracker> {
  let lastError: unknown = null
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'lodestone-opentracker-'))
    // opentracker chroots into -d and drops to user nobody (when started as root) before it reads
    // the whitelist, so the path is relative to the directory and both must be world-readable.
    chmodSync(dir, 0o755)
    writeFileSync(join(dir, 'whitelist'), infoHashes.map((h) => toHex(h)).join('\n') + '\n', { mode: 0o644 })
    const child = spawn(OPENTRACKER, ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-d', dir, '-w', 'whitelist'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr?.on('data', (d: Buffer) => { output += d.toString() })
    const exited = new Promise<Error>((resolve) => {
      child.once('error', (err) => { resolve(err) })
      child.once('exit', (code, signal) => { resolve(new Error(`opentracker exited (${code ?? signal}): ${output}`)) })
    })
    try {
      await Promise.race([waitForTcp(port), exited.then((e) => { throw e })])
      return {
        port,
        httpUrl: `http://127.0.0.1:${port}/announce`,
        udpUrl: `udp://127.0.0.1:${port}/announce`,
        stop: async () => { await kill(child); rmSync(dir, { recursive: true, force: true }) }
      }
    } catch (error) {
      lastError = error
      await kill(child)
      rmSync(dir, { recursive: true, force: true })
      if (error instanceof Error && /ENOENT/.test(error.message)) break // no binary: do not retry
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError))
}

async function waitForTcp (port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port })
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => { socket.destroy(); resolve(false) })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function kill (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    child.once('exit', () => { resolve() })
    child.kill('SIGTERM')
  })
}

/** The Node adapters wired for the tracker clients, bound to loopback. */
export function nodeTrackerDeps (): { httpClient: NodeHttpClient, udpSocket: UdpTrackerSocket, clock: SystemClock } {
  const clock = new SystemClock()
  const udpSocket = new UdpTrackerSocket(
    { socketFactory: new NodeSocketFactory(), clock, random: cryptoRandom },
    { bindHostV4: '127.0.0.1', bindHostV6: '::1' }
  )
  return { httpClient: new NodeHttpClient(), udpSocket, clock }
}

/** A 20-byte id: `tag` repeated (distinct tags give distinct peers). */
export function id20 (tag: string): Uint8Array {
  return new TextEncoder().encode(tag.repeat(20).slice(0, 20))
}

/** Announce parameters for a fake peer listening on `port`. */
export function announceParams (infoHash: Uint8Array, peerTag: string, port: number, over: Partial<AnnounceParams> = {}): AnnounceParams {
  const event: AnnounceEvent = 'started'
  return {
    infoHash, peerId: id20(peerTag), port, uploadedBytes: 0, downloadedBytes: 0, leftBytes: 1000,
    event, numWant: 50, key: 0x1234, ...over
  }
}
