#!/usr/bin/env node
// bench/browser: the browser engine (headless Chromium, through io-daemon and in OPFS) against the
// Node engine, downloading from libtorrent; see bench.ts. Bundles bench.ts with esbuild (the
// harness and fixtures are TypeScript) and runs it. Build first: npx tsc -b.
//   node bench/browser/run.mjs [--size 1G] [--rounds 3] [--smoke]
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const outfile = join(here, 'dist', 'bench.mjs')
await build({ entryPoints: [join(here, 'bench.ts')], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' })
const run = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: 'inherit' })
process.exit(run.status ?? 1)
