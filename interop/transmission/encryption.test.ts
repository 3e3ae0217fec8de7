/**
 * Protocol encryption (MSE/PE, issue 16) against Transmission 3.00 with `encryption: 2` (required),
 * over TCP on 127.0.0.1, both directions. Transmission never dials a loopback peer, so Lodestone
 * dials it each time: as a downloader from a Transmission seeder, and as a seeder Transmission
 * downloads from. Lodestone runs `encryption.mode: 'require'`; files must hash like the originals
 * and both sides must report the connection encrypted (Transmission's peer `isEncrypted`,
 * Lodestone's `PeerInfo.encryption` 'rc4').
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import type { PeerInfo } from '../../packages/engine/src/torrent/torrent.js'
import { SINGLE_FILE_BYTES, digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, waitState, writeContent } from '../helpers/fixtures.js'
import { TR_STATUS, startTransmission, type RunningTransmission, type TransmissionPeer } from '../helpers/transmission.js'

let tr: RunningTransmission | null = null
const engines: BtEngine[] = []
beforeAll(async () => {
  tr = await startTransmission({ encryption: 2 })
})
afterAll(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await tr?.close()
  await removeTempDirs()
})

async function fixture (): Promise<{ seedDir: string, metainfo: Uint8Array, totalBytes: number }> {
  const seedDir = await tempDir()
  await writeContent(seedDir, 'payload.bin', SINGLE_FILE_BYTES)
  const torrentPath = join(await tempDir(), 'test.torrent')
  const created = await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath)
  return { seedDir, metainfo: await readFile(torrentPath), totalBytes: created.totalLengthBytes }
}

function requireEngine (downloadPath: string): BtEngine {
  const engine = createNodeEngine({ downloadPath, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off', settings: { encryption: { mode: 'require' } } })
  engines.push(engine)
  return engine
}

// Concurrent (each case its own torrent and engine): Transmission 3.00 acts on new peers on a 10 s
// pulse, so the two directions share that wait.
describe.concurrent('MSE/PE with Transmission 3.00 requiring encryption (TCP, loopback)', () => {
  it('Lodestone (require) downloads from a Transmission seeder: identical, RC4 on both sides', async ({ expect }) => {
    const daemon = tr!
    const { seedDir, metainfo } = await fixture()
    const { id } = await daemon.addTorrent(metainfo, seedDir)
    await daemon.waitFor(id, (t) => t.status === TR_STATUS.seed, 20_000, 'Transmission to check its data and seed')

    const leechDir = await tempDir()
    const engine = requireEngine(leechDir)
    const torrent = await engine.addTorrent(metainfo, { downloadPath: leechDir })
    const connected: PeerInfo[] = []
    torrent.on('peer-connected', ({ peer }) => { connected.push(peer) })
    let trPeers: TransmissionPeer[] = []
    // Sample Transmission's peer list while the transfer runs (it waits ~11 s before the first byte).
    const sampler = setInterval(() => {
      daemon.getTorrent(id).then((t) => { if (t.peers.length > 0) trPeers = t.peers }, () => {})
    }, 250)
    try {
      torrent.addPeer(`127.0.0.1:${daemon.peerPort}`)
      await waitCompleted(torrent, 60_000)
    } finally {
      clearInterval(sampler)
    }
    expect(await digestTree(join(leechDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    expect(connected.map((p) => [p.clientName?.startsWith('Transmission'), p.encryption])).toEqual([[true, 'rc4']])
    expect(trPeers.length).toBe(1)
    expect(trPeers[0]?.isEncrypted).toBe(true)
    expect(engine.stats().encryption.outgoingRc4).toBe(1)
  })

  it('Transmission downloads from a Lodestone seeder (require): identical, RC4 on both sides', async ({ expect }) => {
    const daemon = tr!
    const { seedDir, metainfo, totalBytes } = await fixture()
    const engine = requireEngine(seedDir)
    const torrent = await engine.addTorrent(metainfo, { downloadPath: seedDir })
    await waitState(torrent, 'seeding', 20_000)
    const connected: PeerInfo[] = []
    torrent.on('peer-connected', ({ peer }) => { connected.push(peer) })

    const leechDir = await tempDir()
    const { id } = await daemon.addTorrent(metainfo, leechDir)
    await daemon.waitFor(id, (t) => t.status === TR_STATUS.download || t.status === TR_STATUS.downloadWait, 10_000, 'Transmission to start downloading')
    torrent.addPeer(`127.0.0.1:${daemon.peerPort}`)
    // Transmission takes ~11-16 s before it lists the peer on a quiet machine; a loaded one needs longer.
    const during = await daemon.waitFor(id, (t) => t.peers.length > 0, 45_000, 'Transmission to list Lodestone')
    const done = await daemon.waitFor(id, (t) => t.percentDone === 1 && t.leftUntilDone === 0, 60_000, 'Transmission to finish the download')
    expect(done.haveValid).toBe(totalBytes)
    expect(await digestTree(join(leechDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    expect(during.peers.map((p) => p.isEncrypted)).toEqual([true])
    expect(connected.map((p) => p.encryption)).toEqual(['rc4'])
    expect(torrent.stats().uploadedBytes).toBeGreaterThanOrEqual(totalBytes)
  })
})
