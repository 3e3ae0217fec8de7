/**
 * The `lodestone` command. Each command lives in `commands/<name>.ts` and registers itself on
 * the program; this file only wires them and turns failures into one stderr line and an exit code
 * (0 ok, 1 bad input or failed operation, 2 wrong usage, 3 a download interrupted before it
 * completed, 130 `create` interrupted).
 */
import { Command, CommanderError } from 'commander'
import { registerCreate } from './commands/create.js'
import { registerDownload } from './commands/download.js'
import { registerSeed } from './commands/seed.js'
import { registerVerify } from './commands/verify.js'
import { registerInfo } from './commands/info.js'
import { registerMagnet } from './commands/magnet.js'
import { registerIoDaemon } from './commands/io-daemon.js'
import { registerDaemon } from './commands/daemon.js'
import { registerDht } from './commands/dht.js'
import { cliVersion, type CliContext } from './util/context.js'
import { EXIT_OK, EXIT_USAGE, describeError, exitCodeOf } from './util/cli-error.js'

/** Commands, in help order. */
const COMMANDS: ReadonlyArray<(program: Command, ctx: CliContext) => void> = [
  registerDownload, registerSeed, registerVerify, registerCreate, registerInfo, registerMagnet, registerDaemon, registerIoDaemon, registerDht
]

function buildProgram (ctx: CliContext): Command {
  const program = new Command('lodestone')
    .description('Lodestone: a BitTorrent client')
    .version(ctx.version, '-V, --version')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => { ctx.out(s) },
      writeErr: (s) => { ctx.err(s) },
      // Errors are printed once, by main(), as "lodestone: <message>".
      outputError: () => {}
    })
    .exitOverride()
  for (const register of COMMANDS) register(program, ctx)
  for (const command of program.commands) command.exitOverride().configureOutput(program.configureOutput())
  return program
}

function processContext (): CliContext {
  return {
    out: (text) => { process.stdout.write(text) },
    err: (text) => { process.stderr.write(text) },
    version: cliVersion()
  }
}

/** Runs the CLI with `argv` (arguments after the program name); resolves to the exit code. */
export async function main (argv: string[], ctx: CliContext = processContext()): Promise<number> {
  if (argv.length === 0) {
    ctx.err('lodestone: missing command (try lodestone --help)\n')
    return EXIT_USAGE
  }
  const program = buildProgram(ctx)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return EXIT_OK
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK
      if (err.code === 'commander.help') return EXIT_USAGE // help shown because a command was missing
      ctx.err(`lodestone: ${err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()}\n`)
      return EXIT_USAGE
    }
    ctx.err(`lodestone: ${describeError(err)}\n`)
    return exitCodeOf(err)
  }
}
