/**
 * transmission-daemon for interop tests: a daemon with its own temporary config directory,
 * confined to 127.0.0.1 (INTEROP-NOTES.md: DHT, LPD, PEX, port forwarding, blocklist and — unless
 * asked for — uTP off,
 * peer and RPC sockets bound to loopback), driven through its JSON RPC with `fetch` (the
 * X-Transmission-Session-Id handshake: a 409 answer carries the id to send again).
 *
 * ```ts
 * const tr = await startTransmission()
 * const { id } = await tr.addTorrent(torrentBytes, downloadDir)
 * await tr.waitFor(id, (t) => t.percentDone === 1)
 * await tr.close()
 * ```
 *
 * Known behaviour of 3.00 (INTEROP-NOTES.md): it never dials a loopback peer, so the other side
 * must connect to {@link RunningTransmission.peerPort}; it does not create 0-byte files; it
 * waits several seconds before unchoking a new peer.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort } from '../tracker/tracker-harness.js'
import { tempDir } from './fixtures.js'

export const TRANSMISSION_DAEMON = '/usr/bin/transmission-daemon'

/** torrent-get `status` values (Transmission 2.x / 3.x RPC). */
export const TR_STATUS = { stopped: 0, checkWait: 1, check: 2, downloadWait: 3, download: 4, seedWait: 5, seed: 6 } as const

export interface TransmissionPeer {
  address: string
  port: number
  clientName: string
  flagStr: string
  isEncrypted: boolean
  isIncoming: boolean
  rateToClient: number
  rateToPeer: number
}

export interface TransmissionTorrent {
  id: number
  name: string
  hashString: string
  status: number
  percentDone: number
  leftUntilDone: number
  haveValid: number
  sizeWhenDone: number
  uploadedEver: number
  downloadedEver: number
  error: number
  errorString: string
  peersConnected: number
  peers: TransmissionPeer[]
  /** 1 once a magnet's metadata is complete. */
  metadataPercentComplete: number
}

const TORRENT_FIELDS = ['id', 'name', 'hashString', 'status', 'percentDone', 'leftUntilDone', 'haveValid', 'sizeWhenDone',
  'uploadedEver', 'downloadedEver', 'error', 'errorString', 'peersConnected', 'peers', 'metadataPercentComplete']

export interface TransmissionOptions {
  /** settings.json `encryption`: 0 prefer clear (tolerated), 1 prefer encrypted, 2 require. @default 1 */
  encryption?: 0 | 1 | 2
  /** Extra settings.json keys. */
  settings?: Record<string, unknown>
  /** Accept and make uTP connections (settings.json `utp-enabled`, no `--no-utp`). @default false */
  utp?: boolean
}

export class RunningTransmission {
  private sessionId = ''
  private output = ''
  private exited = false

