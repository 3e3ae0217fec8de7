/**
 * A torrent's lifecycle: the state machine's transitions and the async flows between them —
 * starting (metadata for magnets, resume data, the check of existing data), pausing, queueing,
 * rechecking, stopping and failing. Seed 000's states; illegal transitions throw (DESIGN rule 5).
 *
 * Every flow that awaits takes a generation number; stop and fail bump it, so a flow that resumes
 * after either gives up instead of acting on a torrent that moved on.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import type { IPieceHasher } from '../metainfo/create-piece-hasher.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { DownloadSettings } from '../session/engine-settings.js'
import type { TorrentResumeHint } from '../session/resume-data.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import { checkOnDisk } from '../storage/check-on-disk.js'
import type { Bitfield } from '../util/bitfield.js'
import type { PickerPeer } from './peer-session.js'
import type { PieceAssembly } from './piece-assembly.js'
import type { PiecePicker } from './piece-picker.js'
import type { PieceVerifier } from './piece-verifier.js'
import type { TorrentEvents } from './torrent-types.js'
import { TorrentState, type TorrentStateMachine } from './torrent-state.js'

export function asLodestoneError (error: unknown): LodestoneError {
  return isLodestoneError(error)
    ? error
    : new LodestoneError('INTERNAL', { reason: error instanceof Error ? error.message : String(error) }, { cause: error })
}

/** Runs of set bits as `[from, to)` piece ranges. */
function pieceRanges (pieces: Bitfield): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (const piece of pieces.ones()) {
    const last = out[out.length - 1]
    if (last !== undefined && last[1] === piece) last[1] = piece + 1
    else out.push([piece, piece + 1])
  }
  return out
}

/** What the lifecycle needs from its torrent (read on use: picker and storage exist once the metadata does). */
export interface TorrentLifecycleHost {
  readonly sm: TorrentStateMachine
  readonly clock: IClock
  readonly hasher: IPieceHasher
  readonly log: Logger | undefined
  readonly assembly: PieceAssembly
  hasMetadata: () => boolean
  meta: () => TorrentMetainfo
  picker: () => PiecePicker<PickerPeer>
  verifier: () => PieceVerifier
  storage: () => TorrentContentStorage
  downloadSettings: () => DownloadSettings
  /** The engine's queue: may the torrent take a slot of this kind now? */
  admit: (kind: 'download' | 'seed') => boolean
  /** Our verified pieces (a copy). */
  bitfield: () => Bitfield
  /** Magnets: the metadata phase; false when paused, stopped or failed meanwhile. */
  fetchMetadata: (gen: number) => Promise<boolean>
  /** BEP 52: piece layers are still missing (a v2 magnet): run as FetchingHashes instead of Downloading. */
  awaitingHashes: () => boolean
  /** Joins the swarm (connections, timers, trackers, PEX). */
  activate: () => void
  /** Leaves the swarm: every connection and timer closed; progress stays. */
  deactivate: () => void
  /** Tracker `stopped` announces and closings in flight (stop waits for them). */
  closing: () => Array<Promise<unknown>>
  emit: <K extends keyof TorrentEvents>(event: K, payload: TorrentEvents[K]) => void
}

export class TorrentLifecycle {
  /** Bumped by stop/fail: async flows of an older generation give up. */
  private gen = 0
  private stopping: Promise<void> | null = null
  private starting: Promise<void> | null = null
  private hashResume: (() => void) | null = null
  private errorValue: LodestoneError | null = null
  /** What a queued torrent does when dequeued: start from scratch, or resume. */
  private queuedFrom: 'stopped' | 'paused' = 'stopped'
  /** Consumed by the next start (resume data, or the pieces known before an error). */
  private resumeHint: TorrentResumeHint | null
  /** The start in progress ends in `paused` instead of joining the swarm (see startPaused). */
  private restPaused = false

  constructor (private readonly host: TorrentLifecycleHost, resume: TorrentResumeHint | null) {
    this.resumeHint = resume
  }

  /** The current generation (work started under an older one is stale). */
  get generation (): number { return this.gen }

  /** The error that put the torrent in state `error`, else null. */
  get error (): LodestoneError | null { return this.errorValue }

