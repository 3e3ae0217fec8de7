/**
 * moveStorage on real disks (node preset, loopback TCP): while downloading, to a directory on the
 * same filesystem (rename) and to one on another device (/dev/shm, a tmpfs: copy + fsync + delete).
 */
import { statSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createNodeEngine } from '../../../presets/node.js'
import type { BtEngine } from '../../../src/session/bt-engine.js'
import type { Torrent } from '../../../src/torrent/torrent.js'
import { makeTorrent, payload } from '../../swarm/swarm-world.js'

const dirs: string[] = []
const engines: BtEngine[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map(async (e) => { await e.close() }))
  await Promise.all(dirs.splice(0).map(async (d) => { await rm(d, { recursive: true, force: true }) }))
})

async function tempDir (parent = tmpdir()): Promise<string> {
  const d = await mkdtemp(join(parent, 'lodestone-move-'))
  dirs.push(d)
  return d
}

async function until (t: Torrent, predicate: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now()
  while (!predicate()) {
    if (t.state === 'error') throw t.error ?? new Error('torrent error')
    if (Date.now() - started > timeoutMs) throw new Error(`timed out in state ${t.state}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('createNodeEngine: moveStorage while downloading', () => {
  for (const where of ['same filesystem (rename)', 'another device (copy)'] as const) {
    it(`completes at the new place with nothing left behind — ${where}`, async () => {
      const data = payload(2 * 1024 * 1024, 31)
      const torrent = makeTorrent('movie.bin', data, 32 * 1024)
      const seedDir = await tempDir()
      const oldDir = await tempDir()
      const newDir = await tempDir(where.startsWith('another') ? '/dev/shm' : tmpdir())
      if (where.startsWith('another')) expect(statSync(newDir).dev).not.toBe(statSync(oldDir).dev)
      await writeFile(join(seedDir, 'movie.bin'), data)
      const seeder = createNodeEngine({ downloadPath: seedDir, port: 0, host: '127.0.0.1', hasherWorkers: 1, settings: { rateLimit: { uploadRateBytesPerSec: 1024 * 1024 } } })
      const leecher = createNodeEngine({ downloadPath: oldDir, port: 0, host: '127.0.0.1', hasherWorkers: 1 })
      engines.push(seeder, leecher)
      const s = await seeder.addTorrent(torrent)
      await until(s, () => s.state === 'seeding', 10_000)
      const t = await leecher.addTorrent(torrent, { peers: [`127.0.0.1:${seeder.port!}`] })
      await until(t, () => t.stats().havePieces >= 4, 20_000)
      expect(t.state).toBe('downloading')
      const moved: string[] = []
      t.on('storage-moved', ({ token }) => moved.push(token))
      // Slow the seeder while the files move, so a loaded machine cannot finish the download first.
      seeder.updateSettings({ rateLimit: { uploadRateBytesPerSec: 64 * 1024 } })
      await t.moveStorage(newDir)
      expect(moved).toEqual([newDir])
      expect(t.stats().havePieces).toBeLessThan(t.stats().pieceCount)
      seeder.updateSettings({ rateLimit: { uploadRateBytesPerSec: 4 * 1024 * 1024 } })
      await until(t, () => t.state === 'seeding', 30_000)
      expect(Buffer.compare(await readFile(join(newDir, 'movie.bin')), data)).toBe(0)
      expect(await readdir(oldDir)).toEqual([])
      expect((await readdir(newDir)).sort()).toEqual(['movie.bin'])
      expect(t.stats().hashFailures).toBe(0)
    })
  }
})
