/**
 * A second DHT implementation (issue 10): 16 nodes of the `bittorrent-dht` npm package (WebTorrent's
 * DHT) on 127.0.0.1 as the whole DHT.
 * 1. A bittorrent-dht node announces a libtorrent seeder (its DHT off); `lodestone download` of the
 *    bare magnet with only `--dht-bootstrap` to one bittorrent-dht node completes, source 'dht'.
 * 2. `lodestone seed` announces into that DHT and a bittorrent-dht lookup finds it.
 */
import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import DHT from 'bittorrent-dht'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { buildMagnet } from '../../packages/engine/src/metainfo/magnet.js'
import { digestTree, makeTorrent, pollUntil, removeTempDirs, tempDir, TREE_FILES, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer } from '../helpers/libtorrent-peer.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))
const NODES = 16
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })
afterAll(async () => { await removeTempDirs() })

type CliEvent = { type: string } & Record<string, unknown>
const eventsOf = (stdout: string): CliEvent[] => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as CliEvent)

async function runCli (args: string[], timeoutMs: number): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      if (code === null) reject(new Error(`lodestone did not exit normally (${String(err?.signal)}); stderr: ${stderr}\nstdout tail: ${stdout.slice(-2000)}`))
      else resolve({ code, stdout, stderr })
    })
  })
}

/** 16 bittorrent-dht nodes on 127.0.0.1, each told about every other. */
async function startDht (): Promise<DHT[]> {
  const nodes: DHT[] = []
  for (let i = 0; i < NODES; i++) {
    const node = new DHT({ bootstrap: i === 0 ? false : [`127.0.0.1:${nodes[0]!.address().port}`], host: '127.0.0.1' })
    node.on('error', () => {})
    node.on('warning', () => {})
    await new Promise<void>((resolve) => { node.listen(0, '127.0.0.1', resolve) })
    nodes.push(node)
    cleanups.push(async () => { await new Promise<void>((resolve) => { node.destroy(resolve) }) })
  }
  for (const a of nodes) for (const b of nodes) if (a !== b) a.addNode({ host: '127.0.0.1', port: b.address().port })
  await pollUntil(() => nodes.every((n) => n.toJSON().nodes.length >= 8), 20_000, 'bittorrent-dht tables to fill')
  return nodes
}

describe('Lodestone in a bittorrent-dht DHT', () => {
  it('downloads a bare magnet from a seeder announced by a bittorrent-dht node', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'tree', TREE_FILES)
    const torrentPath = join(await tempDir(), 'tree.torrent')
    const created = await makeTorrent(seedDir, 'tree', 'v1', torrentPath)
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
    cleanups.push(async () => { await seeder.close() })
    await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to seed')
    const nodes = await startDht()
    // bittorrent-dht node 5 announces the libtorrent seeder's port for the info hash.
    await new Promise<void>((resolve, reject) => { nodes[5]!.announce(Buffer.from(created.infoHashV1!), seeder.port, (err) => { if (err !== null && err !== undefined) reject(err); else resolve() }) })

    const outDir = await tempDir()
    const run = await runCli(['download', buildMagnet({ infoHashV1: created.infoHashV1 }), '-o', outDir, '--dht-bootstrap', `127.0.0.1:${nodes[0]!.address().port}`,
      '--port', '0', '--host', '127.0.0.1', '--json', '--exit-on-complete', '--no-state'], 90_000)
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(await digestTree(join(outDir, 'tree'))).toEqual(await digestTree(join(seedDir, 'tree')))
    const events = eventsOf(run.stdout)
    expect(events.find((e) => e.type === 'peer-connected' && e.address === `127.0.0.1:${seeder.port}`)?.source).toBe('dht')
  })

  it('lodestone seed announces into the bittorrent-dht DHT and a bittorrent-dht lookup finds it', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'tree', TREE_FILES)
    const torrentPath = join(await tempDir(), 'tree.torrent')
    const created = await makeTorrent(seedDir, 'tree', 'v1', torrentPath)
    const nodes = await startDht()
    const child = spawn(process.execPath, [CLI, 'seed', torrentPath, '-d', seedDir, '--dht-bootstrap', `127.0.0.1:${nodes[0]!.address().port}`,
      '--port', '0', '--host', '127.0.0.1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
    cleanups.push(async () => {
      if (child.exitCode !== null) return
      const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
      child.kill('SIGINT')
      await exited
    })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    await pollUntil(() => eventsOf(stdout).some((e) => e.type === 'started'), 20_000, 'lodestone seed to start')
    const port = eventsOf(stdout).find((e) => e.type === 'started')?.port as number

    const seeker = nodes[11]!
    const found: string[] = []
    seeker.on('peer', (peer, infoHash) => {
      if (Buffer.from(infoHash).equals(Buffer.from(created.infoHashV1!))) found.push(`${peer.host}:${peer.port}`)
    })
    const again = setInterval(() => { seeker.lookup(Buffer.from(created.infoHashV1!)) }, 2_000)
    seeker.lookup(Buffer.from(created.infoHashV1!))
    try {
      await pollUntil(() => found.includes(`127.0.0.1:${port}`), 60_000, 'bittorrent-dht to find the Lodestone seeder')
    } finally {
      clearInterval(again)
    }
  })
})
