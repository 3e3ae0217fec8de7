/**
 * Runs one torrent in a Node engine until it is done, for `download` and `seed`: reports events
 * and stats (JSON lines or a terminal status line), stops cleanly on SIGINT / SIGTERM, and maps
 * the outcome to an exit code.
 *
 * Exit codes (documented in `--help`): 0 the data is complete and verified (download: finished,
 * or interrupted after finishing; seed: stopped by a signal), 1 an error (bad input, a fatal torrent
 * error, a seed whose data is incomplete), 2 wrong usage or an unsupported flag, 3 a download
 * interrupted before it completed (run it again to resume: existing data is re-checked).
 *
 * A second signal while stopping exits at once with the same code. After the engine has closed,
 * an unref'd timer exits the process if some handle still holds it open.
 */
import { mkdir, stat } from 'node:fs/promises'
import { resolve as resolvePath } from 'node:path'
import type { BtEngine, FileIndexRange, LogEntry, PartialEngineSettings, Torrent, TorrentMetainfo, TorrentStats } from '@lodestone/engine'
import type { CliContext } from './context.js'
import { CliError, describeError, errorCode, EXIT_FAILURE, EXIT_OK } from './cli-error.js'
import { selectionPriorities } from './select.js'
import { formatBytes } from './format.js'
import { HumanReporter, JsonReporter, type SessionReporter } from './session-reporter.js'
import { loadIpFilterFile } from './ip-filter-file.js'
import { portMappingLine } from './port-mapping-flags.js'

/** A download interrupted before it completed. */
export const EXIT_INCOMPLETE = 3

/** Status redraws (terminal) and the stats clock (JSON lines every 4th tick). */
const TICK_MS = 250
/** How long the process may linger after the engine closed before it is made to exit. */
const EXIT_GRACE_MS = 5_000

/** What to run: parsed metainfo, or a magnet link (metadata fetched from peers first). */
export type SessionSource =
  | { kind: 'torrent', meta: TorrentMetainfo }
  | { kind: 'magnet', uri: string, id: string }

export interface TorrentSessionOptions {
  mode: 'download' | 'seed'
  source: SessionSource
  /** `--select`: only these files (visible indices); applied once the metadata is known. */
  select?: readonly FileIndexRange[]
  /**
   * Resume data directory for this torrent (a PackedSessionStore holding only it), or null. A
   * torrent found there for the same download directory is restored (fast resume); state is saved
   * on the way out.
   */
  stateDir: string | null
  /** Storage root: the torrent's files (or its directory) live directly in it. */
  dir: string
  peers: readonly string[]
  port: number
  /** Interface to listen on; '' for all. */
  host: string
  json: boolean
  verbose: boolean
  /** download: stop and exit 0 as soon as every piece is verified. */
  exitOnComplete: boolean
  settings: PartialEngineSettings
  /** `seed --super-seed`: BEP 16 super-seeding for this torrent. */
  superSeed?: boolean
  /** `--ip-filter`: path of an eMule .dat / PeerGuardian .p2p block list applied to every peer. */
  ipFilter?: string
}

type Outcome =
  | { kind: 'completed' }
  | { kind: 'signal', signal: string }
  | { kind: 'error', error: unknown }
  | { kind: 'incomplete-seed' }