  /** See `Torrent.start`. */
  async start (): Promise<void> {
    if (this.starting !== null) return this.starting
    if (this.host.sm.is(TorrentState.Error) && this.stopping === null) {
      // Restart after a failure (e.g. the disk was full and has space again): what was verified
      // and written in this session is still there, so it is trusted rather than re-hashed.
      const known = this.host.bitfield()
      await this.stop()
      if (this.starting !== null) return this.starting
      this.resumeHint ??= { trusted: known, recheck: null }
    }
    if (this.host.sm.is(TorrentState.Queued)) return
    if (!this.host.admit('download')) {
      this.queuedFrom = 'stopped'
      this.host.sm.transition(TorrentState.Queued)
      return
    }
    await this.beginStart()
  }

  /** See `Torrent.startPaused`. */
  async startPaused (): Promise<void> {
    if (this.starting !== null) return this.starting
    this.restPaused = this.host.sm.is(TorrentState.Stopped)
    await this.beginStart()
  }

  private async beginStart (): Promise<void> {
    this.host.sm.transition(TorrentState.Starting)
    const gen = ++this.gen
    this.errorValue = null
    this.starting = this.runStart(gen).finally(() => { this.starting = null })
    await this.starting
  }

  /** Which queue slot this queued torrent waits for. @internal */
  get queuedSlotClass (): 'download' | 'seed' {
    return this.queuedFrom === 'paused' && this.host.picker().isFinished ? 'seed' : 'download'
  }

  /** The queue gives this queued torrent a slot: it starts, or resumes where it was. @internal */
  dequeue (): void {
    if (!this.host.sm.is(TorrentState.Queued)) return
    if (this.queuedFrom === 'stopped') {
      void this.beginStart()
      return
    }
    this.host.sm.transition(this.runningState())
    this.host.activate()
  }

  /** Over the queue's limit: leave the swarm and wait for a slot. False when it cannot now. @internal */
  queue (): boolean {
    if (!this.host.sm.is(TorrentState.Downloading, TorrentState.Seeding)) return false
    this.host.deactivate()
    this.queuedFrom = 'paused'
    this.host.sm.transition(TorrentState.Queued)
    return true
  }

  /** A seed limit was reached (the engine's queue checks): pause and tell. @internal */
  seedLimitReached (info: { reason: 'ratio' | 'time', ratio: number, seedingTimeSec: number }): void {
    if (!this.host.sm.is(TorrentState.Seeding)) return
    this.pause()
    this.host.emit('seed-limit-reached', info)
  }

  /** See `Torrent.pause`. */
  pause (): void {
    if (this.host.sm.is(TorrentState.Queued)) {
      // A queued torrent that never started has nothing to pause: it goes back to stopped.
      this.host.sm.transition(this.queuedFrom === 'paused' ? TorrentState.Paused : TorrentState.Stopped)
      return
    }
    if (this.host.sm.is(TorrentState.Hashing)) {
      this.host.sm.transition(TorrentState.HashingPaused)
      return
    }
    if (this.host.sm.is(TorrentState.Downloading, TorrentState.Seeding, TorrentState.Metadata, TorrentState.FetchingHashes)) {
      this.host.deactivate()
      this.host.sm.transition(TorrentState.Paused)
      return
    }
    if (this.host.sm.is(TorrentState.Paused, TorrentState.HashingPaused)) return
    throw new LodestoneError('ILLEGAL_TRANSITION', { from: this.host.sm.state, to: TorrentState.Paused })
  }

  /** See `Torrent.resume`. */
  resume (): void {
    if (this.host.sm.is(TorrentState.HashingPaused)) {
      this.host.sm.transition(TorrentState.Hashing)
      const r = this.hashResume
      this.hashResume = null
      r?.()
      return
    }
    if (this.host.sm.is(TorrentState.Paused) && !this.host.hasMetadata()) {
      const gen = ++this.gen
      this.starting = this.runStart(gen).finally(() => { this.starting = null })
      return
    }
    if (this.host.sm.is(TorrentState.Paused)) {
      if (!this.host.admit(this.host.picker().isFinished ? 'seed' : 'download')) {
        this.queuedFrom = 'paused'
        this.host.sm.transition(TorrentState.Queued)
        return
      }
      this.host.sm.transition(this.runningState())
      this.host.activate()
      return
    }
    if (this.host.sm.is(TorrentState.Downloading, TorrentState.Seeding, TorrentState.FetchingHashes, TorrentState.Hashing, TorrentState.Queued)) return
    throw new LodestoneError('ILLEGAL_TRANSITION', { from: this.host.sm.state, to: TorrentState.Downloading })
  }