  constructor (
    private readonly child: ChildProcess,
    readonly rpcPort: number,
    readonly peerPort: number,
    readonly configDir: string
  ) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { this.output += d })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { this.output += d })
    child.on('exit', () => { this.exited = true })
  }

  /** The daemon's log so far (for failure messages). */
  get log (): string {
    return this.output.trimEnd().split('\n').slice(-30).join('\n')
  }

  get hasExited (): boolean {
    return this.exited
  }

  /** One RPC call; handles the session-id handshake. @throws when the result is not "success". */
  async rpc<T = Record<string, unknown>> (method: string, args: Record<string, unknown> = {}): Promise<T> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await fetch(`http://127.0.0.1:${this.rpcPort}/transmission/rpc`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Transmission-Session-Id': this.sessionId },
        body: JSON.stringify({ method, arguments: args }),
        signal: AbortSignal.timeout(10_000)
      })
      if (res.status === 409) {
        this.sessionId = res.headers.get('X-Transmission-Session-Id') ?? ''
        await res.arrayBuffer()
        continue
      }
      if (!res.ok) throw new Error(`transmission rpc ${method}: HTTP ${res.status} ${await res.text()}`)
      const body = await res.json() as { result: string, arguments?: T }
      if (body.result !== 'success') throw new Error(`transmission rpc ${method}: ${body.result}`)
      return body.arguments ?? ({} as T)
    }
    throw new Error(`transmission rpc ${method}: no session id accepted`)
  }

  /** Adds a torrent (metainfo bytes) to download into, or seed from, `downloadDir`. */
  async addTorrent (metainfo: Uint8Array, downloadDir: string): Promise<{ id: number, hashString: string, name: string }> {
    const out = await this.rpc<{ 'torrent-added'?: { id: number, hashString: string, name: string }, 'torrent-duplicate'?: unknown }>('torrent-add', {
      metainfo: Buffer.from(metainfo).toString('base64'),
      'download-dir': downloadDir,
      paused: false
    })
    const added = out['torrent-added']
    if (added === undefined) throw new Error(`transmission did not add the torrent: ${JSON.stringify(out)}`)
    return added
  }

  /** Adds a magnet link (Transmission fetches the metadata from peers first). */
  async addMagnet (uri: string, downloadDir: string): Promise<{ id: number, hashString: string, name: string }> {
    const out = await this.rpc<{ 'torrent-added'?: { id: number, hashString: string, name: string } }>('torrent-add', {
      filename: uri,
      'download-dir': downloadDir,
      paused: false
    })
    const added = out['torrent-added']
    if (added === undefined) throw new Error(`transmission did not add the magnet: ${JSON.stringify(out)}`)
    return added
  }

  async getTorrent (id: number): Promise<TransmissionTorrent> {
    const out = await this.rpc<{ torrents: TransmissionTorrent[] }>('torrent-get', { ids: [id], fields: TORRENT_FIELDS })
    const t = out.torrents[0]
    if (t === undefined) throw new Error(`transmission has no torrent ${id}`)
    return t
  }

  /** Polls torrent-get every 200 ms until `predicate` holds; rejects on an error, exit or timeout. */
  async waitFor (id: number, predicate: (t: TransmissionTorrent) => boolean, timeoutMs: number, what = 'condition'): Promise<TransmissionTorrent> {
    const deadline = Date.now() + timeoutMs
    let last: TransmissionTorrent | null = null
    for (;;) {
      if (this.exited) throw new Error(`transmission-daemon exited before ${what}\n${this.log}`)
      last = await this.getTorrent(id)
      if (predicate(last)) return last
      if (last.error !== 0 && last.error !== 1) throw new Error(`transmission torrent error ${last.error}: ${last.errorString}`)
      if (Date.now() > deadline) {
        const { peers, ...rest } = last
        throw new Error(`transmission: timed out after ${timeoutMs} ms waiting for ${what}; ${JSON.stringify(rest)} peers ${JSON.stringify(peers)}\n${this.log}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }

  /** session-close, then SIGTERM after 3 s and SIGKILL after 6 s if it is still running. */
  async close (): Promise<void> {
    if (this.exited) return
    const exited = new Promise<void>((resolve) => { this.child.once('exit', () => { resolve() }) })
    try {
      await this.rpc('session-close')
    } catch {
      this.child.kill('SIGTERM')
    }
    const term = setTimeout(() => { this.child.kill('SIGTERM') }, 3_000)
    const kill = setTimeout(() => { this.child.kill('SIGKILL') }, 6_000)
    await exited
    clearTimeout(term)
    clearTimeout(kill)
  }
}

/**
 * Starts transmission-daemon in the foreground with a fresh config directory and waits until its
 * RPC answers. A missing binary rejects (the test fails; never a skip).
 */
export async function startTransmission (options: TransmissionOptions = {}): Promise<RunningTransmission> {
  const configDir = await tempDir('lodestone-transmission-')
  const downloads = join(configDir, 'downloads')
  await mkdir(downloads, { recursive: true })
  const rpcPort = await freePort()
  let peerPort = await freePort()
  while (peerPort === rpcPort) peerPort = await freePort()
  const settings = {
    'rpc-enabled': true,
    'rpc-bind-address': '127.0.0.1',
    'rpc-port': rpcPort,
    'rpc-authentication-required': false,
    'rpc-whitelist-enabled': false,
    'rpc-host-whitelist-enabled': false,
    'bind-address-ipv4': '127.0.0.1',
    'bind-address-ipv6': '::1',
    'peer-port': peerPort,
    'peer-port-random-on-start': false,
    'dht-enabled': false,
    'lpd-enabled': false,
    'pex-enabled': false,
    'utp-enabled': options.utp === true,
    'port-forwarding-enabled': false,
    'blocklist-enabled': false,
    encryption: options.encryption ?? 1,
    'download-dir': downloads,
    'incomplete-dir': join(configDir, 'incomplete'),
    'incomplete-dir-enabled': false,
    'rename-partial-files': false,
    'start-added-torrents': true,
    'watch-dir-enabled': false,
    'speed-limit-down-enabled': false,
    'speed-limit-up-enabled': false,
    'alt-speed-enabled': false,
    'ratio-limit-enabled': false,
    'idle-seeding-limit-enabled': false,
    'message-level': 2,
    ...options.settings
  }
  await writeFile(join(configDir, 'settings.json'), JSON.stringify(settings, null, 2))
  const child = spawn(TRANSMISSION_DAEMON, ['--foreground', '--config-dir', configDir, '--no-dht', '--no-lpd', '--no-portmap', ...(options.utp === true ? ['--utp'] : ['--no-utp']), '--no-blocklist', '--no-auth'], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => { resolve() })
    child.once('error', (err) => { reject(new Error(`cannot run ${TRANSMISSION_DAEMON}: ${err.message}`)) })
  })
  const tr = new RunningTransmission(child, rpcPort, peerPort, configDir)
  const deadline = Date.now() + 15_000
  for (;;) {
    try {
      await tr.rpc('session-get')
      return tr
    } catch (err) {
      if (tr.hasExited || Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`transmission-daemon did not answer RPC: ${String(err)}\n${tr.log}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/** `transmission-daemon --version` (it prints to stderr). */
export async function transmissionVersion (): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(TRANSMISSION_DAEMON, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.once('error', (err) => { reject(new Error(`cannot run ${TRANSMISSION_DAEMON}: ${err.message}`)) })
    child.once('close', () => { resolve(out.trim()) })
  })
}
