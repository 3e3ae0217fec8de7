/**
 * `lodestone verify <torrent> -d <dir> [--json]`: checks the data in `dir` against the torrent's
 * hashes and reports the pieces and files that are good. Exit 0 when every piece is good, 1
 * otherwise (also for errors), 2 for wrong usage.
 *
 * File indices count visible files only, as `lodestone info` lists them (BEP 47 padding is never
 * shown). A file's verified bytes are its bytes inside good pieces; a piece that fails its check
 * is reported against every file it touches.
 */
import type { Command } from 'commander'
import { resolve } from 'node:path'
import type { VerifyDataResult } from '@lodestone/engine'
import type { CliContext } from '../util/context.js'
import { CliError } from '../util/cli-error.js'
import { formatBytes } from '../util/format.js'
import { loadTorrentFile } from '../util/load-torrent.js'
import { ProgressLine } from '../util/progress.js'

interface VerifyFlags {
  dir: string
  json?: boolean
}

/** The JSON shape of `lodestone verify --json`. */
export interface VerifyJson {
  name: string
  infoHash: string
  dir: string
  complete: boolean
  pieceCount: number
  goodPieces: number
  /** Indices of pieces read from disk whose hash did not match. */
  failedPieces: number[]
  /** Indices of pieces not checked because a file they need is missing or too short. */
  missingPieces: number[]
  /** Pieces with no hash to check against (v2 without piece layers). */
  unverifiablePieces: number[]
  verifiedBytes: number
  totalBytes: number
  files: Array<{ index: number, path: string, length: number, verifiedBytes: number, complete: boolean, failedPieces: number[] }>
}

function indicesOf (result: VerifyDataResult, status: string): number[] {
  const out: number[] = []
  result.pieces.forEach((s, i) => { if (s === status) out.push(i) })
  return out
}

/** `[1,2,3,7]` → `1-3, 7` (at most `max` items, then "…"). */
export function formatRanges (indices: readonly number[], max = 10): string {
  const parts: string[] = []
  for (let i = 0; i < indices.length;) {
    let j = i
    while (j + 1 < indices.length && indices[j + 1] === indices[j]! + 1) j++
    parts.push(i === j ? String(indices[i]) : `${indices[i]}-${indices[j]}`)
    i = j + 1
  }
  return parts.length > max ? `${parts.slice(0, max).join(', ')}, …` : parts.join(', ')
}

export function registerVerify (program: Command, ctx: CliContext): void {
  program
    .command('verify')
    .description('check data on disk against a torrent: which pieces and files are good')
    .argument('<torrent>', '.torrent file')
    .requiredOption('-d, --dir <dir>', 'directory holding the data (the torrent\'s file or directory is inside it)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit codes:\n  0  every piece is good\n  1  some data is missing or corrupt, or an error\n  2  wrong usage')
    .action(async (input: string, flags: VerifyFlags) => {
      const meta = await loadTorrentFile(input)
      const dir = resolve(flags.dir)
      const [{ verifyTorrentData }, { NodeFileSystem, NodeHasher }] = await Promise.all([import('@lodestone/engine'), import('@lodestone/engine/adapters/node')])
      const hasher = new NodeHasher()
      hasher.start()
      const progress = new ProgressLine(`verifying ${meta.name}`)
      const controller = new AbortController()
      const onSignal = (): void => { controller.abort() }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      let result: VerifyDataResult
      try {
        result = await verifyTorrentData(meta, { fs: new NodeFileSystem(dir), hasher }, {
          signal: controller.signal,
          onProgress: (done, total) => { progress.update(done, total) }
        })
      } finally {
        progress.done()
        process.removeListener('SIGINT', onSignal)
        process.removeListener('SIGTERM', onSignal)
        await hasher.close()
      }
      let visibleIndex = 0
      const files = result.files.filter((f) => !f.padding).map((f) => ({
        index: visibleIndex++,
        path: meta.files[f.index]!.path.join('/'),
        length: f.lengthBytes,
        verifiedBytes: f.verifiedBytes,
        complete: f.complete,
        failedPieces: f.failedPieces
      }))
      const json: VerifyJson = {
        name: meta.name,
        infoHash: meta.id,
        dir,
        complete: result.complete,
        pieceCount: meta.pieceCount,
        goodPieces: result.goodPieces,
        failedPieces: indicesOf(result, 'failed'),
        missingPieces: indicesOf(result, 'missing'),
        unverifiablePieces: indicesOf(result, 'unverifiable'),
        verifiedBytes: result.verifiedBytes,
        totalBytes: result.totalBytes,
        files
      }
      if (flags.json === true) {
        ctx.out(`${JSON.stringify(json, null, 2)}\n`)
      } else {
        ctx.out(`${meta.name}: ${json.goodPieces} of ${json.pieceCount} pieces good` +
          (json.failedPieces.length > 0 ? `, ${json.failedPieces.length} failed (${formatRanges(json.failedPieces)})` : '') +
          (json.missingPieces.length > 0 ? `, ${json.missingPieces.length} missing` : '') +
          (json.unverifiablePieces.length > 0 ? `, ${json.unverifiablePieces.length} unverifiable` : '') +
          `; ${formatBytes(json.verifiedBytes)} of ${formatBytes(json.totalBytes)} verified\n`)
        const width = Math.min(60, Math.max(...files.map((f) => f.path.length), 4))
        for (const f of files) {
          const state = f.complete ? 'ok        ' : 'INCOMPLETE'
          const failed = f.failedPieces.length > 0 ? `  failed pieces ${formatRanges(f.failedPieces)}` : ''
          ctx.out(`  ${String(f.index).padStart(3)}  ${state}  ${f.path.padEnd(width)}  ${f.verifiedBytes} / ${f.length} bytes${failed}\n`)
        }
      }
      if (!json.complete) {
        const bad = files.filter((f) => !f.complete).length
        throw new CliError(`data incomplete: ${bad} of ${files.length} file${files.length === 1 ? '' : 's'} not fully verified` +
          ` (${json.failedPieces.length} piece${json.failedPieces.length === 1 ? '' : 's'} failed, ${json.missingPieces.length} missing)`)
      }
    })
}
