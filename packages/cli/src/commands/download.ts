/**
 * `lodestone download <torrent-file|magnet|URL> -o <dir>`: downloads a torrent into a directory
 * and (unless --exit-on-complete) keeps seeding until interrupted. Progress goes to the terminal,
 * or as JSON lines with --json / when stdout is not a terminal (see util/session-reporter.ts).
 * Resume data is kept per torrent under the state dir, so an interrupted download resumes without
 * re-hashing unchanged files. `--metadata-only` fetches a magnet's metadata and writes a .torrent.
 */
import type { Command } from 'commander'
import { writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { PartialEngineSettings } from '@lodestone/engine'
import type { CliContext } from '../util/context.js'
import { CliError, describeError, usageError } from '../util/cli-error.js'
import { isHttpUrl, isMagnet, loadTorrentFile, loadTorrentUrl } from '../util/load-torrent.js'
import { collectPeer } from '../util/peer-arg.js'
import { parsePort } from '../util/port-arg.js'
import { parseRate } from '../util/rate.js'
import { defaultStateDir } from '../util/state-dir.js'
import { EXIT_INCOMPLETE, runTorrentSession, type SessionSource } from '../util/torrent-session.js'
import { parseSelectRanges } from '../util/select.js'
import { loadIpFilterFile } from '../util/ip-filter-file.js'
import { dhtBootstrapOption, dhtSettings, noDhtOption, noLsdOption, type DhtFlags } from '../util/dht-args.js'
import { NO_PORT_MAPPING_HELP, portMappingSettings, type PortMappingFlags } from '../util/port-mapping-flags.js'
import { encryptionOption, type EncryptionModeArg } from '../util/encryption-arg.js'
import { NO_TCP_HELP, NO_UTP_HELP, transportSettings } from '../util/transport-flags.js'

interface DownloadFlags extends DhtFlags, PortMappingFlags {
  ipFilter?: string
  output?: string
  peer?: string[]
  port: number
  host?: string
  exitOnComplete?: boolean
  json?: boolean
  verbose?: boolean
  select?: string
  sequential?: boolean
  maxDown?: number
  maxUp?: number
  stateDir?: string
  /** false with --no-state. */
  state: boolean
  metadataOnly?: boolean
  encryption?: EncryptionModeArg
  /** false with --no-utp / --no-tcp. */
  utp: boolean
  tcp: boolean
}

export const EXIT_CODES_HELP = `
Exit codes:
  0  complete: every piece verified (with --exit-on-complete, or interrupted after completing);
     with --metadata-only: the .torrent was written
  1  error: unreadable or invalid input (a .torrent, magnet or --ip-filter list), metadata not found, a disk or network failure
  2  wrong usage
  3  interrupted (SIGINT/SIGTERM) before the download completed; run again to resume`

export function registerDownload (program: Command, ctx: CliContext): void {
  program
    .command('download')
    .description('download a torrent (then seed it until interrupted, unless --exit-on-complete)')
    .argument('<torrent>', '.torrent file, magnet link, or http(s) URL of a .torrent')
    .option('-o, --output <dir>', 'directory to download into (with --metadata-only: the .torrent file to write)', '.')
    .option('--peer <host:port>', 'connect to this peer (repeatable)', collectPeer)
    .option('--port <n>', 'port to listen on for peers (0: any free port)', parsePort, 6881)
    .option('--host <addr>', 'address to listen on (default: all interfaces)')
    .option('--exit-on-complete', 'exit as soon as the download is complete and verified')
    .option('--json', 'print JSON lines (events, and stats once a second) instead of a progress display')
    .option('--verbose', 'show peer events and warnings; engine debug log on stderr')
    .option('--select <files>', 'download only these files: indices as listed by `lodestone info`, e.g. 0,2-4')
    .option('--sequential', 'download pieces in order (for streaming)')
    .option('--max-down <rate>', 'download rate limit, e.g. 500k, 1M, 2MiB/s (0: unlimited)', parseRate)
    .option('--max-up <rate>', 'upload rate limit, e.g. 500k, 1M, 2MiB/s (0: unlimited)', parseRate)
    .option('--state-dir <dir>', `resume data, one subdirectory per torrent (default: ${defaultStateDir()})`)
    .option('--no-state', 'keep no resume data (a restart re-checks the files)')
    .option('--metadata-only', 'fetch a magnet\'s metadata from peers and write it to -o as a .torrent, then exit')
    .option('--ip-filter <file>', 'refuse peers in the ranges of this block list (eMule ipfilter.dat or PeerGuardian .p2p)')
    .addOption(encryptionOption())
    .addOption(noDhtOption())
    .addOption(dhtBootstrapOption())
    .option('--no-utp', NO_UTP_HELP)
    .option('--no-tcp', NO_TCP_HELP)
    .option('--no-port-mapping', NO_PORT_MAPPING_HELP)
    .addOption(noLsdOption())
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (input: string, flags: DownloadFlags) => {
      if (flags.stateDir !== undefined && !flags.state) throw usageError('--state-dir and --no-state contradict each other')
      const select = flags.select === undefined ? undefined : await parseSelectRanges(flags.select)
      const settings: PartialEngineSettings = {
        ...transportSettings(flags),
        rateLimit: {
          ...(flags.maxDown === undefined ? {} : { downloadRateBytesPerSec: flags.maxDown }),
          ...(flags.maxUp === undefined ? {} : { uploadRateBytesPerSec: flags.maxUp })
        },
        ...(flags.sequential === true ? { picker: { sequential: true } } : {}),
        ...(flags.encryption === undefined ? {} : { encryption: { mode: flags.encryption } }),
        ...dhtSettings(flags),
        ...portMappingSettings(flags)
      }
      if (flags.metadataOnly === true) {
        await fetchMetadataOnly(ctx, input, flags, settings)
        return
      }
      const source = await loadSource(input)
      const id = source.kind === 'torrent' ? source.meta.id : source.id
      await runTorrentSession(ctx, {
        mode: 'download',
        source,
        ...(select === undefined ? {} : { select }),
        stateDir: flags.state ? join(resolve(flags.stateDir ?? defaultStateDir()), id) : null,
        dir: flags.output ?? '.',
        peers: flags.peer ?? [],
        port: flags.port,
        host: flags.host ?? '',
        json: flags.json === true,
        verbose: flags.verbose === true,
        exitOnComplete: flags.exitOnComplete === true,
        settings,
        ...(flags.ipFilter === undefined ? {} : { ipFilter: flags.ipFilter })
      })
    })
}

