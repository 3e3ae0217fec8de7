/**
 * `@lodestone/engine/create`: torrent creation on its own, so a tool that only makes .torrent files
 * (`lodestone create`) starts without loading the engine. Importing the package root loads every
 * subsystem, ≈ 100 ms of CPU on the 2-core bench machine against ≈ 10 ms for this entry point, and
 * that sits on the critical path before the hasher's workers get their first piece (hashing 1 GiB
 * on both cores takes ≈ 0.45 s; bench/create). Everything here is also exported from the root.
 *
 * @packageDocumentation
 *
 * @module @lodestone/engine/create
 */
export {
  createTorrent, autoPieceLength, MIN_PIECE_LENGTH_BYTES, MAX_PIECE_LENGTH_BYTES, AUTO_MAX_PIECE_LENGTH_BYTES,
  type CreateTorrentOptions, type CreateTorrentDeps, type CreatedTorrent
} from './metainfo/create-torrent.js'
export { LodestoneError, hasCode } from './errors.js'
