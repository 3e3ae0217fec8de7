/**
 * `lodestone download <torrent-file|magnet|URL> -o <dir>`: downloads a torrent into a directory
 * and (unless --exit-on-complete) keeps seeding until interrupted. Progress goes to the terminal,
 * or as JSON lines with --json / when stdout is not a terminal (see util/session-reporter.ts).
 */
import { Option, type Command } from 'commander'
import type { PartialEngineSettings, TorrentMetainfo } from '@lodestone/engine'
import type { CliContext } from '../util/context.js'
import { CliError, describeError, usageError } from '../util/cli-error.js'
import { isHttpUrl, isMagnet, loadTorrentFile, loadTorrentUrl } from '../util/load-torrent.js'
import { collectPeer } from '../util/peer-arg.js'
import { parseRate } from '../util/rate.js'
import { defaultStateDir } from '../util/state-dir.js'
import { runTorrentSession } from '../util/torrent-session.js'
import { notSupportedYet, parseSelection } from '../util/engine-support.js'
import { parsePort } from '../util/port-arg.js'

interface DownloadFlags {
  output?: string
  peer?: string[]
  port: number
  host: string
  exitOnComplete?: boolean
  json?: boolean
  verbose?: boolean
  select?: string
  sequential?: boolean
  maxDown?: number
  maxUp?: number
  stateDir?: string
  metadataOnly?: boolean
}

export const EXIT_CODES_HELP = `
Exit codes:
  0  complete: every piece verified (with --exit-on-complete, or interrupted after completing)
  1  error: unreadable or invalid input, a disk or network failure
  2  wrong usage, or a flag the engine does not support yet
  3  interrupted (SIGINT/SIGTERM) before the download completed; run again to resume`

export function registerDownload (program: Command, ctx: CliContext): void {
  program
    .command('download')
    .description('download a torrent (then seed it until interrupted, unless --exit-on-complete)')
    .argument('<torrent>', '.torrent file, magnet link, or http(s) URL of a .torrent')
    .option('-o, --output <dir>', 'directory to download into (with --metadata-only: the .torrent file to write)', '.')
    .option('--peer <host:port>', 'connect to this peer (repeatable)', collectPeer)
    .option('--port <n>', 'port to listen on for peers (0: any free port)', parsePort, 6881)
    .option('--host <addr>', 'address to listen on (default: all interfaces)', '')
    .option('--exit-on-complete', 'exit as soon as the download is complete and verified')
    .option('--json', 'print JSON lines (events, and stats once a second) instead of a progress display')
    .option('--verbose', 'show peer events and warnings; engine debug log on stderr')
    .option('--select <files>', 'download only these files: indices as listed by `lodestone info`, e.g. 0,2-4')
    .option('--sequential', 'download pieces in order (for streaming)')
    .option('--max-down <rate>', 'download rate limit, e.g. 500k, 1M, 2MiB/s (0: unlimited)', parseRate)
    .option('--max-up <rate>', 'upload rate limit, e.g. 500k, 1M, 2MiB/s (0: unlimited)', parseRate)
    .option('--state-dir <dir>', `where session state is kept for resuming (default: ${defaultStateDir()})`)
    .addOption(new Option('--metadata-only', 'only fetch the torrent\'s metadata (magnet) and write it to -o as a .torrent'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (input: string, flags: DownloadFlags) => {
      if (flags.metadataOnly === true) throw notSupportedYet('--metadata-only (fetching metadata from peers)')
      if (flags.stateDir !== undefined) throw notSupportedYet('--state-dir (session persistence)')
      const meta = await loadInput(input)
      const settings: PartialEngineSettings = {
        rateLimit: {
          ...(flags.maxDown === undefined ? {} : { downloadRateBytesPerSec: flags.maxDown }),
          ...(flags.maxUp === undefined ? {} : { uploadRateBytesPerSec: flags.maxUp })
        },
        ...(flags.sequential === true ? { picker: { sequential: true } } : {})
      }
      if (flags.select !== undefined) {
        await parseSelection(flags.select, meta) // a bad list is a usage error even before the engine supports it
        throw notSupportedYet('--select (file priorities)')
      }
      await runTorrentSession(ctx, {
        mode: 'download',
        meta,
        dir: flags.output ?? '.',
        peers: flags.peer ?? [],
        port: flags.port,
        host: flags.host,
        json: flags.json === true,
        verbose: flags.verbose === true,
        exitOnComplete: flags.exitOnComplete === true,
        settings
      })
    })
}

/** A .torrent file or an http(s) URL of one; magnets need metadata exchange. */
async function loadInput (input: string): Promise<TorrentMetainfo> {
  if (isMagnet(input)) {
    const { parseMagnet } = await import('@lodestone/engine')
    try {
      parseMagnet(input)
    } catch (err) {
      throw new CliError(describeError(err), 1, { cause: err })
    }
    throw notSupportedYet('magnet links (fetching metadata from peers); use a .torrent file or URL')
  }
  if (isHttpUrl(input)) return loadTorrentUrl(input)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) throw usageError(`${input}: only http and https URLs are supported`)
  return loadTorrentFile(input)
}
