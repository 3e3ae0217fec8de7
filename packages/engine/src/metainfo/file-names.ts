/**
 * File names as real torrents carry them, made usable before path-safety.ts judges them.
 *
 * Three repairs, each one that cannot make a safe path unsafe or change what a file is:
 * - Empty path components are dropped (`["a", "", "b"]` is `a/b`): some creators emit them for a
 *   doubled separator. What remains is still checked in full, and a path left empty is refused.
 *   libtorrent 2.0.8 writes `_` for an empty component instead; we keep the publisher's names.
 * - A component longer than {@link MAX_NAME_BYTES} UTF-8 bytes cannot be created on common
 *   filesystems (NAME_MAX is 255 on ext4, XFS, APFS, NTFS), so it is shortened the way libtorrent
 *   shortens it — the first 240 bytes (whole code points) plus the extension, when the last dot
 *   lies within the final 9 bytes — so both clients put such a file at the same path.
 *   libtorrent also shortens names of 241–255 bytes; those fit, so we leave them alone.
 * - BitComet's old pad files (before BEP 47 gave them an attribute) are recognised by the
 *   `_____padding_file_` marker in their name, as libtorrent does.
 *
 * Shortening can make two names equal; the duplicate check that follows then refuses the torrent,
 * as it does for any other duplicate.
 */
import { utf8 } from '../util/bytes.js'

/** Longest file name component, in UTF-8 bytes, that we create as is. */
export const MAX_NAME_BYTES = 255

/** libtorrent keeps this many bytes (rounded up to a whole code point) of an over-long name. */
const SHORTENED_STEM_BYTES = 240

/** An extension, dot included, is kept when it is at most this many bytes long (as libtorrent). */
const MAX_EXTENSION_BYTES = 9

/** The marker BitComet put in its pad files' names before BEP 47. */
export const BITCOMET_PAD_MARKER = '_____padding_file_'

const DOT = 0x2e
const utf8Decoder = new TextDecoder('utf-8')

/** Length of the UTF-8 sequence that starts with `lead` (1 for stray continuation bytes). */
function sequenceLength (lead: number): number {
  if (lead >= 0xf0) return 4
  if (lead >= 0xe0) return 3
  if (lead >= 0xc0) return 2
  return 1
}

/** `component` shortened to fit {@link MAX_NAME_BYTES} UTF-8 bytes, keeping a short extension. */
export function shortenName (component: string): string {
  const bytes = utf8(component)
  if (bytes.length <= MAX_NAME_BYTES) return component
  let stemEnd = 0
  while (stemEnd < SHORTENED_STEM_BYTES) stemEnd += sequenceLength(bytes[stemEnd] ?? 0)
  let dot = -1
  for (let j = bytes.length - 1; j >= bytes.length - MAX_EXTENSION_BYTES && j >= stemEnd; j--) {
    if (bytes[j] === DOT) {
      dot = j
      break
    }
  }
  const stem = utf8Decoder.decode(bytes.subarray(0, stemEnd))
  return dot === -1 ? stem : stem + utf8Decoder.decode(bytes.subarray(dot))
}

/** Drops empty components and shortens over-long ones; the result may be empty (the caller refuses it). */
export function cleanPath (components: readonly string[]): string[] {
  const out: string[] = []
  for (const c of components) if (c.length > 0) out.push(shortenName(c))
  return out
}

/** True for BitComet-style pad file paths (a component carrying {@link BITCOMET_PAD_MARKER}). */
export function isPadFileName (components: readonly string[]): boolean {
  return components.some((c) => c.includes(BITCOMET_PAD_MARKER))
}