/** A .torrent file, an http(s) URL of one, or a magnet link. */
async function loadSource (input: string): Promise<SessionSource> {
  if (isMagnet(input)) {
    const { parseMagnet } = await import('@lodestone/engine')
    try {
      return { kind: 'magnet', uri: input, id: parseMagnet(input).id }
    } catch (err) {
      throw new CliError(describeError(err), 1, { cause: err })
    }
  }
  if (isHttpUrl(input)) return { kind: 'torrent', meta: await loadTorrentUrl(input) }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) throw usageError(`${input}: only http and https URLs are supported`)
  return { kind: 'torrent', meta: await loadTorrentFile(input) }
}

/** `--metadata-only`: BEP 9 metadata from peers → a .torrent at `-o`. */
async function fetchMetadataOnly (ctx: CliContext, input: string, flags: DownloadFlags, settings: PartialEngineSettings): Promise<void> {
  if (!isMagnet(input)) throw usageError('--metadata-only needs a magnet link')
  if (flags.output === undefined || flags.output === '.') throw usageError('--metadata-only needs -o <file.torrent>')
  const source = await loadSource(input)
  if (source.kind !== 'magnet') throw usageError('--metadata-only needs a magnet link')
  const output = resolve(flags.output)
  const [{ createNodeEngine }, { hasCode }, { bencodeDecode }] = await Promise.all([
    import('@lodestone/engine/presets/node'), import('@lodestone/engine'), import('@lodestone/engine/protocol')
  ])
  const ipFilter = flags.ipFilter === undefined ? null : await loadIpFilterFile(flags.ipFilter)
  const engine = createNodeEngine({ downloadPath: dirname(output), port: flags.port, host: flags.host ?? '', settings, logLevel: 'off' })
  if (ipFilter !== null) engine.setIpFilter(ipFilter.filter)
  const controller = new AbortController()
  const onSignal = (): void => { controller.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const json = flags.json === true || process.stdout.isTTY !== true
  let bytes: Uint8Array
  try {
    bytes = await engine.downloadMetadata(source.uri, { signal: controller.signal, peers: flags.peer ?? [] })
  } catch (err) {
    if (hasCode(err, 'ABORTED') || controller.signal.aborted) throw new CliError('interrupted before the metadata arrived', EXIT_INCOMPLETE, { cause: err })
    throw err
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    await engine.close()
  }
  try {
    await writeFile(output, bytes)
  } catch (err) {
    throw new CliError(`cannot write ${output}: ${describeError(err)}`, 1, { cause: err })
  }
  // Summarized from the info dict alone: a pure v2 .torrent made from fetched metadata has no piece
  // layers (they are not part of the info dict), which a full parse insists on (a hybrid parses).
  const info = (bencodeDecode(bytes) as Map<string, unknown>).get('info') as Map<string, unknown> | undefined
  const rawName = info?.get('name')
  const name = rawName instanceof Uint8Array ? new TextDecoder().decode(rawName) : null
  if (json) {
    ctx.out(`${JSON.stringify({ type: 'metadata-saved', time: Date.now(), path: output, infoHash: source.id, name, bytes: bytes.length })}\n`)
  } else {
    ctx.out(`wrote ${output}: "${name ?? source.id}", info hash ${source.id}\n`)
  }
}