  /** See `Torrent.recheck`. */
  async recheck (): Promise<void> {
    if (!this.host.sm.is(TorrentState.Downloading, TorrentState.Seeding, TorrentState.Paused) || !this.host.hasMetadata()) {
      throw new LodestoneError('ILLEGAL_TRANSITION', { from: this.host.sm.state, to: TorrentState.Hashing })
    }
    const wasPaused = this.host.sm.is(TorrentState.Paused)
    this.host.deactivate()
    const gen = ++this.gen
    this.host.sm.transition(TorrentState.Hashing)
    try {
      // Writes in flight belong to the old generation: let them land before reading the files.
      await Promise.allSettled(this.host.assembly.pending())
      if (gen !== this.gen) return
      this.host.assembly.clearBuffers()
      for (let piece = 0; piece < this.host.meta().pieceCount; piece++) this.host.picker().markMissing(piece)
      await this.checkExistingData(gen)
      if (gen !== this.gen) return
      if (wasPaused) {
        this.host.sm.transition(TorrentState.Paused)
        return
      }
      this.host.sm.transition(this.runningState())
      this.host.activate()
    } catch (error) {
      if (gen === this.gen) this.fail(error)
    }
  }

  /** The state of a running torrent: seeding when complete, else fetching piece layers or downloading. */
  private runningState (): TorrentState {
    if (this.host.picker().isFinished) return TorrentState.Seeding
    return this.host.awaitingHashes() ? TorrentState.FetchingHashes : TorrentState.Downloading
  }

  /** BEP 52: the last missing piece layer arrived; FetchingHashes moves on to downloading. */
  hashesFetched (): void {
    if (this.host.sm.is(TorrentState.FetchingHashes)) this.host.sm.transition(this.runningState())
  }

  /** See `Torrent.stop`. */
  async stop (): Promise<void> {
    if (this.stopping !== null) return this.stopping
    if (this.host.sm.is(TorrentState.Stopped)) return
    this.stopping = this.runStop().finally(() => { this.stopping = null })
    await this.stopping
  }

  private async runStart (gen: number): Promise<void> {
    const restPaused = this.restPaused
    this.restPaused = false
    try {
      if (!this.host.hasMetadata() && restPaused) {
        this.host.sm.transition(TorrentState.Paused)
        return
      }
      if (!this.host.hasMetadata() && !await this.host.fetchMetadata(gen)) return
      const dl = this.host.downloadSettings()
      const hint = this.resumeHint
      this.resumeHint = null
      if (hint !== null) {
        for (const piece of hint.trusted.ones()) if (!this.host.picker().hasPiece(piece)) this.host.picker().markHave(piece)
        const ranges = hint.recheck === null ? [] : pieceRanges(hint.recheck)
        if (ranges.length > 0) {
          this.host.sm.transition(TorrentState.Hashing)
          await this.checkExistingData(gen, ranges)
          if (gen !== this.gen) return
        }
      } else if (dl.checkExistingData) {
        this.host.sm.transition(TorrentState.Hashing)
        await this.checkExistingData(gen)
        if (gen !== this.gen) return
      }
      // No piece covers a 0-byte file, so create them now (as libtorrent does).
      await this.host.storage().createEmptyFiles()
      if (gen !== this.gen) return
      const complete = this.host.picker().isFinished
      if (complete) this.host.emit('completed', {})
      if (gen !== this.gen) return
      if (restPaused) {
        this.host.sm.transition(TorrentState.Paused)
        return
      }
      this.host.sm.transition(this.runningState())
      this.host.activate()
    } catch (error) {
      if (gen === this.gen) this.fail(error)
    }
  }

