/**
 * Protocol encryption (MSE/PE, issue 16) against libtorrent 2.0.8 over TCP on 127.0.0.1.
 *
 * - libtorrent forcing RC4 both ways (in/out_enc_policy forced = 0, allowed_enc_level rc4 = 2) seeds;
 *   `lodestone download --encryption require` (the CLI) gets identical files, and both sides report
 *   the connection RC4-encrypted. The reverse: that libtorrent downloads from a Lodestone seeder
 *   running `encryption.mode: 'require'`, and sees `e: 1` (we prefer encryption) in our BEP 10 handshake.
 * - libtorrent's default dial (encrypted first, plaintext on failure) to a Lodestone seeder: with
 *   the default 'prefer' the first (encrypted) connection is accepted, with nothing refused and no
 *   plaintext connection; with 'disable' (what Lodestone did before MSE) the encrypted attempt is
 *   refused and libtorrent's plaintext retry costs time. The time to the first uploaded byte is
 *   logged for both.
 * - Against a plaintext-only libtorrent (policies disabled = 2): 'require' exchanges no data and
 *   says why per peer (PEER_ENCRYPTION_FAILED); 'prefer' falls back to plaintext once and completes.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { LodestoneError } from '../../packages/engine/src/errors.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import type { PartialEngineSettings } from '../../packages/engine/src/session/engine-settings.js'
import { SINGLE_FILE_BYTES, digestTree, makeTorrent, pollUntil, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))

/** libtorrent 2.0.8's settings_pack values: enc_policy forced 0 / disabled 2, enc_level rc4 2. */
const LT_FORCED_RC4 = { out_enc_policy: 0, in_enc_policy: 0, allowed_enc_level: 2 }
const LT_PLAINTEXT_ONLY = { out_enc_policy: 2, in_enc_policy: 2 }

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

async function runCli (args: string[], timeoutMs: number): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      if (code === null) reject(new Error(`lodestone did not exit normally (${String(err?.signal)}); stderr: ${stderr}`))
      else resolve({ code, stdout, stderr })
    })
  })
}

/** A single-file v1 torrent with content in a fresh seed directory. */
async function fixture (): Promise<{ seedDir: string, torrentPath: string, totalBytes: number }> {
  const seedDir = await tempDir()
  await writeContent(seedDir, 'payload.bin', SINGLE_FILE_BYTES)
  const torrentPath = join(await tempDir(), 'test.torrent')
  const created = await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath)
  return { seedDir, torrentPath, totalBytes: created.totalLengthBytes }
}

