/**
 * Restart from `dht:state` (issue 10): an engine that bootstrapped off a libtorrent DHT and was
 * closed comes back with the same node id and finds peers for a new magnet through the DHT
 * without contacting its bootstrap node (a UDP socket the test watches, which receives nothing).
 */
import { createSocket } from 'node:dgram'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { buildMagnet } from '../../packages/engine/src/metainfo/magnet.js'
import type { PeerInfo } from '../../packages/engine/src/torrent/torrent-types.js'
import { digestTree, makeTorrent, pollUntil, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentDht } from '../helpers/libtorrent-dht.js'

const SESSIONS = 16
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })
afterAll(async () => { await removeTempDirs() })

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('DHT state across a restart', () => {
  it('a restarted engine finds peers through the DHT without its bootstrap node', async () => {
    const seedDir = await tempDir()
    await writeContent(seedDir, 'first.bin', 200_000)
    await writeContent(seedDir, 'second.bin', 300_000)
    const firstPath = join(await tempDir(), 'first.torrent')
    const secondPath = join(await tempDir(), 'second.torrent')
    const first = await makeTorrent(seedDir, 'first.bin', 'v1', firstPath)
    const second = await makeTorrent(seedDir, 'second.bin', 'v1', secondPath)
    const lt = await startLibtorrentDht(SESSIONS + 1)
    cleanups.push(async () => { await lt.close() })
    await lt.waitFor(() => (lt.status?.nodes ?? []).every((n) => n >= 8), 30_000, 'libtorrent routing tables to fill')
    lt.add('first', SESSIONS, { torrentPath: firstPath }, seedDir)
    lt.add('second', SESSIONS, { torrentPath: secondPath }, seedDir)
    await lt.waitFor(() => lt.status?.torrents.first?.isSeeding === true && lt.status?.torrents.second?.isSeeding === true, 20_000, 'the seeder')
    for (const [name, created] of [['first', first], ['second', second]] as const) {
      lt.announce(name, SESSIONS)
      await lt.findPeer(3, hex(created.infoHashV1!), (_, p) => p === lt.ports[SESSIONS], 30_000, `libtorrent to find its seeder of ${name}`)
    }

    const stateDir = await tempDir()
    const downloadDir = await tempDir()
    const engineWith = (bootstrap: string): BtEngine => {
      const engine = createNodeEngine({ downloadPath: downloadDir, stateDir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off', settings: { dht: { bootstrapNodes: [bootstrap] } } })
      cleanups.push(async () => { await engine.close() })
      return engine
    }

    // First run: bootstrap off libtorrent node 0, download the first torrent through the DHT.
    const one = engineWith(`127.0.0.1:${lt.ports[0]!}`)
    const t1 = await one.addTorrent(buildMagnet({ infoHashV1: first.infoHashV1 }))
    await waitCompleted(t1, 60_000)
    const nodeId = one.stats().dht?.nodeId
    expect(one.stats().dht?.nodes).toBeGreaterThanOrEqual(8)
    await one.close()

    // The bootstrap node of the second run is a socket that only counts what it receives.
    const spy = createSocket('udp4')
    let spied = 0
    spy.on('message', () => { spied++ })
    await new Promise<void>((resolve) => { spy.bind(0, '127.0.0.1', resolve) })
    cleanups.push(() => { spy.close() })
    const two = engineWith(`127.0.0.1:${spy.address().port}`)
    await two.restoreSession()
    const t2 = await two.addTorrent(buildMagnet({ infoHashV1: second.infoHashV1 }))
    const connected: PeerInfo[] = []
    t2.on('peer-connected', ({ peer }) => { connected.push(peer) })
    await waitCompleted(t2, 60_000)
    expect(await digestTree(join(downloadDir, 'second.bin'))).toEqual(await digestTree(join(seedDir, 'second.bin')))
    expect(connected.find((p) => p.address === `127.0.0.1:${lt.ports[SESSIONS]!}`)?.source).toBe('dht')
    expect(two.stats().dht?.nodeId).toBe(nodeId)
    await pollUntil(() => (two.stats().dht?.nodes ?? 0) >= 8, 10_000, 'the restored table')
    expect(spied).toBe(0)
  })
})
