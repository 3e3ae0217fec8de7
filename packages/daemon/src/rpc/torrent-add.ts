/**
 * `torrent-add`: `metainfo` (a base64 .torrent) or `filename` — a magnet link, an http(s) URL of a
 * .torrent, or a path on the daemon's disk (inside the storage roots). Options: `paused`,
 * `download-dir` (confined to the roots), `files-wanted` / `files-unwanted` / `priority-*`,
 * `peer-limit`, `labels`. Answers `torrent-added` or `torrent-duplicate` with `{id, name, hashString}`.
 */
import { readFile, stat } from 'node:fs/promises'
import type { TrackedTorrent } from '../torrent-registry.js'
import { applyFileArgs, PRIORITY_NORMAL } from './torrent-methods.js'
import { RpcError, optBool, optInt, optString, optStringList, type Args, type RpcHost } from './rpc-types.js'

/** Largest .torrent accepted from a URL or a path (the engine's metainfo limits apply after). */
export const MAX_TORRENT_FILE_BYTES = 10 * 1024 * 1024
const URL_FETCH_TIMEOUT_MS = 30_000

/** Fetches a .torrent over http(s), at most MAX_TORRENT_FILE_BYTES. @throws RpcError */
export async function fetchTorrentUrl (url: string): Promise<Uint8Array> {
  let response: Response
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(URL_FETCH_TIMEOUT_MS), redirect: 'follow' })
  } catch (err) {
    throw new RpcError(`cannot fetch ${url}: ${(err as Error).message}`)
  }
  if (!response.ok) throw new RpcError(`cannot fetch ${url}: HTTP ${response.status}`)
  const length = Number(response.headers.get('content-length') ?? '0')
  if (length > MAX_TORRENT_FILE_BYTES) throw new RpcError(`${url} is larger than ${MAX_TORRENT_FILE_BYTES} bytes`)
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = response.body?.getReader()
  if (reader === undefined) return new Uint8Array(0)
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const chunk = await reader.read()
    if (chunk.done) break
    const value = chunk.value
    total += value.length
    if (total > MAX_TORRENT_FILE_BYTES) {
      await reader.cancel()
      throw new RpcError(`${url} is larger than ${MAX_TORRENT_FILE_BYTES} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}

async function readTorrentPath (host: RpcHost, path: string): Promise<Uint8Array> {
  const confined = await host.roots.confine(path, 'filename')
  try {
    const info = await stat(confined)
    if (!info.isFile() || info.size > MAX_TORRENT_FILE_BYTES) throw new RpcError(`${path} is not a .torrent file`)
    return await readFile(confined)
  } catch (err) {
    if (err instanceof RpcError) throw err
    throw new RpcError(`cannot read ${path}: ${(err as Error).message}`)
  }
}

function decodeBase64 (text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '')
  if (compact.length > MAX_TORRENT_FILE_BYTES * 4 / 3 + 4 || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) throw new RpcError('invalid or corrupt torrent file')
  const bytes = Buffer.from(compact, 'base64')
  if (bytes.length === 0) throw new RpcError('invalid or corrupt torrent file')
  return bytes
}

function summary (entry: TrackedTorrent): Record<string, unknown> {
  return { hashString: entry.torrent.id, id: entry.id, name: entry.torrent.name }
}

export async function torrentAdd (host: RpcHost, args: Args): Promise<Record<string, unknown>> {
  const metainfo = optString(args, 'metainfo')
  const filename = optString(args, 'filename')
  const paused = optBool(args, 'paused') ?? !host.session.values['start-added-torrents']
  const dir = optString(args, 'download-dir')
  const peerLimit = optInt(args, 'peer-limit', 1, 65_535) ?? null
  const labels = optStringList(args, 'labels') ?? null
  const downloadDir = dir === undefined || dir === '' ? null : await host.roots.confine(dir, 'download-dir')

  let input: Uint8Array | string
  if (metainfo !== undefined && metainfo !== '') {
    input = decodeBase64(metainfo)
  } else if (filename !== undefined && filename !== '') {
    if (/^magnet:\?/i.test(filename)) input = filename
    else if (/^https?:\/\//i.test(filename)) input = await fetchTorrentUrl(filename)
    else input = await readTorrentPath(host, filename)
  } else {
    throw new RpcError('no filename or metainfo specified')
  }

  const fileArgs = ['files-wanted', 'files-unwanted', 'priority-high', 'priority-normal', 'priority-low'].some((k) => args[k] !== undefined)
  const { entry, duplicate } = await host.addTorrent(input, {
    paused,
    downloadDir,
    peerLimit,
    labels,
    filePriorities: fileArgs ? (count) => applyFileArgs(args, new Array<number>(count).fill(PRIORITY_NORMAL)) : null
  })
  return duplicate ? { 'torrent-duplicate': summary(entry) } : { 'torrent-added': summary(entry) }
}