function engine (downloadPath: string, settings: PartialEngineSettings): BtEngine {
  const e = createNodeEngine({ downloadPath, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off', settings })
  engines.push(e)
  return e
}

/** Caps a libtorrent transfer of the 1.3 MB fixture to ~1.3 s, so its ~200 ms status samples see the connection. */
const SLOW_BYTES_PER_SEC = 1_000_000

async function libtorrentSeeder (torrentPath: string, seedDir: string, settings: Record<string, number>, torrentUploadLimit = 0): Promise<LibtorrentPeer> {
  const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed', settings, torrentUploadLimit })
  peers.push(seeder)
  await seeder.waitFor((s) => s.isSeeding, 20_000, 'libtorrent to check its data and seed')
  return seeder
}

describe('MSE/PE with libtorrent 2.0.8 (TCP, loopback)', () => {
  it('forced-RC4 libtorrent seeds, `lodestone download --encryption require` downloads identical files over RC4', async () => {
    const { seedDir, torrentPath } = await fixture()
    const outDir = await tempDir()
    const seeder = await libtorrentSeeder(torrentPath, seedDir, LT_FORCED_RC4, SLOW_BYTES_PER_SEC)
    const run = await runCli(['download', torrentPath, '-o', outDir, '--peer', `127.0.0.1:${seeder.port}`,
      '--port', '0', '--host', '127.0.0.1', '--json', '--exit-on-complete', '--encryption', 'require'], 45_000)
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(await digestTree(join(outDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    const events = run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>)
    const connected = events.filter((e) => e.type === 'peer-connected')
    expect(connected.map((e) => [e.address, e.encryption])).toEqual([[`127.0.0.1:${seeder.port}`, 'rc4']])
    // libtorrent's own view of the connection it served.
    const status = await seeder.waitFor((s) => s.seen.some((p) => p.total_upload > 0), 5_000, 'libtorrent to list the Lodestone peer')
    const served = status.seen.filter((p) => p.total_upload > 0)
    expect(served.map((p) => [p.rc4, p.plaintextEncrypted])).toEqual([[true, false]])
    expect(served[0]?.client).toMatch(/Lodestone/i)
  })

  it('a forced-RC4 libtorrent downloads from a Lodestone seeder running encryption require', async () => {
    const { seedDir, torrentPath, totalBytes } = await fixture()
    const seed = engine(seedDir, { encryption: { mode: 'require' } })
    const torrent = await seed.addTorrent(await readFile(torrentPath), { downloadPath: seedDir })
    await waitCompleted(torrent, 20_000)
    const port = await seed.listen()
    const leechDir = await tempDir()
    const leech = await startLibtorrentPeer({
      torrentPath, savePath: leechDir, mode: 'download', settings: LT_FORCED_RC4, peers: [{ host: '127.0.0.1', port: port! }],
      downloadRateLimit: SLOW_BYTES_PER_SEC, peerLog: ['<== EXTENDED_HANDSHAKE']
    })
    peers.push(leech)
    const status = await leech.waitFor((s) => s.isSeeding, 30_000, 'libtorrent to complete')
    // BEP 10 `e`: libtorrent's peer log prints the extended handshake it received from us.
    expect(leech.peerLog.length).toBe(1)
    expect(leech.peerLog[0]).toMatch(/'e': 1[,\s}]/)
    expect(await digestTree(join(leechDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    const fed = status.seen.filter((p) => p.total_download > 0)
    expect(fed.map((p) => [p.rc4, p.plaintextEncrypted])).toEqual([[true, false]])
    const stats = seed.stats().encryption
    expect(stats.incomingRc4).toBe(1)
    expect(stats.incomingUnencrypted).toBe(0)
    expect(torrent.stats().uploadedBytes).toBeGreaterThanOrEqual(totalBytes)
  })

  it('libtorrent\'s default dial succeeds at once against prefer; against disable its encrypted attempt is refused first', async () => {
    const { seedDir, torrentPath } = await fixture()
    const firstByteMs: Record<string, number> = {}
    for (const mode of ['prefer', 'disable'] as const) {
      const seed = engine(seedDir, { encryption: { mode } })
      const torrent = await seed.addTorrent(await readFile(torrentPath), { downloadPath: seedDir })
      await waitCompleted(torrent, 20_000)
      const port = (await seed.listen())!
      const leechDir = await tempDir()
      const leech = await startLibtorrentPeer({ torrentPath, savePath: leechDir, mode: 'download' })
      peers.push(leech)
      await leech.waitFor((s) => s.state.includes('downloading'), 20_000, 'libtorrent to start downloading')
      const started = performance.now()
      leech.connect('127.0.0.1', port)
      while (torrent.stats().uploadedBytes === 0) {
        if (performance.now() - started > 20_000) throw new Error(`no byte uploaded within 20 s (${mode})`)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      firstByteMs[mode] = performance.now() - started
      await leech.waitFor((s) => s.isSeeding, 30_000, 'libtorrent to complete')
      expect(await digestTree(join(leechDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
      const stats = seed.stats().encryption
      if (mode === 'prefer') {
        // The encrypted opening was answered: nothing refused, no plaintext connection needed.
        expect(stats.failures).toEqual({})
        expect(stats.incomingUnencrypted).toBe(0)
        expect(stats.incomingRc4 + stats.incomingPlaintext).toBe(1)
        expect(seed.stats().listen.accepted).toBe(1)
      } else {
        expect(stats.failures['encrypted-refused']).toBeGreaterThanOrEqual(1)
        expect(stats.incomingUnencrypted).toBe(1)
      }
      await seed.close()
      await leech.close()
    }
    console.log(`libtorrent's default dial to a Lodestone seeder, time to the first uploaded byte: prefer ${firstByteMs.prefer!.toFixed(0)} ms, disable (before MSE) ${firstByteMs.disable!.toFixed(0)} ms`)
    expect(firstByteMs.prefer!).toBeLessThan(firstByteMs.disable!)
  })

  it('require against a plaintext-only libtorrent: no data, and the peer\'s reason is PEER_ENCRYPTION_FAILED', async () => {
    const { seedDir, torrentPath } = await fixture()
    const seeder = await libtorrentSeeder(torrentPath, seedDir, LT_PLAINTEXT_ONLY)
    const leechDir = await tempDir()
    const leech = engine(leechDir, { encryption: { mode: 'require' } })
    const torrent = await leech.addTorrent(await readFile(torrentPath), { downloadPath: leechDir })
    const failures: Array<{ address: string, reason: LodestoneError }> = []
    torrent.on('peer-handshake-failed', (e) => { failures.push(e) })
    torrent.addPeer(`127.0.0.1:${seeder.port}`)
    await pollUntil(() => failures.length > 0, 15_000, 'the handshake to fail')
    // Give a retry, if one were made, the time to happen.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(failures.map((f) => [f.address, f.reason.code])).toEqual([[`127.0.0.1:${seeder.port}`, 'PEER_ENCRYPTION_FAILED']])
    expect(torrent.stats().downloadedBytes).toBe(0)
    expect(torrent.peers()).toEqual([])
    expect(leech.stats().encryption.plaintextFallbacks).toBe(0)
    expect(seeder.status?.totalPayloadUpload).toBe(0)
  })

  it('prefer against a plaintext-only libtorrent: one refused encrypted dial, then plaintext, complete', async () => {
    const { seedDir, torrentPath } = await fixture()
    const seeder = await libtorrentSeeder(torrentPath, seedDir, LT_PLAINTEXT_ONLY)
    const leechDir = await tempDir()
    const leech = engine(leechDir, { encryption: { mode: 'prefer' } })
    const torrent = await leech.addTorrent(await readFile(torrentPath), { downloadPath: leechDir })
    const failures: LodestoneError[] = []
    torrent.on('peer-handshake-failed', ({ reason }) => { failures.push(reason) })
    const connected: string[] = []
    torrent.on('peer-connected', ({ peer }) => { connected.push(peer.encryption) })
    torrent.addPeer(`127.0.0.1:${seeder.port}`)
    await waitCompleted(torrent, 30_000)
    expect(await digestTree(join(leechDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    expect(failures.map((e) => e.code)).toEqual(['PEER_ENCRYPTION_FAILED'])
    expect(connected).toEqual(['none'])
    const stats = leech.stats().encryption
    expect(stats.plaintextFallbacks).toBe(1)
    expect(stats.plaintextPeers).toBe(1)
  })
})
