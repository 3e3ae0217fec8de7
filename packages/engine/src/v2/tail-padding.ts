/**
 * libtorrent 2.0 lays out a pure v2 torrent with a pad after every file, the last one included, so
 * to it the last piece is a whole piece long and it requests blocks of it that reach past the end of
 * our piece space (which stops at the last byte of data: BEP 52 has no pad entries to say otherwise).
 * Those bytes are padding, zeros by definition, never stored: such a request is answered with the
 * data it covers followed by zeros. Anything else goes to storage as is (and is refused there when
 * it is out of range).
 */
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { BlockRequest } from '../protocol/wire-messages.js'

/**
 * Reads `request` through `read`, zero-filling the part past the end of a pure v2 torrent's last
 * piece, up to one piece length. A padded block is a fresh buffer: the view `read` returned for
 * the data part is copied, then handed to `release` (it may pin a pooled read buffer).
 */
export function readWithTailPadding (
  meta: TorrentMetainfo, request: BlockRequest, read: (piece: number, begin: number, lengthBytes: number) => Promise<Uint8Array>,
  release: (view: Uint8Array) => void = () => {}
): Promise<Uint8Array> {
  const { piece, begin, length } = request
  const last = meta.pieceCount - 1
  const realLength = meta.totalLengthBytes - last * meta.pieceLengthBytes
  const overhang = begin + length > realLength && begin + length <= meta.pieceLengthBytes
  // Not async: every upload read passes here, and the common case adds no promise of its own.
  if (meta.version !== 'v2' || piece !== last || !overhang) return read(piece, begin, length)
  return readPadded(request, realLength, read, release)
}

async function readPadded (
  { piece, begin, length }: BlockRequest, realLength: number,
  read: (piece: number, begin: number, lengthBytes: number) => Promise<Uint8Array>, release: (view: Uint8Array) => void
): Promise<Uint8Array> {
  const out = new Uint8Array(length)
  if (begin < realLength) {
    const data = await read(piece, begin, realLength - begin)
    out.set(data, 0)
    release(data)
  }
  return out
}
