// BEP 47 on disk through TorrentContentStorage: links created with the 0-byte files (relative to
// the link, never as regular files), x / h applied once storage has written a file, skipped files
// left alone, and nothing at all on a filesystem port without the optional methods.
import { describe, expect, it } from 'vitest'
import { MemoryFileSystem } from '../../../adapters/memory/memory-filesystem.js'
import { FaultyFileSystem } from '../../../adapters/memory/faulty-filesystem.js'
import { parseTorrent } from '../../../src/metainfo/parse-torrent.js'
import type { IFileSystem } from '../../../src/interfaces/filesystem.js'
import { TorrentContentStorage } from '../../../src/storage/torrent-content-storage.js'
import { edgeCorpus } from '../metainfo/edge-corpus.js'

async function symlinkTorrent (): Promise<Awaited<ReturnType<typeof parseTorrent>>> {
  const c = edgeCorpus().find((x) => x.label === 'bep47-symlink-executable-hidden')!
  return parseTorrent(c.bytes)
}

describe('BEP 47 attributes on disk', () => {
  it('creates links relative to themselves and marks written files executable / hidden', async () => {
    const meta = await symlinkTorrent()
    const fs = new MemoryFileSystem()
    const storage = new TorrentContentStorage({ fs }, meta)
    await storage.createEmptyFiles()
    expect(fs.entryInfo('Package/bin/tool')).toEqual({ kind: 'link', target: 'run.sh' })
    expect(fs.entryInfo('Package/README')).toEqual({ kind: 'link', target: 'docs/README.txt' })
    expect(fs.entryInfo('Package/lib/libx.so')).toEqual({ kind: 'link', target: 'libx.so.1' })
    expect(fs.entryInfo('Package/latest')).toEqual({ kind: 'link', target: 'lib' })
    // Nothing else exists yet: links are not written as files, data files wait for their data.
    expect(fs.listFiles()).toEqual(['Package/README', 'Package/bin/tool', 'Package/latest', 'Package/lib/libx.so'])

    for (let p = 0; p < meta.pieceCount; p++) {
      const length = p < meta.pieceCount - 1 ? meta.pieceLengthBytes : meta.totalLengthBytes - p * meta.pieceLengthBytes
      await storage.writePiece(p, new Uint8Array(length))
    }
    expect(fs.entryInfo('Package/bin/run.sh')).toMatchObject({ kind: 'file', executable: true, hidden: false })
    expect(fs.entryInfo('Package/desktop.ini')).toMatchObject({ kind: 'file', executable: false, hidden: true })
    expect(fs.entryInfo('Package/lib/libx.so.1')).toMatchObject({ kind: 'file', executable: true, hidden: true })
    expect(fs.entryInfo('Package/docs/README.txt')).toMatchObject({ kind: 'file', executable: false, hidden: false })
    // A second start finds the links in place and leaves them.
    await storage.createEmptyFiles()
    expect(fs.entryInfo('Package/bin/tool')).toEqual({ kind: 'link', target: 'run.sh' })
    await storage.deleteFiles()
    expect(fs.listFiles()).toEqual([])
  })

  it('skipped links are not created', async () => {
    const meta = await symlinkTorrent()
    const fs = new MemoryFileSystem()
    const priorities = meta.files.map((f) => (f.path.join('/') === 'README' ? 0 : 1))
    const storage = new TorrentContentStorage({ fs }, meta, {}, { filePriorities: priorities })
    await storage.createEmptyFiles()
    expect(() => fs.entryInfo('Package/README')).toThrow()
    expect(fs.entryInfo('Package/bin/tool').kind).toBe('link')
    await storage.close()
  })

  it('a filesystem port without symlink / setAttributes gets neither, and the data is unaffected', async () => {
    const meta = await symlinkTorrent()
    const inner = new MemoryFileSystem()
    const fs = new FaultyFileSystem(inner)
    expect((fs as IFileSystem).symlink).toBeUndefined()
    const storage = new TorrentContentStorage({ fs }, meta)
    await storage.createEmptyFiles()
    await storage.writePiece(0, new Uint8Array(meta.pieceLengthBytes))
    expect(inner.listFiles()).not.toContain('Package/bin/tool')
    expect(inner.entryInfo('Package/bin/run.sh')).toMatchObject({ kind: 'file', executable: false })
    await storage.close()
  })
})
