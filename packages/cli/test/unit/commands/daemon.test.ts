// `lodestone daemon` as a process: prints where it listens, serves RPC, SIGHUP reloads the config,
// SIGTERM saves state and exits 0, and the next start restores the torrents; a bad config names the key.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { expectOneErrorLine, runCli, spawnCli, type CliProcess } from '../../helpers.js'
import { RpcClient, smallTorrent } from '../../../../daemon/test/unit/helpers.js'

const ENGINE = { listen: { host: '127.0.0.1', port: 0 }, discovery: { dht: false, lsd: false, portMapping: false, pex: false } }
let dir = ''
let proc: CliProcess | null = null
afterEach(() => {
  proc?.kill()
  proc = null
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
  dir = ''
})

async function start (config: string): Promise<{ port: number, proc: CliProcess }> {
  const p = spawnCli(['daemon', '--rpc-port', '0', '--state-dir', join(dir, 'state'), '--download-dir', join(dir, 'dl'), '--config', config])
  proc = p
  const line = await p.waitForLine((l) => l.startsWith('{'))
  return { port: JSON.parse(line).rpcPort, proc: p }
}

describe('lodestone daemon', () => {
  it('serves RPC, reloads on SIGHUP, saves on SIGTERM (exit 0) and restores on the next start', async () => {
    dir = mkdtempSync(join(tmpdir(), 'lodestone-cli-daemon-'))
    const config = join(dir, 'config.json')
    writeFileSync(config, JSON.stringify({ engine: ENGINE }))
    const first = await start(config)
    const rpc = new RpcClient(first.port)
    const added = await rpc.call('torrent-add', { metainfo: Buffer.from(smallTorrent('x.bin')).toString('base64'), paused: true })
    expect(added.arguments['torrent-added']).toMatchObject({ id: 1, name: 'x.bin' })
    expect((await rpc.call('torrent-set', { ids: [1], labels: ['keep'] })).result).toBe('success')
    writeFileSync(config, JSON.stringify({ engine: ENGINE, rpcUsername: 'u', rpcPassword: 'p' }))
    first.proc.child.kill('SIGHUP')
    await expect.poll(() => first.proc.stderr(), { timeout: 5000 }).toContain('configuration reloaded')
    await expect(rpc.call('session-get')).rejects.toThrow(/HTTP 401/)
    first.proc.child.kill('SIGTERM')
    expect(await first.proc.exited).toBe(0)
    const saved = JSON.parse(readFileSync(join(dir, 'state', 'torrents.json'), 'utf8')).torrents
    expect(saved[added.arguments['torrent-added'].hashString].labels).toEqual(['keep'])

    writeFileSync(config, JSON.stringify({ engine: ENGINE }))
    const second = await start(config)
    const again = await new RpcClient(second.port).call('torrent-get', { fields: ['id', 'name', 'labels', 'status'] })
    expect(again.arguments.torrents).toEqual([{ id: 1, name: 'x.bin', labels: ['keep'], status: 0 }])
    second.proc.child.kill('SIGINT')
    expect(await second.proc.exited).toBe(0)
  })

  it('refuses a config with an unknown key, naming it (exit 1)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'lodestone-cli-daemon-'))
    const config = join(dir, 'config.json')
    writeFileSync(config, JSON.stringify({ rpcPrt: 1 }))
    const run = await runCli(['daemon', '--config', config, '--state-dir', join(dir, 's')])
    expect(run.code).toBe(1)
    expect(expectOneErrorLine(run)).toContain('rpcPrt: unknown setting')
    const exposed = await runCli(['daemon', '--rpc-host', '0.0.0.0', '--state-dir', join(dir, 's')])
    expect(exposed.code).toBe(1)
    expect(expectOneErrorLine(exposed)).toMatch(/beyond loopback/)
  })
})
