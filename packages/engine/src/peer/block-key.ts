/** Map key for a block: exact numbers while piece * 2^32 + begin stays below 2^53. */
export function blockKey (piece: number, begin: number): number | string {
  return piece < 0x20_0000 ? piece * 0x1_0000_0000 + begin : `${piece}:${begin}`
}
