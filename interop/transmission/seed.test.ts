/**
 * Transmission 3.00 downloads a torrent that only Lodestone seeds, over TCP on 127.0.0.1
 * (issue 3): a single file and a tree (nesting, an empty and a 1-byte file), v1 (Transmission
 * 3.00 cannot load hybrid torrents; download.test.ts shows it refusing one). Transmission never
 * dials a loopback peer it hears of, and its RPC has no add-peer call, so Lodestone dials
 * Transmission's peer port (`torrent.addPeer`) and Transmission requests from that connection.
 * Transmission verifies every piece; its files must hash (SHA-256) like the originals — except
 * the empty file, which Transmission never creates.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { SINGLE_FILE_BYTES, TREE_FILES, digestTree, makeTorrent, removeTempDirs, tempDir, waitState, writeContent } from '../helpers/fixtures.js'
import { TR_STATUS, startTransmission, type RunningTransmission } from '../helpers/transmission.js'

let tr: RunningTransmission | null = null
const engines: BtEngine[] = []
beforeAll(async () => {
  tr = await startTransmission()
})
afterAll(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await tr?.close()
  await removeTempDirs()
})

const CASES = [
  { kind: 'v1', layout: 'single' },
  { kind: 'v1', layout: 'tree' }
] as const

// Concurrent: Transmission 3.00 decides whom it is interested in on a 10 s pulse, so each case waits
// up to 10 s for it; the two cases share one wait.
describe.concurrent('Transmission downloads from a Lodestone seeder (TCP, loopback)', () => {
  for (const { kind, layout } of CASES) {
    it(`${kind} ${layout === 'single' ? 'single file' : 'multi-file tree'}`, async ({ onTestFinished, expect }) => {
      const daemon = tr!
      const seedDir = await tempDir()
      const leechDir = await tempDir()
      const name = layout === 'single' ? 'payload.bin' : 'tree'
      await writeContent(seedDir, name, layout === 'single' ? SINGLE_FILE_BYTES : TREE_FILES)
      const torrentPath = join(await tempDir(), 'test.torrent')
      const created = await makeTorrent(seedDir, name, kind, torrentPath)
      expect(created.pieceCount).toBeGreaterThan(10)
      const metainfo = await readFile(torrentPath)

      const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
      engines.push(engine)
      onTestFinished(async () => { await engine.close() })
      const torrent = await engine.addTorrent(metainfo, { downloadPath: seedDir })
      await waitState(torrent, 'seeding', 20_000)
      const seen = new Set<string>()
      // Client names as torrent.peers() reports them (peer id → name), sampled on each new peer.
      torrent.on('peer-connected', () => { for (const p of torrent.peers()) seen.add(String(p.clientName)) })

      const { id } = await daemon.addTorrent(metainfo, leechDir)
      // Transmission checks the (absent) data first; dial it once it is ready to download.
      await daemon.waitFor(id, (t) => t.status === TR_STATUS.download || t.status === TR_STATUS.downloadWait, 10_000, 'Transmission to start downloading')
      torrent.addPeer(`127.0.0.1:${daemon.peerPort}`)
      const done = await daemon.waitFor(id, (t) => t.percentDone === 1 && t.leftUntilDone === 0, 45_000, 'Transmission to finish the download')
      expect(done.haveValid).toBe(created.totalLengthBytes)

      const want = await digestTree(join(seedDir, name))
      if (layout === 'tree') delete want['empty.txt'] // Transmission does not create 0-byte files
      expect(await digestTree(join(leechDir, name))).toEqual(want)
      expect([...seen]).toContainEqual(expect.stringMatching(/^Transmission \d+\.\d+/))
      expect(torrent.stats().uploadedBytes).toBeGreaterThanOrEqual(created.totalLengthBytes)
    })
  }
})
