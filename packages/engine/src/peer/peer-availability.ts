/**
 * What one remote peer has: its bitfield once the piece count is known, and before that (a magnet
 * whose metadata is still coming) what it announced, validated when the count arrives.
 *
 * BEP 3 / BEP 6: one of BITFIELD / HAVE ALL / HAVE NONE comes first; a bitfield of the wrong
 * size, spare bits set or a HAVE beyond the count is a protocol violation (thrown; the connection
 * closes with it). A later BITFIELD or HAVE ALL is read as HAVEs for the pieces it adds (see
 * {@link PeerAvailability.reannounce}): aria2 sends one instead of a run of 20 or more HAVEs, and
 * libtorrent accepts it too. HAVEs before the count are remembered in a
 * bitfield-shaped buffer bounded like a bitfield message would be.
 */
import { Bitfield } from '../util/bitfield.js'
import { badArgument, violation } from './peer-errors.js'

export class PeerAvailability {
  private pieceCountValue: number | null = null
  private peerBitfield: Bitfield | null = null
  private received = false
  /** Before the piece count is known: what the peer told us, validated in setPieceCount. */
  private pendingHaveAll = false
  private pendingBitfield: Uint8Array | null = null
  private pendingHaves: Uint8Array = new Uint8Array(0)
  private pendingMaxHave = -1

  /** @param maxHaveIndex HAVEs before the piece count are refused at or beyond this index (read on use). */
  constructor (private readonly maxHaveIndex: () => number) {}

  /** The peer's pieces; null while the piece count is unknown. */
  get bitfield (): Bitfield | null { return this.peerBitfield }
  get pieceCount (): number | null { return this.pieceCountValue }

  /** False only for pieces beyond a known piece count. */
  isValidPiece (piece: number): boolean {
    return this.pieceCountValue === null || piece < this.pieceCountValue
  }

