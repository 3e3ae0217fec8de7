/**
 * The parsed form of a torrent's metainfo, shared by the parser, the creator and the engine.
 *
 * Piece space: every file has a byte `offset` in one linear space that pieces index into.
 * v1 and hybrid torrents lay files out back to back, with BEP 47 padding files included as
 * entries (`padding: true`). Pure v2 torrents have no pad files in the info dict, but every file
 * starts on a piece boundary (BEP 52), so the parser inserts the implied gaps as synthetic padding
 * entries. Either way, storage and the picker see one layout, and padding is never written.
 */

/** A SHA-1 (v1) or truncated SHA-256 info hash as 40 lowercase hex characters. */
export type InfoHashHex = string & { readonly __brand: 'InfoHashHex' }

export interface TorrentFileEntry {
  /** Path components under the torrent's root directory (the torrent name for multi-file torrents). */
  path: string[]
  lengthBytes: number
  /** Offset of the file's first byte in the piece space. */
  offsetBytes: number
  /** BEP 47 padding (or the gap implied by v2 alignment): never shown, never written. */
  padding: boolean
  /**
   * BEP 47 attributes (`x` executable, `h` hidden, `l` symlink, `p` padding). `l` is present only
   * together with {@link symlinkPath}.
   */
  attr: string
  /**
   * BEP 47 symlink: the link's target as components under the torrent's root directory (the same
   * space as `path`), already checked to stay inside it. The entry is 0 bytes long; storage
   * creates a relative link instead of a file.
   */
  symlinkPath?: string[]
  /** v2: merkle root of the file's 16 KiB blocks (32 bytes); absent for empty files and v1. */
  piecesRoot?: Uint8Array
}

export type MetaVersion = 'v1' | 'v2' | 'hybrid'

export interface TorrentMetainfo {
  name: string
  version: MetaVersion
  /** SHA-1 of the info dictionary; null for pure v2 torrents. 20 bytes. */
  infoHashV1: Uint8Array | null
  /** SHA-256 of the info dictionary; null for pure v1 torrents. 32 bytes. */
  infoHashV2: Uint8Array | null
  /**
   * The 20-byte hash used in handshakes, trackers and the DHT: the v1 hash, or for pure v2 the
   * SHA-256 truncated to 20 bytes.
   */
  infoHash: Uint8Array
  /** `infoHash` as lowercase hex: the torrent's id across the engine and the session store. */
  id: InfoHashHex
  pieceLengthBytes: number
  pieceCount: number
  /** Sum of all file lengths including padding: the size of the piece space. */
  totalLengthBytes: number
  /**
   * True when the files live in a directory named `name` (a v1 `files` list, or a v2 `file tree`
   * that is not one file at its root). False for single-file torrents, whose one file's path is `[name]`
   * (v1) or its file-tree key (v2), directly under the save path.
   */
  multiFile: boolean
  /** All files in piece-space order, padding included. Filter `padding` for the user's view. */
  files: TorrentFileEntry[]
  /** v1: concatenated 20-byte SHA-1 piece hashes; null for pure v2. */
  pieceHashesV1: Uint8Array | null
  /** v2: `pieces root` (hex) → concatenated 32-byte piece-layer hashes, for files larger than one piece. */
  pieceLayers: Map<string, Uint8Array>
  /** BEP 12 tiers; a lone `announce` becomes one tier. */
  announce: string[][]
  /** BEP 19 web seeds. */
  urlList: string[]
  private: boolean
  comment?: string
  createdBy?: string
  /** Seconds since the epoch. */
  creationDate?: number
  source?: string
  /** The info dictionary's exact bytes, as hashed. */
  infoBytes: Uint8Array
}
