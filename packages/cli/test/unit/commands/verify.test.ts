import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readFileSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createTorrent } from '@lodestone/engine'
import { NodeFileSystem, NodeHasher } from '@lodestone/engine/adapters/node'
import { runCli, tempTree, payload, expectOneErrorLine } from '../../helpers.js'
import type { VerifyJson } from '../../../src/commands/verify.js'
import { formatRanges } from '../../../src/commands/verify.js'

const PIECE = 16_384
// v1 with BEP 47 padding off: files share pieces, so a bad piece can touch two files.
const FILES: Record<string, Uint8Array> = {
  'share/a.bin': payload(5 * PIECE + 100, 1),
  'share/b.bin': payload(2 * PIECE, 2),
  'share/c.txt': payload(10, 3)
}
const tree = tempTree(FILES)
const torrentPath = join(tree.dir, 'share.torrent')

beforeAll(async () => {
  const hasher = new NodeHasher()
  try {
    const made = await createTorrent('share', { pieceLengthBytes: PIECE, kind: 'v1' }, { fs: new NodeFileSystem(tree.dir), hasher })
    writeFileSync(torrentPath, made.torrent)
  } finally {
    await hasher.close()
  }
})
afterAll(() => { tree.cleanup() })

async function verifyJson (): Promise<{ code: number, json: VerifyJson, stderr: string }> {
  const run = await runCli(['verify', torrentPath, '-d', tree.dir, '--json'])
  return { code: run.code, json: JSON.parse(run.stdout) as VerifyJson, stderr: run.stderr }
}

describe('lodestone verify', { timeout: 60_000 }, () => {
  it('reports good data: exit 0, every file complete', async () => {
    const { code, json, stderr } = await verifyJson()
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(json.complete).toBe(true)
    expect(json.goodPieces).toBe(json.pieceCount)
    expect(json.files.map((f) => [f.path, f.complete, f.verifiedBytes])).toEqual([
      ['a.bin', true, 5 * PIECE + 100], ['b.bin', true, 2 * PIECE], ['c.txt', true, 10]
    ])
    const human = await runCli(['verify', torrentPath, '-d', tree.dir])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^share: 8 of 8 pieces good; /)
  })

  it('reports a corrupted piece and the file holding it; a missing file makes its pieces missing', async () => {
    const a = join(tree.dir, 'share/a.bin')
    const bytes = new Uint8Array(readFileSync(a))
    bytes[2 * PIECE + 7] = bytes[2 * PIECE + 7]! ^ 0xff // piece 2, inside a.bin only
    writeFileSync(a, bytes)
    try {
      const { code, json, stderr } = await verifyJson()
      expect(code).toBe(1)
      expect(stderr).toMatch(/^lodestone: data incomplete: 1 of 3 files not fully verified \(1 piece failed, 0 missing\)\n$/)
      expect(json.complete).toBe(false)
      expect(json.failedPieces).toEqual([2])
      expect(json.files[0]).toMatchObject({ path: 'a.bin', complete: false, verifiedBytes: 4 * PIECE + 100, failedPieces: [2] })
      expect(json.files[1]).toMatchObject({ path: 'b.bin', complete: true })
      const human = await runCli(['verify', torrentPath, '-d', tree.dir])
      expect(human.code).toBe(1)
      expect(human.stdout).toContain('1 failed (2)')
      expect(human.stdout).toMatch(/0 {2}INCOMPLETE {2}a\.bin .* failed pieces 2\n/)
    } finally {
      writeFileSync(a, FILES['share/a.bin']!)
    }
    rmSync(join(tree.dir, 'share/c.txt'))
    try {
      const { code, json } = await verifyJson()
      expect(code).toBe(1)
      // c.txt's 10 bytes are in the last piece, shared with b.bin's tail.
      expect(json.missingPieces).toEqual([json.pieceCount - 1])
      expect(json.files.map((f) => f.complete)).toEqual([true, false, false])
    } finally {
      writeFileSync(join(tree.dir, 'share/c.txt'), FILES['share/c.txt']!)
    }
  })

  it('refuses bad input with one line', async () => {
    const missing = await runCli(['verify', join(tree.dir, 'nope.torrent'), '-d', tree.dir])
    expect(missing.code).toBe(1)
    expect(expectOneErrorLine(missing)).toContain('no such file')
    const usage = await runCli(['verify', torrentPath])
    expect(usage.code).toBe(2)
    expect(expectOneErrorLine(usage)).toContain('--dir')
  })

  it('formats piece lists as ranges', () => {
    expect(formatRanges([1, 2, 3, 7, 9, 10])).toBe('1-3, 7, 9-10')
    expect(formatRanges([])).toBe('')
    expect(formatRanges([0, 2, 4, 6], 2)).toBe('0, 2, …')
  })
})
