import { describe, expect, it } from 'vitest'
import { FaultyFileSystem } from '../../../adapters/memory/faulty-filesystem.js'
import { MemoryFileSystem } from '../../../adapters/memory/memory-filesystem.js'
import type { LodestoneError } from '../../../src/errors.js'
import { hasCode } from '../../../src/errors.js'
import type { HashAlgorithm } from '../../../src/interfaces/hasher.js'
import { SwarmWorld, SyncHasher, makeTorrent, payload, readFile, writeFile } from '../../swarm/swarm-world.js'

const PIECE = 32_768

async function seeded (world: SwarmWorld, data: Uint8Array, torrentBytes: Uint8Array, address = '10.0.0.1') {
  const seed = world.addNode(address)
  await writeFile(seed.fs, 'f.bin', data)
  const t = await seed.engine.addTorrent(torrentBytes)
  await world.clock.runUntil(() => t.state === 'seeding', 10_000)
  return { seed, t }
}

describe('Torrent lifecycle', () => {
  it('goes stopped → starting → hashing → downloading, pauses, resumes, stops and restarts', async () => {
    const world = new SwarmWorld(1)
    const data = payload(10 * PIECE, 1)
    const torrentBytes = makeTorrent('f.bin', data, PIECE)
    await seeded(world, data, torrentBytes)
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(torrentBytes, { start: false, peers: ['10.0.0.1:6881'] })
    const states: string[] = []
    t.on('state-changed', ({ to }) => states.push(to))
    expect(t.state).toBe('stopped')
    expect(() => { t.pause() }).toThrow(expect.objectContaining({ code: 'ILLEGAL_TRANSITION' }) as Error)
    expect(() => { t.resume() }).toThrow(expect.objectContaining({ code: 'ILLEGAL_TRANSITION' }) as Error)

    const started = t.start()
    expect(t.state).toBe('hashing')
    await started
    expect(t.state).toBe('downloading')
    t.pause()
    expect(t.state).toBe('paused')
    expect(t.stats().peers).toBe(0)
    await world.clock.advanceAsync(2_000)
    expect(t.stats().havePieces).toBeLessThan(10) // nothing downloads while paused
    t.resume()
    await world.clock.runUntil(() => t.state === 'seeding', 60_000)
    expect(t.state).toBe('seeding')
    await t.stop()
    expect(t.state).toBe('stopped')
    await t.stop() // idempotent
    await t.start() // finds its data complete
    expect(t.state).toBe('seeding')
    expect(states).toEqual(['starting', 'hashing', 'downloading', 'paused', 'downloading', 'seeding', 'stopping', 'stopped', 'starting', 'hashing', 'seeding'])
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a torrent whose files are complete goes straight to seeding, reporting the check', async () => {
    const world = new SwarmWorld(2)
    const data = payload(7 * PIECE + 5, 2)
    const torrentBytes = makeTorrent('f.bin', data, PIECE)
    const node = world.addNode('10.0.0.1')
    await writeFile(node.fs, 'f.bin', data)
    const events: string[] = []
    node.engine.on('torrent-added', ({ torrent }) => {
      torrent.on('checked', ({ havePieces }) => events.push(`checked ${havePieces}`))
      torrent.on('completed', () => events.push('completed'))
      torrent.on('state-changed', ({ to }) => events.push(to))
    })
    const t = await node.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => t.state === 'seeding', 10_000)
    expect(events).toEqual(['starting', 'hashing', 'checked 8', 'completed', 'seeding'])
    expect(t.stats()).toMatchObject({ progress: 1, havePieces: 8, verifiedBytes: data.length, downloadedBytes: 0 })
    await world.close()
  })

  it('keeps verified pieces found on disk and downloads only the rest', async () => {
    const world = new SwarmWorld(3)
    const data = payload(12 * PIECE, 3)
    const torrentBytes = makeTorrent('f.bin', data, PIECE)
    await seeded(world, data, torrentBytes)
    const leech = world.addNode('10.0.0.2')
    const partial = data.slice(0, 5 * PIECE + 100)
    partial[3 * PIECE + 7]! ^= 0xff // piece 3 is corrupt on disk
    await writeFile(leech.fs, 'f.bin', partial)
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    let checked = -1
    t.on('checked', ({ havePieces }) => { checked = havePieces })
    await world.clock.runUntil(() => t.state === 'seeding', 60_000)
    expect(checked).toBe(4) // pieces 0, 1, 2, 4
    expect(t.stats().downloadedBytes).toBe(8 * PIECE)
    expect(Buffer.compare(await readFile(leech.fs, 'f.bin'), data)).toBe(0)
    await world.close()
  })

  it('pausing while checking suspends the check until resumed', async () => {
    const world = new SwarmWorld(4)
    const data = payload(20 * PIECE, 4)
    const torrentBytes = makeTorrent('f.bin', data, PIECE)
    const node = world.addNode('10.0.0.1')
    await writeFile(node.fs, 'f.bin', data)
    const t = await node.engine.addTorrent(torrentBytes, { start: false })
    const done = t.start()
    expect(t.state).toBe('hashing')
    t.pause()
    expect(t.state).toBe('hashing-paused')
    await world.clock.advanceAsync(1_000)
    expect(t.state).toBe('hashing-paused')
    expect(t.stats().havePieces).toBeLessThan(20)
    t.resume()
    await done
    expect(t.state).toBe('seeding')
    expect(t.stats().havePieces).toBe(20)
    await world.close()
  })

  it('stopping while checking ends in stopped', async () => {
    const world = new SwarmWorld(5)
    const data = payload(20 * PIECE, 5)
    const torrentBytes = makeTorrent('f.bin', data, PIECE)
    const node = world.addNode('10.0.0.1')
    await writeFile(node.fs, 'f.bin', data)
    const t = await node.engine.addTorrent(torrentBytes, { start: false })
    const started = t.start()
    t.pause()
    await t.stop()
    await started
    expect(t.state).toBe('stopped')
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })

  it('a full disk puts the torrent in error (engine and torrent report it); stop clears it', async () => {
    const world = new SwarmWorld(6)
    const data = payload(10 * PIECE, 6)
    const torrentBytes = makeTorrent('f.bin', data, PIECE)
    await seeded(world, data, torrentBytes)
    const disk = new FaultyFileSystem(new MemoryFileSystem({ clock: world.clock }), { failWritesAfterBytes: 3 * PIECE })
    const leech = world.addNode('10.0.0.2', { fs: disk })
    const engineErrors: LodestoneError[] = []
    leech.engine.on('error', ({ error }) => engineErrors.push(error))
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    const torrentErrors: LodestoneError[] = []
    t.on('error', ({ error }) => torrentErrors.push(error))
    await world.clock.runUntil(() => t.state === 'error', 60_000)
    expect(t.state).toBe('error')
    expect(hasCode(t.error, 'STORAGE_FULL')).toBe(true)
    expect(torrentErrors.map((e) => e.code)).toEqual(['STORAGE_FULL'])
    expect(engineErrors.map((e) => e.code)).toEqual(['STORAGE_FULL'])
    expect(t.stats().peers).toBe(0)
    await t.stop()
    expect(t.state).toBe('stopped')
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})

/** A hasher whose digests wait until the test opens the gate: a slow disk/hasher stand-in. */
class GatedHasher extends SyncHasher {
  open = true
  private waiting: Array<() => void> = []
  override async digest (algorithm: HashAlgorithm, data: Uint8Array | readonly Uint8Array[]): Promise<Uint8Array> {
    if (!this.open) await new Promise<void>((resolve) => { this.waiting.push(resolve) })
    return super.digest(algorithm, data)
  }

  release (): void {
    this.open = true
    for (const w of this.waiting.splice(0)) w()
  }
}

describe('Torrent memory budget', () => {
  it('starts no piece beyond maxUnverifiedBytes while started pieces wait for the hasher', async () => {
    const world = new SwarmWorld(7)
    const data = payload(64 * PIECE, 7)
    const torrentBytes = makeTorrent('f.bin', data, PIECE)
    await seeded(world, data, torrentBytes)
    const gated = new GatedHasher()
    const leech = world.addNode('10.0.0.2', { hasher: gated, settings: { download: { maxUnverifiedBytes: 4 * PIECE, checkExistingData: false } } })
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'], start: false })
    gated.open = false // parsing needed the hasher; verification now waits
    void t.start()
    let maxAwaiting = 0
    let maxInFlight = 0
    for (let i = 0; i < 30; i++) {
      await world.clock.advanceAsync(500)
      maxAwaiting = Math.max(maxAwaiting, t.stats().awaitingBytes)
      maxInFlight = Math.max(maxInFlight, t.stats().inFlightPieces)
    }
    const stuckAt = t.stats().downloadedBytes
    await world.clock.advanceAsync(5_000)
    // Nothing verified, and downloading stalled at the budget: the four pieces it allows were
    // started, completed and wait; no fifth piece was started, so memory is bounded by the budget.
    expect(t.stats().havePieces).toBe(0)
    expect(t.stats().downloadedBytes).toBe(stuckAt)
    expect(stuckAt).toBe(4 * PIECE)
    expect(maxInFlight).toBe(4)
    expect(maxAwaiting).toBe(4 * PIECE)
    gated.release()
    await world.clock.runUntil(() => t.state === 'seeding', 60_000)
    expect(Buffer.compare(await readFile(leech.fs, 'f.bin'), data)).toBe(0)
    await world.close()
  })
})

describe('Torrent recheck', () => {
  it('finds a piece damaged on disk, downloads it again and seeds', async () => {
    const world = new SwarmWorld(8)
    const data = payload(8 * PIECE, 8)
    const torrentBytes = makeTorrent('f.bin', data, PIECE)
    await seeded(world, data, torrentBytes)
    const leech = world.addNode('10.0.0.2')
    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    await world.clock.runUntil(() => t.state === 'seeding', 60_000)
    const damaged = data.slice()
    damaged[5 * PIECE + 10]! ^= 1
    await writeFile(leech.fs, 'f.bin', damaged)
    const states: string[] = []
    t.on('state-changed', ({ to }) => states.push(to))
    const before = t.stats().downloadedBytes
    await t.recheck()
    expect(states.slice(0, 2)).toEqual(['hashing', 'downloading'])
    await world.clock.runUntil(() => t.state === 'seeding', 60_000)
    expect(t.stats().downloadedBytes - before).toBe(PIECE)
    expect(Buffer.compare(await readFile(leech.fs, 'f.bin'), data)).toBe(0)
    await expect((async () => { await t.stop(); await t.recheck() })()).rejects.toMatchObject({ code: 'ILLEGAL_TRANSITION' })
    await world.close()
    expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  })
})
