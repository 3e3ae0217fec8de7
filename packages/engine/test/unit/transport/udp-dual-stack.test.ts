/**
 * The engine's UDP socket on all interfaces serves both address families, as its TCP listener on
 * all interfaces does (issue 11): the Node adapter binds `::` with IPv4 mapped, sends to IPv4
 * peers at their mapped address, reports them as plain IPv4; and an engine listening on all
 * interfaces takes uTP from ::1 as well as from 127.0.0.1.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { NodeSocketFactory } from '../../../adapters/node/node-socket-factory.js'
import { createNodeEngine } from '../../../presets/node.js'
import type { IUdpSocket, UdpRemote } from '../../../src/interfaces/socket.js'
import type { BtEngine } from '../../../src/session/bt-engine.js'
import { makeTorrent, payload } from '../../swarm/swarm-world.js'

const dirs: string[] = []
const engines: BtEngine[] = []
const sockets: IUdpSocket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close()
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(dirs.splice(0).map(async (d) => { await rm(d, { recursive: true, force: true }) }))
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lodestone-dual-stack-'))
  dirs.push(d)
  return d
}

/** The next datagram `socket` receives. */
async function nextMessage (socket: IUdpSocket): Promise<{ data: Uint8Array, remote: UdpRemote }> {
  return new Promise((resolve) => { socket.onMessage((data, remote) => { resolve({ data: data.slice(), remote }) }) })
}

describe('UDP on all interfaces is dual-stack', () => {
  it('the Node socket talks with an IPv4 and an IPv6 peer, IPv4 reported unmapped', async () => {
    const factory = new NodeSocketFactory()
    const all = await factory.bindUdp(0)
    const v4 = await factory.bindUdp(0, '127.0.0.1')
    const v6 = await factory.bindUdp(0, '::1')
    sockets.push(all, v4, v6)
    expect(all.dualStack).toBe(true)
    for (const [peer, host] of [[v4, '127.0.0.1'], [v6, '::1']] as const) {
      const arrived = nextMessage(all)
      peer.send(Uint8Array.of(1, 2, 3), host, all.port)
      const { remote } = await arrived
      expect(remote).toEqual({ address: host, port: peer.port })
      const answer = nextMessage(peer)
      all.send(Uint8Array.of(4, 5), remote.address, remote.port) // to 127.0.0.1: sent to ::ffff:127.0.0.1
      expect([...(await answer).data]).toEqual([4, 5])
    }
  })

  it('an engine listening on all interfaces serves a uTP-only peer on ::1 and one on 127.0.0.1', async () => {
    const data = payload(600_000, 41)
    const torrent = makeTorrent('file.bin', data, 32 * 1024)
    const quiet = { discovery: { dht: false, lsd: false, portMapping: false, pex: false, trackers: false }, transport: { tcp: false } }
    const seedDir = await tempDir()
    await writeFile(join(seedDir, 'file.bin'), data)
    const seeder = createNodeEngine({ downloadPath: seedDir, port: 0, hasherWorkers: 1, settings: quiet })
    engines.push(seeder)
    const s = await seeder.addTorrent(torrent)
    await new Promise<void>((resolve) => { if (s.state === 'seeding') resolve(); else s.on('state-changed', ({ to }) => { if (to === 'seeding') resolve() }) })
    for (const [host, peer] of [['::1', `[::1]:${seeder.port!}`], ['127.0.0.1', `127.0.0.1:${seeder.port!}`]] as const) {
      const dir = await tempDir()
      const leecher = createNodeEngine({ downloadPath: dir, port: 0, host, hasherWorkers: 1, settings: quiet })
      engines.push(leecher)
      const t = await leecher.addTorrent(torrent, { peers: [peer] })
      const connected: string[][] = []
      t.on('peer-connected', ({ peer: p }) => { connected.push([p.address, p.transport]) })
      await new Promise<void>((resolve, reject) => {
        t.on('completed', () => { resolve() })
        t.on('error', ({ error }) => { reject(error) })
      })
      expect(Buffer.compare(await readFile(join(dir, 'file.bin')), data)).toBe(0)
      expect(connected).toEqual([[peer, 'utp']])
    }
    expect(s.stats().uploadedBytes).toBeGreaterThanOrEqual(2 * data.length)
  })
})
