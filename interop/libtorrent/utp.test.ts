/**
 * uTP (BEP 29, issue 11) against libtorrent 2.0.8 on 127.0.0.1, with libtorrent's TCP switched
 * off both ways (enable_outgoing_tcp / enable_incoming_tcp false, uTP on, a 4 MiB socket receive
 * buffer), so only uTP can carry the torrent.
 *
 * - libtorrent seeds; a Lodestone engine with default settings (TCP and uTP) is given its address.
 *   libtorrent accepts our TCP connection and closes it, so the dialer's race must pick uTP, and
 *   quickly. Files byte-identical; Lodestone reports the peer as uTP and libtorrent lists us with
 *   its utp_socket flag.
 * - The reverse: `lodestone seed --no-tcp` (the CLI, uTP only) serves a uTP-only libtorrent that
 *   dials it; libtorrent completes with identical files and lists the connection as uTP.
 * - The dial race's hand-over: TCP connects first and the handshake starts on it; uTP answers before
 *   the peer's first TCP byte, so the connection moves to uTP with what was sent replayed. A relay
 *   in front of the uTP-only libtorrent makes that order certain: its TCP side accepts and stays
 *   silent, its UDP side forwards to libtorrent but holds our uTP SYN until our first TCP bytes
 *   are in. libtorrent must accept the replayed MSE opening over uTP and serve the torrent.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../packages/engine/presets/node.js'
import type { BtEngine } from '../../packages/engine/src/session/bt-engine.js'
import { digestTree, makeTorrent, removeTempDirs, tempDir, waitCompleted, writeContent } from '../helpers/fixtures.js'
import { startLibtorrentPeer, type LibtorrentPeer } from '../helpers/libtorrent-peer.js'

const CLI = fileURLToPath(new URL('../../packages/cli/bin/lodestone.js', import.meta.url))

/** libtorrent speaking uTP only, with the receive buffer the bar is measured against. */
const LT_UTP_ONLY = {
  enable_outgoing_tcp: false,
  enable_incoming_tcp: false,
  enable_outgoing_utp: true,
  enable_incoming_utp: true,
  recv_socket_buffer_size: 4 * 1024 * 1024
}

const PAYLOAD_BYTES = 8 * 1024 * 1024 + 12_345

const engines: BtEngine[] = []
const peers: LibtorrentPeer[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(peers.splice(0).map(async (p) => { await p.close() }))
})
afterAll(async () => { await removeTempDirs() })

async function fixture (payloadBytes = PAYLOAD_BYTES): Promise<{ seedDir: string, torrentPath: string }> {
  const seedDir = await tempDir()
  await writeContent(seedDir, 'payload.bin', payloadBytes)
  const torrentPath = join(await tempDir(), 'utp.torrent')
  await makeTorrent(seedDir, 'payload.bin', 'v1', torrentPath, 256 * 1024)
  return { seedDir, torrentPath }
}

/** A TCP port free on 127.0.0.1 now (the CLI seeder listens on it, TCP and UDP). */
async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

/**
 * TCP and UDP on one port of 127.0.0.1: TCP connections are accepted and left silent (bytes
 * recorded), datagrams are relayed to `target` — the first client's held until a TCP connection
 * has sent something.
 */
async function startRelay (target: number): Promise<{ port: number, tcpBytes: () => number[], tcpClosedByClient: () => boolean, datagrams: () => number, close: () => Promise<void> }> {
  for (let attempt = 0; ; attempt++) {
    const server: Server = createServer()
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve) })
    const port = (server.address() as { port: number }).port
    const udp: UdpSocket = createSocket('udp4')
    const bound = await new Promise<boolean>((resolve) => { udp.once('error', () => { resolve(false) }); udp.bind(port, '127.0.0.1', () => { resolve(true) }) })
    if (!bound) {
      udp.close()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      if (attempt > 20) throw new Error('no port free for both TCP and UDP')
      continue
    }
    const conns: Socket[] = []
    const tcpBytes: number[] = []
    let clientClosed = false
    let released = false
    let client: { address: string, port: number } | null = null
    const held: Buffer[] = []
    let relayed = 0
    server.on('connection', (socket) => {
      conns.push(socket)
      socket.on('data', (d) => {
        tcpBytes.push(...d)
        if (!released) {
          released = true
          for (const m of held.splice(0)) udp.send(m, target, '127.0.0.1')
        }
      })
      socket.on('end', () => { clientClosed = true })
      socket.on('close', () => { clientClosed = true })
      socket.on('error', () => {})
    })
    udp.on('message', (msg, rinfo) => {
      relayed++
      if (rinfo.port === target) {
        if (client !== null) udp.send(msg, client.port, client.address)
        return
      }
      client = { address: rinfo.address, port: rinfo.port }
      if (released) udp.send(msg, target, '127.0.0.1')
      else held.push(msg)
    })
    return {
      port,
      tcpBytes: () => tcpBytes,
      tcpClosedByClient: () => clientClosed,
      datagrams: () => relayed,
      close: async () => {
        for (const c of conns) c.destroy()
        udp.close()
        await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      }
    }
  }
}

