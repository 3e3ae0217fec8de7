/**
 * uTP (BEP 29, issue 11) with Transmission 3.00 (uTP enabled) on 127.0.0.1. Transmission cannot
 * switch TCP off and never dials a loopback peer, so Lodestone dials it, with `transport.tcp` off:
 * the connection can only be uTP. Direction: Transmission seeds, Lodestone downloads. Both sides
 * must say uTP — Lodestone's `PeerInfo.transport` and Transmission's peer `flagStr` ('T': connected
 * over uTP) — and the file must hash like the original.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import type { PeerInfo } from '../../packages/engine/src/torrent/torrent.js'
import { digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { TR_STATUS, startTransmission, type RunningTransmission, type TransmissionPeer } from '../helpers/transmission.js'

const PAYLOAD_BYTES = 4 * 1024 * 1024 + 333

let tr: RunningTransmission | null = null
const engines: BtEngine[] = []
beforeAll(async () => {
  tr = await startTransmission({ utp: true })
})
afterAll(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await tr?.close()
  await removeTempDirs()
})

describe('uTP with Transmission 3.00 (loopback)', () => {
  it('Lodestone with TCP off downloads from a Transmission seeder over uTP: identical, both sides report uTP', async () => {
    const daemon = tr!
    const seedDir = await tempDir()
    await writeContent(seedDir, 'payload.bin', PAYLOAD_BYTES)
    const torrentPath = join(await tempDir(), 'utp.torrent')
    await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath, 64 * 1024)
    const metainfo = await readFile(torrentPath)
    const { id } = await daemon.addTorrent(metainfo, seedDir)
    await daemon.waitFor(id, (t) => t.status === TR_STATUS.seed, 20_000, 'Transmission to check its data and seed')

    const leechDir = await tempDir()
    const engine = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off', settings: { transport: { tcp: false } } })
    engines.push(engine)
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
      await waitCompleted(torrent, 90_000)
    } finally {
      clearInterval(sampler)
    }
    expect(await digestTree(join(leechDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    expect(connected.map((p) => [p.clientName?.startsWith('Transmission'), p.transport, p.direction])).toEqual([[true, 'utp', 'outgoing']])
    expect(trPeers.map((p) => [p.flagStr.includes('T'), p.isIncoming])).toEqual([[true, true]])
    const utp = engine.stats().udp!.utp
    expect(utp.payloadBytesIn).toBeGreaterThanOrEqual(PAYLOAD_BYTES)
    expect(utp.connected).toBe(1)
  })
})
