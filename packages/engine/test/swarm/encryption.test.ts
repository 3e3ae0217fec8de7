import { describe, expect, it } from 'vitest'
import type { LodestoneError } from '../../src/errors.js'
import type { PartialEngineSettings } from '../../src/session/engine-settings.js'
import type { PeerInfo } from '../../src/torrent/torrent.js'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

type Encryption = NonNullable<PartialEngineSettings['encryption']>

/** A seed and a leecher with the given encryption settings; the leecher dials the seed. */
async function run (seedEncryption: Encryption, leechEncryption: Encryption, limitMs = 60_000): Promise<{
  completed: boolean
  leechPeers: PeerInfo[]
  seedPeers: PeerInfo[]
  failures: Array<{ address: string, direction: string, reason: LodestoneError }>
  downloadedBytes: number
  world: SwarmWorld
  seed: ReturnType<SwarmWorld['addNode']>
  leech: ReturnType<SwarmWorld['addNode']>
  data: Uint8Array
}> {
  const world = new SwarmWorld(11)
  const data = payload(200_000, 4)
  const torrentBytes = makeTorrent('file.bin', data, 32_768)
  const seed = world.addNode('10.0.0.1', { settings: { encryption: seedEncryption } })
  await writeFile(seed.fs, 'file.bin', data)
  const leech = world.addNode('10.0.0.2', { settings: { encryption: leechEncryption } })
  const seedTorrent = await seed.engine.addTorrent(torrentBytes)
  await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)
  const seedPeers: PeerInfo[] = []
  seedTorrent.on('peer-connected', ({ peer }) => { seedPeers.push(peer) })
  const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
  const leechPeers: PeerInfo[] = []
  const failures: Array<{ address: string, direction: string, reason: LodestoneError }> = []
  t.on('peer-connected', ({ peer }) => { leechPeers.push(peer) })
  t.on('peer-handshake-failed', (e) => { failures.push(e) })
  const completed = await world.clock.runUntil(() => t.state === 'seeding', limitMs)
  return { completed, leechPeers, seedPeers, failures, downloadedBytes: t.stats().downloadedBytes, world, seed, leech, data }
}

async function done (world: SwarmWorld): Promise<void> {
  await world.close()
  expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
}