  /** Hashes the pieces in `ranges` (`[from, to)`, default all) and marks those that pass. */
  private async checkExistingData (gen: number, ranges: ReadonlyArray<readonly [number, number]> = [[0, this.host.meta().pieceCount]]): Promise<void> {
    const started = this.host.clock.now()
    const dl = this.host.downloadSettings()
    const limit = dl.checkConcurrency > 0 ? dl.checkConcurrency : Math.max(2, this.host.hasher.concurrency * 2)
    const inFlight = new Set<Promise<void>>()
    const abort = new AbortController()
    // A holder, not a `let`: it is set from promise callbacks, which flow analysis cannot see.
    const check: { failure: LodestoneError | null } = { failure: null }
    try {
      // Both cores: the hasher reads and hashes the files itself where it can.
      const onDisk = await checkOnDisk({ hasher: this.host.hasher, storage: this.host.storage(), verifier: this.host.verifier() }, ranges, (piece, status) => {
        if (status === 'ok' && gen === this.gen && !this.host.picker().hasPiece(piece)) this.host.picker().markHave(piece)
      }, { signal: abort.signal, beforeBatch: async () => this.hashingMayGoOn(gen) })
      if (onDisk) ranges = []
      for await (const { piece, data } of this.readRanges(ranges, abort.signal)) {
        if (gen !== this.gen) { abort.abort(); return }
        while (this.host.sm.is(TorrentState.HashingPaused)) {
          await new Promise<void>((resolve) => { this.hashResume = resolve })
          if (gen !== this.gen) return
        }
        if (data === null) continue
        const job = this.host.verifier().verify(piece, data).then((result) => {
          if (result === 'ok' && gen === this.gen && !this.host.picker().hasPiece(piece)) this.host.picker().markHave(piece)
        }, (error: unknown) => { check.failure ??= asLodestoneError(error) })
        inFlight.add(job)
        void job.finally(() => inFlight.delete(job))
        if (inFlight.size >= limit) await Promise.race(inFlight)
        if (check.failure !== null) throw check.failure
      }
      await Promise.all(inFlight)
      if (check.failure !== null) throw check.failure
    } finally {
      abort.abort()
    }
    if (gen === this.gen) {
      this.host.emit('checked', { havePieces: this.host.picker().haveCount, durationMs: this.host.clock.now() - started })
    }
  }

  /** Waits while hashing is paused; false once the check is no longer wanted (stopped, rechecked again). */
  private async hashingMayGoOn (gen: number): Promise<boolean> {
    while (gen === this.gen && this.host.sm.is(TorrentState.HashingPaused)) {
      await new Promise<void>((resolve) => { this.hashResume = resolve })
    }
    return gen === this.gen
  }

  /** The pieces of each `[from, to)` range in turn, as {@link TorrentContentStorage.readPieces} yields them. */
  private async * readRanges (ranges: ReadonlyArray<readonly [number, number]>, signal: AbortSignal): AsyncGenerator<{ piece: number, data: Uint8Array | null }> {
    for (const [fromPiece, toPiece] of ranges) yield * this.host.storage().readPieces({ fromPiece, toPiece, signal })
  }

  private async runStop (): Promise<void> {
    this.gen++
    const r = this.hashResume
    this.hashResume = null
    if (!this.host.sm.is(TorrentState.Error)) this.host.sm.transition(TorrentState.Stopping)
    r?.()
    this.host.deactivate()
    // Wait for the check loop and disk writes in flight, so files are not closed under them.
    if (this.starting !== null) await this.starting.catch(() => {})
    await Promise.allSettled([...this.host.assembly.pending(), ...this.host.closing()])
    this.host.assembly.reset()
    if (this.host.hasMetadata()) {
      // Pieces whose buffers are gone start over: partial ones, and complete ones whose check or
      // write an error abandoned (the picker would otherwise wait for them for ever).
      for (let piece = 0; piece < this.host.meta().pieceCount; piece++) {
        const status = this.host.picker().pieceStatus(piece)
        if (status !== 'verified' && status !== 'missing') this.host.picker().pieceFailed(piece)
      }
    }
    try {
      // Flushed and closed: a stopped torrent keeps none of the engine's open-file budget.
      if (this.host.hasMetadata()) await this.host.storage().releaseFiles()
    } catch (error) {
      this.host.emit('warning', { error })
    }
    this.host.sm.transition(TorrentState.Stopped)
  }

  /** Fatal: state `error`, connections dropped, 'error' emitted. */
  fail (error: unknown): void {
    const err = asLodestoneError(error)
    if (this.host.sm.is(TorrentState.Error, TorrentState.Stopped, TorrentState.Stopping)) {
      this.host.emit('warning', { error: err })
      return
    }
    this.gen++
    this.errorValue = err
    this.host.deactivate()
    this.host.sm.transition(TorrentState.Error)
    this.host.log?.error('torrent failed', { code: err.code })
    this.host.emit('error', { error: err })
  }
}
