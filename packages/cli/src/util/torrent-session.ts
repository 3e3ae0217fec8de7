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
import type { BtEngine, LogEntry, PartialEngineSettings, Torrent, TorrentMetainfo, TorrentStats } from '@lodestone/engine'
import type { CliContext } from './context.js'
import { CliError, describeError, EXIT_FAILURE, EXIT_OK } from './cli-error.js'
import { formatBytes } from './format.js'
import { HumanReporter, JsonReporter, type SessionReporter } from './session-reporter.js'

/** A download interrupted before it completed. */
export const EXIT_INCOMPLETE = 3

/** Status redraws (terminal) and the stats clock (JSON lines every 4th tick). */
const TICK_MS = 250
/** How long the process may linger after the engine closed before it is made to exit. */
const EXIT_GRACE_MS = 5_000

export interface TorrentSessionOptions {
  mode: 'download' | 'seed'
  meta: TorrentMetainfo
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
}

type Outcome =
  | { kind: 'completed' }
  | { kind: 'signal', signal: string }
  | { kind: 'error', error: unknown }
  | { kind: 'incomplete-seed' }

/** Runs the session; resolves to the exit code or throws a CliError (printed by main). */
export async function runTorrentSession (ctx: CliContext, opts: TorrentSessionOptions): Promise<number> {
  const dir = resolvePath(opts.dir)
  await prepareDir(dir, opts.mode)
  const reporter: SessionReporter = opts.json || process.stdout.isTTY !== true
    ? new JsonReporter(ctx.out)
    : new HumanReporter(ctx.out, opts.verbose, () => process.stdout.columns ?? 80)
  const { createNodeEngine } = await import('@lodestone/engine/presets/node')
  const { formatLogEntry } = await import('@lodestone/engine')
  const engine = createNodeEngine({
    downloadPath: dir,
    port: opts.port,
    host: opts.host,
    settings: opts.settings,
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
  engine.on('warning', ({ error }) => { reporter.event({ type: 'warning', message: describeError(error) }, `warning: ${describeError(error)}`, true) })

  let torrent: Torrent | null = null
  let ticker: NodeJS.Timeout | null = null
  const startedAtMs = performance.now()
  try {
    torrent = await engine.addTorrent(opts.meta, { start: false, peers: opts.peers })
    const t = torrent
    exitCodeIfForced = opts.mode === 'seed' ? EXIT_OK : EXIT_INCOMPLETE
    watch(t, reporter, opts, startedAtMs, settle)
    const visibleFiles = opts.meta.files.filter((f) => !f.padding).length
    reporter.event({
      type: 'started',
      mode: opts.mode,
      name: opts.meta.name,
      infoHash: opts.meta.id,
      totalBytes: opts.meta.totalLengthBytes,
      pieceCount: opts.meta.pieceCount,
      pieceLength: opts.meta.pieceLengthBytes,
      files: visibleFiles,
      dir,
      port: engine.port
    }, `${opts.mode === 'seed' ? 'seeding' : 'downloading'} "${opts.meta.name}" (${formatBytes(opts.meta.totalLengthBytes)}, ` +
      `${visibleFiles} file${visibleFiles === 1 ? '' : 's'}) ${opts.mode === 'seed' ? 'from' : 'to'} ${dir}, listening on port ${engine.port ?? 'none'}`)
    ticker = setInterval(() => { reporter.tick(t.stats()) }, TICK_MS)
    if (signalCount === 0) {
      const started = t.start()
      started.then(() => {
        if (opts.mode === 'seed' && !t.isComplete && t.state !== 'error' && t.state !== 'stopped') settle({ kind: 'incomplete-seed' })
      }, (error: unknown) => { settle({ kind: 'error', error }) })
    }
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
  t.on('checked', ({ havePieces, durationMs }) => {
    reporter.event({ type: 'checked', havePieces, pieceCount: t.meta.pieceCount, durationMs: Math.round(durationMs) },
      `checked existing data: ${havePieces} of ${t.meta.pieceCount} pieces present (${(durationMs / 1000).toFixed(1)} s)`, havePieces === 0)
  })
  t.on('piece-verified', ({ piece }) => {
    pending.push(piece)
    flushTimer ??= setTimeout(flushPieces, TICK_MS)
  })
  t.on('hash-failed', ({ piece, peers }) => {
    reporter.event({ type: 'hash-failed', piece, peers }, `piece ${piece} failed its hash check (from ${peers.join(', ') || 'unknown'})`, true)
  })
  t.on('peer-connected', ({ peer }) => {
    reporter.event({ type: 'peer-connected', address: peer.address, client: peer.clientName, direction: peer.direction },
      `peer connected: ${peer.address}${peer.clientName === null ? '' : ` (${peer.clientName})`}`, true)
  })
  t.on('peer-disconnected', ({ address, reason }) => {
    const why = reason === undefined ? null : describeError(reason)
    reporter.event({ type: 'peer-disconnected', address, reason: why }, `peer disconnected: ${address}${why === null ? '' : ` (${why})`}`, true)
  })
  t.on('peer-banned', ({ host, reason }) => {
    reporter.event({ type: 'peer-banned', host, reason }, `banned ${host}: ${reason}`)
  })
  t.on('warning', ({ error }) => {
    reporter.event({ type: 'warning', message: describeError(error) }, `warning: ${describeError(error)}`, true)
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

async function finish (engine: BtEngine, t: Torrent, reporter: SessionReporter, opts: TorrentSessionOptions, result: Outcome, dir: string): Promise<number> {
  const complete = t.isComplete
  let stats: TorrentStats | null = t.stats()
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
        message = `interrupted before the download completed: ${(s.progress * 100).toFixed(1)}%, ${s.havePieces} of ${s.pieceCount} pieces (run again to resume)`
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
      code = EXIT_FAILURE
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
