/**
 * BEP 11 against libtorrent 2.0.8: Lodestone is told only of libtorrent peer A, and must find a
 * second libtorrent peer B through A's ut_pex messages alone (no tracker, DHT or LSD anywhere),
 * then connect to it.
 *
 * What libtorrent does (src/ut_pex.cpp): each connection sends its first PEX message — the full
 * list of peers A has completed a handshake with — at the first one-second tick after the
 * extended handshake once A has 2 or more peers (a global pacing of ≤ 3 s between messages
 * applies), then diffs at most once a minute. So no 60 s wait is needed. A lists a peer it dialled
 * under the dialled address and one that dialled it under the `p` of its extended handshake.
 * libtorrent closes a peer that sends more than 6 PEX messages within a minute.
 *
 * Set-up: A seeds; B is a rate-limited leecher (it stays connected to A, a seed would be dropped
 * as soon as it completed) with PEX off, so B cannot learn of Lodestone and dial it first; A
 * dials B. Lodestone downloads rate-limited too, so it is still connected to A when PEX arrives.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { makeContent, startSwarmPeer, type SwarmPeer } from '../helpers/libtorrent-swarm-peer.js'

const engines: BtEngine[] = []
const peers: SwarmPeer[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => {
  await Promise.all(dirs.map(async (d) => { await rm(d, { recursive: true, force: true }) }))
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lodestone-pex-'))
  dirs.push(d)
  return d
}

describe('PEX with libtorrent', () => {
  it('learns a third peer only through ut_pex from libtorrent and connects to it', async () => {
    const started = Date.now()
    const seedDir = await tempDir()
    const { torrentPath } = await makeContent(seedDir, 4 * 1024 * 1024)

    const b = await startSwarmPeer({ torrentPath, savePath: await tempDir(), pex: false, downloadRateLimit: 32 * 1024 })
    peers.push(b)
    const a = await startSwarmPeer({ torrentPath, savePath: seedDir, pex: true, peers: [{ host: '127.0.0.1', port: b.port }] })
    peers.push(a)
    await a.waitFor((s) => s.isSeeding && s.peers.some((p) => p.port === b.port), 20_000, 'A to seed and connect to B')

    const engine = createNodeEngine({
      downloadPath: await tempDir(),
      port: 0,
      host: '127.0.0.1',
      hasherWorkers: 1,
      logLevel: 'off',
      settings: { discovery: { pex: true }, rateLimit: { downloadRateBytesPerSec: 128 * 1024 } }
    })
    engines.push(engine)
    const torrent = await engine.addTorrent(await readFile(torrentPath))
    const connected: string[] = []
    torrent.on('peer-connected', ({ peer }) => { connected.push(peer.address) })
    torrent.addPeer(`127.0.0.1:${a.port}`)
    const bAddress = `127.0.0.1:${b.port}`

    const deadline = Date.now() + 60_000
    while (!torrent.peers().some((p) => p.address === bAddress)) {
      if (Date.now() > deadline) {
        throw new Error(`B not reached via PEX within 60 s; connected ${JSON.stringify(connected)}; peers ${JSON.stringify(torrent.peers().map((p) => [p.address, p.source]))}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const learnedAfterMs = Date.now() - started
    const toB = torrent.peers().find((p) => p.address === bAddress)
    expect(toB?.source).toBe('pex')
    expect(toB?.direction).toBe('outgoing')
    expect(toB?.clientName ?? '').toMatch(/libtorrent/i)
    expect(torrent.peers().find((p) => p.address === `127.0.0.1:${a.port}`)?.source).toBe('manual')
    // Lodestone never heard of B any other way, and B (PEX off, told of nobody) never dialled us.
    expect(connected.filter((addr) => addr !== `127.0.0.1:${a.port}`)).toEqual([bAddress])
    // B sees the connection from our side.
    await b.waitFor((s) => s.peers.length >= 2, 10_000, 'B to see Lodestone')
    console.log(`PEX: B reached ${learnedAfterMs} ms after the test started`)
  })

  it('libtorrent learns a peer from Lodestone\'s ut_pex message and dials it', async () => {
    const seedDir = await tempDir()
    const { torrentPath } = await makeContent(seedDir, 4 * 1024 * 1024)
    // A seeds with PEX off; B is a slow leecher with PEX on. Only Lodestone knows both.
    const a = await startSwarmPeer({ torrentPath, savePath: seedDir, pex: false })
    peers.push(a)
    const b = await startSwarmPeer({ torrentPath, savePath: await tempDir(), pex: true, downloadRateLimit: 32 * 1024 })
    peers.push(b)
    await a.waitFor((s) => s.isSeeding, 20_000, 'A to seed')

    const engine = createNodeEngine({
      downloadPath: await tempDir(),
      port: 0,
      host: '127.0.0.1',
      hasherWorkers: 1,
      logLevel: 'off',
      settings: { discovery: { pex: true }, rateLimit: { downloadRateBytesPerSec: 128 * 1024 } }
    })
    engines.push(engine)
    const torrent = await engine.addTorrent(await readFile(torrentPath))
    torrent.addPeer(`127.0.0.1:${a.port}`)
    const aAddress = `127.0.0.1:${a.port}`
    const deadline = Date.now() + 20_000
    while (!torrent.peers().some((p) => p.address === aAddress)) {
      if (Date.now() > deadline) throw new Error('Lodestone did not connect to A')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    torrent.addPeer(`127.0.0.1:${b.port}`)
    const status = await b.waitFor((s) => s.peers.some((p) => p.port === a.port), 30_000, 'B to dial A after our PEX message')
    expect(status.peers.find((p) => p.port === a.port)?.sources).toContain('pex')
  })
})
