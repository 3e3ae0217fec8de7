/**
 * Maps a byte range of a piece to where its blocks' bytes were received (ITcpSocket.receivedRange),
 * for handles that can write such bytes from their transport's copy (IFileHandle.writeWithReceived).
 */
import type { ReceivedPart } from '../interfaces/filesystem.js'
import type { ReceivedRange } from '../interfaces/socket.js'

/** Blocks of a piece are 16 KiB (the last one may be shorter); origins are indexed by block. */
export const ORIGIN_BLOCK_BYTES = 16_384

/**
 * The received parts of bytes `[offset, offset + lengthBytes)` of a piece whose blocks came from
 * `origins` (one per block, undefined where unknown), `at` counted from `offset`; parts adjacent
 * both in the range and in one stream are joined. Empty when no block there has an origin.
 */
export function receivedPartsOf (origins: ReadonlyArray<ReceivedRange | undefined>, offset: number, lengthBytes: number): ReceivedPart[] {
  const out: ReceivedPart[] = []
  const end = offset + lengthBytes
  for (let block = Math.floor(offset / ORIGIN_BLOCK_BYTES); block * ORIGIN_BLOCK_BYTES < end; block++) {
    const origin = origins[block]
    if (origin === undefined) continue
    const blockStart = block * ORIGIN_BLOCK_BYTES
    const from = Math.max(offset, blockStart) - blockStart
    const to = Math.min(end - blockStart, origin.lengthBytes)
    if (to <= from) continue
    const at = blockStart + from - offset
    const last = out[out.length - 1]
    if (last !== undefined && last.at + last.range.lengthBytes === at && last.range.stream === origin.stream &&
      last.range.offset + last.range.lengthBytes === origin.offset + from) {
      out[out.length - 1] = { at: last.at, range: { stream: last.range.stream, offset: last.range.offset, lengthBytes: last.range.lengthBytes + to - from } }
    } else {
      out.push({ at, range: { stream: origin.stream, offset: origin.offset + from, lengthBytes: to - from } })
    }
  }
  return out
}
