/**
 * Lodestone downloads from a libtorrent 2.0.8 seeder over TCP on 127.0.0.1 (issue 3): a single
 * file and a tree (nesting, an empty and a 1-byte file), as v1 and as hybrid torrents made by
 * Lodestone's createTorrent. libtorrent checks the seed data itself, Lodestone dials it, and the
 * downloaded files must hash (SHA-256) exactly like the originals. The peer is named `libtorrent`
 * from its peer id.
 */
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { SINGLE_FILE_BYTES, TREE_FILES, digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { readFile } from 'node:fs/promises'

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

const CASES = [
  { kind: 'v1', layout: 'single' },
  { kind: 'v1', layout: 'tree' },
  { kind: 'hybrid', layout: 'single' },
  { kind: 'hybrid', layout: 'tree' }
] as const

describe('Lodestone downloads from a libtorrent seeder (TCP, loopback)', () => {
  for (const { kind, layout } of CASES) {
    it(`${kind} ${layout === 'single' ? 'single file' : 'multi-file tree'}`, async () => {
      const seedDir = await tempDir()
      const leechDir = await tempDir()
      const name = layout === 'single' ? 'payload.bin' : 'tree'
      await writeContent(seedDir, name, layout === 'single' ? SINGLE_FILE_BYTES : TREE_FILES)
      const torrentPath = join(await tempDir(), 'test.torrent')
      const created = await makeTorrent(seedDir, name, kind, torrentPath)
      expect(created.pieceCount).toBeGreaterThan(10)

      const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
      peers.push(seeder)
      await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to check its data and seed')

      const engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
      engines.push(engine)
      const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: leechDir })
      torrent.addPeer(`127.0.0.1:${seeder.port}`)
      const seen = new Set<string>()
      // Client names as torrent.peers() reports them (peer id → name), sampled on each new peer.
      torrent.on('peer-connected', () => { for (const p of torrent.peers()) seen.add(String(p.clientName)) })
      await waitCompleted(torrent, 30_000)

      expect(torrent.state).toBe('seeding')
      expect(await digestTree(join(leechDir, name))).toEqual(await digestTree(join(seedDir, name)))
      if (layout === 'tree') {
        // Every file, the empty one included, exists with its size.
        expect(Object.keys(await digestTree(join(leechDir, name))).sort()).toEqual(Object.keys(TREE_FILES).sort())
      }
      expect([...seen]).toContainEqual(expect.stringMatching(/^libtorrent \d+\.\d+\.\d+/))
      const live = torrent.peers().map((p) => p.clientName ?? '')
      expect(live.length === 0 || live.every((n) => n.startsWith('libtorrent'))).toBe(true)
      await seeder.waitFor((s) => s.totalPayloadUpload >= created.totalLengthBytes, 5_000, 'libtorrent to count its upload')
    })
  }
})
