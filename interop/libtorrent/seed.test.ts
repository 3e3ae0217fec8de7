/**
 * libtorrent 2.0.8 downloads a torrent that only Lodestone seeds, over TCP on 127.0.0.1
 * (issue 3): a single file and a tree (nesting, an empty and a 1-byte file), v1 and hybrid,
 * made by Lodestone's createTorrent. libtorrent dials Lodestone with its default settings
 * (it tries an encrypted handshake first and falls back to plaintext), verifies every piece
 * itself, and its files must hash (SHA-256) exactly like the originals. Lodestone names the
 * peer `libtorrent` from its peer id.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { SINGLE_FILE_BYTES, TREE_FILES, digestTree, makeTorrent, removeTempDirs, tempDir, waitState, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
})
afterAll(async () => { await removeTempDirs() })

const CASES = [
  { kind: 'v1', layout: 'single' },
  { kind: 'v1', layout: 'tree' },
  { kind: 'hybrid', layout: 'single' },
  { kind: 'hybrid', layout: 'tree' }
] as const

describe('libtorrent downloads from a Lodestone seeder (TCP, loopback)', () => {
  for (const { kind, layout } of CASES) {
    it(`${kind} ${layout === 'single' ? 'single file' : 'multi-file tree'}`, async () => {
      const seedDir = await tempDir()
      const leechDir = await tempDir()
      const name = layout === 'single' ? 'payload.bin' : 'tree'
      await writeContent(seedDir, name, layout === 'single' ? SINGLE_FILE_BYTES : TREE_FILES)
      const torrentPath = join(await tempDir(), 'test.torrent')
      const created = await makeTorrent(seedDir, name, kind, torrentPath)
      expect(created.pieceCount).toBeGreaterThan(10)

      const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
      engines.push(engine)
      const torrent = await engine.addTorrent(await readFile(torrentPath), { downloadPath: seedDir })
      await waitState(torrent, 'seeding', 20_000)
      const seen = new Set<string>()
      // Client names as torrent.peers() reports them (peer id → name), sampled on each new peer.
      torrent.on('peer-connected', () => { for (const p of torrent.peers()) seen.add(String(p.clientName)) })

      const leecher = await startLibtorrentPeer({ torrentPath, savePath: leechDir, mode: 'download', peers: [{ host: '127.0.0.1', port: engine.port! }] })
      peers.push(leecher)
      const done = await leecher.waitFor((s) => s.isSeeding && s.totalDone === created.totalLengthBytes, 40_000, 'libtorrent to finish the download')
      expect(done.error).toBe('')

      expect(await digestTree(join(leechDir, name))).toEqual(await digestTree(join(seedDir, name)))
      expect([...seen]).toContainEqual(expect.stringMatching(/^libtorrent \d+\.\d+\.\d+/))
      expect(torrent.stats().uploadedBytes).toBeGreaterThanOrEqual(created.totalLengthBytes)
      expect(leecher.alerts.filter((a) => !/dht|lsd|upnp|natpmp|listen/i.test(a))).toEqual([])
    })
  }
})
