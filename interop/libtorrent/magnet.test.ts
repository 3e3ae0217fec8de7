/**
 * Magnet links against libtorrent 2.0.8 (issue 4), TCP on 127.0.0.1, DHT/LSD/UPnP/NAT-PMP/PEX off:
 * 1. Lodestone is given only a magnet with `x.pe` pointing at a libtorrent seeder: it fetches the
 *    info dict with BEP 9, then downloads the content byte-identical.
 * 2. libtorrent is given only a magnet (`parse_magnet_uri`) and the Lodestone seeder through
 *    `connect_peer`: it fetches the metadata from Lodestone and completes.
 * 3. `engine.downloadMetadata` against the libtorrent seeder returns a .torrent libtorrent parses
 *    to the same info hash.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { buildMagnet } from '../../packages/engine/src/metainfo/magnet.js'
import { SINGLE_FILE_BYTES, TREE_FILES, digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, waitState, writeContent } from '../helpers/fixtures.js'
import { runLibtorrent } from '../helpers/libtorrent.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

/** 16 MiB in 16 KiB pieces: 1024 piece hashes, an info dict of 20+ KiB (two BEP 9 pieces). */
const BIG_FILE_BYTES = 16 * 1024 * 1024 + 1234

function fromHex (hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

describe('magnet links with libtorrent (BEP 9)', () => {
  for (const { kind, layout } of [{ kind: 'v1', layout: 'tree' }, { kind: 'hybrid', layout: 'single' }] as const) {
    it(`Lodestone fetches the metadata from a libtorrent seeder and downloads (${kind}, ${layout})`, async () => {
      const seedDir = await tempDir()
      const leechDir = await tempDir()
      const name = layout === 'single' ? 'payload.bin' : 'tree'
      await writeContent(seedDir, name, layout === 'single' ? BIG_FILE_BYTES : TREE_FILES)
      const torrentPath = join(await tempDir(), 'test.torrent')
      // Single: an info dict over 16 KiB (several BEP 9 pieces); tree: one short piece.
      const created = await makeTorrent(seedDir, name, kind, torrentPath, 16_384)
      const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
      peers.push(seeder)
      await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to check its data and seed')

      const magnet = buildMagnet({
        infoHashV1: fromHex(seeder.infoHashV1!),
        ...(seeder.infoHashV2 !== null ? { infoHashV2: fromHex(seeder.infoHashV2) } : {}),
        displayName: name,
        peers: [{ host: '127.0.0.1', port: seeder.port }]
      })
      const engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
      engines.push(engine)
      const torrent = await engine.addTorrent(magnet)
      expect(torrent.hasMetadata).toBe(false)
      const metadata = new Promise<number>((resolve) => { torrent.once('metadata', ({ meta }) => { resolve(meta.infoBytes.length) }) })
      await waitCompleted(torrent, 40_000)
      const infoLength = await metadata
      expect(infoLength).toBeGreaterThan(layout === 'single' ? 16_384 : 1_000)
      expect(torrent.meta.pieceCount).toBe(created.pieceCount)
      expect(await digestTree(join(leechDir, name))).toEqual(await digestTree(join(seedDir, name)))
    })
  }

  it('libtorrent fetches the metadata from a Lodestone seeder via a magnet and downloads', async () => {
    const seedDir = await tempDir()
    const ltDir = await tempDir()
    const name = 'payload.bin'
    await writeContent(seedDir, name, BIG_FILE_BYTES)
    const torrentPath = join(await tempDir(), 'test.torrent')
    await makeTorrent(seedDir, name, 'v1', torrentPath, 16_384)

    const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const seed = await engine.addTorrent(await readFile(torrentPath))
    await waitState(seed, 'seeding', 20_000)
    expect(seed.meta.infoBytes.length).toBeGreaterThan(16_384)
    const magnet = buildMagnet({ infoHashV1: seed.meta.infoHashV1, displayName: name })

    const out = await runLibtorrent<{ hasMetadata: boolean, seeding: boolean, progress: number, name: string | null, v1: string | null, files: number, metadataAfterSec: number | null }>(`
ses = loopback_session({'allow_multiple_connections_per_ip': True, 'enable_outgoing_utp': False, 'enable_incoming_utp': False})
atp = lt.parse_magnet_uri(INPUT['magnet'])
atp.save_path = INPUT['savePath']
atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
h = ses.add_torrent(atp)
h.connect_peer(('127.0.0.1', INPUT['port']))
start = time.time()
meta_at = None
s = h.status()
while time.time() - start < 40:
    s = h.status()
    if s.has_metadata and meta_at is None:
        meta_at = time.time() - start
    if s.is_seeding:
        break
    time.sleep(0.1)
ti = h.torrent_file()
emit({'hasMetadata': s.has_metadata, 'seeding': s.is_seeding, 'progress': s.progress,
      'name': ti.name() if ti is not None else None,
      'v1': hex_v1(ti.info_hashes()) if ti is not None else None,
      'files': ti.num_files() if ti is not None else 0, 'metadataAfterSec': meta_at})
`, { input: { magnet, savePath: ltDir, port: engine.port }, timeoutMs: 55_000 })
    expect(out.hasMetadata).toBe(true)
    expect(out.v1).toBe(seed.id)
    expect(out.name).toBe(name)
    expect(out.seeding).toBe(true)
    expect(await digestTree(ltDir)).toEqual(await digestTree(seedDir))
    expect(seed.stats().uploadedBytes).toBeGreaterThan(0)
  })

  it('downloadMetadata from a libtorrent seeder returns a .torrent libtorrent reads with the same info hash', async () => {
    const seedDir = await tempDir()
    const name = 'payload.bin'
    await writeContent(seedDir, name, SINGLE_FILE_BYTES)
    const torrentPath = join(await tempDir(), 'test.torrent')
    await makeTorrent(seedDir, name, 'hybrid', torrentPath, 16_384)
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to check its data and seed')

    const engine = createNodeEngine({ downloadPath: await tempDir(), port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const magnet = buildMagnet({
      infoHashV1: fromHex(seeder.infoHashV1!),
      trackers: ['udp://127.0.0.1:9/announce'],
      peers: [{ host: '127.0.0.1', port: seeder.port }]
    })
    const bytes = await engine.downloadMetadata(magnet, { timeoutMs: 30_000 })
    expect(engine.torrents).toHaveLength(0)
    expect(engine.stats().connections.connections).toBe(0)
    const out = join(await tempDir(), 'fetched.torrent')
    await writeFile(out, bytes)
    const parsed = await runLibtorrent<{ v1: string | null, v2: string | null, trackers: string[] }>(`
ti = lt.torrent_info(INPUT['path'])
emit({'v1': hex_v1(ti.info_hashes()), 'v2': hex_v2(ti.info_hashes()), 'trackers': [t.url for t in ti.trackers()]})
`, { input: { path: out }, timeoutMs: 20_000 })
    expect(parsed.v1).toBe(seeder.infoHashV1)
    expect(parsed.v2).toBe(seeder.infoHashV2)
    expect(parsed.trackers).toEqual(['udp://127.0.0.1:9/announce'])
  })
})
