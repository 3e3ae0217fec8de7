/**
 * `lodestone create <path> -o <out.torrent>`: makes a v1, v2 or hybrid torrent from a file or a
 * directory, hashing with every core (the Node worker pool reads and hashes the pieces itself).
 */
import { Option, InvalidArgumentError, type Command } from 'commander'
import { writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { CreateTorrentOptions, MetaVersion } from '@lodestone/engine'
import type { CliContext } from '../util/context.js'
import { CliError, describeError, usageError } from '../util/cli-error.js'
import { ProgressLine } from '../util/progress.js'
import { formatBytes, formatPieceLength, hex } from '../util/format.js'

interface CreateFlags {
  output: string
  v1?: boolean
  v2?: boolean
  hybrid?: boolean
  pieceLength?: number
  tracker?: string[][]
  webSeed?: string[]
  private?: boolean
  comment?: string
  creator?: string
  source?: string
  name?: string
  date: boolean
}

// The engine's MIN/MAX_PIECE_LENGTH_BYTES, repeated so that parsing flags does not load the
// engine (the engine checks again and would refuse anything else with SETTINGS_INVALID).
const MIN_PIECE_LENGTH_BYTES = 16_384
const MAX_PIECE_LENGTH_BYTES = 64 * 1024 * 1024

/** `262144`, `256k`, `256KiB`, `4m`, `4MiB` → bytes; a power of two from 16 KiB to 64 MiB. */
export function parsePieceLength (text: string): number {
  const m = /^(\d+)\s*(k|kib|m|mib)?$/i.exec(text.trim())
  if (m === null) throw new InvalidArgumentError('expected a byte count such as 262144, 256k or 4m')
  const unit = (m[2] ?? '').toLowerCase()
  const bytes = Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1)
  if (!Number.isSafeInteger(bytes) || bytes < MIN_PIECE_LENGTH_BYTES || bytes > MAX_PIECE_LENGTH_BYTES || (bytes & (bytes - 1)) !== 0) {
    throw new InvalidArgumentError('must be a power of two from 16 KiB (16384) to 64 MiB')
  }
  return bytes
}

const TRACKER_SCHEMES = new Set(['http:', 'https:', 'udp:', 'ws:', 'wss:'])

function checkUrl (url: string, what: string, schemes: Set<string>): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new InvalidArgumentError(`${JSON.stringify(url)} is not a URL`)
  }
  if (!schemes.has(parsed.protocol)) throw new InvalidArgumentError(`${what} URL must use ${[...schemes].map((s) => s.slice(0, -1)).join(', ')}`)
  return url
}

/** Each `--tracker` is one BEP 12 tier; commas inside it separate that tier's URLs. */
function collectTier (value: string, tiers: string[][] | undefined): string[][] {
  const tier = value.split(',').map((u) => u.trim()).filter((u) => u !== '').map((u) => checkUrl(u, 'tracker', TRACKER_SCHEMES))
  if (tier.length === 0) throw new InvalidArgumentError('expected at least one tracker URL')
  return [...(tiers ?? []), tier]
}

function collectWebSeed (value: string, seeds: string[] | undefined): string[] {
  return [...(seeds ?? []), checkUrl(value, 'web seed', new Set(['http:', 'https:']))]
}

function kindOf (flags: CreateFlags): MetaVersion {
  const chosen = (['v1', 'v2', 'hybrid'] as const).filter((k) => flags[k] === true)
  if (chosen.length > 1) throw usageError(`choose one of --v1, --v2, --hybrid (got ${chosen.map((k) => `--${k}`).join(' ')})`)
  return chosen[0] ?? 'hybrid'
}

