import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { hasCode } from '../../../src/errors.js'
import { PieceLayout, filePathOf } from '../../../src/storage/piece-layout.js'
import { makeLayout } from './test-fs.js'

describe('PieceLayout', () => {
  it('maps a piece across several files, skipping empty files', () => {
    const layout = new PieceLayout(makeLayout('t', [10, 0, 5, 0, 20, 3], 16))
    expect(layout.pieceCount).toBe(3)
    expect(layout.pieceSpans(0)).toEqual([
      { fileIndex: 0, fileOffsetBytes: 0, lengthBytes: 10, rangeOffsetBytes: 0 },
      { fileIndex: 2, fileOffsetBytes: 0, lengthBytes: 5, rangeOffsetBytes: 10 },
      { fileIndex: 4, fileOffsetBytes: 0, lengthBytes: 1, rangeOffsetBytes: 15 }
    ])
    expect(layout.pieceSpans(2)).toEqual([
      { fileIndex: 4, fileOffsetBytes: 17, lengthBytes: 3, rangeOffsetBytes: 0 },
      { fileIndex: 5, fileOffsetBytes: 0, lengthBytes: 3, rangeOffsetBytes: 3 }
    ])
    expect(layout.pieceLength(2)).toBe(6)
    expect(layout.pieceSpans(1, 4, 2)).toEqual([{ fileIndex: 4, fileOffsetBytes: 5, lengthBytes: 2, rangeOffsetBytes: 0 }])
    expect(layout.fileAt(10)).toBe(2)
    expect(layout.fileAt(15)).toBe(4)
    expect(layout.filePieceRange(4)).toEqual({ firstPiece: 0, lastPiece: 2 })
    expect(layout.filePieceRange(1).lastPiece).toBeLessThan(layout.filePieceRange(1).firstPiece)
  })

  it('names files under the torrent directory only for multi-file torrents', () => {
    expect(filePathOf({ name: 'dir', multiFile: true }, { path: ['a', 'b.txt'] })).toBe('dir/a/b.txt')
    expect(filePathOf({ name: 'movie.mkv', multiFile: false }, { path: ['movie.mkv'] })).toBe('movie.mkv')
    const single = new PieceLayout(makeLayout('x', [{ path: ['x'], length: 5 }], 4, false))
    expect(single.filePath(0)).toBe('x')
    const multi = new PieceLayout(makeLayout('x', [{ path: ['x'], length: 5 }], 4, true))
    expect(multi.filePath(0)).toBe('x/x')
  })

  it('lists pieces shared by two or more real files, ignoring padding', () => {
    // files: 10 | 6 | pad 16 | 16 | 7 with 16-byte pieces → piece 0 holds f0+f1; pad aligns f3.
    const layout = new PieceLayout(makeLayout('t', [10, 6, -16, 16, 7, 2], 16))
    expect(layout.sharedPieces()).toEqual([0, 3])
  })

  it('refuses layouts whose files do not tile the piece space', () => {
    const bad = (f: () => unknown): boolean => {
      try { f() } catch (err) { return hasCode(err, 'ARGUMENT_INVALID') }
      return false
    }
    const ok = makeLayout('t', [10, 6], 4)
    expect(bad(() => new PieceLayout({ ...ok, totalLengthBytes: 17 }))).toBe(true)
    expect(bad(() => new PieceLayout({ ...ok, pieceCount: 5 }))).toBe(true)
    expect(bad(() => new PieceLayout({ ...ok, files: [ok.files[1]!, ok.files[0]!] }))).toBe(true)
    expect(bad(() => new PieceLayout(ok).spans(10, 7))).toBe(true)
    expect(bad(() => new PieceLayout(ok).pieceLength(4))).toBe(true)
  })

  it('spans tile any range exactly (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 1, max: 40 }),
      fc.nat(), fc.nat(),
      (lengths, pieceLength, a, b) => {
        const total = lengths.reduce((x, y) => x + y, 0)
        fc.pre(total > 0)
        const layout = new PieceLayout(makeLayout('t', lengths, pieceLength))
        const start = a % total
        const length = b % (total - start + 1)
        const spans = layout.spans(start, length)
        let pos = 0
        for (const s of spans) {
          expect(s.rangeOffsetBytes).toBe(pos)
          expect(s.lengthBytes).toBeGreaterThan(0)
          const f = layout.files[s.fileIndex]!
          expect(f.offsetBytes + s.fileOffsetBytes).toBe(start + pos)
          expect(s.fileOffsetBytes + s.lengthBytes).toBeLessThanOrEqual(f.lengthBytes)
          pos += s.lengthBytes
        }
        expect(pos).toBe(length)
      }
    ), { numRuns: 300, seed: 11 })
  })
})
