/**
 * A magnet whose only source of peers is its `tr` tracker: the metadata phase announces (with a
 * large `left`, the size being unknown), dials the peers the tracker returns, fetches the
 * metadata, and the torrent then announces again under its own tracker manager and completes.
 */
import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../adapters/memory/memory-filesystem.js'
import { BtEngine } from '../../src/session/bt-engine.js'
import { resolveSettings, testingSettings } from '../../src/session/engine-settings.js'
import type { HttpResponse, IHttpClient } from '../../src/interfaces/http-client.js'
import { seededRandom } from '../../src/interfaces/random.js'
import { buildMagnet } from '../../src/metainfo/magnet.js'
import { parseTorrent } from '../../src/metainfo/parse-torrent.js'
import { bencodeEncode } from '../../src/protocol/bencode.js'
import { StorageRootManager } from '../../src/storage/storage-root-manager.js'
import { encodeCompactPeers } from '../../src/tracker/compact-peers.js'
import { SwarmWorld, SyncHasher, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

/** An HTTP tracker that always lists the seed. */
class FakeTracker implements IHttpClient {
  readonly urls: string[] = []
  async get (url: string): Promise<HttpResponse> {
    this.urls.push(url)
    const body = bencodeEncode({ interval: 1800, peers: encodeCompactPeers([{ host: '10.0.0.1', port: 6881 }], 4) })
    return { status: 200, headers: {}, body }
  }
}

describe('swarm: magnet with a tracker only', () => {
  it('finds the seed through the tracker, fetches the metadata and completes', async () => {
    const world = new SwarmWorld(31)
    const data = payload(150_000, 9)
    const torrentBytes = makeTorrent('tr.bin', data, 16_384)
    const meta = await parseTorrent(torrentBytes, { hasher: new SyncHasher() })
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'tr.bin', data)
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)

    const fs = new MemoryFileSystem({ clock: world.clock })
    const roots = new StorageRootManager(() => fs)
    roots.addRoot({ token: 'memory', label: 'Memory', path: '/' })
    roots.setDefaultRoot('memory')
    const tracker = new FakeTracker()
    const engine = new BtEngine({
      socketFactory: world.network.host('10.0.0.2'),
      clock: world.clock,
      hasher: new SyncHasher(),
      storageRoots: roots,
      random: seededRandom(5),
      httpClient: tracker
    }, resolveSettings({ listen: { port: 6881, host: '' } }, testingSettings()))
    const warnings: string[] = []
    engine.on('torrent-added', ({ torrent }) => { torrent.on('warning', ({ error }) => warnings.push(String(error))) })
    const t = await engine.addTorrent(buildMagnet({ infoHashV1: meta.infoHashV1, trackers: ['http://tracker.test/announce'] }))
    const ok = await world.clock.runUntil(() => t.state === 'seeding', 120_000)
    expect(ok, `state ${t.state}, warnings ${warnings.join('; ')}`).toBe(true)
    expect(Buffer.compare(await readFile(fs, 'tr.bin'), data)).toBe(0)
    // First announce from the metadata phase: size unknown → a large `left`; later ones know it.
    expect(tracker.urls[0]).toContain('left=1099511627776')
    expect(tracker.urls[0]).toContain('event=started')
    expect(tracker.urls.some((u) => u.includes(`left=${data.length}`) || u.includes('event=completed'))).toBe(true)
    await engine.close()
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
