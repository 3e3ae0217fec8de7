/**
 * `lodestone io-daemon`: runs the I/O bridge a browser engine uses for sockets and files
 * (@lodestone/io-daemon) until SIGINT / SIGTERM. Prints one JSON line on stdout:
 * `{"port":N,"token":"…","roots":[{"key":"…","label":"…"}]}` — what the browser needs. The token
 * is random per run unless `LODESTONE_IO_TOKEN` is set (an environment variable, not an
 * argument: command lines are visible to other users).
 */
import { InvalidArgumentError, type Command } from 'commander'
import type { CliContext } from '../util/context.js'
import { parsePort } from '../util/port-arg.js'

function collectRoot (value: string, previous: Array<{ label: string, dir: string }>): Array<{ label: string, dir: string }> {
  const eq = value.indexOf('=')
  if (eq <= 0 || eq === value.length - 1) throw new InvalidArgumentError('expected LABEL=DIR')
  return [...previous, { label: value.slice(0, eq), dir: value.slice(eq + 1) }]
}

function collectOrigin (value: string, previous: string[]): string[] {
  let origin: string
  try { origin = new URL(value).origin } catch { throw new InvalidArgumentError('expected an origin such as http://127.0.0.1:8080') }
  if (origin === 'null' || origin !== value.replace(/\/$/, '')) throw new InvalidArgumentError('expected an origin such as http://127.0.0.1:8080 (scheme, host and port only)')
  return [...previous, origin]
}

/** Received data held per session for writes from the received stream, in MiB (0: the feature off). */
function parseHoldMiB (text: string): number {
  if (!/^\d{1,5}$/.test(text.trim())) throw new InvalidArgumentError(`"${text}" is not a whole number of MiB`)
  const mib = Number(text)
  if (mib > 4096) throw new InvalidArgumentError(`${mib} MiB is over the 4096 MiB this accepts`)
  return mib
}

export function registerIoDaemon (program: Command, ctx: CliContext): void {
  program
    .command('io-daemon')
    .description('run the I/O bridge for a browser engine: TCP/UDP over a WebSocket and files over HTTP, on 127.0.0.1')
    .option('--port <n>', 'port on 127.0.0.1 (0 picks a free one)', parsePort, 0)
    .option('--root <LABEL=DIR>', 'a storage root the browser may use (repeatable); the browser sees only an opaque key and the label', collectRoot, [])
    .option('--allow-origin <ORIGIN>', 'a web origin allowed to use the bridge, exactly as the browser sends it (repeatable); none: no web page may', collectOrigin, [])
    .option('--recv-hold-mib <n>', 'received bytes each browser session keeps so verified pieces need not travel back (0 turns that off)', parseHoldMiB)
    .action(async (opts: { port: number, root: Array<{ label: string, dir: string }>, allowOrigin: string[], recvHoldMib?: number }) => {
      const { startIoDaemon } = await import('@lodestone/io-daemon')
      const token = process.env.LODESTONE_IO_TOKEN
      const daemon = await startIoDaemon({
        port: opts.port,
        roots: opts.root,
        allowOrigins: opts.allowOrigin,
        ...(opts.recvHoldMib !== undefined ? { recvHoldBytes: opts.recvHoldMib * 1024 * 1024 } : {}),
        ...(token !== undefined && token !== '' ? { token } : {})
      })
      ctx.out(`${JSON.stringify({ port: daemon.port, token: daemon.token, roots: daemon.roots })}\n`)
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.removeListener('SIGINT', stop)
          process.removeListener('SIGTERM', stop)
          resolve()
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
      await daemon.close()
    })
}
