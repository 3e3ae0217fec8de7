import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../adapters/memory/memory-filesystem.js'
import { CorruptingFileSystem, SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

async function corruptSwarm (leechSettings: { hashFailuresBeforeBan: number }, rates: { honest: number, evil: number }) {
  const world = new SwarmWorld(5)
  const data = payload(1024 * 1024 + 777, 11)
  const torrentBytes = makeTorrent('data.bin', data, 32_768)
  const honest = world.addNode('10.0.0.1', { uploadBytesPerSec: rates.honest })
  await writeFile(honest.fs, 'data.bin', data)
  const evilDisk = new MemoryFileSystem({ clock: world.clock })
  await writeFile(evilDisk, 'data.bin', data)
  const corrupting = new CorruptingFileSystem(evilDisk)
  const evil = world.addNode('10.0.0.66', { fs: corrupting, uploadBytesPerSec: rates.evil })
  const honestTorrent = await honest.engine.addTorrent(torrentBytes)
  const evilTorrent = await evil.engine.addTorrent(torrentBytes)
  await world.clock.runUntil(() => honestTorrent.state === 'seeding' && evilTorrent.state === 'seeding', 10_000)
  corrupting.corrupt = true
  // TCP: the scenarios are timed for it (which blocks land in which pieces); uTP paths are in utp.test.ts.
  const leech = world.addNode('10.0.1.1', { settings: { download: leechSettings, transport: { utp: false } } })
  const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.66:6881', '10.0.0.1:6881'] })
  return { world, data, t, leech, evilDisk }
}

describe('swarm: a peer that sends corrupted blocks', () => {
  it('smart ban: a liar that only ever shares pieces with honest peers is found block by block', async () => {
    // Sole-sender counting is off (needs 1000 failures), so only the block comparison can ban.
    // The liar is slow, so its blocks land in pieces the honest seed fills too (partial pieces first).
    const { world, data, t, leech, evilDisk } = await corruptSwarm({ hashFailuresBeforeBan: 1000 }, { honest: 400 * 1024, evil: 60 * 1024 })
    const failed: string[][] = []
    t.on('hash-failed', (e) => { failed.push(e.peers) })
    const banned: Array<{ host: string, reason: string }> = []
    t.on('peer-banned', (e) => { banned.push(e) })
    expect(await world.clock.runUntil(() => t.state === 'seeding', 300_000)).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'data.bin'), data)).toBe(0)
    expect(banned.map((b) => b.host)).toEqual(['10.0.0.66'])
    expect(banned[0]!.reason).toMatch(/differs from the verified piece/)
    expect(failed.some((peers) => peers.length === 2)).toBe(true)
    expect(t.stats().hashFailures).toBe(failed.length)
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
    expect(evilDisk.openHandleCount).toBe(0)
  })

  it('is detected by hash failures and banned; the download completes from honest peers', async () => {
    // The liar is faster, so it gets asked for plenty of blocks, mostly whole pieces on its own.
    const { world, data, t, leech, evilDisk } = await corruptSwarm({ hashFailuresBeforeBan: 2 }, { honest: 200 * 1024, evil: 800 * 1024 })
    const failed: Array<{ piece: number, peers: string[] }> = []
    const banned: string[] = []
    t.on('hash-failed', (e) => { failed.push(e) })
    t.on('peer-banned', ({ host }) => { banned.push(host) })

    const done = await world.clock.runUntil(() => t.state === 'seeding', 300_000)
    expect(done).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'data.bin'), data)).toBe(0)

    expect(failed.length).toBeGreaterThanOrEqual(1)
    expect(failed.every((f) => f.peers.includes('10.0.0.66'))).toBe(true)
    expect(banned).toEqual(['10.0.0.66'])
    const stats = t.stats()
    expect(stats.hashFailures).toBe(failed.length)
    expect(stats.bannedPeers).toBe(1)
    expect(stats.wastedBytes).toBeGreaterThanOrEqual(failed.length * 32_768)
    // The liar is gone and is not let back in; the honest seed did the rest.
    expect(t.peers().some((p) => p.address.startsWith('10.0.0.66'))).toBe(false)
    expect(t.addPeer('10.0.0.66:6882')).toBe(false)
    await world.clock.advanceAsync(5_000)
    expect(t.peers().some((p) => p.address.startsWith('10.0.0.66'))).toBe(false)

    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
    expect(evilDisk.openHandleCount).toBe(0)
  })
})
