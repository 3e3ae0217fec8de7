/**
 * BitTorrent v2 on the wire (BEP 52, issue 12) against libtorrent 2.0.8, TCP on 127.0.0.1, DHT,
 * LSD, UPnP, NAT-PMP and PEX off. A pure v2 torrent's magnet (`urn:btmh:` only) carries no piece
 * layers and neither does the metadata fetched with BEP 9, so the downloader must fetch each file's
 * piece layer with hash requests, proven against the file's pieces root, before it can verify a piece:
 * 1. Lodestone, given only `magnet:?xt=urn:btmh:…&x.pe=<libtorrent>`, downloads a tree libtorrent
 *    made (v2_only, 16 KiB pieces, one file of 640 pieces so its layer comes in two requests with
 *    uncle hashes) byte-identical, through the fetching-hashes state, and the layers it fetched are
 *    libtorrent's, byte for byte.
 * 2. libtorrent, given only the magnet and the Lodestone seeder (`connect_peer`), fetches the
 *    metadata and the layers from Lodestone and completes: it can verify nothing without them.
 * 3. The same for a hybrid torrent through a magnet naming only its v2 hash: libtorrent connects on
 *    the hybrid's v2 side (the truncated SHA-256 hash) and asks it for the layers too.
 * 4. The CLI, `lodestone download <urn:btmh: magnet> --exit-on-complete`, from a libtorrent seeder.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import { buildMagnet } from '../../packages/engine/src/metainfo/magnet.js'
import { parseTorrent } from '../../packages/engine/src/metainfo/parse-torrent.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, waitState, writeContent } from '../helpers/fixtures.js'
import { runLibtorrent } from '../helpers/libtorrent.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

const PIECE_BYTES = 16_384
/** Sizes chosen for the layer requests they cause: 640 pieces (512 + a 128 tail with uncles), 3 pieces, one piece or less. */
const V2_TREE: Record<string, number> = {
  'big.bin': 640 * PIECE_BYTES - 777,
  'sub/three.bin': 2 * PIECE_BYTES + 5,
  'sub/small.bin': 9_000,
  'one-byte': 1
}

