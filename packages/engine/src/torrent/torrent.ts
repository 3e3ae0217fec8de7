/**
 * One torrent: its state machine, its peers, and the glue between the picker (which blocks),
 * the peer connections (the wire), the verifier (are the bytes right) and storage (the disk).
 *
 * Ownership (DESIGN rule 4): each PeerConnection owns its protocol state and request books; the
 * PiecePicker owns piece/block state; TorrentContentStorage owns files. The torrent owns the
 * piece buffers being assembled, the decisions that need more than one peer (choking, bans,
 * interest after a piece completes), and the lifecycle.
 *
 * Data path: `piece-received` → picker.blockReceived (accept or count as waste) → copy into the
 * piece buffer → piece complete → verify → one coalesced storage write → picker.pieceVerified →
 * HAVE → 'piece-verified'. A piece never counts, and is never announced or served, before it is
 * verified and written.
 *
 * The parts live beside this file: {@link TorrentPeers} (torrent-peers.ts) runs the connected
 * peers (sessions, requests, block receipt, uploads, choking); {@link PieceAssembly}
 * (piece-assembly.ts) assembles, verifies and stores pieces and judges the senders of bad ones
 * (bounded by `download.maxUnverifiedBytes`); this class owns the lifecycle, the metadata phase,
 * trackers, PEX, known addresses, bans, priorities and streams.
 */
