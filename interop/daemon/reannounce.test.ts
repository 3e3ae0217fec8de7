/**
 * `transmission-remote -t N --reannounce` against `lodestone daemon` (issue 14): the daemon seeds a
 * torrent whose tracker is the `bittorrent-tracker` npm server (in this process, on 127.0.0.1,
 * telling clients a 10-minute interval); after its `started` the tracker hears nothing more until
 * the reannounce, then a second (regular) announce from the same peer id within seconds.
 */
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import Server from 'bittorrent-tracker/server'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { removeTempDirs, tempDir } from '../helpers/fixtures.js'
import { makeContent } from '../helpers/libtorrent-swarm-peer.js'
import { pollFor, remoteOk, rpcCall, startDaemon, type RunningDaemon } from './daemon-harness.js'

interface Heard { event: string, peerId: string, atMs: number }

const daemons: RunningDaemon[] = []
const servers: Server[] = []
afterEach(async () => {
  await Promise.all(daemons.splice(0).map(async (d) => { await d.stop() }))
  await Promise.all(servers.splice(0).map(async (s) => { await new Promise((resolve) => { s.close(resolve) }) }))
})
afterAll(async () => { await removeTempDirs() })

async function startTracker (heard: Heard[]): Promise<string> {
  const server = new Server({ http: true, udp: false, ws: false, stats: false, interval: 600_000 })
  servers.push(server)
  for (const event of ['start', 'update', 'complete', 'stop']) {
    server.on(event, (_addr: unknown, params: { peer_id?: string }) => {
      heard.push({ event, peerId: String(params.peer_id), atMs: Date.now() })
    })
  }
  const listening = new Promise((resolve) => { server.http!.once('listening', resolve) })
  server.listen({ http: 0 }, { http: '127.0.0.1' })
  await listening
  return `http://127.0.0.1:${(server.http!.address() as AddressInfo).port}/announce`
}

describe('transmission-remote --reannounce', () => {
  it('makes the seeding daemon announce to its tracker again before the interval', async () => {
    const base = await tempDir('lodestone-daemon-reannounce-')
    const heard: Heard[] = []
    const trackerUrl = await startTracker(heard)
    const content = await makeContent(base, 1024 * 1024, [trackerUrl])
    const daemon = await startDaemon(base, { downloadDir: base, stateDir: join(base, 'state') })
    daemons.push(daemon)
    const port = daemon.rpcPort
    expect(await remoteOk(port, ['-a', content.torrentPath])).toMatch(/responded: "success"/)
    // Transmission's status 6: seeding (the data was found complete by the check).
    await pollFor(async () => ((await rpcCall(port, 'torrent-get', { ids: [1], fields: ['status'] })).arguments.torrents[0]?.status === 6 ? true : undefined), 30_000, 'seeding')
    await pollFor(async () => (heard.length > 0 ? true : undefined), 15_000, 'the first announce')
    // Nothing more on the tracker's 10-minute schedule.
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(heard.map((h) => h.event)).toEqual(['start'])

    const askedAtMs = Date.now()
    expect(await remoteOk(port, ['-t', '1', '--reannounce'])).toMatch(/responded: "success"/)
    await pollFor(async () => (heard.length > 1 ? true : undefined), 10_000, 'a second announce')
    const second = heard[1]!
    console.log(`reannounce: second announce ${second.atMs - askedAtMs} ms after transmission-remote --reannounce`)
    expect(second.event).toBe('update')
    expect(second.peerId).toBe(heard[0]!.peerId)
    expect(second.atMs - askedAtMs).toBeLessThan(5_000)
    expect(await daemon.stop()).toBe(0)
  })
})
