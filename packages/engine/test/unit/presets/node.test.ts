import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../../presets/node.js'
import type { BtEngine } from '../../../src/session/bt-engine.js'
import { makeTorrent, payload } from '../../swarm/swarm-world.js'

const dirs: string[] = []
const engines: BtEngine[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(dirs.splice(0).map(async (d) => { await rm(d, { recursive: true, force: true }) }))
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lodestone-preset-'))
  dirs.push(d)
  return d
}

describe('createNodeEngine', () => {
  it('seeds and downloads over real loopback TCP with the worker hasher, then closes cleanly', async () => {
    const data = payload(3 * 1024 * 1024 + 1234, 21)
    const torrent = makeTorrent('big.bin', data, 64 * 1024)
    const seedDir = await tempDir()
    const leechDir = await tempDir()
    await writeFile(join(seedDir, 'big.bin'), data)

    const seeder = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 2 })
    const leecher = createNodeEngine({ downloadPath: leechDir, port: 0, host: '127.0.0.1', hasherWorkers: 2 })
    engines.push(seeder, leecher)
    const s = await seeder.addTorrent(torrent)
    await new Promise<void>((resolve) => { if (s.state === 'seeding') resolve(); else s.on('state-changed', ({ to }) => { if (to === 'seeding') resolve() }) })
    expect(seeder.port).toBeGreaterThan(0)
    expect(s.stats().havePieces).toBe(s.stats().pieceCount)

    const t = await leecher.addTorrent(torrent, { peers: [`127.0.0.1:${seeder.port!}`] })
    await new Promise<void>((resolve, reject) => {
      t.on('completed', () => { resolve() })
      t.on('error', ({ error }) => { reject(error) })
    })
    expect(t.state).toBe('seeding')
    expect(Buffer.compare(await readFile(join(leechDir, 'big.bin')), data)).toBe(0)
    expect(s.stats().uploadedBytes).toBeGreaterThanOrEqual(data.length)
    const peerClient = s.peers()[0]?.clientName ?? null
    if (peerClient !== null) expect(peerClient).toMatch(/Lodestone/)

    await leecher.close()
    await seeder.close()
    expect(t.state).toBe('stopped')
    await expect(leecher.addTorrent(torrent)).rejects.toMatchObject({ code: 'CLOSED' })
  })
})
