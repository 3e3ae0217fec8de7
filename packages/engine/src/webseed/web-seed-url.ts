/**
 * BEP 19 (GetRight style) URLs: where a web seed serves each file of a torrent.
 *
 * - Single-file torrent: the URL as given is the file; when it ends with `/`, the torrent's name
 *   is appended (BEP 19).
 * - Multi-file torrent: URL + name + `/` + the file's path, each component percent-encoded as
 *   UTF-8 (a space is `%20`, never `+`). A URL without a trailing slash gets one first, as
 *   libtorrent does: the mirror is the directory that holds the torrent's directory.
 */
import type { TorrentMetainfo } from '../metainfo/types.js'

/** One path component encoded for a URL path: everything but RFC 3986 unreserved characters. */
export function encodePathComponent (component: string): string {
  // encodeURIComponent leaves !'()* alone; servers decode them either way, but some proxies and
  // S3-style signers do not treat them as equivalent, so encode them too.
  return encodeURIComponent(component).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** URL of file `fileIndex` of `meta` on the web seed at `baseUrl` (a canonical http(s) URL). */
export function webSeedFileUrl (baseUrl: string, meta: Pick<TorrentMetainfo, 'name' | 'multiFile' | 'files'>, fileIndex: number): string {
  if (!meta.multiFile) return baseUrl.endsWith('/') ? baseUrl + encodePathComponent(meta.name) : baseUrl
  const file = meta.files[fileIndex]
  if (file === undefined) throw new RangeError(`no file ${fileIndex}`)
  const dir = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`
  return dir + [meta.name, ...file.path].map(encodePathComponent).join('/')
}
