/**
 * The engine (seed 004's BtEngine, seed 000's ClientEngine): owns the torrents and what they
 * share — one peer id, one listening port routed by info hash, the connection limits, one coarse
 * scheduler for every per-peer deadline, the hasher and the storage roots.
 *
 * ```ts
 * const engine = createNodeEngine({ downloadPath: '/tmp/dl', port: 6881 })
 * const torrent = await engine.addTorrent(torrentFileBytes)   // checks data, then downloads
 * torrent.addPeer('127.0.0.1:51413')
 * torrent.on('completed', () => { void engine.close() })
 * ```
 *
 * Everything reaches the platform through the injected ports (DESIGN rule 1); presets only wire.
 * `close()` stops every torrent and releases every socket, timer, file handle and worker, so a
 * test can assert nothing is left.
 */
import { LodestoneError, isLodestoneError } from '../errors.js'
import type { IClock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import { cryptoRandom, type IRandom } from '../interfaces/random.js'
import type { IHttpClient } from '../interfaces/http-client.js'
import type { ISessionStore } from '../interfaces/session-store.js'
import type { ISocketFactory, ITcpSocket } from '../interfaces/socket.js'
import { bytesEqual } from '../util/bytes.js'
import type { IPieceHasher } from '../metainfo/create-piece-hasher.js'
import { parseTorrent } from '../metainfo/parse-torrent.js'
import { parseMagnet } from '../metainfo/magnet.js'
import { buildTorrentFile } from '../metainfo/build-torrent-file.js'
import { MetadataSwarm } from '../metadata/metadata-swarm.js'
import type { TorrentMetainfo } from '../metainfo/types.js'
import type { StorageRootManager } from '../storage/storage-root-manager.js'
import { TorrentContentStorage } from '../storage/torrent-content-storage.js'
import { FileHandlePool } from '../storage/file-handle-pool.js'
import { UdpTrackerSocket } from '../tracker/udp-tracker.js'
import { AlertQueue } from './alerts.js'
import { CoarseScheduler, type ScheduledTask } from '../util/coarse-scheduler.js'
import { forEachLimited } from '../util/for-each-limited.js'
import { ConnectionManager, type PeerBlockedEvent } from '../peer/connection-manager.js'
import type { IpFilter } from '../ip-filter/ip-filter.js'
import { resolveSettings, resolveTorrentSettings, type EngineSettings, type PartialEngineSettings, type TorrentSettings } from './engine-settings.js'
import { ListenRouter } from '../peer/listen-router.js'
import { EncryptionPolicy } from '../transport/mse/encryption-policy.js'
import { RateLimiter } from '../peer/rate-limiter.js'
import { parsePeerAddress as parseAddress, type PeerAddress, type PeerSource } from '../peer/peer-address.js'
import { generatePeerId } from '../peer/peer-id.js'
import { Torrent } from '../torrent/torrent.js'
import { encodeTorrentFile, type ProgressRecord, type TorrentIntent, type TorrentResumeHint, validRenames } from './resume-data.js'

export type { RestoreSessionResult } from './session-restore.js'
import { SessionPersistence } from './session-persistence.js'
import { restoreSession, type RestoreSessionResult } from './session-restore.js'
import { TypedEmitter } from '../util/typed-emitter.js'
import { expandFileIndexRanges, selectOnlyPriorities } from '../torrent/file-priorities.js'
import { moveTorrentStorage, recoverStorageMove } from '../torrent/move-storage.js'
import { QueueManager } from './queue-manager.js'
import { EngineDht } from './engine-dht.js'
import { LocalPeerDiscovery } from '../lsd/local-peer-discovery.js'
import { EngineUdp } from './engine-udp.js'
import type { EngineStats, EngineStatsEvent } from './engine-stats.js'
import type { UdpChannel, UdpChannelKind } from '../transport/udp-mux.js'
import { EnginePortMapping, type IPortMapper, type PortMappingEvent } from './port-mapping.js'

export interface BtEngineDeps {
  socketFactory: ISocketFactory
  clock: IClock
  /** Hashes pieces; `hashPiece` / `allocate` fast paths are used when present. Closed by `engine.close()`. */
  hasher: IPieceHasher
  /** Where torrents' files go. */
  storageRoots: StorageRootManager
  /** Tie-breaks, peer id, optimistic unchokes. @default cryptoRandom */
  random?: IRandom
  /**
   * Resume data: with a store, every torrent's metadata, verified pieces, stats, settings and
   * peers are saved (see session-persistence.ts) and `restoreSession()` brings them back.
   */
  sessionStore?: ISessionStore
  /** For http(s) trackers; without it they are skipped. UDP trackers use `socketFactory`. */
  httpClient?: IHttpClient
  logger?: Logger
  portMapper?: IPortMapper // maps the listen port on the gateway (UPnP IGD / NAT-PMP); without it nothing is mapped
  /**
   * Closed by `engine.close()` after everything else, in order: what a preset opened for the
   * engine alone (a bridge connection, an OPFS worker).
   */
  closeWith?: ReadonlyArray<{ close: () => void | Promise<void> }>
}

export interface AddTorrentOptions {
  /**
   * Directory for the torrent's files: registered as a storage root whose token is the path
   * (the node preset's filesystem factory roots a NodeFileSystem there).
   */
  downloadPath?: string
  /** Token of an existing storage root; else `downloadPath`, else the default root. */
  storageRoot?: string
  /** Per-torrent overrides of the download settings. */
  settings?: TorrentSettings
  /** Start at once (check data, connect). @default true */
  start?: boolean
  /** Peers to connect to, as for `torrent.addPeer`. */
  peers?: ReadonlyArray<string | PeerAddress>
  /** What `peers` are recorded as (PeerInfo.source). @default 'manual' */
  peerSource?: PeerSource
  /** Resume data: pieces trusted without hashing on the first start (and pieces to re-check). */
  resume?: TorrentResumeHint
  signal?: AbortSignal
  /** One priority per file (0 = skip … 7 = top; see FilePriority). Skipped files are never created. */
  filePriorities?: readonly number[]
  /** Only these file indices are wanted (the rest skipped); e.g. a magnet's BEP 53 `so=`. Ignored with `filePriorities`. */
  selectOnly?: readonly number[]
}

export interface RemoveTorrentOptions {
  /** Also delete the torrent's files. @default false */
  deleteFiles?: boolean
}

export interface BtEngineEvents {
  'torrent-added': { torrent: Torrent }
  'torrent-removed': { id: string }
  /** The listening port is bound. */
  'listening': { port: number }
  'warning': { error: unknown }
  /** A torrent hit a fatal error (it is in state `error`). */
  'error': { torrentId: string, error: LodestoneError }
  /** A torrent reached its seed ratio or time limit and was paused (see the torrent's event). */
  'seed-limit-reached': { torrentId: string, reason: 'ratio' | 'time', ratio: number, seedingTimeSec: number }
  /** The IP filter refused a peer: a candidate not dialled, an incoming connection closed, or a connected peer dropped by `setIpFilter`. */
  'peer-blocked': PeerBlockedEvent
  /** Every second while the engine has torrents (seed 000's StatsUpdate): each torrent's stats. */
  'stats': EngineStatsEvent
  'port-mapping': PortMappingEvent // a UPnP / NAT-PMP mapping of the listen port was made, renewed, failed or removed
}

export type { EngineStats, EngineStatsEvent } from './engine-stats.js'

/** Interval of the engine's 'stats' event. */
const STATS_INTERVAL_MS = 1_000
/** Torrents stopped at once while the engine closes. */
const CLOSE_CONCURRENCY = 64

export class BtEngine extends TypedEmitter<BtEngineEvents> {
  /** Our 20-byte peer id (`-LS0100-` + random). */
  readonly peerId: Uint8Array
  readonly storageRoots: StorageRootManager
  /** The libtorrent-style alert view of the engine's and torrents' events (settings section `alerts`). */
  readonly alerts: AlertQueue

  private readonly deps: BtEngineDeps
  private ipFilterValue: IpFilter | null = null
  private statsTask: ScheduledTask | null = null
  private readonly unwatchAlerts: () => void
  private settingsValue: EngineSettings
  private readonly random: IRandom
  private readonly connections: ConnectionManager
  private readonly router: ListenRouter
  private readonly encryption: EncryptionPolicy
  /** The DHT (issue 10) on the shared UDP socket's 'krpc' channel. */
  private readonly dht: EngineDht
  /** The one UDP socket (uTP, UDP trackers, the DHT's KRPC), bound with the listener. */
  private readonly udp: EngineUdp
  private readonly portMapping: EnginePortMapping
  private readonly lsd: LocalPeerDiscovery
  private readonly scheduler: CoarseScheduler
  private readonly torrentMap = new Map<string, Torrent>()
  private readonly storages = new Map<string, TorrentContentStorage>()
  /** `storage.maxOpenFiles`: one budget of open files for every torrent's storage. */
  private readonly fileHandles: FileHandlePool
  private listening: Promise<number | null> | null = null
  private udpTrackerSocket: UdpTrackerSocket | null = null
  /** Global limits (`rateLimit` settings); torrents and peers hang their limiters below. */
  private readonly uploadLimiter: RateLimiter
  private readonly downloadLimiter: RateLimiter
  private closed = false
  private closing: Promise<void> | null = null
  /** `downloadMetadata` calls in progress (closed with the engine). */
  private readonly metadataDownloads = new Set<MetadataSwarm>()
  /** Resume data keeper; null without a session store. */
  private readonly persistence: SessionPersistence | null
  /** Active download / seed slots and seed limits. */
  private readonly queue: QueueManager

  /** @param settings a partial, merged over the defaults (or a full EngineSettings). @throws LodestoneError SETTINGS_INVALID naming the key. */
  constructor (deps: BtEngineDeps, settings: PartialEngineSettings = {}) {
    super()
    this.deps = deps
    this.settingsValue = resolveSettings(settings)
    this.fileHandles = new FileHandlePool(this.settingsValue.storage.maxOpenFiles)
    this.random = deps.random ?? cryptoRandom
    this.storageRoots = deps.storageRoots
    this.peerId = generatePeerId(this.random)
    this.onListenerError = (error, event) => {
      if (event === 'warning') deps.logger?.warn('warning listener threw', { error: String(error) })
      else this.emit('warning', { error })
    }
    this.uploadLimiter = new RateLimiter({ clock: deps.clock }, { rateBytesPerSec: this.settingsValue.rateLimit.uploadRateBytesPerSec })
    this.downloadLimiter = new RateLimiter({ clock: deps.clock }, { rateBytesPerSec: this.settingsValue.rateLimit.downloadRateBytesPerSec })
    this.scheduler = new CoarseScheduler({
      clock: deps.clock,
      onError: (error) => { this.emit('warning', { error }) }
    })
    this.encryption = new EncryptionPolicy({ clock: deps.clock, random: this.random, settings: () => this.settingsValue.encryption })
    const onWarning = (error: unknown): void => { this.emit('warning', { error }) }
    this.dht = new EngineDht({ clock: deps.clock, random: this.random, settings: () => this.settingsValue, channel: () => this.udpChannel('krpc'), listenPort: () => this.router.port, onWarning,
      ...(deps.sessionStore !== undefined ? { sessionStore: deps.sessionStore } : {}), ...(deps.logger !== undefined ? { logger: deps.logger.child('dht') } : {}) })
    this.lsd = new LocalPeerDiscovery({ socketFactory: deps.socketFactory, clock: deps.clock, random: this.random, settings: () => this.settingsValue, listenPort: () => this.router.port, onWarning })
    this.on('torrent-added', ({ torrent }) => { this.dht.track(torrent); this.lsd.track(torrent) })
    this.on('torrent-removed', ({ id }) => { this.dht.untrack(id); this.lsd.untrack(id) })
    this.portMapping = new EnginePortMapping({ mapper: deps.portMapper, clock: deps.clock, settings: () => this.settingsValue, logger: deps.logger?.child('port-mapping'), onEvent: (e) => { this.emit('port-mapping', e) } })
    this.udp = new EngineUdp({
      socketFactory: deps.socketFactory,
      clock: deps.clock,
      random: this.random,
      settings: () => this.settingsValue.transport,
      onIncomingUtp: (socket) => { this.router.acceptConnection(socket) },
      ...(deps.logger !== undefined ? { logger: deps.logger.child('udp') } : {})
    })
    this.connections = new ConnectionManager({
      socketFactory: deps.socketFactory,
      clock: deps.clock,
      peerId: this.peerId,
      encryption: this.encryption,
      dial: async (host, port, options) => this.udp.dialer.connect(host, port, options),
      hintUtp: (host, port) => { this.udp.dialer.hintUtp(host, port) },
      onPeerBlocked: (event) => { this.emit('peer-blocked', event) },
      ...(deps.logger !== undefined ? { logger: deps.logger.child('connections') } : {})
    }, this.settingsValue.connection)
    this.persistence = deps.sessionStore === undefined
      ? null
      : new SessionPersistence({
        store: deps.sessionStore,
        clock: deps.clock,
        settings: () => this.settingsValue.session,
        fileSystemFor: (id) => this.storageRoots.getFileSystemForTorrent(id),
        rootOf: (id) => {
          const token = this.storageRoots.getAssignedToken(id)
          return { token, path: this.storageRoots.getRootForTorrent(id)?.path ?? null }
        },
        onWarning: (error) => { this.emit('warning', { error }) },
        ...(deps.logger !== undefined ? { logger: deps.logger.child('session') } : {})
      })
    this.queue = new QueueManager({ clock: deps.clock, scheduler: this.scheduler, settings: () => this.settingsValue.queue })
    this.router = new ListenRouter({
      socketFactory: deps.socketFactory,
      clock: deps.clock,
      connections: this.connections,
      encryption: this.encryption,
      acceptTcp: () => this.settingsValue.transport.tcp,
      ...(deps.logger !== undefined ? { logger: deps.logger.child('listen') } : {})
    }, this.settingsValue.peer.handshakeTimeoutMs)
    this.alerts = new AlertQueue({ clock: deps.clock }, this.settingsValue.alerts)
    this.unwatchAlerts = this.alerts.watchEngine(this)
  }

  /** A copy of the settings in effect. */
  get settings (): EngineSettings {
    return resolveSettings({}, this.settingsValue)
  }

  /**
   * Changes settings at run time. Connection limits apply at once; peer and download settings
   * apply to new connections and the next decisions. The listen port does not move once bound.
   * @throws LodestoneError SETTINGS_INVALID naming the key (nothing is changed then).
   */
  updateSettings (patch: PartialEngineSettings): void {
    const next = resolveSettings(patch, this.settingsValue)
    this.settingsValue = next
    this.connections.updateSettings(next.connection)
    this.udp.applySettings()
    this.uploadLimiter.setRate(next.rateLimit.uploadRateBytesPerSec)
    this.downloadLimiter.setRate(next.rateLimit.downloadRateBytesPerSec)
    this.fileHandles.setMaxOpenFiles(next.storage.maxOpenFiles)
    for (const t of this.torrentMap.values()) t.applySettings()
    this.queue.settingsChanged()
    this.alerts.updateSettings(next.alerts)
  }

  /** The IP filter in effect, or null. */
  get ipFilter (): IpFilter | null {
    return this.ipFilterValue
  }

  /**
   * Applies an IP filter (null removes it) to peers from every source, both directions: denied
   * candidates are never dialled, incoming connections from denied hosts are closed before the
   * handshake, and connected peers the new filter denies are dropped. Each refusal emits
   * 'peer-blocked'. The engine keeps a reference: changing `filter` later needs another call.
   */
  setIpFilter (filter: IpFilter | null): void {
    this.ipFilterValue = filter
    this.connections.setIpFilter(filter)
    if (filter === null) return
    for (const t of this.torrentMap.values()) {
      for (const { address, direction } of t.closePeersWhere((host) => !filter.isAllowed(host), 'blocked by the IP filter')) {
        this.emit('peer-blocked', { address, direction, torrentId: t.id, reason: 'ip-filter' })
      }
    }
    for (const swarm of this.metadataDownloads) {
      for (const { address, direction } of swarm.closePeersWhere((host) => !filter.isAllowed(host), 'blocked by the IP filter')) {
        this.emit('peer-blocked', { address, direction, reason: 'ip-filter' })
      }
    }
  }

  /** The bound listening port, or null before `listen()` (or when listening is disabled). */
  get port (): number | null {
    return this.router.port
  }

  /**
   * Binds the listening port (`listen.port`, `listen.host`); idempotent. `addTorrent` calls it.
   * Resolves to null when `listen.enabled` is false.
   * @throws whatever the socket factory throws (e.g. LISTEN_FAILED: port in use).
   */
  async listen (): Promise<number | null> {
    this.checkOpen()
    if (this.listening === null) {
      const { enabled, port, host } = this.settingsValue.listen
      this.listening = enabled
        ? this.router.listen(port, host).then(async (bound) => {
          // UDP on the same port; without it the engine still works over TCP.
          await this.udp.bind(bound, host).catch((error: unknown) => { this.emit('warning', { error }) })
          this.emit('listening', { port: bound })
          void this.dht.start()
          void this.lsd.start()
          this.portMapping.start(bound, this.udp.stats() !== null ? ['tcp', 'udp'] : ['tcp'])
          return bound
        })
        : Promise.resolve(null)
      this.listening.catch(() => { this.listening = null })
    }
    return this.listening
  }

  /**
   * Takes a connection that is already open and on which we speak first — a WebRTC data channel
   * whose offer we made — into the torrent with this info hash as an outgoing peer (our handshake
   * goes out at once), under the same connection limits as any other. Resolves nothing and closes
   * nothing: returns false when no active torrent has that hash (or it is fetching metadata), or a
   * limit refuses it; the caller decides what to do with the socket then.
   */
  adoptOutgoing (socket: ITcpSocket, infoHash: Uint8Array): boolean {
    if (this.closed) return false
    const torrent = [...this.torrentMap.values()].find((t) => t.handshakeHashes().some((h) => bytesEqual(h, infoHash)))
    if (torrent === undefined) return false
    const ticket = this.connections.acceptIncoming({ host: socket.remoteAddress, port: socket.remotePort })
    if (typeof ticket === 'string') return false
    if (torrent.adoptOutgoing(socket, infoHash, ticket)) return true
    ticket.release()
    return false
  }

  /** @internal The channel of `kind` on the shared UDP socket (the DHT's 'krpc'); null until `listen()` bound it. */
  udpChannel (kind: UdpChannelKind): UdpChannel | null {
    return this.closed ? null : this.udp.channel(kind)
  }

  /** Every torrent, in the order added. */
  get torrents (): Torrent[] {
    return [...this.torrentMap.values()]
  }

  /** The torrent with this id (info hash hex, any case). */
  getTorrent (id: string): Torrent | undefined {
    return this.torrentMap.get(id.toLowerCase())
  }

  /**
   * Adds a torrent from .torrent bytes or parsed metainfo, and (by default) starts it: existing
   * data is checked, then it downloads or seeds. Resolves once it is added (the check runs on).
   * @throws LodestoneError METAINFO_* (bad .torrent), TORRENT_DUPLICATE, STORAGE_NO_ROOT,
   *   STORAGE_ROOT_UNKNOWN, SETTINGS_INVALID, ADDRESS_INVALID, LISTEN_FAILED, ABORTED, CLOSED.
   */
  async addTorrent (input: Uint8Array | TorrentMetainfo | string, options: AddTorrentOptions = {}): Promise<Torrent> {
    if (typeof input === 'string') return this.addMagnet(input, options)
    return this.add(input, options, null)
  }

  /**
   * Adds a magnet link (BEP 9): the torrent starts in state `metadata`, dials the magnet's `x.pe`
   * peers, added peers and its trackers, fetches the info dict from peers that have it, emits
   * 'metadata', then checks existing data and downloads like any torrent.
   * @throws LodestoneError MAGNET_INVALID, TORRENT_DUPLICATE, STORAGE_NO_ROOT, STORAGE_ROOT_UNKNOWN,
   *   SETTINGS_INVALID, ADDRESS_INVALID, LISTEN_FAILED, ABORTED, CLOSED.
   */
  private async addMagnet (uri: string, options: AddTorrentOptions, restored: { progress: ProgressRecord | null } | null = null): Promise<Torrent> {
    this.checkOpen()
    const magnet = parseMagnet(uri)
    if (options.signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'addTorrent' })
    const id = magnet.id
    if (this.torrentMap.has(id)) throw new LodestoneError('TORRENT_DUPLICATE', { infoHash: id })
    const overrides = resolveTorrentSettings(options.settings ?? {})
    if (options.storageRoot !== undefined) {
      this.storageRoots.setRootForTorrent(id, options.storageRoot)
    } else if (options.downloadPath !== undefined) {
      const path = options.downloadPath
      if (this.storageRoots.getRoot(path) === null) this.storageRoots.addRoot({ token: path, label: path, path })
      this.storageRoots.setRootForTorrent(id, path)
    }
    const fs = this.storageRoots.getFileSystemForTorrent(id)
    await this.listen()
    this.checkOpen()
    if (this.torrentMap.has(id)) throw new LodestoneError('TORRENT_DUPLICATE', { infoHash: id })
    const torrent: Torrent = new Torrent({
      admit: (kind) => this.queue.admit(torrent, kind),
      moveStorage: async (target, moveOptions) => {
        const storage = this.storages.get(id)
        if (storage === undefined) throw new LodestoneError('ARGUMENT_INVALID', { name: 'moveStorage', reason: 'the metadata is not known yet' })
        torrent.storageMoved(await moveTorrentStorage({ storageRoots: this.storageRoots, storage, torrentId: id }, target, moveOptions))
      },
      clock: this.deps.clock,
      random: this.random,
      hasher: this.deps.hasher,
      createStorage: (meta) => {
        const storage = new TorrentContentStorage({ fs, handlePool: this.fileHandles }, meta, this.settingsValue.storage)
        this.storages.set(id, storage)
        return storage
      },
      connections: this.connections,
      scheduler: this.scheduler,
      peerId: this.peerId,
      listenPort: () => this.router.port,
      trackers: this.trackerTransports(),
      limits: { upload: this.uploadLimiter, download: this.downloadLimiter },
      ...(this.deps.logger !== undefined ? { logger: this.deps.logger } : {})
    }, { magnet, metadataFetcher: this.settingsValue.metadata, settings: () => this.settingsValue, overrides })
    for (const peer of options.peers ?? []) torrent.addPeer(peer, options.peerSource ?? 'manual')
    torrent.on('error', ({ error }) => { this.emit('error', { torrentId: id, error }) })
    torrent.on('seed-limit-reached', (e) => { this.emit('seed-limit-reached', { torrentId: id, ...e }) })
    this.queue.add(torrent)
    torrent.once('metadata', ({ meta }) => {
      // BEP 53 `so=` (or the caller's selection) once the file list is known.
      const select = options.filePriorities ?? (options.selectOnly !== undefined
        ? selectOnlyPriorities(meta.files.length, options.selectOnly)
        : magnet.selectOnly !== undefined ? selectOnlyPriorities(meta.files.length, expandFileIndexRanges(magnet.selectOnly, meta.files.length)) : undefined)
      if (select !== undefined) torrent.setFilePriorities(select).catch((error: unknown) => { this.emit('warning', { error }) })
      // A hybrid torrent fetched through a v1-only magnet also answers to its truncated v2 hash now.
      for (const hash of torrent.handshakeHashes()) {
        if (this.torrentMap.get(id) === torrent) this.router.register(hash, (socket, header, ticket) => { torrent.acceptIncoming(socket, header, ticket) })
      }
      const storage = this.storages.get(id)
      if (this.persistence === null || storage === undefined) return
      const torrentFile = buildTorrentFile(meta.infoBytes, { announce: meta.announce, urlList: meta.urlList })
      this.persistence.track(torrent, storage, { torrentFile }).catch((error: unknown) => { this.emit('warning', { error }) })
    })
    this.torrentMap.set(id, torrent)
    // As for a .torrent: a magnet-only engine emits stats too (found by the daemon's web UI, which showed none).
    this.statsTask ??= this.scheduler.every(STATS_INTERVAL_MS, () => { this.emitStats() })
    for (const hash of torrent.handshakeHashes()) {
      this.router.register(hash, (socket, header, ticket) => { torrent.acceptIncoming(socket, header, ticket) })
    }
    this.emit('torrent-added', { torrent })
    // Until its metadata arrives a magnet is saved as its URI (restoreSession fetches again).
    if (this.persistence !== null) {
      await this.persistence.track(torrent, null, restored === null
        ? { magnetUri: uri, intent: (options.start ?? true) ? 'running' : 'stopped' }
        : { magnetUri: uri, restored: restored.progress })
    }
    if (options.start ?? true) void torrent.start().catch((error: unknown) => { this.emit('warning', { error }) })
    return torrent
  }

  /**
   * Fetches a magnet's metadata from peers (BEP 9) without downloading content or adding a
   * torrent, and returns a complete .torrent (the info dict as fetched, the magnet's trackers as
   * `announce-list`, its web seeds as `url-list`). Every connection it made is closed before it
   * returns. A torrent of the engine that has the metadata answers at once.
   * @throws LodestoneError MAGNET_INVALID, TORRENT_DUPLICATE (the engine is fetching it as a
   *   torrent), METADATA_INVALID, METADATA_TIMEOUT, ABORTED, LISTEN_FAILED, CLOSED.
   */
  async downloadMetadata (magnetUri: string, options: { signal?: AbortSignal, timeoutMs?: number, peers?: ReadonlyArray<string | PeerAddress> } = {}): Promise<Uint8Array> {
    this.checkOpen()
    const magnet = parseMagnet(magnetUri)
    const existing = this.torrentMap.get(magnet.id)
    const known = existing?.metadata ?? null
    if (known !== null) return buildTorrentFile(known.infoBytes, { announce: known.announce, urlList: known.urlList })
    if (existing !== undefined) throw new LodestoneError('TORRENT_DUPLICATE', { infoHash: magnet.id })
    await this.listen()
    this.checkOpen()
    const swarm = new MetadataSwarm({
      clock: this.deps.clock,
      random: this.random,
      hasher: this.deps.hasher,
      connections: this.connections,
      scheduler: this.scheduler,
      peerId: this.peerId,
      listenPort: () => this.router.port,
      settings: () => this.settingsValue,
      trackers: this.trackerTransports(),
      ...(this.deps.logger !== undefined ? { logger: this.deps.logger.child('metadata') } : {})
    }, { ownerId: `metadata:${magnet.id}`, magnet, fetcher: this.settingsValue.metadata })
    swarm.on('warning', ({ error }) => { this.emit('warning', { error }) })
    for (const peer of options.peers ?? []) swarm.addPeer(parseAddress(peer))
    this.metadataDownloads.add(swarm)
    const hashes = [magnet.infoHash]
    for (const hash of hashes) this.router.register(hash, (socket, header, ticket) => { swarm.acceptIncoming(socket, header, ticket) })
    try {
      const meta = await swarm.fetch({
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {})
      })
      return buildTorrentFile(meta.infoBytes, { announce: meta.announce, urlList: meta.urlList })
    } finally {
      this.metadataDownloads.delete(swarm)
      // A torrent added for the same hash meanwhile owns the route now.
      if (!this.torrentMap.has(magnet.id)) for (const hash of hashes) this.router.unregister(hash)
      await swarm.close()
    }
  }

  private async add (input: Uint8Array | TorrentMetainfo, options: AddTorrentOptions, restored: { progress: ProgressRecord | null } | null): Promise<Torrent> {
    this.checkOpen()
    const meta = input instanceof Uint8Array
      ? await parseTorrent(input, { hasher: this.deps.hasher, ...(options.signal !== undefined ? { signal: options.signal } : {}) })
      : input
    this.checkOpen()
    if (options.signal?.aborted === true) throw new LodestoneError('ABORTED', { operation: 'addTorrent' })
    const id = meta.id.toLowerCase()
    if (this.torrentMap.has(id)) throw new LodestoneError('TORRENT_DUPLICATE', { infoHash: id })
    const overrides = resolveTorrentSettings(options.settings ?? {})

    if (options.storageRoot !== undefined) {
      this.storageRoots.setRootForTorrent(id, options.storageRoot)
    } else if (options.downloadPath !== undefined) {
      const path = options.downloadPath
      if (this.storageRoots.getRoot(path) === null) this.storageRoots.addRoot({ token: path, label: path, path })
      this.storageRoots.setRootForTorrent(id, path)
    }
    // A move a crash interrupted is finished first (it may change the torrent's root); a restore did it when it read the torrent.
    if (restored === null) await recoverStorageMove(this.storageRoots, id)
    const fs = this.storageRoots.getFileSystemForTorrent(id)
    await this.listen()
    this.checkOpen()
    if (this.torrentMap.has(id)) throw new LodestoneError('TORRENT_DUPLICATE', { infoHash: id })

    const filePriorities = options.filePriorities ??
      (options.selectOnly !== undefined ? selectOnlyPriorities(meta.files.length, options.selectOnly) : undefined)
    const renamedPaths = validRenames(restored?.progress?.renamedPaths, meta.files.length)
    const storage = new TorrentContentStorage({ fs, handlePool: this.fileHandles }, meta, this.settingsValue.storage, { ...(filePriorities !== undefined ? { filePriorities } : {}), ...(renamedPaths !== null ? { renamedPaths } : {}) })
    const torrent: Torrent = new Torrent({
      clock: this.deps.clock,
      random: this.random,
      hasher: this.deps.hasher,
      storage,
      connections: this.connections,
      scheduler: this.scheduler,
      peerId: this.peerId,
      listenPort: () => this.router.port,
      trackers: this.trackerTransports(),
      limits: { upload: this.uploadLimiter, download: this.downloadLimiter },
      ...(this.deps.logger !== undefined ? { logger: this.deps.logger } : {}),
      admit: (kind) => this.queue.admit(torrent, kind),
      moveStorage: async (target, moveOptions) => {
        const token = await moveTorrentStorage({ storageRoots: this.storageRoots, storage, torrentId: id }, target, moveOptions)
        torrent.storageMoved(token)
      }
    }, {
      meta,
      settings: () => this.settingsValue,
      overrides,
      ...(options.resume !== undefined ? { resume: options.resume } : {}),
      ...(filePriorities !== undefined ? { filePriorities } : {})
    })
    this.queue.add(torrent)
    for (const peer of options.peers ?? []) torrent.addPeer(peer, options.peerSource ?? 'manual')
    torrent.on('error', ({ error }) => { this.emit('error', { torrentId: id, error }) })
    torrent.on('seed-limit-reached', (e) => { this.emit('seed-limit-reached', { torrentId: id, ...e }) })
    this.torrentMap.set(id, torrent)
    this.statsTask ??= this.scheduler.every(STATS_INTERVAL_MS, () => { this.emitStats() })
    this.storages.set(id, storage)
    for (const hash of torrent.handshakeHashes()) {
      this.router.register(hash, (socket, header, ticket) => { torrent.acceptIncoming(socket, header, ticket) })
    }
    this.emit('torrent-added', { torrent })
    if (this.persistence !== null) {
      await this.persistence.track(torrent, storage, restored === null
        ? { torrentFile: input instanceof Uint8Array ? input : encodeTorrentFile(meta), intent: (options.start ?? true) ? 'running' : 'stopped' }
        : { restored: restored.progress, restoring: true })
    }
    if (options.start ?? true) void torrent.start().catch((error: unknown) => { this.emit('warning', { error }) })
    return torrent
  }

  /**
   * Stops and forgets a torrent; with `deleteFiles`, deletes its files too.
   * @throws LodestoneError TORRENT_NOT_FOUND; STORAGE_* when deleting files fails.
   */
  async removeTorrent (id: string, options: RemoveTorrentOptions = {}): Promise<void> {
    const key = id.toLowerCase()
    const torrent = this.torrentMap.get(key)
    if (torrent === undefined) throw new LodestoneError('TORRENT_NOT_FOUND', { id })
    this.torrentMap.delete(key)
    if (this.torrentMap.size === 0) {
      this.statsTask?.cancel()
      this.statsTask = null
    }
    this.queue.remove(torrent)
    await this.persistence?.forget(key)
    for (const hash of torrent.handshakeHashes()) this.router.unregister(hash)
    await torrent.stop()
    torrent.dispose()
    const storage = this.storages.get(key)
    this.storages.delete(key)
    if (storage !== undefined) {
      if (options.deleteFiles === true) await storage.deleteFiles()
      else await storage.close()
    }
    this.emit('torrent-removed', { id: key })
  }

  /**
   * Writes every torrent's resume data now (the engine also saves on its own: after pieces
   * verify, on pause/stop/error/completion, periodically and on close).
   * @throws LodestoneError ARGUMENT_INVALID when the engine has no session store; CLOSED.
   */
  async saveState (): Promise<void> {
    this.checkOpen()
    if (this.persistence === null) throw new LodestoneError('ARGUMENT_INVALID', { name: 'sessionStore', reason: 'the engine has no session store' })
    await this.persistence.saveAll()
    await this.dht.save()
  }

  /**
   * Adds back every torrent of the session store with its settings, storage root, peers and
   * verified pieces. Pieces of files unchanged since the last save (size and mtime) are trusted
   * without hashing; files that changed are re-checked. Torrents that were running are started;
   * paused ones come back paused (their data checked, no connections; `resume()` continues), stopped
   * ones stopped. A magnet saved before its metadata arrived is added back as that magnet (state
   * `metadata` when it was running). A torrent that cannot be restored (missing or damaged metadata) is reported in `failed`;
   * damaged resume records only cost a re-check. Torrents already in the engine are skipped.
   * @throws LodestoneError ARGUMENT_INVALID when the engine has no session store; CLOSED; the store's errors.
   */
  async restoreSession (): Promise<RestoreSessionResult> {
    this.checkOpen()
    const persistence = this.persistence
    if (persistence === null) throw new LodestoneError('ARGUMENT_INVALID', { name: 'sessionStore', reason: 'the engine has no session store' })
    return restoreSession({
      storageRoots: this.storageRoots,
      hasher: this.deps.hasher,
      has: (id) => this.torrentMap.has(id),
      add: async (meta, options, progress) => this.add(meta, options, { progress }),
      addMagnet: async (uri, options, progress) => this.addMagnet(uri, options, { progress }),
      startRestored: (torrent, intent) => { this.startRestored(torrent, intent) },
      warn: (error) => { this.emit('warning', { error }) }
    }, persistence)
  }

  /** A restored torrent resumes what the user had it do: running → start, paused → paused (no connections). */
  private startRestored (torrent: Torrent, intent: TorrentIntent): void {
    if (intent === 'stopped') return
    const started = intent === 'paused' ? torrent.startPaused() : torrent.start()
    started.catch((error: unknown) => { this.emit('warning', { error }) })
  }

  stats (): EngineStats {
    let down = 0
    let up = 0
    for (const t of this.torrentMap.values()) {
      const s = t.stats()
      down += s.downloadRateBytesPerSec
      up += s.uploadRateBytesPerSec
    }
    return {
      torrents: this.torrentMap.size,
      downloadRateBytesPerSec: down,
      uploadRateBytesPerSec: up,
      connections: this.connections.stats(),
      listen: this.router.stats(),
      encryption: this.encryption.stats(),
      dht: this.dht.stats(),
      udp: this.udp.stats(),
      portMapping: this.portMapping.stats(),
      lsd: this.lsd.stats()
    }
  }

  /** Stops every torrent, closes the listener, every connection, file handle, timer and the hasher's workers. Idempotent; the engine is unusable afterwards (CLOSED). */
  async close (): Promise<void> {
    if (this.closing !== null) return this.closing
    this.closed = true
    this.closing = this.runClose()
    await this.closing
  }

  private async runClose (): Promise<void> {
    const errors: unknown[] = []
    await Promise.all([...this.metadataDownloads].map(async (swarm) => { await swarm.close() }))
    // The stops below are the engine's, not the user's: restored torrents start again.
    this.persistence?.beginClose()
    await this.router.close().catch((e: unknown) => { errors.push(e) })
    this.connections.close()
    // Nothing is dequeued into a slot a stopping torrent frees.
    this.queue.close()
    // A bounded number of stops at once: each holds its last save's records and stats until it
    // settles, and 10 000 at once made closing the peak of the engine's memory (issue 13).
    await forEachLimited([...this.torrentMap.values()], CLOSE_CONCURRENCY, async (t) => {
      await t.stop().catch((e: unknown) => { errors.push(e) })
      t.dispose()
    })
    // Torrents are stopped (writes drained, files synced); storage is still open for the last save.
    await Promise.all([this.dht.close(), this.portMapping.close()].map(async (p) => { await p.catch((e: unknown) => { errors.push(e) }) }))
    await this.persistence?.close().catch((e: unknown) => { errors.push(e) })
    await Promise.all([...this.storages.values()].map(async (s) => { await s.close().catch((e: unknown) => { errors.push(e) }) }))
    this.torrentMap.clear()
    this.storages.clear()
    this.udpTrackerSocket?.close()
    this.udp.close()
    this.lsd.close()
    this.queue.close()
    this.statsTask?.cancel()
    this.statsTask = null
    this.scheduler.close()
    this.unwatchAlerts()
    this.alerts.close()
    this.uploadLimiter.close()
    this.downloadLimiter.close()
    await this.deps.hasher.close().catch((e: unknown) => { errors.push(e) })
    for (const resource of this.deps.closeWith ?? []) {
      try { await resource.close() } catch (e) { errors.push(e) }
    }
    for (const error of errors) {
      if (!isLodestoneError(error) || error.code !== 'CLOSED') this.emit('warning', { error })
    }
  }

  private emitStats (): void {
    if (!this.hasListeners('stats') || this.closed) return
    const torrents: EngineStatsEvent['torrents'] = []
    for (const t of this.torrentMap.values()) torrents.push({ torrentId: t.id, stats: t.stats() })
    this.emit('stats', { timestampMs: this.deps.clock.wallNow(), torrents })
  }

  /** The http client and the engine's one UDP tracker socket (created on first use). */
  private trackerTransports (): { httpClient?: IHttpClient, udpSocket: UdpTrackerSocket } {
    this.udpTrackerSocket ??= new UdpTrackerSocket({
      socketFactory: this.deps.socketFactory,
      clock: this.deps.clock,
      random: this.random,
      sharedSocket: (family) => this.udp.trackerChannel(family),
      ...(this.deps.logger !== undefined ? { logger: this.deps.logger.child('udp-tracker') } : {})
    })
    return { udpSocket: this.udpTrackerSocket, ...(this.deps.httpClient !== undefined ? { httpClient: this.deps.httpClient } : {}) }
  }

  private checkOpen (): void {
    if (this.closed) throw new LodestoneError('CLOSED', { what: 'engine' })
  }
}
