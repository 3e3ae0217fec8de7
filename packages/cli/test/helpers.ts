// Runs the built CLI (packages/cli/bin/lodestone.js → dist/) as a user would, in a subprocess.
// `npm test` runs `tsc -b` first; when running vitest by hand, build first (`npx tsc -b`).
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const CLI_BIN = fileURLToPath(new URL('../bin/lodestone.js', import.meta.url))

/**
 * `download` keeps resume data under $XDG_DATA_HOME/lodestone by default: the CLI under test gets
 * a data home of its own, removed when the test process exits, never the user's.
 */
const DATA_HOME = mkdtempSync(join(tmpdir(), 'lodestone-cli-data-'))
process.once('exit', () => { rmSync(DATA_HOME, { recursive: true, force: true }) })
const CLI_ENV = { ...process.env, XDG_DATA_HOME: DATA_HOME }

export interface CliRun { code: number, stdout: string, stderr: string }

export async function runCli (args: string[], options: { cwd?: string, timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_BIN, ...args], { cwd: options.cwd, env: CLI_ENV, timeout: options.timeoutMs ?? 30_000, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null
      if (code === null) {
        reject(err ?? new Error('execFile failed'))
        return
      }
      resolve({ code, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8') })
    })
  })
}

/** Deterministic bytes: byte i of payload k. */
export function payload (lengthBytes: number, k: number): Uint8Array {
  const out = new Uint8Array(lengthBytes)
  for (let i = 0; i < lengthBytes; i++) out[i] = (i * 31 + k * 17 + (i >> 10)) & 0xff
  return out
}

/** A temporary directory with `files` (relative path → bytes); remove with `cleanup()`. */
export function tempTree (files: Record<string, Uint8Array>, emptyDirs: string[] = []): { dir: string, cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'lodestone-cli-'))
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), data)
  }
  for (const d of emptyDirs) mkdirSync(join(dir, d), { recursive: true })
  return { dir, cleanup: () => { rmSync(dir, { recursive: true, force: true }) } }
}

/** A bad-input failure: exactly one `lodestone: ` line on stderr, nothing on stdout. */
export function expectOneErrorLine (run: CliRun): string {
  const lines = run.stderr.split('\n').filter((l) => l !== '')
  if (lines.length !== 1 || !lines[0]!.startsWith('lodestone: ') || run.stdout !== '') {
    throw new Error(`expected one "lodestone: " line on stderr and no stdout, got stderr=${JSON.stringify(run.stderr)} stdout=${JSON.stringify(run.stdout)}`)
  }
  return lines[0]!
}

/** A long-running CLI process whose stdout is read line by line. */
export interface CliProcess {
  child: ChildProcess
  /** Every stdout line so far. */
  lines: string[]
  stderr: () => string
  /** Resolves with the first stdout line (past or future) matching `pred`; rejects on exit or after `timeoutMs`. */
  waitForLine: (pred: (line: string) => boolean, timeoutMs?: number) => Promise<string>
  /** Resolves with the exit code (-1 when killed by a signal). */
  exited: Promise<number>
  /** SIGKILLs the process if it is still running. */
  kill: () => void
}

export function spawnCli (args: string[], options: { cwd?: string } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: options.cwd, env: CLI_ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let stderr = ''
  let partial = ''
  const waiters = new Set<() => void>()
  let done = false
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk
    const parts = partial.split('\n')
    partial = parts.pop()!
    lines.push(...parts)
    for (const w of [...waiters]) w()
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<number>((resolve) => {
    child.on('close', (code) => {
      done = true
      if (partial !== '') lines.push(partial)
      partial = ''
      for (const w of [...waiters]) w()
      resolve(code ?? -1)
    })
  })
  const waitForLine = async (pred: (line: string) => boolean, timeoutMs = 15_000): Promise<string> => {
    return new Promise((resolve, reject) => {
      let seen = 0
      const check = (): void => {
        for (; seen < lines.length; seen++) {
          if (pred(lines[seen]!)) {
            cleanup()
            resolve(lines[seen]!)
            return
          }
        }
        if (done) {
          cleanup()
          reject(new Error(`process exited before the expected line; stderr=${JSON.stringify(stderr)} stdout=${JSON.stringify(lines.join('\n').slice(-2000))}`))
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`timed out waiting for a line; stderr=${JSON.stringify(stderr)} stdout=${JSON.stringify(lines.join('\n').slice(-2000))}`))
      }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  }
  return {
    child,
    lines,
    stderr: () => stderr,
    waitForLine,
    exited,
    kill: () => { if (!done) child.kill('SIGKILL') }
  }
}

/** Parses JSON lines; throws naming the first line that is not a JSON object with a string `type`. */
export function parseJsonLines (lines: readonly string[]): Array<{ type: string } & Record<string, unknown>> {
  return lines.filter((l) => l !== '').map((l) => {
    const v = JSON.parse(l) as unknown
    if (typeof v !== 'object' || v === null || typeof (v as { type?: unknown }).type !== 'string') throw new Error(`not an event line: ${l}`)
    return v as { type: string } & Record<string, unknown>
  })
}
