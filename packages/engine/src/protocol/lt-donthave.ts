/**
 * BEP 54 `lt_donthave`: the reverse of HAVE, over the BEP 10 extension protocol. The payload is a
 * piece index, 4 bytes big-endian, as in HAVE. A peer sends it when it lost a piece it had
 * announced (its storage went away, a recheck failed), so nobody keeps asking it for that piece.
 *
 * This module is the codec and the per-connection plug-in; what a DONTHAVE means for the torrent
 * (the peer's availability, our interest) is the owner's, through {@link LtDontHaveSink}.
 */
import { ProtocolError } from '../errors.js'
import type { PeerExtension, PeerExtensionContext, PeerExtensionFactory } from './extension-protocol.js'

/** BEP 10 name of the extension. */
export const LT_DONTHAVE = 'lt_donthave'
/** The id we receive lt_donthave under (libtorrent's choice, so captures of either read alike). */
export const LT_DONTHAVE_LOCAL_ID = 7

/** Encodes a DONTHAVE for `piece`. */
export function encodeDontHave (piece: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, piece)
  return out
}

/**
 * Decodes a DONTHAVE payload into its piece index (range checks are the sink's: only it knows the
 * piece count).
 * @throws ProtocolError PEER_PROTOCOL_VIOLATION when the payload is not exactly 4 bytes.
 */
export function decodeDontHave (payload: Uint8Array): number {
  if (payload.length !== 4) {
    throw new ProtocolError('PEER_PROTOCOL_VIOLATION', { reason: `lt_donthave payload of ${payload.length} bytes, not 4` })
  }
  return new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0)
}

/** What a connection's DONTHAVEs go to. */
export interface LtDontHaveSink {
  /**
   * The peer no longer has `piece`. Throw a LodestoneError (e.g. for an index beyond the piece
   * count) to close the peer with it.
   */
  dontHave: (piece: number) => void
}

/** The lt_donthave plug-in of one connection; {@link LtDontHaveExtension.send} tells the peer. */
export class LtDontHaveExtension implements PeerExtension {
  readonly name = LT_DONTHAVE
  readonly localId = LT_DONTHAVE_LOCAL_ID

  constructor (private readonly context: PeerExtensionContext, private readonly sink: LtDontHaveSink) {}

  /** True once the peer announced lt_donthave. */
  get supported (): boolean { return this.context.remoteId !== undefined }

  /** Tells the peer we lost `piece`. False when it lacks the extension (nothing sent). */
  send (piece: number): boolean {
    return this.context.send(encodeDontHave(piece))
  }

  onMessage (payload: Uint8Array): void {
    this.sink.dontHave(decodeDontHave(payload))
  }
}

/** A factory that also reports each connection's instance (`created`), so the owner can send with it. */
export function createLtDontHaveExtension (sink: LtDontHaveSink, created: (ext: LtDontHaveExtension) => void): PeerExtensionFactory {
  return (context) => {
    const ext = new LtDontHaveExtension(context, sink)
    created(ext)
    return ext
  }
}
