// The metainfo edge-case corpus (edge-corpus.ts) loads as intended: info hash over the info dict
// only, every file (pads included) at the right path, size and offset, attributes and symlink
// targets kept, web seeds canonical. libtorrent's view of the same bytes is checked in
// interop/libtorrent/metainfo-edge-cases.test.ts.
import { describe, expect, it } from 'vitest'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import { bencodeEncode } from '../../../src/protocol/bencode.js'
import { isLodestoneError } from '../../../src/errors.js'
import { edgeCorpus, PIECE_LENGTH } from './edge-corpus.js'
import { hex, sha1, v1Torrent } from './helpers.js'

describe('metainfo edge-case corpus', () => {
  it.each(edgeCorpus().map((c) => [c.label, c] as const))('%s loads as intended', async (_, c) => {
    const meta = await parseTorrent(c.bytes)
    expect(meta.id).toBe(hex(sha1(c.infoBytes)))
    expect(meta.name).toBe(c.name)
    expect(meta.multiFile).toBe(true)
    expect(meta.files.map((f) => ({
      path: f.path.join('/'),
      lengthBytes: f.lengthBytes,
      padding: f.padding,
      attr: f.attr,
      ...(f.symlinkPath !== undefined ? { symlink: f.symlinkPath.join('/') } : {})
    }))).toEqual(c.files)
    let offset = 0
    for (const f of meta.files) {
      expect(f.offsetBytes).toBe(offset)
      offset += f.lengthBytes
    }
    expect(meta.totalLengthBytes).toBe(offset)
    expect(meta.pieceCount).toBe(Math.ceil(offset / PIECE_LENGTH))
    expect(meta.urlList).toEqual(c.urlList)
    for (const f of meta.files) {
      for (const component of f.path) expect(new TextEncoder().encode(component).length).toBeLessThanOrEqual(255)
    }
  })
})

async function refusal (bytes: Uint8Array): Promise<{ code: string, details: Record<string, unknown> }> {
  try {
    await parseTorrent(bytes)
  } catch (err) {
    if (isLodestoneError(err)) return { code: err.code, details: err.details }
    throw err
  }
  throw new Error('parsed a torrent that should be refused')
}

const withSymlink = (target: string[], linkPath = ['d', 'link']): Uint8Array => v1Torrent({
  info: {
    pieces: new Uint8Array(20),
    files: [{ length: 10, path: ['d', 'a'] }, { length: 0, path: linkPath, attr: 'l', 'symlink path': target }]
  }
})

describe('BEP 47 symlinks that would leave the torrent', () => {
  // Read relative to the root (BEP 47) and relative to the link's directory (libtorrent's creator):
  // refused when both leave the torrent.
  it.each<[string, string[], string[]]>([
    ['parent of the root', ['..', 'etc', 'passwd'], ['link']],
    ['climbing out after descending', ['d', '..', '..', '..', 'x'], ['d', 'link']],
    ['deep climb from a nested link', ['..', '..', '..', 'home'], ['d', 'link']],
    ['two levels up from one level down', ['..', '..', 'x'], ['d', 'link']]
  ])('refuses %s', async (_, target, linkPath) => {
    const r = await refusal(withSymlink(target, linkPath))
    expect(r.code).toBe('METAINFO_UNSAFE_PATH')
    expect(r.details.reason).toBe('symlink points outside the torrent')
  })

  it.each<[string, string[], string]>([
    ['an absolute target smuggled in one component', ['/etc/passwd'], 'symlink target: path separator in a component'],
    ['a backslash target', ['..\\..\\x'], 'symlink target: path separator in a component'],
    ['a drive prefix', ['C:', 'x'], 'symlink target: drive prefix (absolute on Windows)'],
    ['the torrent root itself', ['d', '..'], 'symlink points at the torrent directory itself']
  ])('refuses %s', async (_, target, reason) => {
    const r = await refusal(withSymlink(target, ['link']))
    expect(r.code).toBe('METAINFO_UNSAFE_PATH')
    expect(r.details.reason).toBe(reason)
  })

  it('accepts .. that stays inside, resolved, and a link without a target is a plain empty file', async () => {
    const inside = await parseTorrent(withSymlink(['d', '..', 'd', '.', '', 'a']))
    expect(inside.files[1]!.symlinkPath).toEqual(['d', 'a'])
    // libtorrent 2.0's creator writes the readlink text, relative to the link's directory.
    const linkRelative = await parseTorrent(withSymlink(['..', 'd', 'a'], ['e', 'link']))
    expect(linkRelative.files[1]!.symlinkPath).toEqual(['d', 'a'])
    // The root reading wins when it names a file of the torrent.
    const both = await parseTorrent(withSymlink(['d', 'a']))
    expect(both.files[1]!.symlinkPath).toEqual(['d', 'a'])
    const noTarget = await parseTorrent(v1Torrent({
      info: { pieces: new Uint8Array(20), files: [{ length: 10, path: ['a'] }, { length: 7, path: ['b'], attr: 'lx' }] }
    }))
    expect(noTarget.files[1]).toMatchObject({ path: ['b'], lengthBytes: 0, attr: 'x', padding: false })
    expect(noTarget.files[1]!.symlinkPath).toBeUndefined()
  })

  it('refuses a symlink that collides with another path', async () => {
    const r = await refusal(v1Torrent({
      info: { pieces: new Uint8Array(20), files: [{ length: 10, path: ['a', 'b'] }, { length: 0, path: ['a'], attr: 'l', 'symlink path': ['c'] }] }
    }))
    expect(r.code).toBe('METAINFO_UNSAFE_PATH')
  })
})

describe('edge cases that stay refused', () => {
  it('a path made only of empty components', async () => {
    expect((await refusal(v1Torrent({ info: { pieces: new Uint8Array(20), files: [{ length: 10, path: ['', ''] }] } }))).code).toBe('METAINFO_UNSAFE_PATH')
  })

  it('a non-pad entry without a path', async () => {
    const r = await refusal(v1Torrent({ info: { pieces: new Uint8Array(20), files: [{ length: 10 }] } }))
    expect(r).toMatchObject({ code: 'METAINFO_INVALID', details: { field: 'info.files.0.path' } })
  })

  it('two names that become equal once shortened', async () => {
    const long = 'n'.repeat(300)
    const r = await refusal(v1Torrent({ info: { pieces: new Uint8Array(20), files: [{ length: 1, path: [`${long}a.txt`] }, { length: 1, path: [`${long}b.txt`] }] } }))
    expect(r).toMatchObject({ code: 'METAINFO_UNSAFE_PATH', details: { reason: 'duplicate path' } })
  })

  it('dropping empty components that leaves a duplicate', async () => {
    const r = await refusal(v1Torrent({ info: { pieces: new Uint8Array(20), files: [{ length: 1, path: ['a', '', 'b'] }, { length: 1, path: ['a', 'b'] }] } }))
    expect(r).toMatchObject({ code: 'METAINFO_UNSAFE_PATH', details: { reason: 'duplicate path' } })
  })

  it('trailing bytes do not relax the info dict itself', async () => {
    // The top level may be followed by anything; a broken dict before it is still broken.
    const good = v1Torrent()
    expect((await refusal(new Uint8Array([...good.subarray(0, good.length - 1), 0x78]))).code).toBe('BENCODE_INVALID')
    const meta = await parseTorrent(new Uint8Array([...good, ...bencodeEncode({ x: 1 })]))
    expect(meta.id).toBe((await parseTorrent(good)).id)
  })
})
