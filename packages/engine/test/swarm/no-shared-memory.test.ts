import { afterEach, describe, expect, it } from 'vitest'
import { SwarmWorld, makeTorrent, payload, readFile, writeFile } from './swarm-world.js'

// Issue 17: a web page that is not cross-origin isolated has no SharedArrayBuffer global at all.
// The core must download there; shared memory is only an optimisation where it exists.
describe('swarm: no SharedArrayBuffer global (a plain web page)', () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'SharedArrayBuffer')
  afterEach(() => { if (saved !== undefined) Object.defineProperty(globalThis, 'SharedArrayBuffer', saved) })

  it('downloads byte-identical with no warnings', async () => {
    Reflect.deleteProperty(globalThis, 'SharedArrayBuffer')
    expect(typeof (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer).toBe('undefined')
    const world = new SwarmWorld(17)
    const data = payload(200_000, 17)
    const torrentBytes = makeTorrent('file.bin', data, 32_768)
    const seed = world.addNode('10.0.0.1')
    await writeFile(seed.fs, 'file.bin', data)
    const leech = world.addNode('10.0.0.2')
    const seedTorrent = await seed.engine.addTorrent(torrentBytes)
    await world.clock.runUntil(() => seedTorrent.state === 'seeding', 10_000)

    const t = await leech.engine.addTorrent(torrentBytes, { peers: ['10.0.0.1:6881'] })
    const warnings: string[] = []
    t.on('warning', ({ error }) => { warnings.push(error instanceof Error ? error.message : String(error)) })
    const ok = await world.clock.runUntil(() => t.state === 'seeding', 60_000)
    expect(warnings).toEqual([])
    expect(ok).toBe(true)
    expect(Buffer.compare(await readFile(leech.fs, 'file.bin'), data)).toBe(0)
    await world.close()
  })
})
