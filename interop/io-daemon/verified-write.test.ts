// Pieces checked where the bytes are (FILE_WRITE_RECV with a SHA-1, feature WRITE_RECV_SHA1): a
// daemon engine (Node, the ws package standing in for the browser's WebSocket) downloads through a
// real io-daemon from a peer that answers every request with random bytes. The daemon must refuse
// every such piece (RECV_HASH_MISMATCH) and write nothing, and the engine must count the failures
// and ban the peer as it does when it hashes pieces itself. Then an honest libtorrent seeder
// delivers the content byte-identical, every piece checked and written by the daemon.
import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { startIoDaemon } from '../../packages/io-daemon/src/index.js'
import { createDaemonEngine } from '../../packages/engine/presets/daemon.js'
import type { BridgeWebSocketConstructor } from '../../packages/engine/adapters/daemon/daemon-connection.js'
import { pollUntil, removeTempDirs, tempDir, waitCompleted } from '../helpers/fixtures.js'
import { startLibtorrentPeer } from '../helpers/libtorrent-peer.js'
import { bencode } from '../hostile/hostile-peer.js'
import { HostileSeeder } from '../hostile/hostile-seeder.js'

afterAll(removeTempDirs)

const PIECE_BYTES = 64 * 1024
const PAYLOAD_BYTES = 1024 * 1024

/** A v1 info dict for `data` (bencoded independently of the engine). */
function infoDict (name: string, data: Uint8Array): Buffer {
  const pieces: Buffer[] = []
  for (let off = 0; off < data.length; off += PIECE_BYTES) pieces.push(createHash('sha1').update(data.subarray(off, off + PIECE_BYTES)).digest())
  return bencode({ length: data.length, name, 'piece length': PIECE_BYTES, pieces: Buffer.concat(pieces) })
}

describe('pieces checked by the io-daemon (FILE_WRITE_RECV with SHA-1)', () => {
  it('refuses a liar\'s pieces unwritten and bans it; an honest seeder\'s pieces are checked and written by the daemon', async () => {
    const src = await tempDir()
    const dl = await tempDir()
    const data = randomBytes(PAYLOAD_BYTES)
    await writeFile(join(src, 'v.bin'), data)
    const info = infoDict('v.bin', data)
    const torrentBytes = Buffer.concat([Buffer.from('d4:info'), info, Buffer.from('e')])
    const torrentPath = join(src, 'v.torrent')
    await writeFile(torrentPath, torrentBytes)
    const liar = new HostileSeeder({ behavior: 'bad-data', host: '127.0.0.2', infoHash: createHash('sha1').update(info).digest(), infoBytes: info })
    await liar.listen()
    const daemon = await startIoDaemon({ roots: [{ label: 'Downloads', dir: dl }] })
    const engine = await createDaemonEngine({
      daemon: { port: daemon.port, authToken: daemon.token, WebSocket: WebSocket as unknown as BridgeWebSocketConstructor },
      contentRoots: daemon.roots,
      settings: { listen: { enabled: false }, discovery: { dht: false, lsd: false, portMapping: false, pex: false } }
    })
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: src, mode: 'seed' })
    try {
      const torrent = await engine.addTorrent(torrentBytes, { peers: [liar.address] })
      const banned: string[] = []
      torrent.on('peer-banned', ({ host }) => { banned.push(host) })
      await pollUntil(() => banned.includes('127.0.0.2'), 30_000, 'the liar to be banned')
      const refused = daemon.fileStats()
      expect(torrent.stats().hashFailures).toBeGreaterThanOrEqual(2)
      expect(refused['write received: hash mismatch']?.requests).toBe(torrent.stats().hashFailures)
      expect(refused['write (received)']?.bytes ?? 0).toBe(0)
      expect(refused['write (WebSocket)']?.bytes ?? 0).toBe(0)
      expect(liar.badBlocksSent).toBeGreaterThan(0)
      // Nothing of the lies reached the disk: no file, or one with no byte written.
      const onDisk = await readFile(join(dl, 'v.bin')).catch(() => Buffer.alloc(0))
      expect(onDisk.some((b) => b !== 0)).toBe(false)

      await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to seed')
      torrent.addPeer(`127.0.0.1:${seeder.port}`)
      await waitCompleted(torrent, 60_000)
      expect(Buffer.compare(await readFile(join(dl, 'v.bin')), data)).toBe(0)
      // Every piece went the daemon-checked way (a single plain peer: every block has its origin).
      const files = daemon.fileStats()
      expect(files['write (received)']?.bytes).toBe(PAYLOAD_BYTES)
      expect(files['write (WebSocket)']?.bytes ?? 0).toBe(0)
      expect(files['write received: hash mismatch']?.requests).toBe(torrent.stats().hashFailures)
    } finally {
      await seeder.close()
      await engine.close()
      await liar.close()
      await daemon.close()
    }
    expect(daemon.sessions).toBe(0)
  })
})
