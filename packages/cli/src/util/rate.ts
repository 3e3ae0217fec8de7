/**
 * Transfer rates from the command line (`--max-down`, `--max-up`) → bytes per second.
 *
 * Single-letter suffixes are binary, as in curl's `--limit-rate` and aria2 (`500k` = 512 000 B/s,
 * `1M` = 1 MiB/s); the explicit IEC forms agree (`KiB`, `MiB`, `GiB`); the SI forms with a `B`
 * are decimal (`kB` = 1000, `MB` = 10^6). A trailing `/s` and a bare `B` are allowed. `0` means
 * unlimited.
 */
import { InvalidArgumentError } from 'commander'

const KIB = 1024
const MULTIPLIERS: Record<string, number> = {
  '': 1,
  b: 1,
  k: KIB,
  kib: KIB,
  kb: 1000,
  m: KIB ** 2,
  mib: KIB ** 2,
  mb: 1000 ** 2,
  g: KIB ** 3,
  gib: KIB ** 3,
  gb: 1000 ** 3
}

/** Largest rate accepted: 1 TiB/s is far beyond any link, and keeps the value a safe integer. */
const MAX_RATE_BYTES_PER_SEC = KIB ** 4

/**
 * Parses `1M`, `500k`, `2MiB/s`, `1.5 MB/s`, `65536`, `0` → whole bytes per second.
 * @throws InvalidArgumentError (commander reports it as a usage error naming the flag).
 */
export function parseRate (text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)(?:\/s)?$/i.exec(text.trim())
  // Units are case-insensitive: `kb`, `kB` and `KB` are all 1000 bytes.
  const multiplier = m === null ? undefined : MULTIPLIERS[(m[2] ?? '').toLowerCase()]
  if (m === null || multiplier === undefined) {
    throw new InvalidArgumentError(`"${text}" is not a rate: expected e.g. 500k, 1M, 2MiB/s or 0 for unlimited`)
  }
  const bytes = Math.round(Number(m[1]) * multiplier)
  if (!Number.isSafeInteger(bytes) || bytes > MAX_RATE_BYTES_PER_SEC) throw new InvalidArgumentError(`"${text}" is too large a rate`)
  return bytes
}
