/**
 * The headline of issue 10, on 127.0.0.1 against a DHT of 16 libtorrent 2.0.8 sessions plus a
 * libtorrent seeder session:
 * 1. `lodestone download 'magnet:?xt=urn:btih:…'` with only `--dht-bootstrap` pointing at one
 *    node (no tracker, no x.pe, no --peer) fetches the metadata and completes byte-identical; the
 *    seeder's connection reports source 'dht'. The same for a hybrid torrent's magnet (btih + btmh).
 * 2. `lodestone dht get-peers` finds the seeder.
 * 3. The reverse: `lodestone seed` announces to the DHT; a libtorrent session given only the
 *    magnet finds Lodestone through the DHT and completes.
 */
import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { buildMagnet } from '../../packages/engine/src/metainfo/magnet.js'
import { digestTree, makeTorrent, pollUntil, removeTempDirs, tempDir, TREE_FILES, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentDht, type LibtorrentDht } from '../helpers/libtorrent-dht.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))
const SESSIONS = 16

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })
afterAll(async () => { await removeTempDirs() })

async function runCli (args: string[], timeoutMs: number): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      if (code === null) reject(new Error(`lodestone did not exit normally (${String(err?.signal)}); stderr: ${stderr}\nstdout tail: ${stdout.slice(-2000)}`))
      else resolve({ code, stdout, stderr })
    })
  })
}

type CliEvent = { type: string } & Record<string, unknown>
const eventsOf = (stdout: string): CliEvent[] => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as CliEvent)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** The libtorrent DHT with a seeder (session 16) that has announced `torrents` and is found by libtorrent itself. */
async function dhtWithSeeder (torrents: Array<{ name: string, torrentPath: string, dir: string, infoHash: string }>): Promise<LibtorrentDht> {
  const lt = await startLibtorrentDht(SESSIONS + 1)
  cleanups.push(async () => { await lt.close() })
  await lt.waitFor(() => (lt.status?.nodes ?? []).every((n) => n >= 8), 30_000, 'libtorrent routing tables to fill')
  for (const t of torrents) lt.add(t.name, SESSIONS, { torrentPath: t.torrentPath }, t.dir)
  await lt.waitFor(() => torrents.every((t) => lt.status?.torrents[t.name]?.isSeeding === true), 20_000, 'the seeder to check its data')
  for (const t of torrents) {
    lt.announce(t.name, SESSIONS)
    await lt.findPeer(3, t.infoHash, (_, p) => p === lt.ports[SESSIONS], 30_000, `libtorrent to find its own seeder of ${t.name}`)
  }
  return lt
}

describe('trackerless magnets through a libtorrent DHT', () => {
  it('lodestone download with only --dht-bootstrap completes from a libtorrent seeder (v1 tree and hybrid magnets), and dht get-peers finds it', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'tree', TREE_FILES)
    await writeContent(seedDir, 'hybrid.bin', 700_000)
    const treePath = join(await tempDir(), 'tree.torrent')
    const hybridPath = join(await tempDir(), 'hybrid.torrent')
    const tree = await makeTorrent(seedDir, 'tree', 'v1', treePath)
    const hybrid = await makeTorrent(seedDir, 'hybrid.bin', 'hybrid', hybridPath)
    const lt = await dhtWithSeeder([
      { name: 'tree', torrentPath: treePath, dir: seedDir, infoHash: hex(tree.infoHashV1!) },
      { name: 'hybrid', torrentPath: hybridPath, dir: seedDir, infoHash: hex(hybrid.infoHashV1!) }
    ])
    const seederPort = lt.ports[SESSIONS]!
    const bootstrap = `127.0.0.1:${lt.ports[0]!}`

    const lookup = await runCli(['dht', 'get-peers', hex(tree.infoHashV1!), '--dht-bootstrap', bootstrap, '--host', '127.0.0.1', '--json'], 45_000)
    expect(lookup.code).toBe(0)
    const found = JSON.parse(lookup.stdout.trim()) as { peers: string[], queried: number, responded: number }
    expect(found.peers).toContain(`127.0.0.1:${seederPort}`)
    expect(found.responded).toBeGreaterThanOrEqual(8)

    for (const { name, created } of [{ name: 'tree', created: tree }, { name: 'hybrid.bin', created: hybrid }]) {
      const outDir = await tempDir()
      const magnet = buildMagnet({ infoHashV1: created.infoHashV1, infoHashV2: created.infoHashV2 })
      expect(magnet).not.toMatch(/tr=|x\.pe=/)
      const run = await runCli(['download', magnet, '-o', outDir, '--dht-bootstrap', bootstrap,
        '--port', '0', '--host', '127.0.0.1', '--json', '--exit-on-complete', '--no-state'], 90_000)
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      expect(await digestTree(join(outDir, name))).toEqual(await digestTree(join(seedDir, name)))
      const events = eventsOf(run.stdout)
      const seeder = events.find((e) => e.type === 'peer-connected' && e.address === `127.0.0.1:${seederPort}`)
      expect(seeder?.source).toBe('dht')
      expect(String(seeder?.client)).toMatch(/libtorrent/i)
      expect(events.at(-1)).toMatchObject({ type: 'exit', code: 0, reason: 'completed' })
    }
  })

  it('lodestone seed announces to the DHT and a libtorrent session with only the magnet finds it and completes', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'tree', TREE_FILES)
    const torrentPath = join(await tempDir(), 'tree.torrent')
    const created = await makeTorrent(seedDir, 'tree', 'v1', torrentPath)
    const infoHash = hex(created.infoHashV1!)
    const lt = await dhtWithSeeder([])

    const child = spawn(process.execPath, [CLI, 'seed', torrentPath, '-d', seedDir, '--dht-bootstrap', `127.0.0.1:${lt.ports[0]!}`,
      // The upload cap stretches the transfer over several of libtorrent's status samples, so its peer list shows us.
      '--port', '0', '--host', '127.0.0.1', '--json', '--max-up', '400k'], { stdio: ['ignore', 'pipe', 'pipe'] })
    cleanups.push(async () => {
      if (child.exitCode !== null) return
      const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
      child.kill('SIGINT')
      await exited
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    await pollUntil(() => eventsOf(stdout).some((e) => e.type === 'started' && typeof e.port === 'number'), 20_000, `lodestone seed to start (stderr: ${stderr})`)
    const port = eventsOf(stdout).find((e) => e.type === 'started')?.port as number

    // libtorrent's own lookup finds the Lodestone seeder's announce.
    await lt.findPeer(7, infoHash, (h, p) => h === '127.0.0.1' && p === port, 60_000, 'libtorrent to find the Lodestone seeder in the DHT')

    const ltDir = await tempDir()
    lt.add('magnet', 9, { magnet: buildMagnet({ infoHashV1: created.infoHashV1 }) }, ltDir)
    await lt.waitFor(() => lt.status?.torrents.magnet?.isSeeding === true, 90_000, 'libtorrent to complete from Lodestone')
    expect(await digestTree(join(ltDir, 'tree'))).toEqual(await digestTree(join(seedDir, 'tree')))
    const ours = lt.status?.torrents.magnet?.seen.find((p) => p.port === port)
    expect(ours?.sources).toContain('dht')
    expect(ours?.totalDownload).toBeGreaterThan(0)
  })
})
