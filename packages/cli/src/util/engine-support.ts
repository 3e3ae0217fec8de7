/**
 * Flags whose engine support is not there yet fail with one clear line instead of being ignored,
 * and `--select` lists are checked against the torrent (indices as `lodestone info` lists them:
 * BEP 47 padding files are not counted).
 */
import type { TorrentMetainfo } from '@lodestone/engine'
import { CliError, EXIT_USAGE, describeError, usageError } from './cli-error.js'

/** `<what> is not supported yet`: exit code 2. */
export function notSupportedYet (what: string): CliError {
  return new CliError(`${what} is not supported yet`, EXIT_USAGE)
}

/**
 * `0,2-4` → one priority per entry of `meta.files` (1 wanted, 0 skipped; padding files follow
 * nothing and get 1, they are never written anyway).
 * @throws CliError (usage) for a malformed list or an index beyond the torrent's files.
 */
export async function parseSelection (text: string, meta: TorrentMetainfo): Promise<number[]> {
  const { parseSelectOnly, isFileSelected } = await import('@lodestone/engine')
  let ranges
  try {
    ranges = parseSelectOnly(text.replace(/\s+/g, ''))
  } catch (err) {
    // The magnet parser speaks of BEP 53's `so`; here it is the --select flag.
    const reason = describeError(err).replace(/^invalid magnet link: /, '').replace(/\bso\b ?/g, '')
    throw usageError(`--select "${text}": ${reason} (expected file indices like 0,2-4)`)
  }
  const visible = meta.files.filter((f) => !f.padding).length
  const tooHigh = ranges.find((r) => r.last >= visible)
  if (tooHigh !== undefined) {
    throw usageError(`--select: file index ${tooHigh.last} is out of range (the torrent has ${visible} file${visible === 1 ? '' : 's'}, 0-${visible - 1})`)
  }
  let index = 0
  return meta.files.map((f) => (f.padding ? 1 : isFileSelected(ranges, index++) ? 1 : 0))
}
