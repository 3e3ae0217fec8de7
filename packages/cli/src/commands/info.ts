/**
 * `lodestone info <torrent-file|magnet> [--json]`: what a torrent or magnet holds.
 *
 * The JSON form is stable for scripts: `files[].index` counts visible files only (BEP 47 padding
 * is never listed), and it is the index `--select` takes elsewhere in the CLI.
 */
import type { Command } from 'commander'
import type { MagnetLink, TorrentMetainfo } from '@lodestone/engine'
import type { CliContext } from '../util/context.js'
import { loadTorrentOrMagnet } from '../util/load-torrent.js'
import { formatBytes, formatDate, formatPieceLength, hex } from '../util/format.js'

/** The JSON shape of `lodestone info --json`. */
export interface TorrentInfoJson {
  /** What was read. */
  input: 'torrent' | 'magnet'
  name: string | null
  /** 'v1' | 'v2' | 'hybrid'; null for a magnet (unknown until the metadata arrives). */
  version: 'v1' | 'v2' | 'hybrid' | null
  /** v1 info hash (40 hex), or null for a pure v2 torrent. */
  infoHash: string | null
  /** v2 info hash (64 hex), or null for a v1 torrent. */
  infoHashV2: string | null
  pieceLength: number | null
  pieceCount: number | null
  /** Content bytes, padding excluded. */
  totalLength: number | null
  files: Array<{ index: number, path: string, length: number }>
  /** BEP 12 tiers; a magnet's trackers are one tier each, in order. */
  trackers: string[][]
  webSeeds: string[]
  private: boolean
  comment: string | null
  createdBy: string | null
  /** Seconds since the epoch. */
  creationDate: number | null
  /** The info dict's `source` tag. */
  source: string | null
}

export function torrentInfoJson (meta: TorrentMetainfo): TorrentInfoJson {
  const visible = meta.files.filter((f) => !f.padding)
  return {
    input: 'torrent',
    name: meta.name,
    version: meta.version,
    infoHash: meta.infoHashV1 === null ? null : hex(meta.infoHashV1),
    infoHashV2: meta.infoHashV2 === null ? null : hex(meta.infoHashV2),
    pieceLength: meta.pieceLengthBytes,
    pieceCount: meta.pieceCount,
    totalLength: visible.reduce((n, f) => n + f.lengthBytes, 0),
    files: visible.map((f, index) => ({ index, path: f.path.join('/'), length: f.lengthBytes })),
    trackers: meta.announce.map((tier) => [...tier]),
    webSeeds: [...meta.urlList],
    private: meta.private,
    comment: meta.comment ?? null,
    createdBy: meta.createdBy ?? null,
    creationDate: meta.creationDate ?? null,
    source: meta.source ?? null
  }
}

export function magnetInfoJson (magnet: MagnetLink): TorrentInfoJson {
  return {
    input: 'magnet',
    name: magnet.displayName ?? null,
    version: null,
    infoHash: magnet.infoHashV1 === null ? null : hex(magnet.infoHashV1),
    infoHashV2: magnet.infoHashV2 === null ? null : hex(magnet.infoHashV2),
    pieceLength: null,
    pieceCount: null,
    totalLength: magnet.exactLengthBytes ?? null,
    files: [],
    trackers: magnet.trackers.map((t) => [t]),
    webSeeds: [...magnet.webSeeds],
    private: false,
    comment: null,
    createdBy: null,
    creationDate: null,
    source: null
  }
}

function humanInfo (info: TorrentInfoJson): string {
  const lines: string[] = []
  const row = (label: string, value: string): void => { lines.push(`${(label === '' ? '' : `${label}:`).padEnd(13)}${value}`) }
  row('name', info.name ?? '(unknown)')
  if (info.infoHash !== null) row('info hash', `${info.infoHash}${info.infoHashV2 !== null ? '  (v1)' : ''}`)
  if (info.infoHashV2 !== null) row(info.infoHash !== null ? '' : 'info hash', `${info.infoHashV2}  (v2)`)
  if (info.version !== null) row('version', info.version)
  if (info.totalLength !== null) {
    row('size', `${formatBytes(info.totalLength)} (${info.totalLength} bytes)${info.input === 'torrent' ? ` in ${info.files.length} file${info.files.length === 1 ? '' : 's'}` : ''}`)
  }
  if (info.pieceCount !== null && info.pieceLength !== null) row('pieces', `${info.pieceCount} × ${formatPieceLength(info.pieceLength)}`)
  if (info.input === 'torrent') row('private', info.private ? 'yes' : 'no')
  if (info.trackers.length === 0) row('trackers', '(none)')
  info.trackers.forEach((tier, i) => { row(i === 0 ? 'trackers' : '', `tier ${i + 1}: ${tier.join(', ')}`) })
  info.webSeeds.forEach((url, i) => { row(i === 0 ? 'web seeds' : '', url) })
  if (info.comment !== null) row('comment', info.comment)
  if (info.createdBy !== null) row('created by', info.createdBy)
  if (info.creationDate !== null) row('created', formatDate(info.creationDate))
  if (info.source !== null) row('source', info.source)
  if (info.files.length > 0) {
    lines.push('files:')
    const width = String(info.files.length - 1).length
    for (const f of info.files) lines.push(`  ${String(f.index).padStart(width)}  ${formatBytes(f.length).padStart(11)}  ${f.path}`)
  }
  return `${lines.join('\n')}\n`
}

export function registerInfo (program: Command, ctx: CliContext): void {
  program
    .command('info')
    .description('show what a .torrent file or magnet link holds')
    .argument('<torrent>', '.torrent file or magnet link')
    .option('--json', 'print JSON (name, infoHash, infoHashV2, pieceLength, pieceCount, totalLength, files, trackers, private, ...)')
    .action(async (arg: string, opts: { json?: boolean }) => {
      const loaded = await loadTorrentOrMagnet(arg)
      const info = loaded.kind === 'torrent' ? torrentInfoJson(loaded.meta) : magnetInfoJson(loaded.magnet)
      ctx.out(opts.json === true ? `${JSON.stringify(info, null, 2)}\n` : humanInfo(info))
    })
}
