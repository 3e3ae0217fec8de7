/**
 * `--select` lists: their syntax is checked when the command starts, their indices against the
 * torrent once its metadata is known. Indices are those `lodestone info` lists: BEP 47 padding
 * files are not counted.
 */
import type { FileIndexRange, TorrentMetainfo } from '@lodestone/engine'
import { describeError, usageError } from './cli-error.js'

/**
 * `0,2-4` → ranges of visible file indices.
 * @throws CliError (usage) for a malformed list.
 */
export async function parseSelectRanges (text: string): Promise<FileIndexRange[]> {
  const { parseSelectOnly } = await import('@lodestone/engine')
  try {
    return parseSelectOnly(text.replace(/\s+/g, ''))
  } catch (err) {
    // The magnet parser speaks of BEP 53's `so`; here it is the --select flag.
    const reason = describeError(err).replace(/^invalid magnet link: /, '').replace(/\bso\b ?/g, '')
    throw usageError(`--select "${text}": ${reason} (expected file indices like 0,2-4)`)
  }
}

/**
 * One priority per entry of `meta.files` (1 wanted, 0 skipped; padding files get 1, they are
 * never written anyway).
 * @throws CliError (usage) for an index beyond the torrent's files.
 */
export function selectionPriorities (ranges: readonly FileIndexRange[], meta: TorrentMetainfo): number[] {
  const visible = meta.files.filter((f) => !f.padding).length
  const tooHigh = ranges.find((r) => r.last >= visible)
  if (tooHigh !== undefined) {
    throw usageError(`--select: file index ${tooHigh.last} is out of range (the torrent has ${visible} file${visible === 1 ? '' : 's'}, 0-${visible - 1})`)
  }
  let index = 0
  return meta.files.map((f) => {
    if (f.padding) return 1
    const i = index++
    return ranges.some((r) => i >= r.first && i <= r.last) ? 1 : 0
  })
}
