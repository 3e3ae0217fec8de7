/**
 * checkOnDisk (issue 13, recheck on both cores): on real files, the hasher's workers reading the
 * pieces themselves reach exactly the verdicts of the reading path — v1 (pieces spanning files),
 * v2 and hybrid (pad files), a flipped byte, a missing file, a short file — and a torrent's check
 * in the engine goes through it. A small check stays on the reading path.
 */
import { mkdir, mkdtemp, rm, truncate, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeFileSystem } from '../../../adapters/node/node-filesystem.js'
import { NodeHasher } from '../../../adapters/node/node-hasher.js'
import { NodeSocketFactory } from '../../../adapters/node/node-socket-factory.js'
import { SystemClock } from '../../../adapters/node/node-clock.js'
import type { IPieceHasher } from '../../../src/metainfo/create-piece-hasher.js'
import { createTorrent } from '../../../src/metainfo/create-torrent.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { BtEngine } from '../../../src/session/bt-engine.js'
import { testingSettings } from '../../../src/session/engine-settings.js'
import { StorageRootManager } from '../../../src/storage/storage-root-manager.js'
import { MIN_BYTES } from '../../../src/storage/check-on-disk.js'
import { verifyTorrentData } from '../../../src/storage/verify-data.js'

// Large enough that a check (4.7 MB) is above MIN_BYTES and goes through the workers.
const PIECE = 524_288

function bytes (length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff
  return out
}

/** The NodeHasher, counting hashFilePieces calls; `reading: true` hides that method (the reading path). */
function hasherFor (pool: NodeHasher, reading: boolean): IPieceHasher & { bulkCalls: number } {
  const h: IPieceHasher & { bulkCalls: number } = {
    bulkCalls: 0,
    concurrency: pool.concurrency,
    digest: async (algorithm, data) => pool.digest(algorithm, data),
    hashPiece: async (data, request) => pool.hashPiece(data, request),
    close: async () => {}
  }
  if (!reading) {
    h.hashFilePieces = async (pieces, onPiece, options) => {
      h.bulkCalls++
      await pool.hashFilePieces(pieces, onPiece, options)
    }
  }
  return h
}

let dir: string
let pool: NodeHasher
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lodestone-check-on-disk-'))
  pool = new NodeHasher({ workers: 2 })
})
afterAll(async () => {
  await pool.close()
  await rm(dir, { recursive: true, force: true })
})

async function share (name: string): Promise<string> {
  const root = join(dir, name)
  await mkdir(join(root, 'share'), { recursive: true })
  await writeFile(join(root, 'share', 'a.bin'), bytes(5 * PIECE + 5, 1))
  await writeFile(join(root, 'share', 'b.bin'), bytes(PIECE - 1, 2))
  await writeFile(join(root, 'share', 'c.bin'), bytes(3 * PIECE + 100, 3))
  await writeFile(join(root, 'share', 'empty'), new Uint8Array(0))
  return root
}

describe('checkOnDisk', () => {
  for (const kind of ['v1', 'v2', 'hybrid'] as const) {
    it(`${kind}: the same verdicts as the reading path, through the workers`, async () => {
      const root = await share(kind)
      const fs = new NodeFileSystem(root)
      const meta = await parseTorrent((await createTorrent('share', { pieceLengthBytes: PIECE, kind }, { fs, hasher: pool })).torrent)
      const damage = [
        async () => {}, // all good
        async () => { await writeFile(join(root, 'share', 'a.bin'), Uint8Array.from(bytes(5 * PIECE + 5, 1), (b, i) => i === PIECE + 9 ? b ^ 1 : b)) },
        async () => { await unlink(join(root, 'share', 'b.bin')) },
        async () => { await truncate(join(root, 'share', 'c.bin'), PIECE + 3) }
      ]
      for (const step of damage) {
        await step()
        const fast = hasherFor(pool, false)
        const viaWorkers = await verifyTorrentData(meta, { fs, hasher: fast })
        const viaReads = await verifyTorrentData(meta, { fs, hasher: hasherFor(pool, true) })
        expect(fast.bulkCalls).toBeGreaterThan(0)
        expect(viaWorkers).toEqual(viaReads)
      }
      const last = await verifyTorrentData(meta, { fs, hasher: hasherFor(pool, false) })
      expect(last.failedPieces).toBe(1)
      expect(last.missingPieces).toBeGreaterThanOrEqual(3)
      expect(last.goodPieces).toBeGreaterThan(0)
    })
  }

  it('a check of less than MIN_BYTES reads and hashes on the calling thread', async () => {
    const root = join(dir, 'small')
    await mkdir(join(root, 'share'), { recursive: true })
    await writeFile(join(root, 'share', 'a.bin'), bytes(MIN_BYTES / 2, 1))
    const fs = new NodeFileSystem(root)
    const meta = await parseTorrent((await createTorrent('share', { pieceLengthBytes: 16_384, kind: 'v1' }, { fs, hasher: pool })).torrent)
    const hasher = hasherFor(pool, false)
    expect((await verifyTorrentData(meta, { fs, hasher })).complete).toBe(true)
    expect(hasher.bulkCalls).toBe(0)
  })

  it("the engine's check of a torrent's data goes through the workers and finds the bad piece", async () => {
    const root = await share('engine')
    const fs = new NodeFileSystem(root)
    const torrent = (await createTorrent('share', { pieceLengthBytes: PIECE, kind: 'v1' }, { fs, hasher: pool })).torrent
    await writeFile(join(root, 'share', 'a.bin'), Uint8Array.from(bytes(5 * PIECE + 5, 1), (b, i) => i === 2 * PIECE ? b ^ 1 : b))
    const storageRoots = new StorageRootManager((_token, r) => new NodeFileSystem(r.path))
    storageRoots.addRoot({ token: root, label: 'root', path: root })
    storageRoots.setDefaultRoot(root)
    const hasher = hasherFor(pool, false)
    const engine = new BtEngine({ socketFactory: new NodeSocketFactory(), clock: new SystemClock(), hasher, storageRoots }, testingSettings({ discovery: { trackers: false } }))
    try {
      const t = await engine.addTorrent(torrent)
      const checked = await new Promise<{ havePieces: number }>((resolve) => t.once('checked', resolve))
      expect(hasher.bulkCalls).toBeGreaterThan(0)
      expect(checked.havePieces).toBe(t.meta.pieceCount - 1)
      expect(t.bitfield().get(2)).toBe(false)
    } finally {
      await engine.close()
    }
  })
})
