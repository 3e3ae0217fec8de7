/**
 * `lodestone download` (the CLI, as a subprocess) fetches from a libtorrent 2.0.8 seeder over TCP on
 * 127.0.0.1 with `--peer --json --exit-on-complete`: exit 0, files byte-identical (SHA-256 of every
 * file), JSON lines that parse and include stats, peer-connected (libtorrent, named from its peer
 * id) and completed.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { TREE_FILES, digestTree, makeTorrent, removeTempDirs, tempDir, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))

const peers: LibtorrentPeer[] = []
afterEach(async () => { await Promise.all(peers.splice(0).map(async (p) => { await p.close() })) })
afterAll(async () => { await removeTempDirs() })

async function runCli (args: string[], timeoutMs: number): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      if (code === null) reject(new Error(`lodestone did not exit normally (${String(err?.signal)}); stderr: ${stderr}`))
      else resolve({ code, stdout, stderr })
    })
  })
}

describe('lodestone download from a libtorrent seeder', () => {
  for (const kind of ['v1', 'hybrid'] as const) {
    it(`${kind} multi-file tree: --json --exit-on-complete → exit 0, identical files`, async () => {
      const seedDir = await tempDir()
      const outDir = await tempDir()
      await writeContent(seedDir, 'tree', TREE_FILES)
      const torrentPath = join(await tempDir(), 'tree.torrent')
      await makeTorrent(seedDir, 'tree', kind, torrentPath)

      const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
      peers.push(seeder)
      await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to check its data and seed')

      const run = await runCli(['download', torrentPath, '-o', outDir, '--peer', `127.0.0.1:${seeder.port}`,
        '--port', '0', '--host', '127.0.0.1', '--json', '--exit-on-complete'], 45_000)
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      expect(await digestTree(join(outDir, 'tree'))).toEqual(await digestTree(join(seedDir, 'tree')))

      const events = run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>)
      const types = new Set(events.map((e) => e.type))
      for (const t of ['started', 'stats', 'piece-verified', 'completed', 'exit']) expect(types.has(t), t).toBe(true)
      const connected = events.find((e) => e.type === 'peer-connected')
      expect(connected?.address).toBe(`127.0.0.1:${seeder.port}`)
      expect(String(connected?.client)).toMatch(/libtorrent/i)
      expect(events.at(-1)).toMatchObject({ type: 'exit', code: 0, reason: 'completed' })
      const stats = events.filter((e) => e.type === 'stats').at(-1)
      expect(stats).toMatchObject({ progress: 1 })
      expect(stats?.verifiedBytes).toBe(stats?.totalBytes)
    })
  }
})
