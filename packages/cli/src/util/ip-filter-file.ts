/**
 * `--ip-filter FILE`: a block list in eMule `ipfilter.dat` or PeerGuardian `.p2p` text format
 * (told apart by the engine's `parseIpFilterList`), loaded before the engine starts so a bad file
 * is one stderr line and exit 1, with nothing connected.
 */
import { readFile } from 'node:fs/promises'
import type { IpFilter } from '@lodestone/engine'
import { CliError, describeError, EXIT_FAILURE } from './cli-error.js'

/** The filter the file describes, and how many ranges it denies. @throws CliError (exit 1) naming the file and the problem. */
export async function loadIpFilterFile (path: string): Promise<{ filter: IpFilter, blockedRanges: number }> {
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await readFile(path))
  } catch (err) {
    const code = (err as { code?: unknown }).code
    throw new CliError(code === 'ENOENT' ? `${path}: no such file` : `cannot read ${path}: ${describeError(err)}`, EXIT_FAILURE, { cause: err })
  }
  const { parseIpFilterList, hasCode } = await import('@lodestone/engine')
  try {
    const { filter, blockedRanges } = parseIpFilterList(bytes)
    return { filter, blockedRanges }
  } catch (err) {
    if (hasCode(err, 'IP_FILTER_INVALID')) {
      const { line, reason } = err.details
      throw new CliError(`${path}: not an IP filter list (eMule .dat or PeerGuardian .p2p): line ${line}: ${reason}`, EXIT_FAILURE, { cause: err })
    }
    throw new CliError(`${path}: ${describeError(err)}`, EXIT_FAILURE, { cause: err })
  }
}
