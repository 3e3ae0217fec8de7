import { describe, expect, it } from 'vitest'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

// BtEngine.adoptOutgoing (issue 17): a connection opened outside the engine (in a browser, a WebRTC
// data channel from an offer we made) joins its torrent as an outgoing peer — we speak first — so
// two engines that both wait for the other's handshake on such channels still connect.
describe('swarm: adopting an already-open connection as outgoing', () => {
  it('a leecher adopts a connection it opened itself and downloads over it', async () => {
    const world = new SwarmWorld(23)
    const data = payload(150_000, 23)
    const torrentBytes = makeTorrent('file.bin', data, 32_768)
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'file.bin', data)
    const leech = world.addNode('10.0.0.2')
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)
    const t = await leech.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => t.state === 'downloading', 10_000)

    // Unknown torrent: refused, the socket untouched.
    const other = new Uint8Array(20).fill(9)
    // Opened outside the leech's engine (another host of the network stands in for a data channel).
    let socket: Awaited<ReturnType<ReturnType<typeof world.network.host>['connectTcp']>> | undefined
    void world.network.host('10.0.0.3').connectTcp('10.0.0.1', 6881).then((s) => { socket = s })
    await world.clock.runUntil(() => socket !== undefined, 5_000)
    if (socket === undefined) throw new Error('no connection')
    expect(leech.engine.adoptOutgoing(socket, other)).toBe(false)
    expect(leech.engine.adoptOutgoing(socket, t.infoHash)).toBe(true)
    const ok = await world.clock.runUntil(() => t.state === 'seeding', 60_000)
    expect(ok).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'file.bin'), data)).toBe(0)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
