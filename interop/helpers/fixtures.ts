/**
 * Shared fixtures for the peer-wire interop tests: random content trees in temporary
 * directories, torrents made from them with Lodestone's own `createTorrent`, SHA-256 digests of
 * every file to compare two copies, and small waits on a Lodestone torrent.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { NodeFileSystem, NodeHasher } from '../../packages/engine/adapters/node/index.js'
import type { Torrent } from '../../packages/engine/src/torrent/torrent.js'
import type { MetaVersion } from '../../packages/engine/src/metainfo/types.js'
import { createTorrent, type CreatedTorrent } from '../../packages/engine/src/metainfo/create-torrent.js'

/** Temporary directories made through {@link tempDir}; remove them with {@link removeTempDirs}. */
const made: string[] = []

export async function tempDir (prefix = 'lodestone-interop-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

export async function removeTempDirs (): Promise<void> {
  await Promise.all(made.splice(0).map(async (d) => { await rm(d, { recursive: true, force: true }) }))
}

/** A single file of ~1.3 MiB (not a multiple of the piece length). */
export const SINGLE_FILE_BYTES = 1_300_000 + 77

/**
 * A tree with nesting, an empty file and a 1-byte file; ~1.6 MiB in all. Paths are relative to
 * the torrent's root directory.
 */
export const TREE_FILES: Record<string, number> = {
  'a/b/deep.bin': 700_001,
  'a/one-byte': 1,
  'empty.txt': 0,
  'big.bin': 900_000 + 3,
  'x/y/z/small.dat': 5_000
}

/** Writes random content at `dir/name` (a file of `bytes`, or the `files` tree below `dir/name`). */
export async function writeContent (dir: string, name: string, content: number | Record<string, number>): Promise<void> {
  if (typeof content === 'number') {
    await writeFile(join(dir, name), randomBytes(content))
    return
  }
  for (const [path, size] of Object.entries(content)) {
    const full = join(dir, name, path)
    await mkdir(dirname(full), { recursive: true })
    await writeFile(full, randomBytes(size))
  }
}

/** Makes a torrent of `dir/name` with Lodestone's createTorrent and writes it to `torrentPath`. */
export async function makeTorrent (dir: string, name: string, kind: MetaVersion, torrentPath: string, pieceLengthBytes = 32_768): Promise<CreatedTorrent> {
  const hasher = new NodeHasher({ workers: 2 })
  try {
    const fs = new NodeFileSystem(dir)
    const created = await createTorrent(name, { kind, pieceLengthBytes }, { fs, hasher, nativePath: (p) => join(dir, p) })
    await writeFile(torrentPath, created.torrent)
    return created
  } finally {
    await hasher.close()
  }
}

/**
 * SHA-256 of every regular file below `root` (or of `root` itself when it is a file), keyed by
 * path relative to `root` ('' for a single file).
 */
/** SHA-256 of a file's bytes, hex. */
export async function sha256File (path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex')
}

/** Whether anything exists at `path`. */
export async function pathExists (path: string): Promise<boolean> {
  try { await stat(path); return true } catch { return false }
}

export async function digestTree (root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const walk = async (path: string): Promise<void> => {
    const info = await stat(path)
    if (info.isDirectory()) {
      for (const entry of await readdir(path)) await walk(join(path, entry))
    } else {
      out[relative(root, path)] = await sha256File(path)
    }
  }
  await walk(root)
  return out
}

/** Resolves on `completed` (or at once when already seeding); rejects on `error` or timeout. */
export async function waitCompleted (torrent: Torrent, timeoutMs: number): Promise<void> {
  await waitState(torrent, 'seeding', timeoutMs, true)
}

/** Resolves when `torrent.state === state`; rejects on an `error` event or after `timeoutMs`. */
export async function waitState (torrent: Torrent, state: string, timeoutMs: number, onCompleted = false): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const offs: Array<() => void> = []
    const finish = (err?: Error): void => {
      clearTimeout(timer)
      for (const off of offs) off()
      if (err === undefined) resolve()
      else reject(err)
    }
    const timer = setTimeout(() => {
      const s = torrent.stats()
      finish(new Error(`timed out after ${timeoutMs} ms waiting for ${state}: state ${torrent.state}, ${s.havePieces}/${s.pieceCount} pieces, peers ${JSON.stringify(torrent.peers().map((p) => `${p.address} ${String(p.clientName)}`))}`))
    }, timeoutMs)
    offs.push(torrent.on('error', ({ error }) => { finish(error) }))
    offs.push(torrent.on('state-changed', ({ to }) => { if (to === state) finish() }))
    if (onCompleted) offs.push(torrent.on('completed', () => { finish() }))
    if (torrent.state === state) finish()
  })
}

/** Polls `predicate` every 50 ms until it holds; rejects with `what` after `timeoutMs`. */
export async function pollUntil (predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await predicate()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