describe('swarm: protocol encryption (MSE/PE) policy', () => {
  it('require + rc4 on both sides: byte-identical over RC4, both sides report it', async () => {
    const r = await run({ mode: 'require', level: 'rc4' }, { mode: 'require', level: 'rc4' })
    expect(r.completed).toBe(true)
    expect(Buffer.compare(await readFile(r.leech.fs, 'file.bin'), r.data)).toBe(0)
    expect(r.leechPeers.map((p) => p.encryption)).toEqual(['rc4'])
    expect(r.seedPeers.map((p) => p.encryption)).toEqual(['rc4'])
    expect(r.leech.engine.stats().encryption.outgoingRc4).toBe(1)
    expect(r.seed.engine.stats().encryption.incomingRc4).toBe(1)
    await done(r.world)
  })

  it('defaults (prefer, both): the dial is MSE, the accepting side picks plaintext after it', async () => {
    const r = await run({}, {})
    expect(r.completed).toBe(true)
    expect(r.leechPeers.map((p) => p.encryption)).toEqual(['plaintext'])
    expect(r.seed.engine.stats().encryption.incomingPlaintext).toBe(1)
    await done(r.world)
  })

  it('prefer dialling a plaintext-only peer: refused once, re-dialled in plaintext at once, completes', async () => {
    const r = await run({ mode: 'disable' }, { mode: 'prefer', level: 'rc4' }, 30_000)
    expect(r.completed).toBe(true)
    expect(Buffer.compare(await readFile(r.leech.fs, 'file.bin'), r.data)).toBe(0)
    expect(r.leechPeers.map((p) => p.encryption)).toEqual(['none'])
    expect(r.failures.map((f) => [f.direction, f.reason.code])).toEqual([['outgoing', 'PEER_ENCRYPTION_FAILED']])
    const stats = r.leech.engine.stats().encryption
    expect(stats.plaintextFallbacks).toBe(1)
    expect(stats.plaintextPeers).toBe(1)
    expect(r.seed.engine.stats().encryption.failures['encrypted-refused']).toBe(1)
    await done(r.world)
  })

  it('the reverse: a peer remembered as plaintext-only that now refuses plaintext is re-dialled encrypted once', async () => {
    const r = await run({ mode: 'disable' }, { mode: 'prefer', level: 'rc4' }, 30_000)
    expect(r.completed).toBe(true)
    expect(r.leech.engine.stats().encryption.plaintextPeers).toBe(1)
    // The seeder starts to require encryption; the leecher downloads the torrent again from scratch.
    r.seed.engine.updateSettings({ encryption: { mode: 'require' } })
    const torrentBytes = makeTorrent('file.bin', r.data, 32_768)
    const id = r.leech.engine.torrents[0]!.id
    await r.leech.engine.removeTorrent(id, { deleteFiles: true })
    const again = await r.leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    const connected: PeerInfo[] = []
    again.on('peer-connected', ({ peer }) => { connected.push(peer) })
    expect(await r.world.clock.runUntil(() => again.state === 'seeding', 30_000)).toBe(true)
    expect(connected.map((p) => p.encryption)).toEqual(['rc4'])
    const stats = r.leech.engine.stats().encryption
    expect(stats.encryptedRetries).toBe(1)
    expect(stats.plaintextPeers).toBe(0)
    expect(r.seed.engine.stats().encryption.failures['plaintext-refused']).toBe(1)
    await done(r.world)
  })

  it('BEP 10 e: a peer remembered as plaintext-only that says it prefers encryption is dialled encrypted next time', async () => {
    const r = await run({ mode: 'disable' }, { mode: 'prefer', level: 'rc4' }, 30_000)
    expect(r.completed).toBe(true)
    expect(r.leech.engine.stats().encryption.plaintextPeers).toBe(1)
    // The seeder starts to prefer encryption (it accepts plaintext too): the leecher's remembered
    // plaintext dial succeeds, and the seeder's extended handshake now carries e = 1.
    r.seed.engine.updateSettings({ encryption: { mode: 'prefer' } })
    const torrentBytes = makeTorrent('file.bin', r.data, 32_768)
    const downloadAgain = async (): Promise<PeerInfo[]> => {
      await r.leech.engine.removeTorrent(r.leech.engine.torrents[0]!.id, { deleteFiles: true })
      const again = await r.leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
      const connected: PeerInfo[] = []
      again.on('peer-connected', ({ peer }) => { connected.push(peer) })
      expect(await r.world.clock.runUntil(() => again.state === 'seeding', 30_000)).toBe(true)
      return connected
    }
    expect((await downloadAgain()).map((p) => p.encryption)).toEqual(['none'])
    expect(r.leech.engine.stats().encryption.plaintextPeers).toBe(0)
    // The next dial is encrypted at once: no refusal, no fallback.
    expect((await downloadAgain()).map((p) => p.encryption)).toEqual(['rc4'])
    const stats = r.leech.engine.stats().encryption
    expect(stats.plaintextFallbacks).toBe(2)
    expect(stats.outgoingRc4).toBe(1)
    expect(r.seed.engine.stats().encryption.failures['encrypted-refused']).toBe(1)
    await done(r.world)
  })

  it('require dialling a plaintext-only peer: no data, a per-peer reason, no plaintext retry', async () => {
    const r = await run({ mode: 'disable' }, { mode: 'require' }, 20_000)
    expect(r.completed).toBe(false)
    expect(r.downloadedBytes).toBe(0)
    expect(r.leechPeers).toEqual([])
    expect(r.failures.length).toBeGreaterThan(0)
    for (const f of r.failures) expect(f.reason.code).toBe('PEER_ENCRYPTION_FAILED')
    expect(r.leech.engine.stats().encryption.plaintextFallbacks).toBe(0)
    await done(r.world)
  })

  it('a plaintext dial to a peer that requires encryption is refused with a counted reason', async () => {
    const r = await run({ mode: 'require' }, { mode: 'disable' }, 20_000)
    expect(r.completed).toBe(false)
    expect(r.downloadedBytes).toBe(0)
    expect(r.seedPeers).toEqual([])
    expect(r.seed.engine.stats().encryption.failures['plaintext-refused']).toBeGreaterThan(0)
    await done(r.world)
  })

  it('levels that do not meet: rc4 only against plaintext only is refused (crypto-refused)', async () => {
    const r = await run({ mode: 'require', level: 'plaintext' }, { mode: 'require', level: 'rc4' }, 20_000)
    expect(r.completed).toBe(false)
    expect(r.seed.engine.stats().encryption.failures['crypto-refused']).toBeGreaterThan(0)
    await done(r.world)
  })
})
