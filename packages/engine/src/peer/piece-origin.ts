/**
 * Where a received PIECE block's bytes sit in a stream its transport keeps (ITcpSocket.receivedRange),
 * so storage can have them written from there instead of carrying them back (the io-daemon bridge).
 *
 * A block whose message lay in one received chunk is a view of it, which the transport names
 * directly. A message that straddled two chunks was copied by the parser, and the copy names
 * nothing; but the parser tells where its body began (MessageParser.joinedStart), and a stream is
 * contiguous, so the block is the stream's bytes from that point on, past the body's id, index
 * and begin fields. With ~2 such blocks per 1 MiB piece through the bridge, these were 3 % of the
 * bytes but half of the file writes (bench/browser/RESULTS.md, session 6).
 */
import type { ITcpSocket, ReceivedRange } from '../interfaces/socket.js'

/** Bytes of a PIECE body before its block: id (1), index (4), begin (4). */
const PIECE_BODY_HEADER_BYTES = 9

/** The origin of `block`, a PIECE block just parsed; `joinedStart` is the parser's at that moment. */
export function pieceOrigin (socket: ITcpSocket, block: Uint8Array, joinedStart: Uint8Array | null): ReceivedRange | undefined {
  if (socket.receivedRange === undefined) return undefined
  if (joinedStart === null) return socket.receivedRange(block)
  const body = socket.receivedRange(joinedStart)
  if (body === undefined) return undefined
  return { stream: body.stream, offset: body.offset + PIECE_BODY_HEADER_BYTES, lengthBytes: block.length }
}
