#!/usr/bin/env node
// Runs every macro benchmark: each bench/<name>/run.mjs, one after another (they compete for the
// same cores, so never in parallel). `--smoke` is passed through: each bench then runs a tiny
// version so CI notices a bench that rots. Extra arguments after the flags select benches by name:
//   node bench/run.mjs [--smoke] [create ...]
import { readdirSync, existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flags = args.filter((a) => a.startsWith('--'))
const only = args.filter((a) => !a.startsWith('--'))

const benches = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'run.mjs')))
  .map((d) => d.name)
  .filter((name) => only.length === 0 || only.includes(name))
  .sort()

if (benches.length === 0) {
  console.error(`bench: no benchmark found${only.length > 0 ? ` named ${only.join(', ')}` : ''}`)
  process.exit(2)
}

const failed = []
for (const name of benches) {
  console.log(`\n=== bench/${name} ${flags.join(' ')}`)
  const run = spawnSync(process.execPath, [join(root, name, 'run.mjs'), ...flags], { stdio: 'inherit' })
  if (run.status !== 0) failed.push(`${name} (exit ${run.status ?? run.signal})`)
}
console.log(`\nbench: ${benches.length - failed.length} of ${benches.length} ran${failed.length > 0 ? `; failed: ${failed.join(', ')}` : ''}`)
process.exit(failed.length > 0 ? 1 : 0)
