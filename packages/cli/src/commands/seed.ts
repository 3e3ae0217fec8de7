/**
 * `lodestone seed <torrent-file> -d <dir>`: checks the data in `dir`, then serves it until
 * interrupted. Refuses (exit 1) when the data is incomplete: `lodestone verify` says what is missing.
 */
import type { Command } from 'commander'
import type { CliContext } from '../util/context.js'
import { loadTorrentFile } from '../util/load-torrent.js'
import { collectPeer } from '../util/peer-arg.js'
import { parsePort } from '../util/port-arg.js'
import { parseRate } from '../util/rate.js'
import { runTorrentSession } from '../util/torrent-session.js'
import { dhtBootstrapOption, dhtSettings, noDhtOption, noLsdOption, type DhtFlags } from '../util/dht-args.js'
import { NO_PORT_MAPPING_HELP, portMappingSettings, type PortMappingFlags } from '../util/port-mapping-flags.js'
import { encryptionOption, type EncryptionModeArg } from '../util/encryption-arg.js'
import { NO_TCP_HELP, NO_UTP_HELP, transportSettings } from '../util/transport-flags.js'

interface SeedFlags extends DhtFlags, PortMappingFlags {
  ipFilter?: string
  dir: string
  peer?: string[]
  port: number
  host?: string
  json?: boolean
  verbose?: boolean
  /** false with --no-utp / --no-tcp. */
  utp: boolean
  tcp: boolean
  maxUp?: number
  encryption?: EncryptionModeArg
  superSeed?: boolean
}

const EXIT_CODES_HELP = `
Exit codes:
  0  stopped by SIGINT/SIGTERM after seeding
  1  error: unreadable or invalid torrent or --ip-filter list, incomplete data in the directory, a disk or network failure
  2  wrong usage`

export function registerSeed (program: Command, ctx: CliContext): void {
  program
    .command('seed')
    .description('seed a torrent from data already on disk, until interrupted')
    .argument('<torrent>', '.torrent file')
    .requiredOption('-d, --dir <dir>', 'directory holding the data (the torrent\'s file or directory is inside it)')
    .option('--peer <host:port>', 'connect to this peer (repeatable)', collectPeer)
    .option('--port <n>', 'port to listen on for peers (0: any free port)', parsePort, 6881)
    .option('--host <addr>', 'address to listen on (default: all interfaces)')
    .option('--json', 'print JSON lines (events, and stats once a second) instead of a progress display')
    .option('--verbose', 'show peer events and warnings; engine debug log on stderr')
    .option('--max-up <rate>', 'upload rate limit, e.g. 500k, 1M, 2MiB/s (0: unlimited)', parseRate)
    .option('--ip-filter <file>', 'refuse peers in the ranges of this block list (eMule ipfilter.dat or PeerGuardian .p2p)')
    .option('--super-seed', 'BEP 16 super-seeding: offer each peer one piece at a time so the peers spread it (for a first seed with little upload)')
    .addOption(encryptionOption())
    .addOption(noDhtOption())
    .addOption(dhtBootstrapOption())
    .option('--no-utp', NO_UTP_HELP)
    .option('--no-tcp', NO_TCP_HELP)
    .option('--no-port-mapping', NO_PORT_MAPPING_HELP)
    .addOption(noLsdOption())
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (input: string, flags: SeedFlags) => {
      const meta = await loadTorrentFile(input)
      await runTorrentSession(ctx, {
        mode: 'seed',
        source: { kind: 'torrent', meta },
        stateDir: null,
        dir: flags.dir,
        peers: flags.peer ?? [],
        port: flags.port,
        host: flags.host ?? '',
        json: flags.json === true,
        verbose: flags.verbose === true,
        exitOnComplete: false,
        ...(flags.superSeed === true ? { superSeed: true } : {}),
        settings: {
          ...transportSettings(flags),
          ...(flags.maxUp === undefined ? {} : { rateLimit: { uploadRateBytesPerSec: flags.maxUp } }),
          ...(flags.encryption === undefined ? {} : { encryption: { mode: flags.encryption } }),
          ...dhtSettings(flags),
          ...portMappingSettings(flags)
        },
        ...(flags.ipFilter === undefined ? {} : { ipFilter: flags.ipFilter })
      })
    })
}
