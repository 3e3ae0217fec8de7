/**
 * Map key for a block (the upload queue's and the request book's maps). The usual block, at a
 * 16 KiB-aligned offset in a torrent of fewer than 65 536 pieces, gets piece · 2^14 + begin / 2^14:
 * an integer below 2^30, which V8 keeps as a small integer, so a lookup neither allocates nor
 * hashes a heap number. Anything else gets a string, which never equals a number key. With
 * piece · 2^32 + begin (a heap number) these lookups were ~7 % of a seeding main thread's
 * JavaScript time (bench/seed, 8 leechers).
 */
export function blockKey (piece: number, begin: number): number | string {
  return piece < 0x1_0000 && begin < 0x1000_0000 && (begin & 0x3fff) === 0 ? piece * 0x4000 + begin / 0x4000 : `${piece}:${begin}`
}
