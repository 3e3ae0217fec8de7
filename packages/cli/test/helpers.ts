// Runs the built CLI (packages/cli/bin/lodestone.js → dist/) as a user would, in a subprocess.
// `npm test` runs `tsc -b` first; when running vitest by hand, build first (`npx tsc -b`).
import { execFile } from 'node:child_process'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const CLI_BIN = fileURLToPath(new URL('../bin/lodestone.js', import.meta.url))

export interface CliRun { code: number, stdout: string, stderr: string }

export async function runCli (args: string[], options: { cwd?: string, timeoutMs?: number } = {}): Promise<CliRun> {
  return await new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_BIN, ...args], { cwd: options.cwd, timeout: options.timeoutMs ?? 30_000, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null
      if (code === null) {
        reject(err instanceof Error ? err : new Error(String(err)))
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
