/**
 * `lodestone daemon`: runs @lodestone/daemon in the foreground until SIGINT / SIGTERM (state is
 * saved, exit 0); SIGHUP reads the config file again. Prints one JSON line on stdout once it
 * listens — `{"rpc":"http://127.0.0.1:9091/transmission/rpc","peerPort":N,"apiTokenFile":…}` — and diagnostics on
 * stderr. Settings: defaults, then `--config FILE`, then flags. The RPC password comes from the
 * config file or `LODESTONE_RPC_PASSWORD` (not a flag: command lines are visible to other users).
 */
import { readFile } from 'node:fs/promises'
import { InvalidArgumentError, type Command } from 'commander'
import type { LogEntry, LogLevel } from '@lodestone/engine'
import type { DaemonSettings } from '@lodestone/daemon'
import type { CliContext } from '../util/context.js'
import { CliError, describeError } from '../util/cli-error.js'
import { parsePort } from '../util/port-arg.js'

interface DaemonFlags {
  rpcHost?: string
  rpcPort?: number
  rpcUsername?: string
  downloadDir?: string
  stateDir?: string
  storageRoot?: string[]
  peerPort?: number
  config?: string
  logLevel: LogLevel | 'off'
  foreground?: boolean
}

const LOG_LEVELS = ['off', 'error', 'warn', 'info', 'debug', 'trace']

function parseLogLevel (value: string): LogLevel | 'off' {
  if (!LOG_LEVELS.includes(value)) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}`)
  return value as LogLevel | 'off'
}

function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

export const DAEMON_HELP = `
Settings come from defaults, then --config FILE, then these flags. The config file is JSON with
the keys rpcHost, rpcPort, downloadDir, stateDir, storageRoots, rpcUsername, rpcPassword,
rpcHostAllowList, rpcOriginAllowList, maxRequestBodyBytes and engine (engine settings by section,
e.g. {"engine": {"listen": {"port": 51413}, "discovery": {"dht": false}}}); an unknown key is an
error naming it. The RPC password: rpcPassword in the config file or LODESTONE_RPC_PASSWORD.
Listening beyond loopback needs a username and password.

Signals: SIGTERM / SIGINT (or RPC session-close, transmission-remote --exit) save state and
exit 0; SIGHUP reloads the config file.
Exit codes: 0 stopped by a signal; 1 could not start (bad config, port taken); 2 wrong usage.`

async function readConfigFile (path: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read config ${path}: ${describeError(err)}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new CliError(`config ${path} is not valid JSON: ${describeError(err)}`)
  }
}

export function registerDaemon (program: Command, ctx: CliContext): void {
  program
    .command('daemon')
    .description('run Lodestone as a service driven over Transmission\'s RPC (transmission-remote, web and library clients)')
    .option('--rpc-host <addr>', 'address the RPC server binds (default 127.0.0.1)')
    .option('--rpc-port <n>', 'RPC port (default 9091; 0 picks a free one)', parsePort)
    .option('--rpc-username <name>', 'require HTTP basic auth with this user (password: LODESTONE_RPC_PASSWORD or the config file)')
    .option('--download-dir <dir>', 'default directory for downloads (default ~/Downloads); always a storage root')
    .option('--storage-root <dir>', 'another directory RPC clients may put files in (repeatable)', collect)
    .option('--state-dir <dir>', 'resume data and daemon state (default $XDG_DATA_HOME/lodestone/daemon)')
    .option('--peer-port <n>', 'port for incoming peer connections (engine.listen.port; 0 picks a free one)', parsePort)
    .option('--config <file>', 'JSON settings file (see below); re-read on SIGHUP')
    .option('--log-level <level>', `engine log on stderr: ${LOG_LEVELS.join(', ')}`, parseLogLevel, 'warn')
    .option('--foreground', 'stay in the foreground (always the case; for service managers that pass it)')
    .addHelpText('after', DAEMON_HELP)
    .action(async (flags: DaemonFlags) => {
      const { LodestoneDaemon, mergeDaemonSettings, parseDaemonSettings } = await import('@lodestone/daemon')
      const { formatLogEntry } = await import('@lodestone/engine')
      const flagLayer: Partial<DaemonSettings> = {
        ...(flags.rpcHost !== undefined ? { rpcHost: flags.rpcHost } : {}),
        ...(flags.rpcPort !== undefined ? { rpcPort: flags.rpcPort } : {}),
        ...(flags.downloadDir !== undefined ? { downloadDir: flags.downloadDir } : {}),
        ...(flags.stateDir !== undefined ? { stateDir: flags.stateDir } : {}),
        ...(flags.storageRoot !== undefined ? { storageRoots: flags.storageRoot } : {}),
        ...(flags.rpcUsername !== undefined ? { rpcUsername: flags.rpcUsername } : {}),
        ...(flags.peerPort !== undefined ? { engine: { listen: { port: flags.peerPort } } } : {})
      }
      const envPassword = process.env.LODESTONE_RPC_PASSWORD
      const envLayer: Partial<DaemonSettings> = envPassword !== undefined && envPassword !== '' ? { rpcPassword: envPassword } : {}
      const load = async (): Promise<DaemonSettings> => {
        const fileLayer = flags.config === undefined ? {} : parseDaemonSettings(await readConfigFile(flags.config))
        return mergeDaemonSettings(fileLayer, envLayer, flagLayer)
      }
      const settings = await load()
      let requestStop = (): void => {}
      const daemon = await LodestoneDaemon.start({
        onSessionClose: () => { requestStop() },
        settings,
        version: ctx.version,
        logLevel: flags.logLevel,
        onLog: (entry: LogEntry) => { ctx.err(`${formatLogEntry(entry)}\n`) },
        onDiagnostic: (line) => { ctx.err(`lodestone daemon: ${line}\n`) }
      })
      ctx.out(`${JSON.stringify({ rpc: daemon.rpcUrl, rpcPort: daemon.rpcPort, peerPort: daemon.engine.port, downloadDir: settings.downloadDir, stateDir: settings.stateDir, apiTokenFile: daemon.apiTokenFile })}\n`)
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.removeListener('SIGINT', stop)
          process.removeListener('SIGTERM', stop)
          process.removeListener('SIGHUP', reload)
          resolve()
        }
        const reload = (): void => {
          load().then((next) => {
            daemon.reload(next)
            ctx.err('lodestone daemon: configuration reloaded\n')
          }).catch((err: unknown) => { ctx.err(`lodestone daemon: reload failed, keeping the old settings: ${describeError(err)}\n`) })
        }
        requestStop = stop
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
        process.on('SIGHUP', reload)
      })
      await daemon.close()
    })
}
