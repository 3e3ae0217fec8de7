/** Reads what the user pointed at: a .torrent file or a magnet link. */
import { readFile, stat } from 'node:fs/promises'
import type { MagnetLink, TorrentMetainfo } from '@lodestone/engine'
import { CliError, describeError } from './cli-error.js'

export type LoadedTorrent =
  | { kind: 'torrent', meta: TorrentMetainfo, path: string }
  | { kind: 'magnet', magnet: MagnetLink }

/** .torrent files larger than this are refused before reading (the parser's own default limit). */
const MAX_TORRENT_FILE_BYTES = 64 * 1024 * 1024

export function isMagnet (arg: string): boolean {
  return arg.toLowerCase().startsWith('magnet:')
}

/** Reads and parses a .torrent file. @throws CliError naming the file and the problem. */
export async function loadTorrentFile (path: string): Promise<TorrentMetainfo> {
  let bytes: Uint8Array
  try {
    const info = await stat(path)
    if (info.isDirectory()) throw new CliError(`${path}: is a directory, not a .torrent file`)
    if (info.size > MAX_TORRENT_FILE_BYTES) throw new CliError(`${path}: ${info.size} bytes is too large for a .torrent file`)
    bytes = new Uint8Array(await readFile(path))
  } catch (err) {
    if (err instanceof CliError) throw err
    const code = (err as { code?: unknown }).code
    throw new CliError(code === 'ENOENT' ? `${path}: no such file` : `cannot read ${path}: ${describeError(err)}`, 1, { cause: err })
  }
  return parseTorrentBytes(bytes, path)
}

/** Parses .torrent bytes read from `label` (a path or URL). @throws CliError naming `label` and the problem. */
export async function parseTorrentBytes (bytes: Uint8Array, label: string): Promise<TorrentMetainfo> {
  // Loaded on use, like every engine import in the CLI, to keep start-up short.
  const [{ parseTorrent }, { NodeHasher }] = await Promise.all([import('@lodestone/engine'), import('@lodestone/engine/adapters/node')])
  // The Node pool hashes the info dict and checks v2 piece layers; small inputs stay inline.
  const hasher = new NodeHasher()
  try {
    return await parseTorrent(bytes, { hasher })
  } catch (err) {
    throw new CliError(`${label}: ${describeError(err)}`, 1, { cause: err })
  } finally {
    await hasher.close()
  }
}

export function isHttpUrl (arg: string): boolean {
  return /^https?:\/\//i.test(arg)
}

/** How long fetching a .torrent over http(s) may take, redirects included. */
const FETCH_TIMEOUT_MS = 30_000

/**
 * Fetches a .torrent over http(s) (redirects followed, body limited to the .torrent size limit)
 * and parses it. @throws CliError naming the URL and the problem.
 */
export async function loadTorrentUrl (url: string, options: { signal?: AbortSignal } = {}): Promise<TorrentMetainfo> {
  const { NodeHttpClient } = await import('@lodestone/engine/adapters/node')
  let body: Uint8Array
  try {
    const res = await new NodeHttpClient().get(url, {
      maxBodyBytes: MAX_TORRENT_FILE_BYTES,
      timeoutMs: FETCH_TIMEOUT_MS,
      headers: { accept: 'application/x-bittorrent' },
      ...(options.signal === undefined ? {} : { signal: options.signal })
    })
    if (res.status < 200 || res.status > 299) throw new CliError(`${url}: HTTP ${res.status}`)
    body = res.body
  } catch (err) {
    if (err instanceof CliError) throw err
    const code = (err as { code?: unknown }).code
    const reason = code === 'TRACKER_RESPONSE_TOO_LARGE'
      ? `larger than ${MAX_TORRENT_FILE_BYTES} bytes, too large for a .torrent file`
      : code === 'TRACKER_TIMEOUT'
        ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s`
        : code === 'TRACKER_FAILURE' ? String((err as { details?: { reason?: unknown } }).details?.reason) : describeError(err)
    throw new CliError(`cannot fetch ${url}: ${reason}`, 1, { cause: err })
  }
  return parseTorrentBytes(body, url)
}

/** A magnet link or a .torrent file, by the argument's form. */
export async function loadTorrentOrMagnet (arg: string): Promise<LoadedTorrent> {
  if (isMagnet(arg)) {
    const { parseMagnet } = await import('@lodestone/engine')
    try {
      return { kind: 'magnet', magnet: parseMagnet(arg) }
    } catch (err) {
      throw new CliError(describeError(err), 1, { cause: err })
    }
  }
  return { kind: 'torrent', meta: await loadTorrentFile(arg), path: arg }
}
