// createDaemonEngine run in Node (the ws package standing in for the browser's WebSocket):
// sockets, files and the listen port all go through a real io-daemon, against real libtorrent.
// The same preset runs in headless Chromium in test/browser; this keeps the bridge path covered
// by the ordinary interop suite and fails fast when it breaks.
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startIoDaemon } from '../../packages/io-daemon/src/index.js'
import { createDaemonEngine } from '../../packages/engine/presets/daemon.js'
import type { BridgeWebSocketConstructor } from '../../packages/engine/adapters/daemon/daemon-connection.js'
import { readFile } from 'node:fs/promises'
import { TREE_FILES, digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, writeContent, pollUntil } from '../helpers/fixtures.js'
import { startLibtorrentPeer } from '../helpers/libtorrent-peer.js'

afterAll(removeTempDirs)

describe('createDaemonEngine through a real io-daemon (Node)', () => {
  it('downloads a multi-file torrent from libtorrent into a daemon root, then seeds it to a libtorrent leecher', async () => {
    const src = await tempDir()
    const dl = await tempDir()
    const ltLeech = await tempDir()
    await writeContent(src, 'tree', TREE_FILES)
    const torrentPath = join(src, 'tree.torrent')
    await makeTorrent(src, 'tree', 'v1', torrentPath)
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: src, mode: 'seed' })
    const daemon = await startIoDaemon({ roots: [{ label: 'Downloads', dir: dl }] })
    const engine = await createDaemonEngine({
      daemon: { port: daemon.port, authToken: daemon.token, WebSocket: WebSocket as unknown as BridgeWebSocketConstructor },
      contentRoots: daemon.roots,
      settings: { listen: { port: 0, host: '127.0.0.1' }, discovery: { dht: false, lsd: false, portMapping: false, pex: false } }
    })
    let leecher: Awaited<ReturnType<typeof startLibtorrentPeer>> | undefined
    try {
      await seeder.waitFor((s) => s.isSeeding)
      const torrent = await engine.addTorrent(await readFile(torrentPath), { peers: [`127.0.0.1:${seeder.port}`] })
      await waitCompleted(torrent, 60_000)
      expect(await digestTree(join(dl, 'tree'))).toEqual(await digestTree(join(src, 'tree')))
      // Verified blocks were written from the daemon's received stream (FILE_WRITE_RECV), blocks
      // split across TCP_RECV frames included; only blocks the engine had no origin for (those that
      // arrived with the handshake, copied before parsing) went back as bytes. Together exactly the
      // content once.
      const files = daemon.fileStats()
      const total = Object.values(TREE_FILES).reduce((a, b) => a + b, 0)
      expect(files['write (received)']?.bytes ?? 0).toBeGreaterThan(total / 4)
      expect((files['write (received)']?.bytes ?? 0) + (files['write (WebSocket)']?.bytes ?? 0)).toBe(total)

      const port = await engine.listen()
      expect(port).toBeGreaterThan(0)
      leecher = await startLibtorrentPeer({ torrentPath, savePath: ltLeech, mode: 'download', peers: [{ host: '127.0.0.1', port: port! }] })
      await leecher.waitFor((s) => s.isSeeding || s.isFinished, 60_000)
      expect(await digestTree(join(ltLeech, 'tree'))).toEqual(await digestTree(join(src, 'tree')))
      await pollUntil(() => torrent.stats().uploadedBytes > 0, 5_000, 'upload counted')
    } finally {
      await leecher?.close()
      await seeder.close()
      await engine.close()
      await daemon.close()
    }
    expect(daemon.sessions).toBe(0)
  })
})
