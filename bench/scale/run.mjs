#!/usr/bin/env node
// bench/scale (issue 13): one Node engine with many small seeding torrents whose content and resume
// data are on disk. Not a CI test: a script, run by hand.
//
//   node bench/scale/run.mjs                 10 000 torrents
//   node bench/scale/run.mjs --n 1000        fewer
//   options: --keep (reuse the payload/torrents made by an earlier run)  --rounds N (restore rounds)
//
// Phases, each in its own process (peak RSS is the phase's):
//   add      a fresh engine (createNodeEngine, FileSessionStore, 127.0.0.1, no DHT/LSD/PEX/trackers/port
//            mapping) adds every .torrent; each checks its data and seeds. Timed: the addTorrent calls,
//            all seeding, engine.torrents, stats() of every torrent, saveState(), close().
//   restore  a new engine on the same state dir: restoreSession(), every torrent back to seeding with no
//            piece hashed (transitions to 'hashing' are counted; must be 0).
// Targets: peak RSS <= 500 MB, restore <= 3 s, torrents + every stats() <= 50 ms.
// The payload: n single-file torrents, 4 KiB each (one 16 KiB piece), in /tmp/lodestone-scale-<n>/.
// Build first: npx tsc -b. Set SCALE_HEAP_SNAPSHOT=1 for a heap snapshot per phase; NODE_OPTIONS=--cpu-prof works too.
// A restore alone (profiles, A/B of two builds): `bench/scale/phase.mjs restore-only <dir> <n>`, after a run made the state.
import { createHash, randomFillSync } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')
const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback
}
const n = Number(opt('n', 10_000))
const rounds = Number(opt('rounds', 2))
const keep = argv.includes('--keep')
const dir = `/tmp/lodestone-scale-${n}`
const FILE_BYTES = 4096
const PIECE_BYTES = 16_384

const { bencodeEncode } = await import(join(repo, 'packages/engine/dist/src/protocol/bencode.js'))

function makePayload () {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'data'), { recursive: true })
  mkdirSync(join(dir, 'torrents'), { recursive: true })
  const enc = new TextEncoder()
  const content = new Uint8Array(FILE_BYTES)
  for (let i = 0; i < n; i++) {
    randomFillSync(content)
    const name = `t${String(i).padStart(5, '0')}.bin`
    writeFileSync(join(dir, 'data', name), content)
    const info = { length: FILE_BYTES, name: enc.encode(name), 'piece length': PIECE_BYTES, pieces: createHash('sha1').update(content).digest() }
    writeFileSync(join(dir, 'torrents', `${name}.torrent`), bencodeEncode({ info }))
  }
}

function phase (mode) {
  const out = execFileSync(process.execPath, [...(process.env.SCALE_NODE_ARGS?.split(' ').filter(Boolean) ?? []), join(here, 'phase.mjs'), mode, dir, String(n)],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'], cwd: dir })
  return JSON.parse(out.trim().split('\n').pop())
}

if (!keep || !existsSync(join(dir, 'torrents'))) makePayload()
rmSync(join(dir, 'state'), { recursive: true, force: true })
const load = () => loadavg()[0].toFixed(2)
console.log(`bench/scale: ${n} torrents of ${FILE_BYTES} B; load ${load()}`)
const add = phase('add')
console.log(JSON.stringify({ ...add, load: load() }))
for (let r = 0; r < rounds; r++) {
  const restore = phase('restore')
  console.log(JSON.stringify({ ...restore, load: load() }))
  if (restore.hashingEntered !== 0) console.log(`restore re-hashed ${restore.hashingEntered} torrents (target 0)`)
}
