/** The 20-byte hashes peers may use in handshakes for a torrent. */
import type { MagnetLink } from '../metainfo/magnet.js'
import type { TorrentMetainfo } from '../metainfo/types.js'

/**
 * The info hash, and for a hybrid torrent (or a magnet naming both hashes) also the truncated
 * SHA-256 one (BEP 52: v2-capable peers may use it).
 */
export function handshakeHashesOf (infoHash: Uint8Array, meta: TorrentMetainfo | null, magnet: MagnetLink | null): Uint8Array[] {
  const out = [infoHash]
  const v2 = meta?.infoHashV2 ?? magnet?.infoHashV2 ?? null
  const hybrid = meta === null ? magnet?.infoHashV1 !== null : meta.version === 'hybrid'
  if (hybrid && v2 !== null) out.push(v2.subarray(0, 20))
  return out
}
