/**
 * `lodestone download` (the CLI, as a subprocess) finds a libtorrent 2.0.8 seeder only through
 * opentracker and reports the tracker's status: a `tracker` JSON line per finished announce (the
 * same status `--verbose` prints on a terminal), then completes byte-identical with exit 0.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { fromHex } from '../../packages/engine/src/util/bytes.js'
import { parseJsonLines, spawnCli, type CliProcess } from '../../packages/cli/test/helpers.js'
import { makeContent, startSwarmPeer, withTrackers, type SwarmPeer } from '../helpers/libtorrent-swarm-peer.js'
import { startOpentracker } from './tracker-harness.js'

const peers: SwarmPeer[] = []
const clis: CliProcess[] = []
const cleanups: Array<() => Promise<void>> = []
const dirs: string[] = []
afterEach(async () => {
  for (const c of clis.splice(0)) c.kill()
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(cleanups.splice(0).map(async (c) => { await c() }))
})
afterAll(async () => {
  await Promise.all(dirs.map(async (d) => { await rm(d, { recursive: true, force: true }) }))
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lodestone-cli-tracker-'))
  dirs.push(d)
  return d
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

describe('lodestone download through a tracker', () => {
  it('reports tracker status and downloads from the seeder the tracker names', async () => {
    const seedDir = await tempDir()
    const { torrentPath: bare, infoHash } = await makeContent(seedDir, 2 * 1024 * 1024)
    const ot = await startOpentracker([fromHex(infoHash)!])
    cleanups.push(ot.stop)
    const torrentPath = join(await tempDir(), 'with-tracker.torrent')
    await withTrackers(bare, [ot.httpUrl], torrentPath)
    const seeder = await startSwarmPeer({ torrentPath, savePath: seedDir })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding && s.trackerOk, 20_000, 'libtorrent to seed and reach the tracker')

    const out = await tempDir()
    const cli = spawnCli(['download', torrentPath, '-o', out, '--port', '0', '--host', '127.0.0.1', '--json', '--exit-on-complete', '--no-state', '--verbose'])
    clis.push(cli)
    const code = await Promise.race([
      cli.exited,
      new Promise<never>((_resolve, reject) => setTimeout(() => { reject(new Error(`no exit within 40 s; stderr=${cli.stderr()} stdout=${cli.lines.slice(-20).join('\n')}`)) }, 40_000))
    ])
    expect(code, cli.stderr()).toBe(0)

    const events = parseJsonLines(cli.lines)
    const tracker = events.find((e) => e.type === 'tracker' && e.error === null)
    expect(tracker).toMatchObject({ url: ot.httpUrl, tier: 0, error: null })
    expect(tracker!.peers as number).toBeGreaterThanOrEqual(1)
    // opentracker's interval is ~30 min (randomized): the next announce is planned within it.
    expect(tracker!.nextAnnounceSec as number).toBeGreaterThan(60)
    expect(tracker!.nextAnnounceSec as number).toBeLessThanOrEqual((tracker!.intervalSec as number) + 1)
    const connected = events.filter((e) => e.type === 'peer-connected')
    expect(connected.map((e) => e.address)).toContain(`127.0.0.1:${seeder.port}`)
    expect(events.some((e) => e.type === 'completed')).toBe(true)
    expect(sha256(await readFile(join(out, 'payload.bin')))).toBe(sha256(await readFile(join(seedDir, 'payload.bin'))))
  })
})
