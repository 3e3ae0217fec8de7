import { describe, expect, it } from 'vitest'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from '../../swarm/swarm-world.js'

const PIECE = 32_768

async function run (limits: { seedUpload?: number, leechDownload?: number }): Promise<number> {
  const world = new SwarmWorld(21)
  const data = payload(32 * PIECE, 1) // 1 MiB
  const bytes = makeTorrent('f.bin', data, PIECE)
  const seed = world.addNode('10.0.0.1', { settings: { rateLimit: { uploadRateBytesPerSec: limits.seedUpload ?? 0 } } })
  await writeFile(seed.fs, 'f.bin', data)
  const s = await seed.engine.addTorrent(bytes)
  await world.clock.runUntil(() => s.state === 'seeding', 10_000)
  const leech = world.addNode('10.0.0.2', { settings: { rateLimit: { downloadRateBytesPerSec: limits.leechDownload ?? 0 } } })
  const t = await leech.engine.addTorrent(bytes, { peers: ['10.0.0.1:6881'] })
  const start = world.clock.now()
  expect(await world.clock.runUntil(() => t.state === 'seeding', 600_000)).toBe(true)
  const elapsed = world.clock.now() - start
  expect(Buffer.compare(await readFile(leech.fs, 'f.bin'), data)).toBe(0)
  await world.close()
  expect(world.leaks()).toEqual({ sockets: 0, timers: 0, fileHandles: 0 })
  return elapsed
}

describe('rate limits (virtual time)', () => {
  it('a global upload limit of 64 KiB/s makes a 1 MiB upload take about 16 s', async () => {
    const unlimited = await run({})
    const limited = await run({ seedUpload: 64 * 1024 })
    expect(unlimited).toBeLessThan(3_000)
    expect(limited).toBeGreaterThan(14_000)
    expect(limited).toBeLessThan(20_000)
  })

  it('a global download limit of 128 KiB/s makes a 1 MiB download take about 8 s', async () => {
    const limited = await run({ leechDownload: 128 * 1024 })
    expect(limited).toBeGreaterThan(7_000)
    expect(limited).toBeLessThan(11_000)
  })
})
