#!/usr/bin/env node
// bench/recheck (issue 13): a full recheck of 1 GiB whose pages are cached — Lodestone against
// libtorrent 2.0.8 (python3-libtorrent, force_recheck) on the same file and .torrent, in the same
// run, alternating which goes first. Each side first checks the torrent once untimed (on add), then
// rechecks it timed; Lodestone also runs verifyTorrentData (`lodestone verify`'s path).
// Prints per round and medians: seconds, GB/s (10^9 B), CPU seconds (all threads).
// Target: >= 2.5 GB/s (both cores), no slower than libtorrent.
//
//   node bench/recheck/run.mjs                    1 GiB, v1, 1 MiB pieces, 3 rounds
//   options: --size-mib N  --rounds N  --kind v1|v2|hybrid  --piece-kib N
// Build first: npx tsc -b. The payload (random bytes) is /tmp/lodestone-bench-<N>m.bin, kept.
import { execFileSync } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { randomFillSync } from 'node:crypto'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const python = '/usr/bin/python3'
const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback
}
const sizeMiB = Number(opt('size-mib', 1024))
const rounds = Number(opt('rounds', 3))
const kind = opt('kind', 'v1')
const pieceBytes = Number(opt('piece-kib', 1024)) * 1024

function ensurePayload (mib) {
  const path = join('/tmp', `lodestone-bench-${mib}m.bin`)
  if (existsSync(path) && statSync(path).size === mib * 1024 * 1024) return path
  const fd = openSync(path, 'w')
  const chunk = new Uint8Array(4 * 1024 * 1024)
  for (let written = 0; written < mib * 1024 * 1024; written += chunk.length) {
    randomFillSync(chunk)
    writeSync(fd, chunk, 0, Math.min(chunk.length, mib * 1024 * 1024 - written))
  }
  closeSync(fd)
  return path
}

const payload = ensurePayload(sizeMiB)
readFileSync(payload) // warm the page cache
const torrent = join(mkdtempSync(join(tmpdir(), 'lodestone-bench-recheck-')), `${kind}.torrent`)
execFileSync(python, [join(here, '..', 'create', 'libtorrent-create.py'), payload, kind, String(pieceBytes), torrent])
const bytes = sizeMiB * 1024 * 1024
const run = (command, args) => JSON.parse(execFileSync(command, args, { encoding: 'utf8' }).trim().split('\n').pop())
const sides = {
  'lodestone recheck': () => run(process.execPath, [join(here, 'lodestone-check.mjs'), 'engine', torrent, dirname(payload)]),
  'lodestone verify': () => run(process.execPath, [join(here, 'lodestone-check.mjs'), 'verify', torrent, dirname(payload)]),
  'libtorrent recheck': () => run(python, [join(here, 'libtorrent-recheck.py'), torrent, dirname(payload)])
}
const results = Object.fromEntries(Object.keys(sides).map((k) => [k, []]))
const expectedPieces = Math.ceil(bytes / pieceBytes)
console.log(`bench/recheck: ${sizeMiB} MiB, ${kind}, ${pieceBytes / 1024} KiB pieces, ${rounds} rounds; load ${loadavg()[0].toFixed(2)}`)
for (let r = 0; r < rounds; r++) {
  const order = Object.keys(sides)
  if (r % 2 === 1) order.reverse()
  for (const name of order) {
    const m = sides[name]()
    if (m.pieces !== expectedPieces) throw new Error(`${name}: ${m.pieces} of ${expectedPieces} pieces passed`)
    results[name].push(m)
    console.log(`  round ${r + 1} ${name.padEnd(19)} ${m.seconds.toFixed(3)} s  ${(bytes / m.seconds / 1e9).toFixed(2)} GB/s  ${m.cpuSec.toFixed(2)} CPU-s  load ${loadavg()[0].toFixed(2)}`)
  }
}
const median = (v) => { const s = [...v].sort((a, b) => a - b); const m = Math.floor(s.length / 2); return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }
const lt = median(results['libtorrent recheck'].map((m) => m.seconds))
for (const [name, ms] of Object.entries(results)) {
  const s = median(ms.map((m) => m.seconds))
  console.log(`median ${name.padEnd(19)} ${s.toFixed(3)} s  ${(bytes / s / 1e9).toFixed(2)} GB/s  ${median(ms.map((m) => m.cpuSec)).toFixed(2)} CPU-s  time vs libtorrent ${(s / lt).toFixed(2)}`)
}
console.log(`load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
