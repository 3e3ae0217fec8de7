/**
 * A running `lodestone daemon` (the built CLI in a child process, loopback-only engine settings),
 * and Debian's `transmission-remote` pointed at it. `transmission-remote`'s `-l` output is parsed
 * by its printf format (shared/TRANSMISSION-RPC-NOTES.md), so a wrong integer or status in our
 * answers shows up as a missing or wrong row.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const CLI_BIN = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))
export const TRANSMISSION_REMOTE = '/usr/bin/transmission-remote'

/** Engine settings that keep the daemon on loopback (no DHT, LSD, port mapping). */
export const LOOPBACK_ENGINE = {
  listen: { host: '127.0.0.1', port: 0 },
  discovery: { dht: false, lsd: false, portMapping: false, pex: false }
}

export class RunningDaemon {
  rpcPort = 0
  peerPort = 0
  /** Where the daemon keeps its API token (files, metrics, our API). */
  apiTokenFile = ''
  stderr = ''
  readonly exited: Promise<number>

  constructor (readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8').on('data', (c: string) => { this.stderr += c })
    this.exited = new Promise((resolve) => { child.on('close', (code) => { resolve(code ?? -1) }) })
  }

  /** SIGTERM; resolves with the exit code (SIGKILL after 10 s). */
  async stop (): Promise<number> {
    if (this.child.exitCode !== null) return this.child.exitCode
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 10_000)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }
}

/** Starts `lodestone daemon` with a config file in `dir`; resolves once it printed its JSON line. */
export async function startDaemon (dir: string, config: Record<string, unknown>): Promise<RunningDaemon> {
  const configPath = join(dir, 'daemon.json')
  await writeFile(configPath, JSON.stringify({ rpcPort: 0, engine: LOOPBACK_ENGINE, ...config }))
  const child = spawn(process.execPath, [CLI_BIN, 'daemon', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] })
  const daemon = new RunningDaemon(child)
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { reject(new Error(`daemon did not start: ${daemon.stderr}`)) }, 20_000)
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      out += c
      const nl = out.indexOf('\n')
      if (nl >= 0) {
        clearTimeout(timer)
        resolve(out.slice(0, nl))
      }
    })
    child.on('close', () => { clearTimeout(timer); reject(new Error(`daemon exited: ${daemon.stderr}`)) })
  })
  const info = JSON.parse(line) as { rpcPort: number, peerPort: number, apiTokenFile: string }
  daemon.rpcPort = info.rpcPort
  daemon.apiTokenFile = info.apiTokenFile
  daemon.peerPort = info.peerPort
  return daemon
}

export interface RemoteRun { code: number, stdout: string, stderr: string }

/** Runs transmission-remote against the daemon. */
export async function remote (port: number, args: string[], auth?: string): Promise<RemoteRun> {
  const argv = [`127.0.0.1:${port}`, ...(auth !== undefined ? ['--auth', auth] : []), ...args]
  return new Promise((resolve, reject) => {
    execFile(TRANSMISSION_REMOTE, argv, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err instanceof Error && typeof (err as { code?: unknown }).code !== 'number') { reject(err); return }
      resolve({ code: err === null ? 0 : (err as unknown as { code: number }).code, stdout, stderr })
    })
  })
}

/** Runs transmission-remote and fails unless it exits 0 without printing an error. */
export async function remoteOk (port: number, args: string[]): Promise<string> {
  const run = await remote(port, args)
  if (run.code !== 0 || /error/i.test(run.stderr) || /^Error:/m.test(run.stdout)) {
    throw new Error(`transmission-remote ${args.join(' ')} failed (${run.code}): ${run.stdout} ${run.stderr}`)
  }
  return run.stdout
}

export interface ListRow { id: number, error: boolean, done: string, have: string, eta: string, up: number, down: number, ratio: string, status: string, name: string }

const ROW = /^\s*(\d+)(\*?)\s+(n\/a|\d+%)\s+(None|[\d.]+ \S+)\s+(.*?)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(None|Inf|[\d.]+)\s+(Up & Down|Downloading|Uploading|Seeding|Idle|Stopped|Finished|Queued|Will Verify|Verifying)\s+(.+)$/

/** `-l` parsed: one row per torrent (a row transmission-remote could not print is missing). */
export function parseList (stdout: string): ListRow[] {
  const lines = stdout.split('\n')
  if (!/^\s*ID\s+Done\s+Have\s+ETA\s+Up\s+Down\s+Ratio\s+Status\s+Name/.test(lines[0] ?? '')) throw new Error(`not a -l listing: ${stdout}`)
  const rows: ListRow[] = []
  for (const line of lines.slice(1)) {
    if (line.startsWith('Sum:') || line.trim() === '') continue
    const m = ROW.exec(line)
    if (m === null) throw new Error(`unparsed -l row: ${JSON.stringify(line)}`)
    rows.push({ id: Number(m[1]), error: m[2] === '*', done: m[3]!, have: m[4]!, eta: m[5]!.trim(), up: Number(m[6]), down: Number(m[7]), ratio: m[8]!, status: m[9]!, name: m[10]! })
  }
  return rows
}

/** `-t N -i` as `key → value` (first occurrence of each key). */
export function parseInfo (stdout: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of stdout.split('\n')) {
    const m = /^\s+([A-Za-z][A-Za-z &]*?):\s(.*)$/.exec(line)
    if (m !== null && !(m[1]! in out)) out[m[1]!] = m[2]!.trim()
  }
  return out
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each method's arguments differ; tests read them as JSON
export type RpcArguments = Record<string, any>

/** A direct RPC call (409 handshake included), for measurements the printed output rounds away. */
export async function rpcCall (port: number, method: string, args: Record<string, unknown> = {}): Promise<{ result: string, arguments: RpcArguments }> {
  const url = `http://127.0.0.1:${port}/transmission/rpc`
  const body = JSON.stringify({ method, arguments: args })
  let id = ''
  for (let attempt = 0; attempt < 2; attempt++) {
    const res = await fetch(url, { method: 'POST', body, headers: { 'X-Transmission-Session-Id': id } })
    if (res.status === 409) { id = res.headers.get('x-transmission-session-id') ?? ''; continue }
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
    return await res.json() as { result: string, arguments: RpcArguments }
  }
  throw new Error('no session id')
}

/** Polls `check` every 250 ms until it returns a value other than undefined. */
export async function pollFor<T> (check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) { last = err }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}