export function registerCreate (program: Command, ctx: CliContext): void {
  program
    .command('create')
    .description('create a .torrent from a file or directory (hybrid v1+v2 by default)')
    .argument('<path>', 'file or directory to share')
    .requiredOption('-o, --output <file>', 'where to write the .torrent')
    .addOption(new Option('--v1', 'v1 only (BEP 3)'))
    .addOption(new Option('--v2', 'v2 only (BEP 52)'))
    .addOption(new Option('--hybrid', 'v1 + v2 with BEP 47 padding (default)'))
    .option('--piece-length <bytes>', 'piece length: a power of two, e.g. 262144, 256k, 4m (default: chosen from the size)', parsePieceLength)
    .option('--tracker <urls>', 'tracker URL; comma-separated URLs form one tier, each flag a new tier (repeatable)', collectTier)
    .option('--web-seed <url>', 'BEP 19 web seed URL (repeatable)', collectWebSeed)
    .option('--private', 'private torrent (BEP 27): peers only from its trackers')
    .option('--comment <text>', 'comment')
    .option('--creator <text>', `"created by" (default: lodestone/${ctx.version})`)
    .option('--source <text>', 'source tag in the info dict (changes the info hash)')
    .option('--name <text>', 'torrent name (default: the file or directory name)')
    .option('--no-date', 'omit the creation date (reproducible output)')
    .action(async (path: string, flags: CreateFlags) => {
      const kind = kindOf(flags)
      const full = resolve(path)
      const parent = dirname(full)
      const entry = basename(full)
      if (entry === '') throw usageError(`cannot create a torrent of the file system root ${full}`)
      // Loaded on use: `lodestone --help` and the other commands start without the engine, and this one
      // loads only creation (not the engine's root), starting the hasher's workers as soon as their
      // module is in, so they boot while the rest loads and the source is listed.
      const creating = import('@lodestone/engine/create')
      creating.catch(() => {}) // a failure surfaces at the await below, not as an unhandled rejection meanwhile
      const { NodeFileSystem, NodeHasher } = await import('@lodestone/engine/adapters/node')
      const hasher = new NodeHasher()
      hasher.start()
      const fs = new NodeFileSystem(parent)
      const { createTorrent, hasCode } = await creating
      const progress = new ProgressLine(`hashing ${entry}`)
      const controller = new AbortController()
      const onSigint = (): void => { controller.abort() }
      process.once('SIGINT', onSigint)
      const options: CreateTorrentOptions = {
        kind,
        announce: flags.tracker ?? [],
        urlList: flags.webSeed ?? [],
        private: flags.private === true,
        createdBy: flags.creator ?? `lodestone/${ctx.version}`,
        signal: controller.signal,
        onProgress: (done, total) => { progress.update(done, total) },
        ...(flags.pieceLength === undefined ? {} : { pieceLengthBytes: flags.pieceLength }),
        ...(flags.comment === undefined ? {} : { comment: flags.comment }),
        ...(flags.source === undefined ? {} : { source: flags.source }),
        ...(flags.name === undefined ? {} : { name: flags.name }),
        ...(flags.date ? { creationDate: Math.floor(Date.now() / 1000) } : {})
      }
      let made
      try {
        made = await createTorrent(entry, options, { fs, hasher, nativePath: (p) => join(fs.rootDir, p) })
      } catch (err) {
        if (hasCode(err, 'CREATE_FAILED')) {
          // The core names paths relative to the parent directory; show the user's own path.
          const where = err.details.path === entry ? '' : ` (${join(parent, err.details.path)})`
          throw new CliError(`cannot create a torrent from ${path}: ${err.details.reason}${where}`, 1, { cause: err })
        }
        throw err
      } finally {
        progress.done()
        process.removeListener('SIGINT', onSigint)
        await hasher.close()
      }
      try {
        await writeFile(flags.output, made.torrent)
      } catch (err) {
        throw new CliError(`cannot write ${flags.output}: ${describeError(err)}`, 1, { cause: err })
      }
      const hashes = [
        made.infoHashV1 === null ? null : `v1 ${hex(made.infoHashV1)}`,
        made.infoHashV2 === null ? null : `v2 ${hex(made.infoHashV2)}`
      ].filter((h) => h !== null)
      ctx.out(`created ${flags.output}: ${made.kind} torrent "${made.name}", ${made.files.length} file${made.files.length === 1 ? '' : 's'}, ` +
        `${formatBytes(made.totalLengthBytes)}, ${made.pieceCount} pieces of ${formatPieceLength(made.pieceLengthBytes)}\n`)
      for (const h of hashes) ctx.out(`  info hash ${h}\n`)
    })
}
