/**
 * Builds a .torrent file around an info dictionary's exact bytes (metadata fetched with BEP 9, or
 * a parsed torrent's). The info dict is embedded byte for byte, never re-encoded, so the result
 * has the same info hash whatever the dict's key order or integer formatting.
 */
import { bencodeEncode } from '../protocol/bencode.js'
import { concatBytes, utf8 } from '../util/bytes.js'

export interface TorrentFileFields {
  /** BEP 12 tiers; the first URL also becomes `announce`. */
  announce?: readonly (readonly string[])[]
  /** BEP 19 web seeds (`url-list`). */
  urlList?: readonly string[]
  createdBy?: string
  /** Seconds since the epoch. */
  creationDate?: number
}

function key (name: string): Uint8Array {
  return bencodeEncode(name)
}

/**
 * A complete bencoded .torrent: `announce`, `announce-list`, `created by`, `creation date`,
 * `info` (the given bytes) and `url-list`, keys in bencode order. Empty fields are left out.
 * @param infoBytes the info dict's exact bytes; copied.
 */
export function buildTorrentFile (infoBytes: Uint8Array, fields: TorrentFileFields = {}): Uint8Array {
  const tiers = (fields.announce ?? []).map((t) => [...t]).filter((t) => t.length > 0)
  const parts: Uint8Array[] = [utf8('d')]
  // Keys sorted by bytes: announce < announce-list < created by < creation date < info < url-list.
  const first = tiers[0]?.[0]
  if (first !== undefined) parts.push(key('announce'), bencodeEncode(first))
  if (tiers.length > 0) parts.push(key('announce-list'), bencodeEncode(tiers))
  if (fields.createdBy !== undefined) parts.push(key('created by'), bencodeEncode(fields.createdBy))
  if (fields.creationDate !== undefined) parts.push(key('creation date'), bencodeEncode(fields.creationDate))
  parts.push(key('info'), infoBytes)
  const urls = fields.urlList ?? []
  if (urls.length > 0) parts.push(key('url-list'), bencodeEncode([...urls]))
  parts.push(utf8('e'))
  return concatBytes(parts)
}
