import { describe, expect, it } from 'vitest'
import { hasCode, type ErrorCode } from '../../../src/errors.js'
import type { IFileSystem } from '../../../src/interfaces/filesystem.js'
import { StorageRootManager, normalizeTorrentId, type StorageRoot } from '../../../src/storage/storage-root-manager.js'
import { TestFileSystem } from './test-fs.js'

const HASH = 'ABCDEF0123456789ABCDEF0123456789ABCDEF01'
const downloads: StorageRoot = { token: 'tok-dl', label: 'Downloads', path: '/home/me/Downloads' }
const ssd: StorageRoot = { token: 'tok-ssd', label: 'External SSD', path: '/media/ssd' }

function setup (): { manager: StorageRootManager, made: string[], events: string[] } {
  const made: string[] = []
  const manager = new StorageRootManager((token, root) => {
    made.push(`${token}:${root.path}`)
    return new TestFileSystem()
  })
  const events: string[] = []
  manager.on('root-added', ({ root, replaced }) => events.push(`added ${root.token}${replaced ? ' (replaced)' : ''}`))
  manager.on('root-removed', ({ root, torrentIds, wasDefault }) => events.push(`removed ${root.token} [${torrentIds.join(',')}]${wasDefault ? ' default' : ''}`))
  manager.on('default-root-changed', ({ token }) => events.push(`default ${token}`))
  manager.on('torrent-root-changed', ({ torrentId, token }) => events.push(`torrent ${torrentId} ${token}`))
  return { manager, made, events }
}

function codeOf (f: () => unknown): ErrorCode | undefined {
  try { f() } catch (err) {
    for (const code of ['STORAGE_NO_ROOT', 'STORAGE_ROOT_UNKNOWN', 'ARGUMENT_INVALID'] as const) if (hasCode(err, code)) return code
    throw err
  }
  return undefined
}

describe('StorageRootManager', () => {
  it('makes a torrent wait for a root: STORAGE_NO_ROOT until a default or own root exists', () => {
    const { manager } = setup()
    expect(codeOf(() => manager.getFileSystemForTorrent(HASH))).toBe('STORAGE_NO_ROOT')
    expect(manager.getRootForTorrent(HASH)).toBeNull()
    manager.addRoot(downloads)
    expect(codeOf(() => manager.getFileSystemForTorrent(HASH))).toBe('STORAGE_NO_ROOT')
    manager.setDefaultRoot(downloads.token)
    expect(manager.getRootForTorrent(HASH)).toEqual(downloads)
    expect(codeOf(() => manager.getFileSystemForTorrent(HASH))).toBeUndefined()
  })

  it('uses a torrent\'s own root over the default, with ids normalized to lowercase', () => {
    const { manager } = setup()
    manager.addRoot(downloads)
    manager.addRoot(ssd)
    manager.setDefaultRoot(downloads.token)
    manager.setRootForTorrent(HASH, ssd.token)
    expect(manager.getRootForTorrent(HASH.toLowerCase())).toEqual(ssd)
    expect(manager.getAssignedToken(HASH.toLowerCase())).toBe(ssd.token)
    expect(manager.getRootForTorrent('ff'.repeat(20))).toEqual(downloads)
    manager.clearRootForTorrent(HASH.toLowerCase())
    expect(manager.getRootForTorrent(HASH)).toEqual(downloads)
    expect(normalizeTorrentId('AbC')).toBe('abc')
  })

  it('creates one filesystem per token and caches it', () => {
    const { manager, made } = setup()
    manager.addRoot(downloads)
    manager.addRoot(ssd)
    manager.setDefaultRoot(downloads.token)
    const a = manager.getFileSystemForTorrent(HASH)
    const b = manager.getFileSystemForTorrent('00'.repeat(20))
    expect(a).toBe(b)
    manager.setRootForTorrent(HASH, ssd.token)
    const c: IFileSystem = manager.getFileSystemForTorrent(HASH)
    expect(c).not.toBe(a)
    expect(manager.getFileSystem(ssd.token)).toBe(c)
    expect(made).toEqual(['tok-dl:/home/me/Downloads', 'tok-ssd:/media/ssd'])
    // Same token, new path: a fresh filesystem.
    manager.addRoot({ ...ssd, path: '/media/ssd2' })
    expect(manager.getFileSystem(ssd.token)).not.toBe(c)
    manager.addRoot({ ...downloads, label: 'DL' }) // label only: cache kept
    expect(manager.getFileSystem(downloads.token)).toBe(a)
    expect(made).toHaveLength(3)
  })

  it('refuses unknown tokens with STORAGE_ROOT_UNKNOWN', () => {
    const { manager } = setup()
    expect(codeOf(() => { manager.setDefaultRoot('nope') })).toBe('STORAGE_ROOT_UNKNOWN')
    expect(codeOf(() => { manager.setRootForTorrent(HASH, 'nope') })).toBe('STORAGE_ROOT_UNKNOWN')
    expect(codeOf(() => manager.getFileSystem('nope'))).toBe('STORAGE_ROOT_UNKNOWN')
    expect(codeOf(() => { manager.addRoot({ token: '', label: 'x', path: 'y' }) })).toBe('ARGUMENT_INVALID')
  })

  it('keeps assignments to a removed root (STORAGE_ROOT_UNKNOWN) until the root comes back', () => {
    const { manager, events } = setup()
    manager.addRoot(downloads)
    manager.addRoot(ssd)
    manager.setDefaultRoot(ssd.token)
    manager.setRootForTorrent(HASH, ssd.token)
    expect(manager.removeRoot(ssd.token)).toBe(true)
    expect(manager.removeRoot(ssd.token)).toBe(false)
    expect(manager.getDefaultRoot()).toBeNull()
    expect(manager.getRoots()).toEqual([downloads])
    expect(codeOf(() => manager.getFileSystemForTorrent(HASH))).toBe('STORAGE_ROOT_UNKNOWN')
    expect(manager.getRootForTorrent(HASH)).toBeNull()
    manager.addRoot(ssd)
    expect(manager.getRootForTorrent(HASH)).toEqual(ssd)
    expect(events).toEqual([
      'added tok-dl', 'added tok-ssd', 'default tok-ssd', `torrent ${HASH.toLowerCase()} tok-ssd`,
      `removed tok-ssd [${HASH.toLowerCase()}] default`, 'default null', 'added tok-ssd'
    ])
  })

  it('returns copies, so callers cannot edit its roots', () => {
    const { manager } = setup()
    manager.addRoot(downloads)
    const roots = manager.getRoots()
    roots[0]!.path = '/elsewhere'
    expect(manager.getRoot(downloads.token)!.path).toBe(downloads.path)
  })
})
