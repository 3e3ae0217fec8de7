/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum BEP 42 derives node ids
 * from. A byte-wise table is enough: BEP 42 hashes 4 or 8 bytes per node id.
 */

const TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    table[i] = c >>> 0
  }
  return table
})()

/** CRC-32C of `bytes`, as an unsigned 32-bit number. */
export function crc32c (bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const b of bytes) crc = (TABLE[(crc ^ b) & 0xff] ?? 0) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}
