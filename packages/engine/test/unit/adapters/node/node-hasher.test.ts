import { describe, it, expect, afterAll } from 'vitest'
import { createHash } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeHasher } from '../../../../adapters/node/node-hasher.js'
import { hashPiece } from '../../../../src/metainfo/create-piece-hasher.js'
import type { IHasher, HashAlgorithm } from '../../../../src/interfaces/hasher.js'

function ref (algorithm: HashAlgorithm, ...parts: Uint8Array[]): string {
  const h = createHash(algorithm)
  for (const p of parts) h.update(p)
  return h.digest('hex')
}

function hex (b: Uint8Array | null): string {
  return b === null ? 'null' : Buffer.from(b).toString('hex')
}

function pattern (length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

/** Independent BEP 52 merkle root: leaves = SHA-256 of 16 KiB blocks, zero leaves up to leafCount. */
function refMerkle (data: Uint8Array, leafCount: number): string {
  let layer: Buffer[] = []
  for (let o = 0; o < data.length; o += 16384) layer.push(createHash('sha256').update(data.subarray(o, o + 16384)).digest())
  while (layer.length < leafCount) layer.push(Buffer.alloc(32))
  while (layer.length > 1) {
    const next: Buffer[] = []
    for (let i = 0; i < layer.length; i += 2) next.push(createHash('sha256').update(Buffer.concat([layer[i]!, layer[i + 1]!])).digest())
    layer = next
  }
  return layer[0]!.toString('hex')
}

/** An IHasher with only `digest`, to check the portable fallback gives the same answers. */
function plainHasher (): IHasher {
  return {
    concurrency: 1,
    async digest (algorithm, data) {
      const parts = data instanceof Uint8Array ? [data] : [...data]
      return Promise.resolve(new Uint8Array(Buffer.from(ref(algorithm, ...parts), 'hex')))
    },
    async close () {}
  }
}

describe('NodeHasher', () => {
  const hasher = new NodeHasher({ workers: 2 })
  afterAll(async () => { await hasher.close() })

  it('digests small (inline) and large (worker) inputs like node:crypto', async () => {
    for (const size of [0, 1, 64, 16_384, 16_385, 100_000, 1 << 20]) {
      const data = pattern(size, size)
      for (const algorithm of ['sha1', 'sha256'] as const) {
        expect(hex(await hasher.digest(algorithm, data)), `${algorithm} ${size}`).toBe(ref(algorithm, data))
      }
    }
  })

  it('digests the concatenation of several buffers', async () => {
    const parts = [pattern(10_000, 1), pattern(50_000, 2), new Uint8Array(0), pattern(7, 3)]
    expect(hex(await hasher.digest('sha256', parts))).toBe(ref('sha256', ...parts))
    expect(hex(await hasher.digest('sha1', parts.slice(0, 1)))).toBe(ref('sha1', parts[0]!))
  })

  it('never detaches or modifies the caller\'s buffers', async () => {
    const data = pattern(300_000)
    const copy = data.slice()
    const view = data.subarray(1000, 200_000)
    await hasher.digest('sha1', view)
    await hasher.hashPiece(view, { sha1PadBytes: 5, v2Leaves: 16 })
    expect(data.byteLength).toBe(300_000)
    expect(data.buffer.byteLength).toBe(300_000)
    expect(Buffer.compare(data, copy)).toBe(0)
  })

  it('hashes shared buffers from allocate() in place', async () => {
    // Above inlinePieceMaxBytes (1 MiB by default): shared memory the workers read.
    const buf = hasher.allocate(2_097_152)
    expect(buf.buffer).toBeInstanceOf(SharedArrayBuffer)
    buf.set(pattern(262_144, 9))
    const part = buf.subarray(5, 200_005)
    expect(hex(await hasher.digest('sha256', part))).toBe(ref('sha256', part))
    expect(hex(await hasher.digest('sha1', [buf.subarray(0, 100_000), buf.subarray(100_000)]))).toBe(ref('sha1', buf))
  })

  it('hashes v1, v2 and hybrid pieces up to inlinePieceMaxBytes on the calling thread, in plain memory from allocate()', async () => {
    const h = new NodeHasher({ workers: 1, inlineMaxBytes: 0, inlinePieceMaxBytes: 300_000 })
    try {
      expect(h.allocate(300_001).buffer).toBeInstanceOf(SharedArrayBuffer)
      const buf = h.allocate(262_144)
      expect(buf.buffer).not.toBeInstanceOf(SharedArrayBuffer)
      buf.set(pattern(262_144, 3))
      for (const pad of [0, 1, 70_000]) {
        const got = await h.hashPiece(buf, { sha1PadBytes: pad })
        expect(hex(got.sha1)).toBe(ref('sha1', buf, new Uint8Array(pad)))
        expect(got.v2Root).toBeNull()
      }
      const parts = await h.hashPiece([buf.subarray(0, 1000), buf.subarray(1000)], { sha1PadBytes: 5 })
      expect(hex(parts.sha1)).toBe(ref('sha1', buf, new Uint8Array(5)))
      // Hybrid and v2 pieces too (SHA-1 and the merkle root of their blocks, padded with zero leaves).
      for (const [bytes, pad, leaves] of [[65_536, 0, 4], [262_144, 0, 16], [40_000, 9152, 4], [1, 16_383, 1], [20_000, 0, 8]] as const) {
        const hybrid = await h.hashPiece(buf.subarray(0, bytes), { sha1PadBytes: pad, v2Leaves: leaves })
        expect(hex(hybrid.sha1)).toBe(ref('sha1', buf.subarray(0, bytes), new Uint8Array(pad)))
        expect(hex(hybrid.v2Root), `${bytes} bytes, ${leaves} leaves`).toBe(refMerkle(buf.subarray(0, bytes), leaves))
      }
      const v2Only = await h.hashPiece(buf.subarray(0, 32_768), { v2Leaves: 2 })
      expect(v2Only.sha1).toBeNull()
      expect(hex(v2Only.v2Root)).toBe(refMerkle(buf.subarray(0, 32_768), 2))
      // No worker was started for any of them.
      expect((h as unknown as { workers: unknown[] }).workers.length).toBe(0)
      // Blocks in several buffers go to the workers, and give the same root.
      const split = await h.hashPiece([buf.subarray(0, 30_000), buf.subarray(30_000, 65_536)], { sha1PadBytes: 0, v2Leaves: 4 })
      expect(hex(split.v2Root)).toBe(refMerkle(buf.subarray(0, 65_536), 4))
    } finally {
      await h.close()
    }
  })

  it('hashPiece: SHA-1 with zero padding and the v2 subtree root', async () => {
    const cases: Array<[number, number, number]> = [
      // [data bytes, sha1 pad bytes, v2 leaves]
      [16_384, 0, 1],
      [1, 16_383, 1],
      [40_000, 9152, 4],
      [65_536, 0, 4],
      [70_000, 11_920, 8],
      [524_288, 0, 32],
      [100_000, 100_000, 16]
    ]
    for (const [size, pad, leaves] of cases) {
      const data = pattern(size, size + 7)
      const got = await hasher.hashPiece(data, { sha1PadBytes: pad, v2Leaves: leaves })
      expect(hex(got.sha1), `sha1 ${size}`).toBe(ref('sha1', data, new Uint8Array(pad)))
      expect(hex(got.v2Root), `v2 ${size}`).toBe(refMerkle(data, leaves))
      const fallback = await hashPiece(plainHasher(), data, { sha1PadBytes: pad, v2Leaves: leaves })
      expect(hex(fallback.sha1)).toBe(hex(got.sha1))
      expect(hex(fallback.v2Root)).toBe(hex(got.v2Root))
    }
    const onlyV1 = await hasher.hashPiece([pattern(1000), pattern(2000, 2)], { sha1PadBytes: 0 })
    expect(onlyV1.v2Root).toBeNull()
    expect(hex(onlyV1.sha1)).toBe(ref('sha1', pattern(1000), pattern(2000, 2)))
    const onlyV2 = await hasher.hashPiece([pattern(20_000), pattern(20_000, 2)], { v2Leaves: 4 })
    expect(onlyV2.sha1).toBeNull()
    expect(hex(onlyV2.v2Root)).toBe(refMerkle(Buffer.concat([pattern(20_000), pattern(20_000, 2)]), 4))
  })

  it('hashFilePiece reads ranges of several files inside a worker, like hashPiece on the same bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lodestone-hasher-'))
    try {
      const a = pattern(50_000, 1)
      const b = pattern(30_000, 2)
      writeFileSync(join(dir, 'a'), a)
      writeFileSync(join(dir, 'b ü'), b)
      const segments = [
        { nativePath: join(dir, 'a'), offsetBytes: 10_000, lengthBytes: 40_000 },
        { nativePath: join(dir, 'b ü'), offsetBytes: 0, lengthBytes: 25_000 }
      ]
      const joined = Buffer.concat([a.subarray(10_000), b.subarray(0, 25_000)])
      const got = await hasher.hashFilePiece(segments, { sha1PadBytes: 100, v2Leaves: 4 })
      expect(hex(got.sha1)).toBe(ref('sha1', joined, new Uint8Array(100)))
      expect(hex(got.v2Root)).toBe(refMerkle(joined, 4))
      // Many at once, across both workers, reusing each worker's read buffer.
      const many = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
        hasher.hashFilePiece([{ nativePath: join(dir, 'a'), offsetBytes: i * 1000, lengthBytes: 20_000 }], { sha1PadBytes: 0 })))
      many.forEach((r, i) => { expect(hex(r.sha1)).toBe(ref('sha1', a.subarray(i * 1000, i * 1000 + 20_000))) })
      await expect(hasher.hashFilePiece([{ nativePath: join(dir, 'missing'), offsetBytes: 0, lengthBytes: 1 }], { sha1PadBytes: 0 }))
        .rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND', details: { path: join(dir, 'missing') } })
      await expect(hasher.hashFilePiece([{ nativePath: join(dir, 'a'), offsetBytes: 49_000, lengthBytes: 2000 }], { sha1PadBytes: 0 }))
        .rejects.toMatchObject({ code: 'STORAGE_IO', details: { path: join(dir, 'a'), operation: 'read' } })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('hashFilePieces: every worker pulls pieces, results arrive once per piece; errors and aborts stop all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lodestone-hasher-'))
    try {
      const data = pattern(1_000_000, 5)
      writeFileSync(join(dir, 'f'), data)
      const pieces = Array.from({ length: 61 }, (_, i) => ({
        segments: [{ nativePath: join(dir, 'f'), offsetBytes: i * 16_384, lengthBytes: Math.min(16_384, data.length - i * 16_384) }],
        request: { sha1PadBytes: 0, v2Leaves: 1 }
      }))
      const seen = new Map<number, string>()
      await hasher.hashFilePieces(pieces, (index, result) => {
        expect(seen.has(index)).toBe(false)
        seen.set(index, hex(result.sha1) + hex(result.v2Root))
      })
      expect(seen.size).toBe(61)
      for (const [i, got] of seen) {
        const piece = data.subarray(i * 16_384, (i + 1) * 16_384)
        expect(got).toBe(ref('sha1', piece) + ref('sha256', piece))
      }
      const broken = [...pieces.slice(0, 10), { segments: [{ nativePath: join(dir, 'gone'), offsetBytes: 0, lengthBytes: 10 }], request: { sha1PadBytes: 0 } }, ...pieces.slice(10)]
      await expect(hasher.hashFilePieces(broken, () => {})).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND', details: { path: join(dir, 'gone') } })
      const controller = new AbortController()
      let calls = 0
      await expect(hasher.hashFilePieces(pieces, () => { if (++calls === 2) controller.abort() }, { signal: controller.signal }))
        .rejects.toMatchObject({ code: 'ABORTED' })
      calls = 0
      await expect(hasher.hashFilePieces(pieces, () => { calls++ }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' })
      expect(calls).toBe(0)
      // The pool is still usable afterwards.
      expect(hex(await hasher.digest('sha1', data))).toBe(ref('sha1', data))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('keeps many jobs in flight and answers each correctly', async () => {
    const inputs = Array.from({ length: 64 }, (_, i) => pattern(20_000 + i * 997, i))
    const got = await Promise.all(inputs.map(async (d, i) => hasher.digest(i % 2 === 0 ? 'sha1' : 'sha256', d)))
    got.forEach((g, i) => { expect(hex(g)).toBe(ref(i % 2 === 0 ? 'sha1' : 'sha256', inputs[i]!)) })
  })

  it('rejects with CLOSED after close(), and close() is idempotent', async () => {
    const h = new NodeHasher({ workers: 1, inlineMaxBytes: 0 })
    expect(hex(await h.digest('sha1', pattern(10)))).toBe(ref('sha1', pattern(10)))
    const pending = expect(h.digest('sha256', pattern(1 << 20))).rejects.toMatchObject({ code: 'CLOSED' })
    await h.close()
    await h.close()
    await pending
    await expect(h.digest('sha1', pattern(10))).rejects.toMatchObject({ code: 'CLOSED' })
  })

  it('refuses bad settings with SETTINGS_INVALID', () => {
    expect(() => new NodeHasher({ workers: -1 })).toThrow(expect.objectContaining({ code: 'SETTINGS_INVALID' }))
    expect(() => new NodeHasher({ jobsPerWorker: 0 })).toThrow(expect.objectContaining({ code: 'SETTINGS_INVALID' }))
  })

  it('does not keep the process alive when idle, even with its workers started (built dist, no close())', () => {
    const dist = fileURLToPath(new URL('../../../../dist/adapters/node/index.js', import.meta.url))
    const script = `
      const { NodeHasher } = await import(${JSON.stringify(dist)})
      const h = new NodeHasher({ workers: 2, inlineMaxBytes: 0 })
      h.start()
      const d = await h.digest('sha1', new Uint8Array(1 << 20))
      console.log(Buffer.from(d).toString('hex'))`
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 15_000, encoding: 'utf8' })
    expect(run.error).toBeUndefined()
    expect(run.status).toBe(0)
    expect(run.stdout.trim()).toBe(ref('sha1', new Uint8Array(1 << 20)))
  })
})
