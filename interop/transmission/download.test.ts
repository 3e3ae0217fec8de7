/**
 * Lodestone downloads from a Transmission 3.00 seeder over TCP on 127.0.0.1 (issue 3): a single
 * file and a tree (nesting, an empty and a 1-byte file), as v1 and as hybrid torrents made by
 * Lodestone's createTorrent. Transmission 3.00 knows nothing of BEP 52, so it loads a hybrid
 * torrent as the v1 torrent inside it (same SHA-1 info hash, pad files as ordinary files) — which
 * is exactly what a hybrid torrent promises v1-only clients. Transmission verifies the seed data
 * itself; Lodestone dials it (Transmission with encryption "preferred" accepts a plaintext
 * handshake); the downloaded files must hash (SHA-256) like the originals.
 *
 * One daemon serves all cases; each case is its own torrent, so Transmission's one-downloader-
 * per-IP rule does not apply across them.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { SINGLE_FILE_BYTES, TREE_FILES, digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { TR_STATUS, startTransmission, transmissionVersion, type RunningTransmission } from '../helpers/transmission.js'

let tr: RunningTransmission | null = null
const engines: BtEngine[] = []
beforeAll(async () => {
  expect(await transmissionVersion()).toMatch(/transmission-daemon \d/i)
  tr = await startTransmission()
})
afterAll(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await tr?.close()
  await removeTempDirs()
})

// Transmission 3.00 cannot load hybrid torrents (see the last test), so only v1 is exchanged.
const CASES = [
  { kind: 'v1', layout: 'single' },
  { kind: 'v1', layout: 'tree' }
] as const

// Transmission unchokes a new peer only at its next rechoke (≈ 10 s), so the cases run
// concurrently (each its own torrent and engine) to overlap that wait. Transmission 3.00 drops an
// incoming handshake while another one from the same IP is in progress, so one of the engines
// usually loses its first connection: it must dial again after its (here shortened) back-off.
describe('Lodestone downloads from a Transmission seeder (TCP, loopback)', () => {
  for (const { kind, layout } of CASES) {
    it.concurrent(`${kind} ${layout === 'single' ? 'single file' : 'multi-file tree'}`, async ({ expect, onTestFinished }) => {
      const daemon = tr!
      const seedDir = await tempDir()
      const leechDir = await tempDir()
      const name = layout === 'single' ? 'payload.bin' : 'tree'
      await writeContent(seedDir, name, layout === 'single' ? SINGLE_FILE_BYTES : TREE_FILES)
      const torrentPath = join(await tempDir(), 'test.torrent')
      const created = await makeTorrent(seedDir, name, kind, torrentPath)
      expect(created.pieceCount).toBeGreaterThan(10)
      const metainfo = await readFile(torrentPath)

      const { id, hashString } = await daemon.addTorrent(metainfo, seedDir)
      expect(hashString).toBe(Buffer.from(created.infoHashV1!).toString('hex'))
      await daemon.waitFor(id, (t) => t.status === TR_STATUS.seed && t.percentDone === 1, 20_000, 'Transmission to verify its data and seed')

      const engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off', settings: { connection: { retryBackoffMs: 1_000 } } })
      engines.push(engine)
      onTestFinished(async () => { await engine.close() })
      const torrent = await engine.addTorrent(metainfo, { downloadPath: leechDir })
      const seen = new Set<string>()
      // Client names as torrent.peers() reports them (peer id → name), sampled on each new peer.
      torrent.on('peer-connected', () => { for (const p of torrent.peers()) seen.add(String(p.clientName)) })
      torrent.addPeer(`127.0.0.1:${daemon.peerPort}`)
      await waitCompleted(torrent, 40_000)

      expect(await digestTree(join(leechDir, name))).toEqual(await digestTree(join(seedDir, name)))
      expect([...seen]).toContainEqual(expect.stringMatching(/^Transmission \d+\.\d+/))
      const seeded = await daemon.getTorrent(id)
      expect(seeded.uploadedEver).toBeGreaterThanOrEqual(created.totalLengthBytes)
    })
  }

  it('Transmission 3.00 refuses hybrid torrents (its limitation: no BEP 52), so they are not exchanged', async () => {
    expect(await transmissionVersion()).toMatch(/ 3\.\d\d /)
    const dir = await tempDir()
    await writeContent(dir, 'payload.bin', 100_000)
    const torrentPath = join(await tempDir(), 'hybrid.torrent')
    await makeTorrent(dir, 'payload.bin', 'hybrid', torrentPath)
    await expect(tr!.addTorrent(await readFile(torrentPath), dir)).rejects.toThrow(/invalid or corrupt torrent/)
  })
})
