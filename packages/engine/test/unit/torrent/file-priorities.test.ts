import { describe, expect, it } from 'vitest'
import { FilePriorities, FilePriority, expandFileIndexRanges, selectOnlyPriorities } from '../../../src/torrent/file-priorities.js'
import type { TorrentFileEntry } from '../../../src/metainfo/types.js'

function files (lengths: Array<number | ['pad', number]>): TorrentFileEntry[] {
  let offset = 0
  return lengths.map((l, i) => {
    const padding = Array.isArray(l)
    const lengthBytes = Array.isArray(l) ? l[1] : l
    const f = { path: [`f${i}`], lengthBytes, offsetBytes: offset, padding, attr: padding ? 'p' : '' }
    offset += lengthBytes
    return f
  })
}

describe('FilePriorities', () => {
  // piece length 10: f0 = [0,25) pieces 0-2, f1 = [25,40) pieces 2-3, f2 = [40,40) empty, f3 = [40,61) pieces 4-6
  const space = { files: files([25, 15, 0, 21]), pieceLengthBytes: 10, pieceCount: 7 }

  it('gives a piece the highest priority of the real files it touches; shared pieces of a skipped file stay wanted', () => {
    const p = new FilePriorities(space)
    expect(p.isDefault).toBe(true)
    expect([...p.piecePriorities()]).toEqual([4, 4, 4, 4, 4, 4, 4])
    p.setFiles([FilePriority.low, FilePriority.skip, FilePriority.skip, FilePriority.high])
    expect(p.isDefault).toBe(false)
    // piece 2 is shared by f0 (low) and f1 (skip): low; piece 3 is f1's alone: skip.
    expect([...p.piecePriorities()]).toEqual([1, 1, 1, 0, 6, 6, 6])
    p.setFiles([0, 7, 0, 0])
    expect([...p.piecePriorities()]).toEqual([0, 0, 7, 7, 0, 0, 0])
  })

  it('explicit piece priorities override the files (and can be cleared)', () => {
    const p = new FilePriorities(space, [4, 0, 4, 4])
    p.setPiece(3, 7)
    p.setPiece(0, 0)
    expect([...p.piecePriorities()]).toEqual([0, 4, 4, 7, 4, 4, 4])
    p.setPiece(3, null)
    p.setPiece(0, null)
    expect([...p.piecePriorities()]).toEqual([4, 4, 4, 0, 4, 4, 4])
  })

  it('pieces holding only padding are low while anything is wanted, skipped when nothing is', () => {
    // piece length 8: f0 [0,5) piece 0, pad [5,16) pieces 0-1 (piece 1 pad only), f2 [16,20) piece 2
    const p = new FilePriorities({ files: files([5, ['pad', 11], 4]), pieceLengthBytes: 8, pieceCount: 3 })
    expect([...p.piecePriorities()]).toEqual([4, 1, 4])
    p.setFiles([0, 0, 0])
    expect([...p.piecePriorities()]).toEqual([0, 0, 0])
  })

  it('counts a file\'s verified bytes from the pieces it overlaps', () => {
    const p = new FilePriorities(space)
    const have = new Set([2, 3])
    expect(p.verifiedBytes(0, (x) => have.has(x))).toBe(5) // [20,25)
    expect(p.verifiedBytes(1, (x) => have.has(x))).toBe(15)
    expect(p.verifiedBytes(2, () => true)).toBe(0)
    expect(p.verifiedBytes(3, () => true)).toBe(21)
  })

  it('refuses bad input with ARGUMENT_INVALID', () => {
    const p = new FilePriorities(space)
    expect(() => { p.setFiles([4, 4, 4]) }).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }) as Error)
    expect(() => { p.setFiles([4, 8, 4, 4]) }).toThrow(/filePriorities\[1\]|8 is not/)
    expect(() => { p.setFiles([4, 1.5, 4, 4]) }).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }) as Error)
    expect(() => { p.setPiece(7, 1) }).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }) as Error)
    expect(() => { p.setPiece(0, -1) }).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }) as Error)
    expect(() => p.file(4)).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }) as Error)
  })
})

describe('selectOnly (BEP 53 so=)', () => {
  it('maps indices to normal/skip and expands ranges', () => {
    expect(selectOnlyPriorities(4, [0, 2])).toEqual([4, 0, 4, 0])
    expect(expandFileIndexRanges([{ first: 2, last: 4 }, { first: 0, last: 0 }, { first: 3, last: 3 }], 6)).toEqual([0, 2, 3, 4])
    expect(() => selectOnlyPriorities(3, [3])).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }) as Error)
    expect(() => expandFileIndexRanges([{ first: 2, last: 1 }], 6)).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }) as Error)
    expect(() => expandFileIndexRanges([{ first: 0, last: 6 }], 6)).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }) as Error)
  })
})
