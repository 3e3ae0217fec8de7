/**
 * Runs a Python script (with the system Python, which has Debian's libtorrent binding) from an
 * interop test and returns the JSON it prints.
 *
 * Contract with the script: it reads its input as JSON from stdin (`json.load(sys.stdin)`, or the
 * `INPUT` variable that {@link libtorrentScript} defines) and prints one JSON value as the last line
 * of stdout. Anything else it prints before that line is ignored; stderr is kept for error
 * messages. A missing interpreter or binding is a failure, never a skip (STYLE.md §10).
 */
import { spawn } from 'node:child_process'

/** Debian's python3-libtorrent is built for the system Python, not for other Pythons on PATH. */
export const SYSTEM_PYTHON = '/usr/bin/python3'

export interface RunPythonOptions {
  /** Serialized as JSON onto the script's stdin. @default null */
  input?: unknown
  /** Killed (SIGKILL) after this long, and the promise rejects. @default 60_000 */
  timeoutMs?: number
  cwd?: string
  /** Added to the inherited environment. */
  env?: Record<string, string>
  /** Arguments after the script (`sys.argv[1:]`). */
  args?: string[]
}

export class PythonScriptError extends Error {
  override name = 'PythonScriptError'
  constructor (message: string, readonly stdout: string, readonly stderr: string, readonly exitCode: number | null) {
    super(message)
  }
}

function tail (text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

/**
 * Runs `script` (Python source) with {@link SYSTEM_PYTHON} and parses the last stdout line as JSON.
 * @throws PythonScriptError on a spawn failure, a timeout, a non-zero exit (with stderr's tail),
 *   or output whose last line is not JSON.
 */
export async function runPythonJson<T = unknown> (script: string, options: RunPythonOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000
  return new Promise<T>((resolve, reject) => {
    const child = spawn(SYSTEM_PYTHON, ['-c', script, ...(options.args ?? [])], {
      cwd: options.cwd,
      env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new PythonScriptError(`cannot run ${SYSTEM_PYTHON}: ${err.message}`, stdout, stderr, null))
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      if (timedOut) {
        reject(new PythonScriptError(`python script timed out after ${timeoutMs} ms\n${tail(stderr)}`, stdout, stderr, code))
        return
      }
      if (code !== 0) {
        reject(new PythonScriptError(`python script exited with ${code}:\n${tail(stderr)}`, stdout, stderr, code))
        return
      }
      const last = stdout.trimEnd().split('\n').pop() ?? ''
      try {
        resolve(JSON.parse(last) as T)
      } catch {
        reject(new PythonScriptError(`python script's last stdout line is not JSON: ${JSON.stringify(last.slice(0, 200))}\n${tail(stderr)}`, stdout, stderr, code))
      }
    })
    child.stdin.on('error', () => {}) // the script may exit without reading its input
    child.stdin.end(JSON.stringify(options.input ?? null))
  })
}