function fromHex (hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

describe('BitTorrent v2 magnets with libtorrent (BEP 52 hash requests)', () => {
  it('Lodestone downloads a pure v2 torrent from a libtorrent seeder given only the urn:btmh: magnet', async () => {
    const seedDir = await tempDir()
    const leechDir = await tempDir()
    const name = 'v2tree'
    await writeContent(seedDir, name, V2_TREE)
    const torrentPath = join(await tempDir(), 'v2.torrent')
    // libtorrent makes the torrent (v2 only), so the layers we fetch are checked against its tree, not ours.
    const made = await runLibtorrent<{ v1: string | null, v2: string | null }>(`
fs = lt.file_storage()
lt.add_files(fs, INPUT['path'])
ct = lt.create_torrent(fs, INPUT['pieceBytes'], flags=lt.create_torrent.v2_only)
lt.set_piece_hashes(ct, INPUT['parent'])
with open(INPUT['out'], 'wb') as f:
    f.write(lt.bencode(ct.generate()))
ti = lt.torrent_info(INPUT['out'])
emit({'v1': hex_v1(ti.info_hashes()), 'v2': hex_v2(ti.info_hashes())})
`, { input: { path: join(seedDir, name), parent: seedDir, pieceBytes: PIECE_BYTES, out: torrentPath }, timeoutMs: 60_000 })
    expect(made.v1).toBeNull()
    expect(made.v2).toMatch(/^[0-9a-f]{64}$/)
    const reference = await parseTorrent(await readFile(torrentPath))
    expect(reference.version).toBe('v2')
    expect(reference.pieceLayers.size).toBe(2) // big.bin and three.bin

    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding, 30_000, 'libtorrent to check its data and seed')
    expect(seeder.infoHashV2).toBe(made.v2)

    const magnet = buildMagnet({ infoHashV2: fromHex(made.v2!), peers: [{ host: '127.0.0.1', port: seeder.port }] })
    expect(magnet).toMatch(/^magnet:\?xt=urn:btmh:1220[0-9a-f]{64}&x\.pe=127\.0\.0\.1%3A\d+$/)
    const engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const torrent = await engine.addTorrent(magnet)
    expect(torrent.hasMetadata).toBe(false)
    const states: string[] = []
    torrent.on('state-changed', ({ to }) => { states.push(to) })
    await waitCompleted(torrent, 90_000)
    expect(states).toContain('fetching-hashes')
    expect(states.indexOf('fetching-hashes')).toBeLessThan(states.indexOf('downloading'))
    expect(torrent.meta.version).toBe('v2')
    // The layers came over the wire (BEP 9 metadata has none) and are libtorrent's.
    const fetched = torrent.meta.pieceLayers
    expect([...fetched.keys()].sort()).toEqual([...reference.pieceLayers.keys()].sort())
    for (const [root, layer] of reference.pieceLayers) expect(Buffer.compare(fetched.get(root)!, layer), root).toBe(0)
    expect(await digestTree(join(leechDir, name))).toEqual(await digestTree(join(seedDir, name)))
    expect(torrent.stats().hashFailures).toBe(0)
    // libtorrent's per-peer counters are samples (a closed connection keeps its last one); its
    // torrent payload counter is exact, and Lodestone is the only peer it served. A transfer that
    // opens and closes between two 0.2 s status samples (both sides seeds) is never listed; its
    // disconnect alert still names the peer id.
    const status = await seeder.waitFor((s) => s.totalPayloadUpload >= 640 * PIECE_BYTES - 777 &&
      (s.seen.some((p) => p.total_upload > 0) || seeder.disconnectedPeers.length > 0), 10_000, 'libtorrent to count the upload')
    const served = [
      ...status.seen.filter((p) => p.total_upload > 0).map((p) => p.pid),
      ...seeder.disconnectedPeers.map((p) => p.pid)
    ]
    expect(served.length).toBeGreaterThan(0)
    for (const pid of served) expect(Buffer.from(pid, 'hex').toString('latin1')).toMatch(/^-LS\d{4}-/)
  })

  // hybrid: libtorrent knows only the v2 hash, so it connects on the hybrid's v2 side (the truncated
  // SHA-256 hash), where it may ask for layers; it can verify by v1 hashes as well.
  for (const kind of ['v2', 'hybrid'] as const) {
  it(`libtorrent downloads a ${kind === 'v2' ? 'pure v2' : 'hybrid'} torrent from a Lodestone seeder given only the urn:btmh: magnet`, async () => {
    const seedDir = await tempDir()
    const ltDir = await tempDir()
    const name = 'v2tree'
    await writeContent(seedDir, name, V2_TREE)
    const torrentPath = join(await tempDir(), 'v2.torrent')
    await makeTorrent(seedDir, name, kind, torrentPath, PIECE_BYTES)

    const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const seed = await engine.addTorrent(await readFile(torrentPath))
    await waitState(seed, 'seeding', 30_000)
    expect(seed.meta.version).toBe(kind)
    const magnet = buildMagnet({ infoHashV2: seed.meta.infoHashV2 })
    expect(magnet).not.toContain('btih')

    const out = await runLibtorrent<{ hasMetadata: boolean, seeding: boolean, progress: number, v2: string | null, v1: string | null, hashes: number, rejects: number, errors: string[] }>(`
ses = loopback_session({'allow_multiple_connections_per_ip': True, 'enable_outgoing_utp': False, 'enable_incoming_utp': False,
                        'alert_queue_size': 1000000,
                        'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.peer_log_notification})
atp = lt.parse_magnet_uri(INPUT['magnet'])
atp.save_path = INPUT['savePath']
atp.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex
h = ses.add_torrent(atp)
h.connect_peer(('127.0.0.1', INPUT['port']))
start = time.time()
errors = []
hashes = 0
rejects = 0
s = h.status()
while time.time() - start < 60:
    for a in ses.pop_alerts():
        if a.category() & lt.alert.category_t.error_notification:
            errors.append(a.what() + ': ' + a.message())
        elif isinstance(a, lt.peer_log_alert):
            m = a.message()
            if '<== HASHES' in m:
                hashes += 1
            elif '<== HASH_REJECT' in m:
                rejects += 1
    s = h.status()
    if s.is_seeding:
        break
    time.sleep(0.1)
ti = h.torrent_file()
emit({'hasMetadata': s.has_metadata, 'seeding': s.is_seeding, 'progress': s.progress,
      'v1': hex_v1(ti.info_hashes()) if ti is not None else None,
      'v2': hex_v2(ti.info_hashes()) if ti is not None else None, 'hashes': hashes, 'rejects': rejects, 'errors': errors[-5:]})
`, { input: { magnet, savePath: ltDir, port: engine.port }, timeoutMs: 80_000 })
    expect(out.errors).toEqual([])
    expect(out.hasMetadata).toBe(true)
    expect(out.v1).toBe(kind === 'v2' ? null : seed.id)
    expect(out.v2).toBe(Buffer.from(seed.meta.infoHashV2!).toString('hex'))
    expect(out.seeding).toBe(true)
    // Its piece layers came from us: big.bin's in two requests (512 + 128 hashes), three.bin's in one.
    expect(out.hashes).toBe(3)
    expect(out.rejects).toBe(0)
    expect(await digestTree(join(ltDir, name))).toEqual(await digestTree(join(seedDir, name)))
    expect(seed.stats().uploadedBytes).toBeGreaterThanOrEqual(640 * PIECE_BYTES - 777)
  })
  }

  it('the CLI downloads a pure v2 torrent from a libtorrent seeder given only the urn:btmh: magnet', async () => {
    const seedDir = await tempDir()
    const outDir = await tempDir()
    const name = 'v2tree'
    await writeContent(seedDir, name, V2_TREE)
    const torrentPath = join(await tempDir(), 'v2.torrent')
    const created = await makeTorrent(seedDir, name, 'v2', torrentPath, PIECE_BYTES)
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed' })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding, 30_000, 'libtorrent to check its data and seed')
    const magnet = buildMagnet({ infoHashV2: fromHex(seeder.infoHashV2!), peers: [{ host: '127.0.0.1', port: seeder.port }] })
    expect(created.infoHashV2 === null ? null : Buffer.from(created.infoHashV2).toString('hex')).toBe(seeder.infoHashV2)
    const cli = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))
    const run = await new Promise<{ code: number, stdout: string, stderr: string }>((resolve, reject) => {
      execFile(process.execPath, [cli, 'download', magnet, '-o', outDir, '--port', '0', '--host', '127.0.0.1', '--no-dht', '--no-lsd', '--json', '--exit-on-complete'],
        { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
          if (code === null) reject(new Error(`lodestone did not exit normally (${String(err?.signal)}); stderr: ${stderr}`))
          else resolve({ code, stdout, stderr })
        })
    })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const events = run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>)
    expect(events.map((e) => e.type)).toContain('metadata')
    expect(events.at(-1)).toMatchObject({ type: 'exit', code: 0, reason: 'completed' })
    expect(await digestTree(join(outDir, name))).toEqual(await digestTree(join(seedDir, name)))
  })
})
