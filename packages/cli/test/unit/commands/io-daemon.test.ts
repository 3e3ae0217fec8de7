import { spawn } from 'node:child_process'
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { Feature, Op, encodeFrame, readServerHello } from '@lodestone/engine/adapters/daemon'
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

  it('refuses a malformed --root, --allow-origin or --recv-hold-mib (exit 2)', async () => {
    expect((await runCli(['io-daemon', '--root', 'nolabel'])).code).toBe(2)
    expect((await runCli(['io-daemon', '--allow-origin', 'http://127.0.0.1:8080/path'])).code).toBe(2)
    expect((await runCli(['io-daemon', '--recv-hold-mib', '-1'])).code).toBe(2)
    expect((await runCli(['io-daemon', '--recv-hold-mib', '5000'])).code).toBe(2)
  })

  it('--recv-hold-mib 0 turns writes from the received stream off: SERVER_HELLO offers no features', async () => {
    const features = async (args: string[]): Promise<number> => {
      const child = spawn(process.execPath, [CLI_BIN, 'io-daemon', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      try {
        const line = await new Promise<string>((resolve) => { createInterface({ input: child.stdout }).once('line', resolve) })
        const { port } = JSON.parse(line) as { port: number }
        const ws = new WebSocket(`ws://127.0.0.1:${port}/io`)
        ws.binaryType = 'nodebuffer'
        await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
        const hello = new Promise<Buffer>((resolve) => { ws.once('message', (d: Buffer) => { resolve(d) }) })
        ws.send(encodeFrame(Op.CLIENT_HELLO, 0, 0))
        const answer = await hello
        ws.close()
        expect(answer[1]).toBe(Op.SERVER_HELLO)
        return readServerHello(answer.subarray(8))
      } finally {
        const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
    }
    expect(await features([]) & Feature.WRITE_RECV).toBe(Feature.WRITE_RECV)
    expect(await features(['--recv-hold-mib', '0'])).toBe(0)
    expect(await features(['--recv-hold-mib', '16']) & Feature.WRITE_RECV_SHA1).toBe(Feature.WRITE_RECV_SHA1)
  })
})
