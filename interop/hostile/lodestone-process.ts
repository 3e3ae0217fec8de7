/**
 * The built CLI as the process under attack: `lodestone seed … --json` on 127.0.0.1 in a child
 * process, with its JSON lines parsed, its resident memory read from /proc, and a SIGTERM stop
 * that measures how long the process takes to exit.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

export const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))

export type CliEvent = { type: string } & Record<string, unknown>

export interface LodestoneSeedOptions {
  torrentPath: string
  dir: string
  /** Extra CLI arguments. */
  args?: string[]
  /** Extra Node arguments (e.g. a capped heap). */
  nodeArgs?: string[]
}

export class LodestoneProcess {
  readonly events: CliEvent[] = []
  port = 0
  infoHash = ''
  private stderrText = ''
  private exit: { code: number | null, signal: string | null } | null = null
  private readonly exited: Promise<void>
  private readonly waiters = new Set<() => void>()

  constructor (private readonly child: ChildProcess) {
    let buffered = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        try {
          const event = JSON.parse(line) as CliEvent
          this.events.push(event)
          if (event.type === 'started') {
            this.port = Number(event.port)
            this.infoHash = String(event.infoHash)
          }
        } catch {
          // not a JSON line
        }
        this.wake()
      }
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderrText = (this.stderrText + chunk).slice(-20_000) })
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        this.wake()
        resolve()
      })
    })
  }

  get pid (): number { return this.child.pid ?? -1 }
  get stderr (): string { return this.stderrText }
  get exitCode (): number | null { return this.exit?.code ?? null }

  private wake (): void { for (const w of [...this.waiters]) w() }

  /** Resolves with the first event (from the start) that matches; rejects on exit or time-out. */
  async waitForEvent (predicate: (e: CliEvent) => boolean, timeoutMs: number, what: string): Promise<CliEvent> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.events.find(predicate)
        if (found !== undefined) { done(); resolve(found) } else if (this.exit !== null) {
          done()
          reject(new Error(`lodestone exited (${JSON.stringify(this.exit)}) before ${what}\n${this.stderrText.slice(-2000)}`))
        }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for ${what}\n${this.stderrText.slice(-2000)}`)) }, timeoutMs)
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
      check()
    })
  }

  /** Resident set size now, from /proc (Linux). */
  async rssBytes (): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8')
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
    if (kb === undefined) throw new Error('no VmRSS line')
    return Number(kb) * 1024
  }

  /** Sends SIGTERM and resolves once the process exited, with how long that took. */
  async stop (timeoutMs = 10_000): Promise<{ exitMs: number, code: number | null, signal: string | null }> {
    const startedAt = performance.now()
    if (this.exit === null) {
      this.child.kill('SIGTERM')
      const timer = setTimeout(() => { this.child.kill('SIGKILL') }, timeoutMs)
      await this.exited
      clearTimeout(timer)
    }
    return { exitMs: performance.now() - startedAt, code: this.exit?.code ?? null, signal: this.exit?.signal ?? null }
  }

  kill (): void {
    if (this.exit === null) this.child.kill('SIGKILL')
  }
}

/** Starts `lodestone seed` on 127.0.0.1 (any free port) and resolves once it seeds. */
export async function startLodestoneSeed (options: LodestoneSeedOptions): Promise<LodestoneProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, 'seed', options.torrentPath, '-d', options.dir,
    '--port', '0', '--host', '127.0.0.1', '--json', ...(options.args ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] })
  const proc = new LodestoneProcess(child)
  try {
    await proc.waitForEvent((e) => e.type === 'state-changed' && e.to === 'seeding', 30_000, 'the seed to start seeding')
  } catch (error) {
    proc.kill()
    throw error
  }
  return proc
}

/**
 * Starts `lodestone download <input> -o <dir>` on 127.0.0.1 (any free port, no state, no DHT or
 * LSD) and resolves once it reports `started` (its port is known).
 */
export async function startLodestoneDownload (options: { input: string, dir: string, args?: string[] }): Promise<LodestoneProcess> {
  const child = spawn(process.execPath, [CLI, 'download', options.input, '-o', options.dir, '--port', '0', '--host', '127.0.0.1',
    '--json', '--no-state', '--no-dht', '--no-lsd', '--no-port-mapping', ...(options.args ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] })
  const proc = new LodestoneProcess(child)
  try {
    await proc.waitForEvent((e) => e.type === 'started', 30_000, 'the download to start')
  } catch (error) {
    proc.kill()
    throw error
  }
  return proc
}
