/** Inputs that once failed a campaign (fuzz/regressions/<target>/*.bin), replayed by `npm test`. */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

export function regressionInputs (target) {
  const dir = join(here, 'regressions', target)
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter((f) => f.endsWith('.bin')).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))))
}
