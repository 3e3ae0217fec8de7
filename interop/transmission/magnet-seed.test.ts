/**
 * Transmission 3.00 given only a magnet link downloads from a Lodestone seed (issue 12, peer
 * hygiene). Transmission never dials a loopback peer it hears of, so Lodestone dials Transmission's
 * peer port. Once Transmission has the metadata (ut_metadata from us) it drops the connection and
 * restarts the torrent; a seed that never re-dialled a peer that hung up left it without the
 * payload for ever. Lodestone now re-dials known, reachable peers while seeding too (with the
 * connection manager's back-off), so the payload follows: Transmission's files must hash like the
 * originals.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import { buildMagnet } from '../../packages/engine/src/metainfo/magnet.js'
import { parseTorrent } from '../../packages/engine/src/metainfo/parse-torrent.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { SINGLE_FILE_BYTES, digestTree, makeTorrent, removeTempDirs, tempDir, waitState, writeContent } from '../helpers/fixtures.js'
import { TR_STATUS, startTransmission, type RunningTransmission } from '../helpers/transmission.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))

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

// Concurrent (each case its own torrent): Transmission 3.00 acts on new peers on a 10 s pulse, so
// the two cases share that wait.
describe.concurrent('Transmission downloads a magnet from a Lodestone seed', () => {
  it('metadata, the reconnect Transmission forces, then the payload: byte-identical', async ({ expect }) => {
    const daemon = tr!
    const seedDir = await tempDir()
    const leechDir = await tempDir()
    await writeContent(seedDir, 'payload.bin', SINGLE_FILE_BYTES)
    const torrentPath = join(await tempDir(), 'magnet.torrent')
    await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath)
    const metainfo = await readFile(torrentPath)
    const meta = await parseTorrent(metainfo)

    const engine = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2, logLevel: 'off' })
    engines.push(engine)
    const port = await engine.listen()
    const torrent = await engine.addTorrent(metainfo, { downloadPath: seedDir })
    await waitState(torrent, 'seeding', 20_000)
    let connects = 0
    torrent.on('peer-connected', () => { connects++ })

    const magnet = buildMagnet({ infoHashV1: meta.infoHashV1, displayName: 'payload.bin', peers: [{ host: '127.0.0.1', port: port! }] })
    const started = Date.now()
    const { id } = await daemon.addMagnet(magnet, leechDir)
    torrent.addPeer(`127.0.0.1:${daemon.peerPort}`)
    const done = await daemon.waitFor(id, (t) => t.percentDone === 1 && t.leftUntilDone === 0 && t.metadataPercentComplete === 1, 90_000, 'Transmission to fetch the metadata and the payload')
    const seconds = (Date.now() - started) / 1000
    expect(done.haveValid).toBe(SINGLE_FILE_BYTES)
    expect(await digestTree(join(leechDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    expect(torrent.stats().uploadedBytes).toBeGreaterThanOrEqual(SINGLE_FILE_BYTES)
    // The metadata connection and at least one more carrying the payload.
    expect(connects).toBeGreaterThanOrEqual(2)
    console.log(`Transmission magnet from a Lodestone seed: ${seconds.toFixed(1)} s, ${connects} connections`)
  })

  it('the CLI downloads a magnet (no tracker) from a Transmission seeder and exits promptly', async ({ expect }) => {
    const daemon = tr!
    const seedDir = await tempDir()
    const out = await tempDir()
    await writeContent(seedDir, 'cli.bin', SINGLE_FILE_BYTES)
    const torrentPath = join(await tempDir(), 'cli.torrent')
    await makeTorrent(seedDir, 'cli.bin', 'v1', torrentPath)
    const metainfo = await readFile(torrentPath)
    const meta = await parseTorrent(metainfo)
    const { id } = await daemon.addTorrent(metainfo, seedDir)
    await daemon.waitFor(id, (t) => t.status === TR_STATUS.seed && t.percentDone === 1, 20_000, 'Transmission to verify its data and seed')
    const magnet = buildMagnet({ infoHashV1: meta.infoHashV1, displayName: 'cli.bin' })
    const started = Date.now()
    const run = await new Promise<{ code: number | null, stdout: string, stderr: string, exitedAt: number }>((resolve) => {
      execFile(process.execPath, [CLI, 'download', magnet, '-o', out, '--peer', `127.0.0.1:${daemon.peerPort}`, '--port', '0', '--host', '127.0.0.1',
        '--json', '--exit-on-complete', '--no-state'], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr, exitedAt: Date.now() })
      })
    })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(await digestTree(join(out, 'cli.bin'))).toEqual(await digestTree(join(seedDir, 'cli.bin')))
    const events = run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string, time: number } & Record<string, unknown>)
    const at = (type: string): number => events.find((e) => e.type === type)!.time
    const exitAfterMs = run.exitedAt - at('completed')
    console.log(`CLI magnet from Transmission: metadata after ${((at('metadata') - started) / 1000).toFixed(1)} s, ` +
      `completed after ${((at('completed') - started) / 1000).toFixed(1)} s, process gone ${(exitAfterMs / 1000).toFixed(2)} s after completing; ` +
      `connections ${events.filter((e) => e.type === 'peer-connected').length}`)
    // No tracker to say 'stopped' to, nothing left open: the process ends well within the CLI's 5 s grace.
    expect(exitAfterMs).toBeLessThan(3_000)
  })
})
