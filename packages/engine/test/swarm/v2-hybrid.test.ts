import { describe, expect, it } from 'vitest'
import { PeerConnection } from '../../src/peer/peer-connection.js'
import { defaultPeerSettings } from '../../src/peer/peer-settings.js'
import { createTorrent } from '../../src/metainfo/create-torrent.js'
import { parseTorrent } from '../../src/metainfo/parse-torrent.js'
import type { MetaVersion } from '../../src/metainfo/types.js'
import type { ITcpSocket } from '../../src/interfaces/socket.js'
import { SwarmWorld, SyncHasher, payload, readFile, writeFile } from './swarm-world.js'

const FILES: Array<[string, number]> = [['content/a.bin', 100_000], ['content/sub/b.bin', 1], ['content/sub/c.bin', 0], ['content/d.bin', 70_000], ['content/e.bin', 16_384 * 3]]

describe('swarm: v2 and hybrid multi-file torrents', () => {
  for (const kind of ['hybrid', 'v2', 'v1'] as MetaVersion[]) {
    it(`downloads a ${kind} multi-file torrent (padding, empty and tiny files) byte-identical`, async () => {
      const world = new SwarmWorld(31)
      const seed = world.addNode('10.0.0.1')
      for (const [i, [path, length]] of FILES.entries()) await writeFile(seed.fs, path, payload(length, i + 1))
      const created = await createTorrent('content', { kind, pieceLengthBytes: 32_768 }, { fs: seed.fs, hasher: new SyncHasher() })
      const meta = await parseTorrent(created.torrent)
      expect(meta.version).toBe(kind)
      const s = await seed.engine.addTorrent(created.torrent)
      await world.clock.runUntil(() => s.state === 'seeding', 10_000)
      expect(s.state).toBe('seeding')

      const leech = world.addNode('10.0.0.2')
      const t = await leech.engine.addTorrent(created.torrent, { peers: ['10.0.0.1:6881'] })
      expect(await world.clock.runUntil(() => t.state === 'seeding', 120_000)).toBe(true)
      for (const [i, [path, length]] of FILES.entries()) {
        expect(Buffer.compare(await readFile(leech.fs, path), payload(length, i + 1)), path).toBe(0)
      }
      expect(t.stats().hashFailures).toBe(0)
      // BEP 47 padding is never written: nothing but the content files exist.
      expect((await leech.fs.readdir('content')).sort()).toEqual(['a.bin', 'd.bin', 'e.bin', 'sub'])
      // The 0-byte file is created too (as libtorrent does; Transmission does not).
      expect((await leech.fs.readdir('content/sub')).sort()).toEqual(['b.bin', 'c.bin'])

      if (kind === 'hybrid') {
        // A v2-capable peer may use the truncated SHA-256 hash: the seed answers under it.
        let socket: ITcpSocket | null = null
        void world.network.host('10.0.0.3').connectTcp('10.0.0.1', 6881).then((s) => { socket = s })
        await world.clock.runUntil(() => socket !== null, 5_000)
        if (socket === null) throw new Error('no connection')
        const v2Hash = meta.infoHashV2!.subarray(0, 20)
        const conn = new PeerConnection({ socket, clock: world.clock }, defaultPeerSettings, {
          infoHash: v2Hash, localPeerId: new Uint8Array(20).fill(3), outgoing: true, pieceCount: meta.pieceCount
        })
        let handshake = false
        conn.on('handshake-received', () => { handshake = true })
        await world.clock.runUntil(() => handshake, 5_000)
        expect(handshake).toBe(true)
        await world.clock.runUntil(() => conn.bitfield?.isComplete === true, 5_000)
        expect(conn.bitfield?.isComplete).toBe(true)
        conn.close()
      }
      await world.close()
      expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
    })
  }
})
