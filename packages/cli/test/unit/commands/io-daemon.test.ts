import { spawn } from 'node:child_process'
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, expect, it } from 'vitest'
import { CLI_BIN, runCli } from '../../helpers.js'

describe('lodestone io-daemon', () => {
  it('prints one JSON line {port, token, roots}, serves the token, and exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lodestone-iod-'))
    const child = spawn(process.execPath, [CLI_BIN, 'io-daemon', '--root', `Downloads=${dir}`, '--allow-origin', 'http://127.0.0.1:9999'], { stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      const line = await new Promise<string>((resolve) => { createInterface({ input: child.stdout }).once('line', resolve) })
      const info = JSON.parse(line) as { port: number, token: string, roots: Array<{ key: string, label: string }> }
      expect(Object.keys(info).sort()).toEqual(['port', 'roots', 'token'])
      expect(info.port).toBeGreaterThan(0)
      expect(info.token).toMatch(/^[0-9a-f]{64}$/)
      expect(info.roots).toEqual([{ key: expect.stringMatching(/^[0-9a-f]{32}$/), label: 'Downloads' }])
      expect(line).not.toContain(realpathSync(dir))
      const roots = await fetch(`http://127.0.0.1:${info.port}/roots`, { headers: { Authorization: `Bearer ${info.token}` } })
      expect(await roots.json()).toEqual(info.roots)
      expect((await fetch(`http://127.0.0.1:${info.port}/roots`)).status).toBe(401)
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a malformed --root or --allow-origin (exit 2)', async () => {
    expect((await runCli(['io-daemon', '--root', 'nolabel'])).code).toBe(2)
    expect((await runCli(['io-daemon', '--allow-origin', 'http://127.0.0.1:8080/path'])).code).toBe(2)
  })
})
