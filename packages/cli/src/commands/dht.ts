/**
 * `lodestone dht get-peers <infohash|magnet>`: a debugging command that runs one DHT lookup
 * (BEP 5 get_peers) and prints the peers it found and how many nodes it asked. It bootstraps
 * from `--dht-bootstrap` nodes (default: the public routers) and runs as a BEP 43 read-only node:
 * a short-lived lookup should not enter other nodes' routing tables (it would leave a dead entry).
 */
import type { Command } from 'commander'
import type { CliContext } from '../util/context.js'
import { CliError, describeError, usageError } from '../util/cli-error.js'
import { dhtBootstrapOption } from '../util/dht-args.js'
import { parsePort } from '../util/port-arg.js'
import { isMagnet } from '../util/load-torrent.js'

interface GetPeersFlags {
  dhtBootstrap?: string[]
  json?: boolean
  port: number
  host?: string
  timeout: number
}

export function registerDht (program: Command, ctx: CliContext): void {
  const dht = program.command('dht').description('DHT (BEP 5) debugging commands')
  dht
    .command('get-peers')
    .description('look up the peers of an info hash in the DHT and print them')
    .argument('<infohash>', '40-hex info hash (or 64-hex v2, truncated as BEP 52 says), or a magnet link')
    .addOption(dhtBootstrapOption())
    .option('--json', 'print one JSON object instead of text')
    .option('--port <n>', 'UDP port to use (0: any free port)', parsePort, 0)
    .option('--host <addr>', 'address to bind (default: all interfaces)')
    .option('--timeout <sec>', 'give up after this many seconds', (v) => Number(v), 30)
    .action(async (input: string, flags: GetPeersFlags) => {
      const infoHash = await parseTarget(input)
      const [{ NodeSocketFactory, SystemClock }, { DhtNode, PUBLIC_DHT_ROUTERS }] = await Promise.all([
        import('@lodestone/engine/adapters/node'), import('@lodestone/engine/protocol')
      ])
      const socket = await new NodeSocketFactory().bindUdp(flags.port, flags.host)
      const node = new DhtNode({ socket, clock: new SystemClock() }, { readOnly: true, bootstrapNodes: flags.dhtBootstrap ?? [...PUBLIC_DHT_ROUTERS] })
      const controller = new AbortController()
      const timer = setTimeout(() => { controller.abort() }, Math.max(1, flags.timeout) * 1000)
      const onSignal = (): void => { controller.abort() }
      process.once('SIGINT', onSignal)
      try {
        node.start()
        await Promise.race([node.bootstrap(), new Promise((resolve) => { controller.signal.addEventListener('abort', resolve) })])
        const result = await node.getPeers(infoHash, { signal: controller.signal })
        const peers = result.peers.map((p) => (p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`))
        const stats = node.stats()
        if (flags.json === true) {
          ctx.out(`${JSON.stringify({ type: 'dht-peers', infoHash: hex(infoHash), peers, queried: result.queried, responded: result.responded, nodes: stats.nodes, queriesOut: stats.queriesOut })}\n`)
        } else {
          for (const p of peers) ctx.out(`${p}\n`)
          ctx.err(`${peers.length} peer(s); asked ${result.queried} node(s), ${result.responded} answered; ${stats.nodes} node(s) in the table\n`)
        }
        if (stats.nodes === 0 && result.responded === 0) throw new CliError('no DHT node answered (check --dht-bootstrap)', 1)
      } finally {
        clearTimeout(timer)
        process.removeListener('SIGINT', onSignal)
        node.close()
        socket.close()
      }
    })
}

function hex (bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** The 20-byte DHT key of an info hash or magnet (v1 if there is one, else the truncated v2). */
async function parseTarget (input: string): Promise<Uint8Array> {
  if (isMagnet(input)) {
    const { parseMagnet } = await import('@lodestone/engine')
    try {
      const magnet = parseMagnet(input)
      const hash = magnet.infoHashV1 ?? magnet.infoHashV2?.subarray(0, 20)
      if (hash === undefined || hash === null) throw usageError('the magnet has no info hash')
      return hash
    } catch (err) {
      if (err instanceof CliError) throw err
      throw new CliError(describeError(err), 1, { cause: err })
    }
  }
  if (!/^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/.test(input)) throw usageError(`"${input}" is not a 40-hex info hash or a magnet link`)
  return Uint8Array.from(input.slice(0, 40).match(/../g) ?? [], (h) => parseInt(h, 16))
}
