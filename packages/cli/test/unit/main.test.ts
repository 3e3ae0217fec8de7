import { describe, it, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { runCli, expectOneErrorLine } from '../helpers.js'

describe('lodestone (no command, help, version, unknown input)', () => {
  it('--help lists the commands and exits 0', async () => {
    const run = await runCli(['--help'])
    expect(run.code).toBe(0)
    for (const command of ['create', 'info', 'magnet']) expect(run.stdout).toContain(command)
    expect(run.stderr).toBe('')
  })

  it('each command has --help', async () => {
    for (const command of ['create', 'info', 'magnet']) {
      const run = await runCli([command, '--help'])
      expect(run.code, command).toBe(0)
      expect(run.stdout).toContain(`Usage: lodestone ${command}`)
    }
  })

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    const run = await runCli(['--version'])
    expect(run.code).toBe(0)
    expect(run.stdout.trim()).toBe(pkg.version)
  })

  it('no command, an unknown command or an unknown option: one line, exit 2', async () => {
    const none = await runCli([])
    expect(none.code).toBe(2)
    expect(expectOneErrorLine(none)).toContain('missing command')
    const unknown = await runCli(['frobnicate'])
    expect(unknown.code).toBe(2)
    expect(expectOneErrorLine(unknown)).toContain("unknown command 'frobnicate'")
    const badFlag = await runCli(['info', '--jsn', 'x.torrent'])
    expect(badFlag.code).toBe(2)
    expect(expectOneErrorLine(badFlag)).toContain("unknown option '--jsn'")
    const missingArg = await runCli(['magnet'])
    expect(missingArg.code).toBe(2)
    expect(expectOneErrorLine(missingArg)).toContain('torrent-file')
  })
})
