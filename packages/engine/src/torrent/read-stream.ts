/**
 * Streaming a file while it downloads (libtorrent's set_piece_deadline, WebTorrent's
 * file.createReadStream). The stream is a web `ReadableStream<Uint8Array>` (works unchanged in
 * Node and browsers) that the consumer pulls from:
 *
 * 1. on each pull it makes the next `readAheadPieces` pieces it needs time-critical (picker
 *    deadlines, earliest first), so peers fetch exactly what the reader waits for;
 * 2. it waits for the piece it needs to be verified (never serves unverified bytes);
 * 3. it reads the verified bytes through storage and enqueues them;
 * 4. pieces behind the read position lose their deadline; cancel, end or error drops them all.
 *
 * Deadlines are reference-counted by the host, so two streams over the same pieces do not clear
 * each other's. Memory: one chunk (at most `chunkBytes`) per pull; the stream's own queue holds
 * one chunk (highWaterMark 1), so a slow consumer stops the reads (backpressure).
 *
 * The stream errors when the torrent fails (its error) or is removed (TORRENT_REMOVED).
 */
import { LodestoneError } from '../errors.js'

/** Options of `torrent.createReadStream` / `file.createReadStream`. */
export interface ReadStreamOptions {
  /** First byte of the file to read. @default 0 */
  start?: number
  /** Last byte of the file to read, inclusive (as in Node's fs.createReadStream). @default the file's last byte */
  end?: number
  /**
   * Pieces ahead of the read position made time-critical. @default enough pieces for 2 MiB, at
   * least 4: peers queue and buffer several hundred KiB ahead of a request (libtorrent's send
   * buffer), so a window shorter than that makes every piece wait behind ordinary data.
   */
  readAheadPieces?: number
  /** Largest chunk enqueued at once. @default 262_144 */
  chunkBytes?: number
}

/** What the stream needs from its torrent. @internal */
export interface ReadStreamHost {
  pieceLengthBytes: number
  /** The file's position in the piece space. */
  fileOffsetBytes: number
  fileLengthBytes: number
  hasPiece: (piece: number) => boolean
  /** Makes `piece` time-critical (reference-counted). */
  want: (piece: number, rank: number) => void
  /** Drops one reference to `piece`'s deadline. */
  unwant: (piece: number) => void
  /** Reads verified bytes at an absolute offset of the piece space (within one piece). */
  read: (piece: number, begin: number, lengthBytes: number) => Promise<Uint8Array>
  /** Calls `cb` when a piece is verified; returns the unsubscribe function. */
  onPieceVerified: (cb: (piece: number) => void) => () => void
  /** Calls `cb` when the torrent fails or is removed; returns the unsubscribe function. */
  onFatal: (cb: (error: LodestoneError) => void) => () => void
  /** The torrent's fatal error now (failed or removed), else null. */
  fatal: () => LodestoneError | null
}

const MIN_READ_AHEAD_PIECES = 4
const READ_AHEAD_BYTES = 2 * 1024 * 1024
const DEFAULT_CHUNK_BYTES = 256 * 1024

/**
 * A ReadableStream over bytes `start..end` (inclusive) of one file.
 * @throws LodestoneError ARGUMENT_INVALID for a range outside the file or bad options.
 */
export function createPieceReadStream (host: ReadStreamHost, options: ReadStreamOptions = {}): ReadableStream<Uint8Array> {
  const startInFile = options.start ?? 0
  const lastInFile = options.end ?? host.fileLengthBytes - 1
  const readAhead = options.readAheadPieces ?? Math.max(MIN_READ_AHEAD_PIECES, Math.ceil(READ_AHEAD_BYTES / host.pieceLengthBytes))
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES
  if (!Number.isSafeInteger(startInFile) || startInFile < 0 || startInFile > host.fileLengthBytes ||
    !Number.isSafeInteger(lastInFile) || lastInFile < startInFile - 1 || lastInFile >= host.fileLengthBytes) {
    throw new LodestoneError('ARGUMENT_INVALID', { name: 'range', reason: `${startInFile}..${lastInFile} outside a file of ${host.fileLengthBytes} bytes` })
  }
  if (!Number.isInteger(readAhead) || readAhead < 0) throw new LodestoneError('ARGUMENT_INVALID', { name: 'readAheadPieces', reason: 'must be an integer >= 0' })
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new LodestoneError('ARGUMENT_INVALID', { name: 'chunkBytes', reason: 'must be an integer >= 1' })

  const pieceLen = host.pieceLengthBytes
  let pos = host.fileOffsetBytes + startInFile
  const end = host.fileOffsetBytes + lastInFile + 1
  const lastPiece = end > pos ? Math.floor((end - 1) / pieceLen) : -1
  /** Pieces this stream holds a deadline on. */
  const wanted = new Set<number>()
  let finished = false
  let waiter: { piece: number, resolve: () => void, reject: (e: LodestoneError) => void } | null = null

  const offVerified = host.onPieceVerified((piece) => {
    if (waiter !== null && waiter.piece === piece) {
      const w = waiter
      waiter = null
      w.resolve()
    }
  })
  const offFatal = host.onFatal((error) => {
    const w = waiter
    waiter = null
    w?.reject(error)
  })

  const release = (): void => {
    if (finished) return
    finished = true
    for (const piece of wanted) host.unwant(piece)
    wanted.clear()
    offVerified()
    offFatal()
  }

  /** Deadlines on [piece, piece + readAhead], none behind `piece`. */
  const updateWindow = (piece: number): void => {
    for (const p of [...wanted]) {
      if (p < piece) {
        wanted.delete(p)
        host.unwant(p)
      }
    }
    const last = Math.min(lastPiece, piece + readAhead)
    for (let p = piece; p <= last; p++) {
      if (wanted.has(p) || host.hasPiece(p)) continue
      wanted.add(p)
      host.want(p, p - piece)
    }
  }

  const waitFor = async (piece: number): Promise<void> => {
    if (host.hasPiece(piece)) return
    await new Promise<void>((resolve, reject) => { waiter = { piece, resolve, reject } })
  }

  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        if (pos >= end) {
          release()
          controller.close()
          return
        }
        const fatal = host.fatal()
        if (fatal !== null) throw fatal
        const piece = Math.floor(pos / pieceLen)
        updateWindow(piece)
        await waitFor(piece)
        if (finished) return // cancelled while waiting
        const pieceEnd = Math.min((piece + 1) * pieceLen, end)
        const length = Math.min(pieceEnd - pos, chunkBytes)
        const data = await host.read(piece, pos - piece * pieceLen, length)
        if (finished) return
        pos += length
        controller.enqueue(data)
        if (pos >= end) {
          release()
          controller.close()
        }
      } catch (error) {
        release()
        throw error
      }
    },
    cancel: () => {
      const w = waiter
      waiter = null
      release()
      w?.resolve()
    }
  }, { highWaterMark: 1 })
}