  /**
   * A HAVE. Returns true when the piece is news (the connection reports it).
   * @throws ProtocolError PEER_PROTOCOL_VIOLATION beyond the piece count (or any torrent we accept).
   */
  have (piece: number): boolean {
    if (this.pieceCountValue !== null) {
      if (piece >= this.pieceCountValue) throw violation(`have for piece ${piece} of ${this.pieceCountValue}`)
      return this.peerBitfield!.set(piece)
    }
    // Piece count unknown (magnet): remember the bit, bounded like a bitfield message would be.
    if (piece >= this.maxHaveIndex()) throw violation(`have for piece ${piece}: beyond any torrent we accept`)
    const byte = piece >> 3
    if (byte >= this.pendingHaves.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.pendingHaves.length * 2, 64))
      grown.set(this.pendingHaves)
      this.pendingHaves = grown
    }
    const mask = 0x80 >> (piece & 7)
    const before = this.pendingHaves[byte] ?? 0
    if ((before & mask) !== 0) return false
    this.pendingHaves[byte] = before | mask
    if (piece > this.pendingMaxHave) this.pendingMaxHave = piece
    return true
  }

  /**
   * The peer's initial availability. Returns the bitfield to report, or null while the piece count
   * is unknown (it is applied by setPieceCount).
   * @throws ProtocolError PEER_PROTOCOL_VIOLATION when sent twice or malformed.
   */
  announce (source: 'bitfield' | 'have-all' | 'have-none', bytes: Uint8Array | null): Bitfield | null {
    if (this.received) throw violation(`${source} after the peer's availability was already sent`)
    this.received = true
    if (this.pieceCountValue === null) {
      if (source === 'have-all') this.pendingHaveAll = true
      else if (bytes !== null) this.pendingBitfield = bytes
      return null
    }
    const bitfield = this.peerBitfield!
    if (source === 'have-all') bitfield.setAll()
    else if (bytes !== null) mergeBitfield(bitfield, bytes)
    return bitfield
  }

  /** The peer's first availability message arrived (later ones go to {@link reannounce}). */
  get announced (): boolean { return this.received }

  /**
   * A BITFIELD / HAVE ALL / HAVE NONE after the first one, read as HAVEs: returns the pieces it
   * adds (to report like HAVEs). Pieces it leaves out stay set: peers do not lose pieces, and the
   * picker's availability counts only ever grow per peer. While the piece count is unknown it is
   * remembered and validated later, like the first one.
   * @throws ProtocolError PEER_PROTOCOL_VIOLATION for a malformed bitfield.
   */
  reannounce (source: 'bitfield' | 'have-all' | 'have-none', bytes: Uint8Array | null): number[] {
    if (source === 'have-none') return []
    if (this.pieceCountValue === null) {
      if (source === 'have-all') this.pendingHaveAll = true
      else if (bytes !== null) this.pendingBitfield = orBytes(this.pendingBitfield, bytes)
      return []
    }
    const bitfield = this.peerBitfield!
    const added: number[] = []
    if (source === 'have-all') {
      for (let piece = 0; piece < bitfield.length; piece++) if (bitfield.set(piece)) added.push(piece)
      return added
    }
    if (bytes === null) return []
    const incoming = new Bitfield(bitfield.length)
    mergeBitfield(incoming, bytes)
    for (const piece of incoming.ones()) if (bitfield.set(piece)) added.push(piece)
    return added
  }

  /**
   * Sets the piece count and applies what arrived before it.
   * @throws LodestoneError ARGUMENT_INVALID for a bad or different count (a caller bug);
   *   ProtocolError PEER_PROTOCOL_VIOLATION when what the peer announced does not fit.
   */
  setPieceCount (pieceCount: number): void {
    if (!Number.isInteger(pieceCount) || pieceCount < 0) throw badArgument('pieceCount', `${pieceCount} is not a count`)
    if (this.pieceCountValue !== null) {
      if (this.pieceCountValue === pieceCount) return
      throw badArgument('pieceCount', `already set to ${this.pieceCountValue}`)
    }
    this.pieceCountValue = pieceCount
    const bitfield = new Bitfield(pieceCount)
    this.peerBitfield = bitfield
    if (this.pendingHaveAll) bitfield.setAll()
    if (this.pendingBitfield !== null) mergeBitfield(bitfield, this.pendingBitfield)
    if (this.pendingMaxHave >= pieceCount) throw violation(`have for piece ${this.pendingMaxHave} of ${pieceCount}`)
    for (let byte = 0; byte < this.pendingHaves.length; byte++) {
      const b = this.pendingHaves[byte] ?? 0
      if (b === 0) continue
      for (let bit = 0; bit < 8; bit++) if ((b & (0x80 >> bit)) !== 0) bitfield.set(byte * 8 + bit)
    }
    this.pendingBitfield = null
    this.pendingHaves = new Uint8Array(0)
  }
}

/** `a | b` bytewise (a copy, as long as the longer one); validated against the count later. */
function orBytes (a: Uint8Array | null, b: Uint8Array): Uint8Array {
  if (a === null) return b.slice()
  const out = new Uint8Array(Math.max(a.length, b.length))
  out.set(a)
  for (let i = 0; i < b.length; i++) out[i] = (out[i] ?? 0) | (b[i] ?? 0)
  return out
}

/** Validates a BITFIELD payload against the piece count and ORs it into `target`. */
function mergeBitfield (target: Bitfield, bytes: Uint8Array): void {
  const expected = Math.ceil(target.length / 8)
  if (bytes.length !== expected) throw violation(`bitfield of ${bytes.length} bytes, expected ${expected}`)
  const spare = expected * 8 - target.length
  if (spare > 0 && ((bytes[expected - 1] ?? 0) & ((1 << spare) - 1)) !== 0) throw violation('bitfield has spare bits set')
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0
    if (b === 0) continue
    for (let bit = 0; bit < 8; bit++) if ((b & (0x80 >> bit)) !== 0) target.set(i * 8 + bit)
  }
}