/** Runs the session; resolves to the exit code or throws a CliError (printed by main). */
export async function runTorrentSession (ctx: CliContext, opts: TorrentSessionOptions): Promise<number> {
  const dir = resolvePath(opts.dir)
  // A bad --select is a usage error before anything starts (for magnets: once the metadata is known).
  const priorities = opts.select !== undefined && opts.source.kind === 'torrent' ? selectionPriorities(opts.select, opts.source.meta) : undefined
  // A bad block list fails before anything listens or connects.
  const ipFilter = opts.ipFilter === undefined ? null : await loadIpFilterFile(opts.ipFilter)
  await prepareDir(dir, opts.mode)
  const reporter: SessionReporter = opts.json || process.stdout.isTTY !== true
    ? new JsonReporter(ctx.out)
    : new HumanReporter(ctx.out, opts.verbose, () => (process.stdout.columns > 0 ? process.stdout.columns : 80))
  const { createNodeEngine } = await import('@lodestone/engine/presets/node')
  const { formatLogEntry } = await import('@lodestone/engine')
  const engine = createNodeEngine({
    downloadPath: dir,
    port: opts.port,
    host: opts.host,
    settings: opts.settings,
    ...(opts.stateDir !== null ? { stateDir: opts.stateDir } : {}),
    ...(opts.verbose ? { onLog: (entry: LogEntry) => { ctx.err(`${formatLogEntry(entry)}\n`) }, logLevel: 'debug' as const } : { logLevel: 'off' as const })
  })

  let settle: (o: Outcome) => void = () => {}
  const outcome = new Promise<Outcome>((resolve) => { settle = resolve })
  let signalCount = 0
  let exitCodeIfForced = EXIT_FAILURE
  const onSignal = (signal: NodeJS.Signals): void => {
    signalCount++
    if (signalCount > 1) process.exit(exitCodeIfForced)
    settle({ kind: 'signal', signal })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  engine.on('warning', ({ error }) => { reporter.event({ type: 'warning', code: errorCode(error), message: describeError(error) }, `warning: ${describeError(error)}`, true) })
  engine.on('port-mapping', (e) => {
    const { event, human } = portMappingLine(e)
    // Renewals and failures (no router that speaks UPnP / NAT-PMP is the common case) only with --verbose.
    reporter.event(event, human, e.renewal || e.state === 'failed')
  })
  if (ipFilter !== null) {
    engine.setIpFilter(ipFilter.filter)
    engine.on('peer-blocked', ({ address, direction }) => {
      reporter.event({ type: 'peer-blocked', address, direction, reason: 'ip-filter' }, `blocked ${address} (${direction}): IP filter`, true)
    })
  }

  let torrent: Torrent | null = null
  let ticker: NodeJS.Timeout | null = null
  const startedAtMs = performance.now()
  try {
    torrent = await openTorrent(engine, opts, dir, priorities)
    const t = torrent
    exitCodeIfForced = opts.mode === 'seed' ? EXIT_OK : EXIT_INCOMPLETE
    watch(t, reporter, opts, startedAtMs, settle)
    const meta = t.metadata
    const visibleFiles = meta === null ? null : meta.files.filter((f) => !f.padding).length
    reporter.event({
      type: 'started',
      mode: opts.mode,
      name: t.name,
      infoHash: t.id,
      totalBytes: meta?.totalLengthBytes ?? null,
      pieceCount: meta?.pieceCount ?? null,
      pieceLength: meta?.pieceLengthBytes ?? null,
      files: visibleFiles,
      dir,
      port: engine.port,
      stateDir: opts.stateDir
    }, `${opts.mode === 'seed' ? 'seeding' : 'downloading'} "${t.name}" ` +
      (meta === null ? '(magnet: fetching metadata)' : `(${formatBytes(meta.totalLengthBytes)}, ${visibleFiles} file${visibleFiles === 1 ? '' : 's'})`) +
      ` ${opts.mode === 'seed' ? 'from' : 'to'} ${dir}, listening on port ${engine.port ?? 'none'}`)
    let ticks = 0
    ticker = setInterval(() => {
      reporter.tick(t.stats())
      // JSON lines carry the engine's connection counters too, once a second: refused, evicted and
      // timed-out handshakes are how a hostile peer shows up before it is attached to the torrent.
      if (reporter instanceof JsonReporter && ticks++ % 4 === 0) reportEngine(engine, reporter)
    }, TICK_MS)
    if (signalCount === 0 && t.state === 'stopped') {
      const started = t.start()
      started.then(() => {
        if (opts.mode === 'seed' && !t.isComplete && t.state !== 'error' && t.state !== 'stopped') settle({ kind: 'incomplete-seed' })
      }, (error: unknown) => { settle({ kind: 'error', error }) })
    }
    // A restored torrent may have finished before its listeners were attached.
    if (opts.mode === 'download' && opts.exitOnComplete && t.isComplete) settle({ kind: 'completed' })
    const result = await outcome
    clearInterval(ticker)
    return await finish(engine, t, reporter, opts, result, dir)
  } catch (err) {
    await closeQuietly(engine)
    throw err
  } finally {
    if (ticker !== null) clearInterval(ticker)
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    // Everything is closed; should a handle still hold the loop open, do not hang.
    setTimeout(() => { process.exit(process.exitCode ?? EXIT_FAILURE) }, EXIT_GRACE_MS).unref()
  }
}

/**
 * The session's torrent: restored from the state dir when it was stored for the same download
 * directory (a torrent stored for another directory is forgotten and added afresh), else added.
 * Not started: listeners go on first.
 */
async function openTorrent (engine: BtEngine, opts: TorrentSessionOptions, dir: string, priorities: number[] | undefined): Promise<Torrent> {
  const id = opts.source.kind === 'torrent' ? opts.source.meta.id : opts.source.id
  if (opts.stateDir !== null) {
    await engine.restoreSession()
    const restored = engine.getTorrent(id)
    if (restored !== undefined) {
      if (engine.storageRoots.getRootForTorrent(id)?.path === dir) {
        // Restored paused (a seed limit paused it last time): running the command means running it.
        if (restored.state !== 'stopped') await resumeOncePaused(restored)
        for (const peer of opts.peers) restored.addPeer(peer)
        const meta = restored.metadata
        if (opts.select !== undefined && meta !== null) await restored.setFilePriorities(priorities ?? selectionPriorities(opts.select, meta))
        return restored
      }
      await engine.removeTorrent(id)
    }
  }
  return engine.addTorrent(opts.source.kind === 'torrent' ? opts.source.meta : opts.source.uri, {
    start: false,
    peers: opts.peers,
    downloadPath: dir,
    ...(priorities === undefined ? {} : { filePriorities: priorities }),
    ...(opts.superSeed === true ? { settings: { superSeeding: true } } : {})
  })
}

/** Waits for a torrent being restored into `paused` to get there, then resumes it. */
async function resumeOncePaused (t: Torrent): Promise<void> {
  await new Promise<void>((resolve) => {
    const settled = (): boolean => {
      if (t.state === 'paused') t.resume()
      return t.state !== 'starting' && t.state !== 'hashing'
    }
    if (settled()) {
      resolve()
      return
    }
    const off = t.on('state-changed', () => {
      if (!settled()) return
      off()
      resolve()
    })
  })
}

async function prepareDir (dir: string, mode: 'download' | 'seed'): Promise<void> {
  if (mode === 'download') {
    try {
      await mkdir(dir, { recursive: true })
    } catch (err) {
      throw new CliError(`cannot create ${dir}: ${describeError(err)}`, EXIT_FAILURE, { cause: err })
    }
    return
  }
  try {
    if (!(await stat(dir)).isDirectory()) throw new CliError(`${dir}: not a directory`)
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(`${dir}: no such directory`, EXIT_FAILURE, { cause: err })
  }
}

/** Forwards the torrent's events to the reporter and settles the outcome on completion or error. */
function watch (t: Torrent, reporter: SessionReporter, opts: TorrentSessionOptions, startedAtMs: number, settle: (o: Outcome) => void): void {
  let pending: number[] = []
  let flushTimer: NodeJS.Timeout | null = null
  const flushPieces = (): void => {
    if (flushTimer !== null) clearTimeout(flushTimer)
    flushTimer = null
    if (pending.length === 0) return
    const s = t.stats()
    reporter.event({ type: 'piece-verified', pieces: pending, havePieces: s.havePieces, pieceCount: s.pieceCount }, null)
    pending = []
  }
  t.on('state-changed', ({ from, to }) => {
    flushPieces()
    reporter.event({ type: 'state-changed', from, to }, `state: ${from} -> ${to}`, true)
  })
  t.on('metadata', ({ meta }) => {
    const files = meta.files.filter((f) => !f.padding).length
    reporter.event({ type: 'metadata', name: meta.name, totalBytes: meta.totalLengthBytes, pieceCount: meta.pieceCount, pieceLength: meta.pieceLengthBytes, files },
      `metadata received: "${meta.name}" (${formatBytes(meta.totalLengthBytes)}, ${files} file${files === 1 ? '' : 's'})`)
    if (opts.select === undefined) return
    let priorities: number[]
    try {
      priorities = selectionPriorities(opts.select, meta)
    } catch (error) {
      settle({ kind: 'error', error })
      return
    }
    t.setFilePriorities(priorities).catch((error: unknown) => { settle({ kind: 'error', error }) })
  })
  t.on('checked', ({ havePieces, durationMs }) => {
    const pieceCount = t.metadata?.pieceCount ?? 0
    reporter.event({ type: 'checked', havePieces, pieceCount, durationMs: Math.round(durationMs) },
      `checked existing data: ${havePieces} of ${pieceCount} pieces present (${(durationMs / 1000).toFixed(1)} s)`, havePieces === 0)
  })
  t.on('piece-verified', ({ piece }) => {
    pending.push(piece)
    flushTimer ??= setTimeout(flushPieces, TICK_MS)
  })
  t.on('hash-failed', ({ piece, peers }) => {
    reporter.event({ type: 'hash-failed', piece, peers }, `piece ${piece} failed its hash check (from ${peers.join(', ') || 'unknown'})`, true)
  })
  t.on('peer-connected', ({ peer }) => {
    reporter.event({ type: 'peer-connected', address: peer.address, client: peer.clientName, direction: peer.direction, source: peer.source, encryption: peer.encryption, transport: peer.transport },
      `${peer.source === 'webseed' ? 'web seed' : 'peer'} connected: ${peer.address}${peer.clientName === null || peer.source === 'webseed' ? '' : ` (${peer.clientName})`}${peer.transport === 'utp' ? ', uTP' : ''}${peer.encryption === 'rc4' ? ', encrypted' : ''}`, true)
  })
  t.on('peer-handshake-failed', ({ address, direction, reason }) => {
    const why = describeError(reason)
    reporter.event({ type: 'peer-handshake-failed', address, direction, code: reason.code, reason: why }, `peer ${address} failed its handshake (${why})`, true)
  })
  t.on('peer-disconnected', ({ address, reason }) => {
    const why = reason === undefined ? null : describeError(reason)
    reporter.event({ type: 'peer-disconnected', address, reason: why, code: reason?.code ?? null }, `peer disconnected: ${address}${why === null ? '' : ` (${why})`}`, true)
  })
  t.on('peer-banned', ({ host, reason }) => {
    reporter.event({ type: 'peer-banned', host, reason }, `banned ${host}: ${reason}`)
  })
  // What --verbose means by tracker status: one line per answered announce (once the next one is
  // planned) and one per failure; request starts and plan shuffles stay quiet. Status times are wall-clock.
  t.on('tracker-updated', ({ tracker }) => {
    if (tracker.updating || (tracker.lastError === null && tracker.nextAnnounceAtMs === null)) return
    const error = tracker.lastError === null ? null : describeError(tracker.lastError)
    const next = tracker.nextAnnounceAtMs === null ? null : Math.max(0, Math.round((tracker.nextAnnounceAtMs - Date.now()) / 1000))
    reporter.event({
      type: 'tracker', url: tracker.url, tier: tracker.tier, peers: tracker.lastPeerCount, seeders: tracker.seeders,
      leechers: tracker.leechers, intervalSec: tracker.intervalSec, nextAnnounceSec: next, warning: tracker.warning, error
    }, error !== null
      ? `tracker ${tracker.url}: ${error} (${tracker.consecutiveFailures} failure${tracker.consecutiveFailures === 1 ? '' : 's'} in a row)`
      : `tracker ${tracker.url}: ${tracker.lastPeerCount ?? 0} peers, ${tracker.seeders ?? '?'} seeders, ${tracker.leechers ?? '?'} leechers` +
        `${next === null ? '' : `, next announce in ${next} s`}${tracker.warning === null ? '' : ` (warning: ${tracker.warning})`}`, true)
  })
  t.on('warning', ({ error }) => {
    reporter.event({ type: 'warning', code: errorCode(error), message: describeError(error) }, `warning: ${describeError(error)}`, true)
  })
  t.on('error', ({ error }) => { settle({ kind: 'error', error }) })
  t.on('completed', () => {
    flushPieces()
    const s = t.stats()
    const seconds = (performance.now() - startedAtMs) / 1000
    const rate = s.downloadedBytes > 0 && seconds > 0 ? `, ${formatBytes(s.downloadedBytes / seconds)}/s` : ''
    reporter.event({ type: 'completed', totalBytes: s.totalBytes, downloadedBytes: s.downloadedBytes, elapsedMs: Math.round(seconds * 1000) },
      opts.mode === 'seed'
        ? null
        : `completed "${t.name}": ${formatBytes(s.totalBytes)} verified, ${formatBytes(s.downloadedBytes)} downloaded in ${seconds.toFixed(1)} s${rate}` +
          (opts.exitOnComplete ? '' : '; seeding until interrupted (Ctrl-C)'))
    // Let the torrent finish its own transition (to seeding) before the engine is closed.
    if (opts.mode === 'download' && opts.exitOnComplete) setImmediate(() => { settle({ kind: 'completed' }) })
  })
}

/** The JSON 'engine' line: listener and connection counters, and local service discovery's. */
function reportEngine (engine: BtEngine, reporter: JsonReporter): void {
  const e = engine.stats()
  reporter.event({ type: 'engine', listen: e.listen, connections: e.connections, lsd: e.lsd })
}

async function finish (engine: BtEngine, t: Torrent, reporter: SessionReporter, opts: TorrentSessionOptions, result: Outcome, dir: string): Promise<number> {
  const complete = t.isComplete
  let stats: TorrentStats | null = t.stats()
  if (opts.stateDir !== null) {
    // The engine saves on close too; saving first means a failure can still be reported.
    await engine.saveState().catch((error: unknown) => { reporter.event({ type: 'warning', message: `cannot save state: ${describeError(error)}` }, `warning: cannot save state: ${describeError(error)}`) })
  }
  // A last snapshot of the engine's counters (LSD's announces and finds, connections) before it closes.
  if (reporter instanceof JsonReporter) reportEngine(engine, reporter)
  await closeQuietly(engine)
  if (result.kind === 'error') {
    stats = null
  }
  reporter.finish(stats)
  let code: number
  let reason: string
  let message: string | null = null
  switch (result.kind) {
    case 'completed':
      code = EXIT_OK
      reason = 'completed'
      break
    case 'signal':
      code = opts.mode === 'seed' || complete ? EXIT_OK : EXIT_INCOMPLETE
      reason = `interrupted (${result.signal})`
      if (code !== EXIT_OK) {
        const s = t.stats()
        message = t.hasMetadata
          ? `interrupted before the download completed: ${(s.progress * 100).toFixed(1)}%, ${s.havePieces} of ${s.pieceCount} pieces (run again to resume)`
          : 'interrupted before the metadata arrived'
      }
      break
    case 'incomplete-seed': {
      code = EXIT_FAILURE
      reason = 'incomplete data'
      const s = t.stats()
      message = `${dir} does not hold the complete data of "${t.name}": ${s.havePieces} of ${s.pieceCount} pieces verified (see lodestone verify)`
      break
    }
    case 'error':
      code = result.error instanceof CliError ? result.error.exitCode : EXIT_FAILURE
      reason = 'error'
      message = describeError(result.error)
      reporter.event({ type: 'error', code: (result.error as { code?: unknown }).code ?? null, message }, null)
      break
  }
  reporter.event({ type: 'exit', code, reason }, null)
  if (message !== null) throw new CliError(message, code)
  return code
}

async function closeQuietly (engine: BtEngine): Promise<void> {
  try {
    await engine.close()
  } catch {
    // close() reports its own failures as warnings; nothing more to do on the way out.
  }
}
