/**
 * Bytes given as one buffer or as parts in order (a piece's blocks, TorrentContentStorage.write):
 * their length, and a range of them with as few copies as possible.
 */

/** Total bytes of `data`. */
export function byteLength (data: Uint8Array | readonly Uint8Array[]): number {
  if (data instanceof Uint8Array) return data.length
  let n = 0
  for (const b of data) n += b.length
  return n
}

/** `length` bytes at `offset` of `data`: a view when they lie in one buffer, else one copy. */
export function gather (data: Uint8Array | readonly Uint8Array[], offset: number, length: number): Uint8Array {
  if (data instanceof Uint8Array) return data.subarray(offset, offset + length)
  let start = 0
  let i = 0
  while (i < data.length && start + data[i]!.length <= offset) start += data[i++]!.length
  const first = data[i]
  if (first !== undefined && offset - start + length <= first.length) return first.subarray(offset - start, offset - start + length)
  const out = new Uint8Array(length)
  let done = 0
  let skip = offset - start
  for (; i < data.length && done < length; i++) {
    const part = data[i]!.subarray(skip, skip + length - done)
    out.set(part, done)
    done += part.length
    skip = 0
  }
  return out
}