describe('uTP with libtorrent 2.0.8 (TCP off on the libtorrent side, loopback)', () => {
  it('a uTP-only libtorrent seeds; Lodestone (both transports on) connects over uTP at once and downloads identical files', async () => {
    const { seedDir, torrentPath } = await fixture()
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed', settings: LT_UTP_ONLY })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding, 30_000, 'libtorrent to check its data and seed')

    const outDir = await tempDir()
    const engine = createNodeEngine({ downloadPath: outDir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off' })
    engines.push(engine)
    const torrent = await engine.addTorrent(await readFile(torrentPath))
    const connected: Array<{ transport: string, direction: string, afterMs: number }> = []
    const started = performance.now()
    torrent.on('peer-connected', ({ peer }) => { connected.push({ transport: peer.transport, direction: peer.direction, afterMs: performance.now() - started }) })
    torrent.addPeer(`127.0.0.1:${seeder.port}`)
    await waitCompleted(torrent, 60_000)
    const seconds = (performance.now() - started) / 1000
    expect(await digestTree(join(outDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
    expect(connected.map((c) => [c.transport, c.direction])).toEqual([['utp', 'outgoing']])
    // The dialer's race: libtorrent accepted TCP and closed it; uTP won without a time-out.
    expect(connected[0]!.afterMs).toBeLessThan(2_000)
    const udp = engine.stats().udp!
    expect(udp.utp.payloadBytesIn).toBeGreaterThanOrEqual(PAYLOAD_BYTES)
    // libtorrent's per-peer counters are samples: a connection that ends between two samples (both
    // sides seeds) keeps its last, partial figure. The torrent's payload counter is exact.
    // A transfer shorter than libtorrent's 0.2 s status sample is never listed; its disconnect
    // alert still names the transport and the peer id.
    const status = await seeder.waitFor((s) => s.totalPayloadUpload >= PAYLOAD_BYTES &&
      (s.seen.some((p) => p.total_upload > 0) || seeder.disconnectedPeers.length > 0), 5_000, 'libtorrent to list or drop the Lodestone peer')
    const served = [
      ...status.seen.filter((p) => p.total_upload > 0).map((p) => [p.utp ? 'utp' : 'tcp', p.pid]),
      // libtorrent names some uTP disconnects by the UDP socket the stream ran on ('udp'): either
      // way not TCP, which this libtorrent has switched off.
      ...seeder.disconnectedPeers.map((p) => [p.socketType === 'udp' ? 'utp' : p.socketType, p.pid])
    ]
    expect(served.length).toBeGreaterThan(0)
    for (const [transport, pid] of served) {
      expect(transport).toBe('utp')
      expect(Buffer.from(pid!, 'hex').toString('latin1')).toMatch(/^-LS\d{4}-/)
    }
    console.log(`libtorrent (uTP only) -> Lodestone: ${(PAYLOAD_BYTES / 1e6 / seconds).toFixed(1)} MB/s over ${seconds.toFixed(2)} s, connected after ${connected[0]!.afterMs.toFixed(0)} ms; uTP: ${udp.utp.packetsIn} packets in, ${udp.utp.retransmits + udp.utp.fastRetransmits} retransmits by us, ${udp.utp.duplicatePackets} duplicates`)
  })

  it('`lodestone seed --no-tcp` serves a uTP-only libtorrent that dials it; libtorrent lists the connection as uTP', async () => {
    const { seedDir, torrentPath } = await fixture()
    const port = await freePort()
    const child = spawn(process.execPath, [CLI, 'seed', torrentPath, '-d', seedDir, '--port', String(port), '--host', '127.0.0.1', '--json', '--no-tcp'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
    try {
      const deadline = Date.now() + 30_000
      while (!stdout.includes('"to":"seeding"')) {
        if (Date.now() > deadline) throw new Error(`lodestone seed did not start seeding; stderr: ${stderr}; stdout: ${stdout.slice(-2000)}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const leechDir = await tempDir()
      const leech = await startLibtorrentPeer({ torrentPath, savePath: leechDir, mode: 'download', settings: LT_UTP_ONLY, peers: [{ host: '127.0.0.1', port }] })
      peers.push(leech)
      const started = performance.now()
      const status = await leech.waitFor((s) => s.isSeeding, 60_000, 'libtorrent to complete over uTP')
      const seconds = (performance.now() - started) / 1000
      expect(await digestTree(join(leechDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
      const fed = status.seen.filter((p) => p.total_download > 0)
      expect(fed.map((p) => [p.utp, p.port, p.client.includes('Lodestone')])).toEqual([[true, port, true]])
      const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(events.filter((e) => e.type === 'peer-connected').map((e) => [e.transport, e.direction])).toEqual([['utp', 'incoming']])
      console.log(`Lodestone (seed --no-tcp) -> libtorrent (uTP only): ${(PAYLOAD_BYTES / 1e6 / seconds).toFixed(1)} MB/s over ${seconds.toFixed(2)} s`)
    } finally {
      child.kill('SIGTERM')
      await exited
    }
    expect(stderr).toBe('')
  })

  it('TCP connects first and carries the opening; uTP answering before the first TCP byte takes the connection over, the opening replayed', async () => {
    const payloadBytes = 1024 * 1024 + 77
    const { seedDir, torrentPath } = await fixture(payloadBytes)
    // Capped so the transfer outlasts libtorrent's 0.2 s peer samples and the uTP peer gets listed.
    const seeder = await startLibtorrentPeer({ torrentPath, savePath: seedDir, mode: 'seed', settings: LT_UTP_ONLY, torrentUploadLimit: 2_000_000 })
    peers.push(seeder)
    await seeder.waitFor((s) => s.isSeeding, 30_000, 'libtorrent to check its data and seed')
    const relay = await startRelay(seeder.port)
    try {
      const outDir = await tempDir()
      const engine = createNodeEngine({ downloadPath: outDir, port: 0, host: '127.0.0.1', hasherWorkers: 1, logLevel: 'off' })
      engines.push(engine)
      const torrent = await engine.addTorrent(await readFile(torrentPath))
      const connected: Array<[string, string]> = []
      torrent.on('peer-connected', ({ peer }) => { connected.push([peer.transport, peer.direction]) })
      torrent.addPeer(`127.0.0.1:${relay.port}`)
      const status = await seeder.waitFor((s) => s.seen.some((p) => p.utp && p.total_upload > 0), 20_000, 'libtorrent to serve the Lodestone peer over uTP')
      await waitCompleted(torrent, 30_000)
      expect(await digestTree(join(outDir, 'payload.bin'))).toEqual(await digestTree(join(seedDir, 'payload.bin')))
      expect(connected).toEqual([['utp', 'outgoing']])
      // The opening went out on TCP first (an MSE public key is 96 bytes, padding follows), and we
      // dropped that TCP connection when uTP answered.
      expect(relay.tcpBytes().length).toBeGreaterThanOrEqual(96)
      expect(relay.tcpClosedByClient()).toBe(true)
      expect(relay.datagrams()).toBeGreaterThan(0)
      // libtorrent accepted the replayed opening: an MSE-handshaken uTP connection from our peer id.
      const served = status.seen.filter((p) => p.utp && p.total_upload > 0)
      expect(served.map((p) => [p.rc4 || p.plaintextEncrypted, Buffer.from(p.pid, 'hex').toString('latin1').slice(0, 3)])).toEqual([[true, '-LS']])
    } finally {
      await relay.close()
    }
  })
})
