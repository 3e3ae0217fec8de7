/**
 * A torrent's files as the user sees them: file and piece priorities applied to the picker and to
 * storage (in an order that never loses bytes), and read streams that turn the pieces they need
 * next into time-critical ones.
 *
 * The file list is known once the metainfo is, so the priorities are made on first use.
 */
import { LodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import { FilePriorities, checkPriorityValue, type TorrentFile } from './file-priorities.js'
import type { PickerPeer } from './peer-session.js'
import type { PiecePicker } from './piece-picker.js'
import { createPieceReadStream, type ReadStreamOptions } from './read-stream.js'
import { SparseMap } from '../util/sparse-collections.js'

/** What the files need from their torrent (read on use: the picker exists once the metadata does). */
export interface TorrentFilesHost {
  readonly id: string
  readonly clock: IClock
  meta: () => TorrentMetainfo
  picker: () => PiecePicker<PickerPeer>
  storage: () => TorrentContentStorage
  /** Wanted pieces changed: interest, requests, and finished ⇄ downloading. */
  wantedChanged: () => void
  /** Streamed pieces changed (once per tick): pre-empt pipelines for them. `streamed`: piece → readers. */
  preempt: (streamed: ReadonlyMap<number, number>) => void
  /** Subscribes to verified pieces; returns the unsubscribe function. */
  onPieceVerified: (cb: (piece: number) => void) => () => void
  /** Subscribes to the torrent failing or being removed; returns the unsubscribe function. */
  onFatal: (cb: (error: LodestoneError) => void) => () => void
  /** The error that ends streams now (removed, or failed), else null. */
  fatal: () => LodestoneError | null
}

export class TorrentFiles {
  private filePriorities: FilePriorities | null = null
  /** Serializes priority changes (each awaits storage). */
  private priorityChain: Promise<void> = Promise.resolve()
  /** Read streams' deadline references per piece. */
  private readonly streamWants = new SparseMap<number, number>()
  private preemptScheduled = false

  constructor (private readonly host: TorrentFilesHost, private readonly initial: ArrayLike<number> | null) {}

  /** True once priorities exist (given at creation, or set or read since); else every piece is wanted. */
  get hasPriorities (): boolean { return this.filePriorities !== null }

  /** True when priorities were given at creation (the picker needs them with the metadata). */
  get hasInitialPriorities (): boolean { return this.initial !== null }

  /** File and piece priorities, made on first use (the file list is known once the metainfo is). */
  get priorities (): FilePriorities {
    this.filePriorities ??= new FilePriorities(this.host.meta(), this.initial ?? undefined)
    return this.filePriorities
  }

  /** The files with their priorities and verified bytes (snapshots), each able to stream. */
  list (): TorrentFile[] {
    const prio = this.priorities
    const picker = this.host.picker()
    const storage = this.host.storage()
    return this.host.meta().files.map((f, index) => {
      const verifiedBytes = prio.verifiedBytes(index, (piece) => picker.hasPiece(piece))
      return {
        index,
        path: storage.filePath(index),
        lengthBytes: f.lengthBytes,
        priority: prio.file(index),
        verifiedBytes,
        progress: f.lengthBytes === 0 ? 1 : verifiedBytes / f.lengthBytes,
        padding: f.padding,
        createReadStream: (options?: ReadStreamOptions) => this.createReadStream(index, options)
      }
    })
  }

  /** See `Torrent.setFilePriority`. */
  async setFilePriority (fileIndex: number, priority: number): Promise<void> {
    const next = this.priorities.fileList()
    if (!Number.isInteger(fileIndex) || fileIndex < 0 || fileIndex >= next.length) {
      throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${fileIndex} outside 0..${next.length - 1}` })
    }
    next[fileIndex] = priority
    await this.setFilePriorities(next)
  }

  /** See `Torrent.setFilePriorities`. */
  async setFilePriorities (priorities: ArrayLike<number>): Promise<void> {
    const next = this.priorities.validate(priorities)
    const run = this.priorityChain.then(async () => {
      const picker = this.host.picker()
      const before = this.priorities.piecePriorities()
      this.priorities.setFiles(next)
      const after = this.priorities.piecePriorities()
      // Never lose bytes: pieces that stop being wanted stop being picked before storage drops
      // their skipped files' bytes, and newly wanted ones are picked only once storage keeps them.
      const interim = before.map((p, i) => Math.min(p, after[i]!))
      picker.setPiecePriorities(interim)
      await this.host.storage().setFilePriorities(next)
      picker.setPiecePriorities(this.priorities.piecePriorities())
      this.host.wantedChanged()
    })
    this.priorityChain = run.catch(() => {})
    await run
  }

  /** See `Torrent.setPiecePriority`. */
  setPiecePriority (piece: number, priority: number | null): void {
    if (priority !== null) checkPriorityValue(priority)
    this.priorities.setPiece(piece, priority)
    this.host.picker().setPiecePriority(piece, this.priorities.piecePriorities()[piece]!)
    this.host.wantedChanged()
  }

  /** See `Torrent.createReadStream`. */
  createReadStream (fileIndex: number, options: ReadStreamOptions = {}): ReadableStream<Uint8Array> {
    const host = this.host
    const meta = host.meta()
    const file = meta.files[fileIndex]
    if (file === undefined) throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${fileIndex} outside 0..${meta.files.length - 1}` })
    if (file.padding) throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${fileIndex} is padding` })
    if (this.priorities.file(fileIndex) === 0) throw new LodestoneError('ARGUMENT_INVALID', { name: 'fileIndex', reason: `file ${fileIndex} is skipped (priority 0): raise its priority to stream it` })
    return createPieceReadStream({
      pieceLengthBytes: meta.pieceLengthBytes,
      fileOffsetBytes: file.offsetBytes,
      fileLengthBytes: file.lengthBytes,
      hasPiece: (piece) => host.picker().hasPiece(piece),
      want: (piece, rank) => {
        this.streamWants.set(piece, (this.streamWants.get(piece) ?? 0) + 1)
        host.picker().setPieceDeadline(piece, host.clock.now() + rank)
        this.schedulePreempt()
      },
      unwant: (piece) => {
        const n = (this.streamWants.get(piece) ?? 1) - 1
        if (n > 0) {
          this.streamWants.set(piece, n)
          return
        }
        this.streamWants.delete(piece)
        host.picker().clearPieceDeadline(piece)
      },
      read: async (piece, begin, lengthBytes) => host.storage().read(piece, begin, lengthBytes),
      onPieceVerified: host.onPieceVerified,
      onFatal: host.onFatal,
      fatal: host.fatal
    }, options)
  }

  /** Coalesces pre-emption into one pass per tick. */
  private schedulePreempt (): void {
    if (this.preemptScheduled) return
    this.preemptScheduled = true
    queueMicrotask(() => {
      this.preemptScheduled = false
      if (this.streamWants.size > 0) this.host.preempt(this.streamWants)
    })
  }
}