import { LodestoneError } from '../errors.js'
import type { Logger } from '../interfaces/logger.js'
import type { ITcpSocket } from '../interfaces/socket.js'
import type { MagnetLink } from '../metainfo/magnet.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { MetadataFetcherSettings } from '../metadata/metadata-fetcher-settings.js'
import { MetadataSwarm } from '../metadata/metadata-swarm.js'
import type { ConnectionSlot, IncomingTicket } from '../peer/connection-manager.js'
import { formatPeerAddress, parsePeerAddress, type PeerAddress, type PeerSource } from '../peer/peer-address.js'
import type { RateLimiter } from '../peer/rate-limiter.js'
import { RateMeter } from '../peer/rate-meter.js'
import { PexHandler, pexIsSeed } from '../pex/pex-handler.js'
import type { HandshakeHeader } from '../protocol/handshake.js'
import { createUtMetadataExtension } from '../protocol/ut-metadata.js'
import { effectiveDownloadSettings, resolveTorrentSettings, type DownloadSettings, type EngineSettings, type TorrentSettings } from '../session/engine-settings.js'
import type { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import type { TrackerStatus } from '../tracker/tracker-manager.js'
import { Bitfield } from '../util/bitfield.js'
import { bytesEqual } from '../util/bytes.js'
import { TypedEmitter } from '../util/typed-emitter.js'
import { Choker } from './choker.js'
import type { TorrentFile } from './file-priorities.js'
import type { PeerSession, PickerPeer } from './peer-session.js'
import { PieceAssembly, type TorrentCounters } from './piece-assembly.js'
import { PiecePicker } from './piece-picker.js'
import { PieceVerifier } from './piece-verifier.js'
import type { ReadStreamOptions } from './read-stream.js'
import { renamePath } from './rename-path.js'
import { handshakeHashesOf } from './handshake-hashes.js'
import type { PeerInfo, TorrentDeps, TorrentEvents, TorrentInit, TorrentStats } from './torrent-types.js'
import { KnownPeers } from './known-peers.js'
import { TorrentFiles } from './torrent-files.js'
import { TorrentLifecycle } from './torrent-lifecycle.js'
import { TorrentTrackers } from './torrent-trackers.js'
import { TorrentTicks } from './torrent-ticks.js'
import { TorrentPeers } from './torrent-peers.js'
import { TorrentWebSeeds } from './torrent-web-seeds.js'
import { announceStateOf, downloadStats, metadataPhaseStats } from './torrent-stats.js'
import { TorrentState, TorrentStateMachine } from './torrent-state.js'
import { createTorrentHashes, type TorrentHashes } from '../v2/torrent-hashes.js'
import { SparseSet } from '../util/sparse-collections.js'

export type { PeerInfo, TorrentDeps, TorrentEvents, TorrentInit, TorrentStats } from './torrent-types.js'

export class Torrent extends TypedEmitter<TorrentEvents> {
  /** Null until a magnet's metadata arrived (see `meta`, `hasMetadata`). */
  private metaValue: TorrentMetainfo | null = null
  private readonly magnet: MagnetLink | null
  /** The metadata phase of a magnet (connections and trackers while the info dict is unknown). */
  private metadataSwarm: MetadataSwarm | null = null
  private cancelMetadataWait: (() => void) | null = null
  private readonly metadataFetcherSettings: Partial<MetadataFetcherSettings>
  /** Serves our info dict to peers (BEP 9); every connection gets an instance. */
  private readonly utMetadata = createUtMetadataExtension({ metadata: () => this.metaValue?.infoBytes ?? null })
  /** The info hash as 40 lowercase hex characters: the torrent's id. */
  readonly id: string
  readonly infoHash: Uint8Array

  /** `storage` is absent only while a magnet's metadata is unknown, when nothing reads it. */
  private readonly deps: TorrentDeps & { storage: TorrentContentStorage }
  private readonly engineSettings: () => EngineSettings
  private overrides: TorrentSettings
  private downloadSettingsMemo: { engine: DownloadSettings, overrides: TorrentSettings, value: DownloadSettings } | null = null
  private readonly sm: TorrentStateMachine
  // Made with the metadata (in the constructor, or when a magnet's arrives): never read before.
  private picker!: PiecePicker<PickerPeer>
  private readonly choker: Choker<PeerSession>
  private verifier!: PieceVerifier
  /** BEP 52 hash requests: served from our piece layers; missing ones fetched, then `layersFetched` starts requests. */
  private hashes: TorrentHashes | null = null
  private readonly log: Logger | undefined

  /** The connected peers: sessions, requests, block receipt, uploads, choking. */
  private readonly swarm: TorrentPeers
  /** Piece buffers, verification and storage writes, hash-failure bans. */
  private readonly assembly: PieceAssembly
  /** BEP 19 HTTP sources the picker feeds beside the peers. */
  private readonly webSeeds: TorrentWebSeeds
  /** Addresses to (re)connect to, each with the source that first reported it. */
  private readonly knownPeers = new KnownPeers()
  /** BEP 11 peer exchange while active (never for private torrents). */
  private pex: PexHandler | null = null
  private readonly bannedHosts = new SparseSet<string>()

  /** Rechoke and housekeeping, scheduled while in the swarm with peers, candidates or web seeds. */
  private readonly ticks: TorrentTicks
  /** Trackers while active, and their `stopped` announces in flight. */
  private readonly trackerSet: TorrentTrackers
  private active = false
  /** States and the flows between them (start, check, pause, queue, recheck, stop, fail). */
  private readonly lifecycle: TorrentLifecycle
  /** File and piece priorities, read streams. */
  private readonly fileState: TorrentFiles
  private disposed = false

  private readonly counters: TorrentCounters = { downloadedBytes: 0, uploadedBytes: 0, wastedBytes: 0, hashFailures: 0 }
  private readonly downloadMeter: RateMeter
  private readonly uploadMeter: RateMeter
  private readonly uploadLimiter: RateLimiter | null
  private readonly downloadLimiter: RateLimiter | null

  /** @internal The engine creates torrents (`BtEngine.addTorrent`). */
  constructor (deps: TorrentDeps, init: TorrentInit) {
    super()
    this.deps = deps as TorrentDeps & { storage: TorrentContentStorage }
    const source = init.meta ?? init.magnet
    if (source === undefined) throw new LodestoneError('ARGUMENT_INVALID', { name: 'init', reason: 'needs meta or magnet' })
    this.magnet = init.meta === undefined ? init.magnet ?? null : null
    for (const peer of this.magnet?.peers ?? []) this.rememberPeer(peer, 'magnet')
    this.metadataFetcherSettings = init.metadataFetcher ?? {}
    this.id = source.id
    this.infoHash = source.infoHash
    this.engineSettings = init.settings
    this.overrides = init.overrides ?? {}
    this.log = deps.logger?.child('torrent', this.id.slice(0, 8))
    this.onListenerError = (error, event) => {
      if (event === 'warning') this.log?.warn('warning listener threw', { error: String(error) })
      else this.emit('warning', { error })
    }
    this.sm = new TorrentStateMachine((change) => { this.emit('state-changed', change) })
    this.choker = new Choker<PeerSession>({ random: deps.random }, this.engineSettings().choking)
    this.downloadMeter = new RateMeter(deps.clock)
    this.uploadMeter = new RateMeter(deps.clock)
    this.uploadLimiter = deps.limits?.upload.createChild() ?? null
    this.downloadLimiter = deps.limits?.download.createChild() ?? null
    this.applyRateOverrides()
    this.assembly = new PieceAssembly({
      clock: deps.clock,
      hasher: deps.hasher,
      log: this.log,
      counters: this.counters,
      pieceLengthBytes: () => this.meta.pieceLengthBytes,
      picker: () => this.picker,
      verifier: () => this.verifier,
      storage: () => this.deps.storage,
      downloadSettings: () => this.downloadSettings,
      generation: () => this.lifecycle.generation,
      pieceVerified: (piece, firstBlockAtMs) => { this.onPieceVerified(piece, firstBlockAtMs) },
      hashFailed: (piece, hosts) => {
        this.webSeeds.onHashFailed(hosts)
        this.emit('hash-failed', { piece, peers: hosts })
      },
      ban: (host, reason) => { this.ban(host, reason) },
      fail: (error) => { this.lifecycle.fail(error) },
      refillAll: () => { this.swarm.scheduleRefillAll(); this.webSeeds.schedulePump() }
    })
    this.swarm = new TorrentPeers({
      id: this.id,
      infoHash: this.infoHash,
      clock: deps.clock,
      scheduler: deps.scheduler,
      connections: deps.connections,
      peerId: deps.peerId,
      listenPort: deps.listenPort,
      log: this.log,
      counters: this.counters,
      downloadMeter: this.downloadMeter,
      uploadMeter: this.uploadMeter,
      uploadLimiter: this.uploadLimiter,
      downloadLimiter: this.downloadLimiter,
      choker: this.choker,
      assembly: this.assembly,
      utMetadata: this.utMetadata,
      isActive: () => this.active,
      meta: () => this.meta,
      picker: () => this.picker,
      storage: () => this.deps.storage,
      settings: this.engineSettings,
      downloadSettings: () => this.downloadSettings,
      pex: () => this.pex,
      superSeeding: () => this.overrides.superSeeding === true,
      random: deps.random,
      hashes: () => this.hashes,
      sourceOf: (address) => this.knownPeers.sourceOf(address),
      rememberPeer: (address, source, seed) => { this.knownPeers.remember(address, source, seed) },
      pieceLost: (piece) => { this.picker.markMissing(piece); this.afterWantedChanged() },
      emit: (event, payload) => { this.emit(event, payload) }
    })
    this.webSeeds = new TorrentWebSeeds({
      clock: deps.clock,
      log: this.log,
      counters: this.counters,
      downloadMeter: this.downloadMeter,
      assembly: this.assembly,
      downloadLimiter: this.downloadLimiter,
      http: () => deps.trackers?.httpClient,
      isActive: () => this.active && this.hashes?.fetching !== true,
      meta: () => this.meta,
      picker: () => this.picker,
      storage: () => this.deps.storage,
      settings: () => this.engineSettings().webSeed,
      downloadSettings: () => this.downloadSettings,
      refillPeers: () => { this.swarm.scheduleRefillAll() },
      emit: (event, payload) => { this.emit(event, payload) }
    })
    this.ticks = new TorrentTicks({ id: this.id, scheduler: deps.scheduler, connections: deps.connections, swarm: this.swarm, webSeeds: this.webSeeds, settings: this.engineSettings })
    const removed = (): LodestoneError => new LodestoneError('TORRENT_REMOVED', { id: this.id })
    this.fileState = new TorrentFiles({
      id: this.id,
      clock: deps.clock,
      meta: () => this.meta,
      picker: () => this.picker,
      storage: () => this.deps.storage,
      wantedChanged: () => { this.afterWantedChanged() },
      preempt: (streamed) => { if (this.active) this.swarm.preemptForDeadlines(streamed) },
      onPieceVerified: (cb) => this.on('piece-verified', ({ piece }) => { cb(piece) }),
      onFatal: (cb) => {
        const offError = this.on('error', ({ error }) => { cb(error) })
        const offRemoved = this.on('removed', () => { cb(removed()) })
        return () => { offError(); offRemoved() }
      },
      fatal: () => (this.disposed ? removed() : this.sm.is(TorrentState.Error) ? this.lifecycle.error : null)
    }, init.filePriorities ?? null)
    this.trackerSet = new TorrentTrackers({
      clock: deps.clock,
      random: deps.random,
      log: this.log,
      transports: deps.trackers,
      announceState: () => announceStateOf(this.stats(), { infoHash: this.infoHash, peerId: deps.peerId, port: deps.listenPort(), finished: this.picker.isFinished }),
      onPeers: (peers) => {
        for (const peer of peers) {
          if (this.bannedHosts.has(peer.host)) continue
          this.rememberPeer(peer, 'tracker')
          if (this.active) this.addCandidate(peer)
        }
      },
      onWarning: (error) => { this.emit('warning', { error }) },
      onStatus: (status) => { this.emit('tracker-updated', { tracker: status }) }
    })
    this.lifecycle = new TorrentLifecycle({
      sm: this.sm,
      clock: deps.clock,
      hasher: deps.hasher,
      log: this.log,
      assembly: this.assembly,
      hasMetadata: () => this.metaValue !== null,
      meta: () => this.meta,
      picker: () => this.picker,
      verifier: () => this.verifier,
      storage: () => this.deps.storage,
      downloadSettings: () => this.downloadSettings,
      admit: (kind) => this.deps.admit?.(kind) !== false,
      bitfield: () => this.bitfield(),
      fetchMetadata: async (gen) => this.fetchMetadata(gen),
      awaitingHashes: () => this.hashes?.fetching === true,
      activate: () => { this.activate() },
      deactivate: () => { this.deactivate() },
      closing: () => this.trackerSet.pending(),
      emit: (event, payload) => { this.emit(event, payload) }
    }, init.resume ?? null)
    if (init.meta !== undefined) this.initMetadata(init.meta)
  }

  /** Everything that needs the metainfo: picker, verifier, priorities. Runs once. */
  private initMetadata (meta: TorrentMetainfo): void {
    this.metaValue = meta
    this.picker = new PiecePicker<PickerPeer>(meta, { random: this.deps.random }, this.engineSettings().picker)
    this.verifier = new PieceVerifier({ hasher: this.deps.hasher }, meta)
    const layersFetched = (): void => { this.lifecycle.hashesFetched(); this.swarm.scheduleRefillAll(); this.webSeeds.schedulePump() }
    this.hashes = createTorrentHashes({ hasher: this.deps.hasher, clock: this.deps.clock, log: this.log }, meta, layersFetched)
    if (this.overrides.sequential !== undefined) this.picker.updateSettings({ sequential: this.overrides.sequential })
    if (this.fileState.hasInitialPriorities) this.picker.setPiecePriorities(this.fileState.priorities.piecePriorities())
  }

  /**
   * The metainfo.
   * @throws LodestoneError METADATA_PENDING for a magnet whose metadata has not arrived (see `hasMetadata`).
   */
  get meta (): TorrentMetainfo {
    if (this.metaValue === null) throw new LodestoneError('METADATA_PENDING', { torrentId: this.id })
    return this.metaValue
  }

  /** False while a magnet's metadata is being fetched ('metadata' fires when it arrives). */
  get hasMetadata (): boolean { return this.metaValue !== null }

  /** The metainfo, or null while a magnet's is being fetched. */
  get metadata (): TorrentMetainfo | null { return this.metaValue }

  /**
   * Per-torrent rate limits in bytes per second (0: only the engine's global limits apply).
   * @throws LodestoneError SETTINGS_INVALID for a negative rate.
   */
  setRateLimits (limits: { uploadRateBytesPerSec?: number, downloadRateBytesPerSec?: number }): void {
    // Kept in the overrides, so `setOverrides` / `settingsOverrides` see the same limits.
    this.overrides = { ...this.overrides, ...resolveTorrentSettings(limits) }
    this.applyRateOverrides()
  }

  /** Per-torrent limits from the overrides (TorrentSettings `uploadRateBytesPerSec` / `downloadRateBytesPerSec`). */
  private applyRateOverrides (): void {
    this.uploadLimiter?.setRate(this.overrides.uploadRateBytesPerSec ?? 0)
    this.downloadLimiter?.setRate(this.overrides.downloadRateBytesPerSec ?? 0)
  }

  /** Applies changed engine settings (choking, picker) from the next decision on. @internal */
  applySettings (): void {
    const s = this.engineSettings()
    this.choker.updateSettings(s.choking)
    if (this.metaValue === null) return
    this.picker.updateSettings(this.overrides.sequential !== undefined ? { ...s.picker, sequential: this.overrides.sequential } : s.picker)
  }

  /** Releases what outlives a stop (rate limiter queues); the engine calls it when removing the torrent. @internal */
  dispose (): void {
    this.uploadLimiter?.close()
    this.downloadLimiter?.close()
    if (!this.disposed) {
      this.disposed = true
      this.emit('removed', {})
    }
  }

  // ------------------------------------------------------------------ files, priorities, streaming, moving

  /** The torrent's files with their priorities and verified bytes (snapshots), each able to stream. */
  get files (): TorrentFile[] {
    return this.fileState.list()
  }

  /**
   * Sets one file's priority (0 = skip, 1 = low, 4 = normal, 6 = high, 7 = top; see FilePriority).
   * @throws LodestoneError ARGUMENT_INVALID; STORAGE_* when an unskipped file's bytes cannot be restored.
   */
  async setFilePriority (fileIndex: number, priority: number): Promise<void> {
    await this.fileState.setFilePriority(fileIndex, priority)
  }

  /**
   * Sets every file's priority. Skipped files are never created; bytes of theirs that share a
   * piece with a wanted file go to the part file. A torrent whose wanted pieces are all verified
   * is finished ('completed', state seeding); wanting more sends it back to downloading.
   * @throws LodestoneError ARGUMENT_INVALID; STORAGE_* when an unskipped file's bytes cannot be restored.
   */
  async setFilePriorities (priorities: ArrayLike<number>): Promise<void> {
    await this.fileState.setFilePriorities(priorities)
  }

  /**
   * Sets (or with null clears) one piece's own priority, overriding its files' (0 skips the piece).
   * @throws LodestoneError ARGUMENT_INVALID
   */
  setPiecePriority (piece: number, priority: number | null): void {
    this.fileState.setPiecePriority(piece, priority)
  }

  /** The priority the picker uses for `piece` (0..7). */
  getPiecePriority (piece: number): number {
    return this.picker.getPiecePriority(piece)
  }

  /** Picks new pieces in index order (true) or rarest-first (false); overrides `picker.sequential`. */
  setSequential (sequential: boolean): void {
    this.overrides = { ...this.overrides, sequential }
    this.picker.updateSettings({ sequential })
  }

  get sequential (): boolean {
    return this.overrides.sequential ?? this.engineSettings().picker.sequential
  }

  /**
   * Streams bytes `start..end` (inclusive) of file `fileIndex` while it downloads: the pieces it
   * needs next become time-critical, it waits for them to be verified, and reads them from
   * storage. Cancelling lowers them back. Errors when the torrent fails or is removed.
   * @throws LodestoneError ARGUMENT_INVALID (file index, range, a skipped or padding file).
   */
  createReadStream (fileIndex: number, options: ReadStreamOptions = {}): ReadableStream<Uint8Array> {
    return this.fileState.createReadStream(fileIndex, options)
  }

  /**
   * Moves the torrent's files to another storage root (a root token, or a directory path that
   * becomes a root) while it runs: I/O pauses, files are renamed (same device) or copied, synced
   * and deleted at the old place, then I/O continues there. Crash-safe: a marker in both roots
   * lets the next start finish (or redo) an interrupted move. Emits 'storage-moved'.
   * @throws LodestoneError ARGUMENT_INVALID when the engine gave no mover; STORAGE_* on failure
   *   (the files stay at, or are moved back to, the old place).
   */
  async moveStorage (target: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const mover = this.deps.moveStorage
    if (mover === undefined) throw new LodestoneError('ARGUMENT_INVALID', { name: 'moveStorage', reason: 'this torrent has no storage mover' })
    await mover(target, options)
  }

  /**
   * Renames the file or folder at `path` (in the torrent, e.g. `name/dir/file`) to `name`, on disk
   * when its data exists (libtorrent's rename_file); see rename-path.ts. Kept by resume data.
   * @throws LodestoneError ARGUMENT_INVALID (bad name, no such path, a collision); METADATA_PENDING; STORAGE_*.
   */
  async renamePath (path: string, name: string): Promise<void> {
    const { target } = await renamePath(this.deps.storage, this.meta.files.length, path, name)
    this.emit('path-renamed', { path, name, target })
  }

  /** @internal Announces a finished move (the engine's mover calls it). */
  storageMoved (token: string): void {
    this.emit('storage-moved', { token })
  }

  /** After priorities changed: interest, requests, and finished ⇄ downloading. */
  private afterWantedChanged (): void {
    this.swarm.updateAllInterest()
    if (this.sm.is(TorrentState.Downloading) && this.picker.isFinished) {
      this.onFinished()
    } else if (this.sm.is(TorrentState.Seeding) && !this.picker.isFinished) {
      this.sm.transition(TorrentState.Downloading)
      this.swarm.endGameFired = false
      this.swarm.afterWantingMore()
    }
    this.swarm.scheduleRefillAll()
    this.webSeeds.schedulePump()
  }

  // ------------------------------------------------------------------ public API

  get name (): string { return this.metaValue?.name ?? this.magnet?.displayName ?? this.id }
  get state (): TorrentState { return this.sm.state }
  /** The error that put the torrent in state `error`, else null. */
  get error (): LodestoneError | null { return this.lifecycle.error }
  /** Every wanted piece verified. */
  get isComplete (): boolean { return this.metaValue !== null && this.picker.isFinished }

  /** A copy of our bitfield. */
  bitfield (): Bitfield { return this.metaValue === null ? new Bitfield(0) : this.picker.bitfield() }

  /** Download settings in effect for this torrent (engine values with this torrent's overrides). */
  get downloadSettings (): DownloadSettings {
    // Read on every request refill: merged again only when either side was replaced (settings
    // updates and overrides always swap in new objects, never mutate them).
    const engine = this.engineSettings().download
    const memo = this.downloadSettingsMemo
    if (memo !== null && memo.engine === engine && memo.overrides === this.overrides) return memo.value
    const value = effectiveDownloadSettings(engine, this.overrides)
    this.downloadSettingsMemo = { engine, overrides: this.overrides, value }
    return value
  }

  /**
   * Replaces this torrent's overrides of the download settings (and its connection cap).
   * @throws LodestoneError SETTINGS_INVALID naming the key.
   */
  setOverrides (overrides: TorrentSettings): void {
    this.overrides = resolveTorrentSettings(overrides)
    this.applyRateOverrides()
  }

  /**
   * Starts the torrent: checks existing data (complete files go straight to seeding), then
   * connects to known peers. Resolves once it is downloading or seeding (or paused / stopped
   * meanwhile). Failures put the torrent in state `error` (and emit 'error') rather than reject.
   * @throws LodestoneError ILLEGAL_TRANSITION when not stopped.
   */
  async start (): Promise<void> {
    await this.lifecycle.start()
  }

  /**
   * Starts into `paused` without joining the swarm: applies the resume data (checking files that
   * changed) and stops there, as a session restore does for a torrent the user had paused. A
   * magnet without metadata goes straight to paused. `resume()` continues (a magnet then fetches
   * its metadata).
   * @throws LodestoneError ILLEGAL_TRANSITION when not stopped.
   */
  async startPaused (): Promise<void> {
    await this.lifecycle.startPaused()
  }

  /** Which queue slot this queued torrent waits for. @internal */
  get queuedSlotClass (): 'download' | 'seed' { return this.lifecycle.queuedSlotClass }

  /** The queue gives this queued torrent a slot: it starts, or resumes where it was. @internal */
  dequeue (): void { this.lifecycle.dequeue() }

  /** Over the queue's limit: leave the swarm and wait for a slot. False when it cannot now. @internal */
  queue (): boolean { return this.lifecycle.queue() }

  /** A seed limit was reached (the engine's queue checks): pause and tell. @internal */
  seedLimitReached (info: { reason: 'ratio' | 'time', ratio: number, seedingTimeSec: number }): void {
    this.lifecycle.seedLimitReached(info)
  }

  /** Pauses: drops connections, keeps progress. While checking data, suspends the check. */
  pause (): void { this.lifecycle.pause() }

  /** Undoes pause. */
  resume (): void { this.lifecycle.resume() }

  /**
   * Checks the data on disk again (forced re-check): connections are dropped, every piece is
   * re-verified, then the torrent resumes downloading (pieces found bad are fetched again) or
   * seeding, or stays paused if it was. Failures put it in state `error`.
   * @throws LodestoneError ILLEGAL_TRANSITION unless downloading, seeding or paused.
   */
  async recheck (): Promise<void> {
    await this.lifecycle.recheck()
  }

  /**
   * Stops: closes every connection, waits for pending disk writes, closes files. Idempotent;
   * from `error` it clears the error.
   */
  async stop (): Promise<void> {
    await this.lifecycle.stop()
  }

  /**
   * Adds a peer to connect to (`'127.0.0.1:6881'`, `'[::1]:6881'` or `{ host, port }`). Remembered
   * across pause/resume. Returns false when it is known already or refused (banned, ourselves).
   * `source` is recorded for {@link PeerInfo.source} (the first source of an address wins).
   * @throws LodestoneError ADDRESS_INVALID
   */
  addPeer (address: string | PeerAddress, source: PeerSource = 'manual'): boolean {
    const parsed = parsePeerAddress(address)
    if (this.bannedHosts.has(parsed.host) || this.deps.connections.isBanned(parsed.host)) return false
    const isNew = this.knownPeers.remember(parsed, source)
    this.metadataSwarm?.addPeer(parsed)
    // A seed does not dial a peer known to be a seed: it would be closed at once (nothing to trade).
    if (!this.active || (this.isComplete && this.knownPeers.isSeed(parsed))) return isNew
    return this.addCandidate(parsed, source) || isNew
  }

  /** This torrent's setting overrides (a copy). */
  get settingsOverrides (): TorrentSettings {
    return { ...this.overrides }
  }

  /** Addresses this torrent knows to (re)connect to, as `host:port`, most recent last. */
  knownPeerAddresses (): string[] {
    return this.knownPeers.keys()
  }

  /** Snapshots of this torrent's trackers (empty when it announces to none). */
  trackers (): TrackerStatus[] {
    return this.trackerSet.list()
  }

  /**
   * Announces to every tracker now, each as soon as its `min interval` allows (libtorrent's
   * force_reannounce), and asks the engine's DHT for an announce round on a public torrent
   * ('reannounce-requested'). Nothing happens while the torrent is not in the swarm.
   */
  reannounce (): void {
    if (!this.active) return
    this.trackerSet.announceNow()
    this.emit('reannounce-requested', {})
  }

  /** Snapshots of the connected peers (handshake done). */
  peers (): PeerInfo[] {
    return [...this.swarm.infos(), ...this.webSeeds.infos()]
  }

  stats (): TorrentStats {
    if (this.metaValue === null) return metadataPhaseStats(this.sm.state, this.magnet?.exactLengthBytes ?? 0, this.metadataSwarm?.peerCount ?? 0, this.bannedHosts.size)
    return downloadStats({
      state: this.sm.state,
      meta: this.meta,
      picker: this.picker,
      hasPriorities: this.fileState.hasPriorities,
      counters: this.counters,
      downloadMeter: this.downloadMeter,
      uploadMeter: this.uploadMeter,
      ...this.swarm.counts(),
      webSeeds: this.webSeeds.count,
      bannedPeers: this.bannedHosts.size,
      endGame: this.swarm.endGameFired,
      assembly: this.assembly
    })
  }

  /** Takes an incoming connection routed here by info hash (the engine's listener calls this). @internal */
  acceptIncoming (socket: ITcpSocket, header: HandshakeHeader, ticket: IncomingTicket): void {
    if (this.metadataSwarm !== null) {
      this.metadataSwarm.acceptIncoming(socket, header, ticket)
      return
    }
    if (!this.active) {
      ticket.release()
      socket.close()
      return
    }
    const slot = ticket.claim(this.id)
    if (typeof slot === 'string') {
      socket.close()
      return
    }
    // A hybrid torrent answers under whichever of its two hashes the peer used.
    const infoHash = this.handshakeHashes().find((h) => bytesEqual(h, header.infoHash)) ?? this.infoHash
    this.attach(socket, slot, false, infoHash)
  }

  /**
   * Takes an open connection on which we speak first (see BtEngine.adoptOutgoing); false when it
   * cannot now (metadata phase, not active, no slot), touching nothing but the ticket's claim.
   * @internal
   */
  adoptOutgoing (socket: ITcpSocket, infoHash: Uint8Array, ticket: IncomingTicket): boolean {
    if (this.metadataSwarm !== null || !this.active) return false
    const hash = this.handshakeHashes().find((h) => bytesEqual(h, infoHash))
    if (hash === undefined) return false
    const slot = ticket.claim(this.id)
    if (typeof slot === 'string') return false
    this.attach(socket, slot, true, hash)
    return true
  }

  // ------------------------------------------------------------------ lifecycle internals

  /**
   * Magnets: the metadata phase (state `metadata`). A {@link MetadataSwarm} dials the known peers
   * and trackers and fetches the info dict; once it is verified the swarm closes, storage, picker
   * and verifier are made, and 'metadata' fires. Resolves false when paused, stopped or failed meanwhile.
   */
  private async fetchMetadata (gen: number): Promise<boolean> {
    const magnet = this.magnet
    if (magnet === null) throw new LodestoneError('INTERNAL', { reason: 'a torrent without metadata and without a magnet' })
    this.sm.transition(TorrentState.Metadata)
    const swarm = new MetadataSwarm({
      clock: this.deps.clock,
      random: this.deps.random,
      hasher: this.deps.hasher,
      connections: this.deps.connections,
      scheduler: this.deps.scheduler,
      peerId: this.deps.peerId,
      listenPort: this.deps.listenPort,
      settings: this.engineSettings,
      ...(this.deps.trackers !== undefined ? { trackers: this.deps.trackers } : {}),
      ...(this.log !== undefined ? { logger: this.log.child('metadata') } : {})
    }, { ownerId: this.id, magnet, fetcher: this.metadataFetcherSettings })
    swarm.on('peer-discovered', ({ address }) => {
      if (!this.bannedHosts.has(address.host)) this.rememberPeer(address, 'tracker')
    })
    swarm.on('warning', ({ error }) => { this.emit('warning', { error }) })
    this.metadataSwarm = swarm
    const result = await new Promise<TorrentMetainfo | null>((resolve, reject) => {
      this.cancelMetadataWait = () => { resolve(null) }
      swarm.on('metadata', ({ meta }) => { resolve(meta) })
      swarm.on('failed', ({ error }) => { reject(error) })
      for (const address of this.knownPeers.values()) swarm.addPeer(address)
      swarm.start()
    })
    // Closes the phase's connections at once, so the torrent can join the swarm under the same id.
    if (this.metadataSwarm === swarm) this.stopMetadataSwarm()
    if (result === null || gen !== this.lifecycle.generation) return false
    if (this.deps.createStorage !== undefined) this.deps.storage = this.deps.createStorage(result)
    this.initMetadata(result)
    this.emit('metadata', { meta: result })
    return gen === this.lifecycle.generation
  }

  /** Ends the metadata phase (if running): its connections close now, its trackers get `stopped`. */
  private stopMetadataSwarm (): void {
    const swarm = this.metadataSwarm
    if (swarm === null) return
    this.metadataSwarm = null
    this.trackerSet.track(swarm.close())
    const cancel = this.cancelMetadataWait
    this.cancelMetadataWait = null
    cancel?.()
  }

  /** Joins the swarm: connection owner, timers, known peers dialled. */
  private activate (): void {
    if (this.active) return
    this.active = true
    this.swarm.endGameFired = false
    this.deps.connections.addTorrent(this.id, {
      wantsConnections: () => this.active,
      maxConnections: () => this.overrides.maxConnections,
      skey: this.infoHash,
      onOutgoing: (socket, slot) => { this.attach(socket, slot, true) },
      onConnectFailed: (address, error) => { this.log?.debug('connect failed', { address: formatPeerAddress(address), code: error.code }) },
      makeRoomFor: (address) => this.swarm.makeRoomFor(address)
    })
    this.choker.updateSettings(this.engineSettings().choking)
    for (const address of this.knownPeers.values()) this.addCandidate(address, address.source)
    this.startTrackers()
    this.startPex()
    this.webSeeds.start()
    this.ticks.wakeIfBusy()
  }

  /** BEP 11 while active; BEP 27: never on a private torrent. */
  private startPex (): void {
    const settings = this.engineSettings()
    if (!settings.discovery.pex || this.meta.private) return
    this.pex = new PexHandler({
      clock: this.deps.clock,
      scheduler: this.deps.scheduler,
      settings: () => this.engineSettings().pex,
      listenPort: this.deps.listenPort,
      connectedPeers: () => this.swarm.pexCandidates(),
      onPeers: (peers) => { for (const p of peers) { if (pexIsSeed(p) && !this.bannedHosts.has(p.address.host)) this.knownPeers.remember(p.address, 'pex', true); this.addPeer(p.address, 'pex'); this.deps.connections.pexFlagsHeard(p.address, p.flags) } },
      ...(this.log !== undefined ? { logger: this.log.child('pex') } : {})
    })
  }

  /** Announces to the torrent's trackers (BEP 12) while active; their peers become candidates. */
  private startTrackers (): void {
    if (this.engineSettings().discovery.trackers) this.trackerSet.start(this.meta.announce)
  }

  /** Leaves the swarm: closes every connection and timer. Progress and piece buffers stay. */
  private deactivate (): void {
    this.stopMetadataSwarm()
    if (!this.active) return
    this.active = false
    this.ticks.sleep()
    this.deps.connections.removeTorrent(this.id)
    this.trackerSet.stop()
    this.pex?.close()
    this.pex = null
    this.swarm.closeAll()
    this.webSeeds.stop()
    // Blocks of unfinished pieces are dropped: their requests were released with the peers.
    this.assembly.dropUnfinished()
  }

  // ------------------------------------------------------------------ peers

  /** The 20-byte hashes peers may use in handshakes: the info hash, and a hybrid's truncated v2 hash (BEP 52). */
  handshakeHashes (): Uint8Array[] { return handshakeHashesOf(this.infoHash, this.metaValue, this.magnet) }

  /** Queues a dial (refused when known, banned or queued; PEX-learned ones wait behind the rest); the ticks wake for it. */
  private addCandidate (address: PeerAddress, source?: PeerSource): boolean {
    const queued = this.deps.connections.addCandidate(this.id, address, { lowPriority: source === 'pex' })
    if (queued) this.ticks.wake()
    return queued
  }

  private attach (socket: ITcpSocket, slot: ConnectionSlot, outgoing: boolean, infoHash?: Uint8Array): void {
    this.ticks.wake()
    this.swarm.attach(socket, slot, outgoing, infoHash)
  }

  private rememberPeer (address: PeerAddress, source: PeerSource): void {
    this.knownPeers.remember(address, source)
  }

  /** A piece was verified and written (the assembly marked it had): announce it. */
  private onPieceVerified (piece: number, firstBlockAtMs: number): void {
    this.swarm.announceHave(piece)
    this.emit('piece-verified', { piece, durationMs: this.deps.clock.now() - firstBlockAtMs })
    if (this.picker.isFinished) this.onFinished()
  }

  private onFinished (): void {
    if (!this.sm.is(TorrentState.Downloading)) return
    this.sm.transition(TorrentState.Seeding)
    this.trackerSet.completed()
    this.emit('completed', {})
    this.swarm.afterFinished()
    this.swarm.rechoke()
    this.deps.storage.sync().catch((error: unknown) => { this.emit('warning', { error }) })
  }

  /**
   * Closes the connected peers whose host `test` picks (the engine's IP filter changed), with
   * PEER_BANNED. Returns their addresses and directions. @internal
   */
  closePeersWhere (test: (host: string) => boolean, reason: string): Array<{ address: string, direction: 'outgoing' | 'incoming' }> {
    const closed = this.swarm.closeWhere(test, reason)
    if (this.metadataSwarm !== null) closed.push(...this.metadataSwarm.closePeersWhere(test, reason))
    return closed
  }

  private ban (host: string, reason: string): void {
    // A web seed is a URL, not a host to ban: it is dropped for a while instead.
    if (this.webSeeds.owns(host)) return this.webSeeds.punish(host, reason)
    if (this.bannedHosts.has(host)) return
    this.bannedHosts.add(host)
    this.deps.connections.ban(host, reason)
    this.swarm.closeHost(host, reason)
    this.knownPeers.forgetHost(host)
    this.emit('peer-banned', { host, reason })
  }
}
