#!/usr/bin/env node
// Lodestone's side of bench/recheck. Prints one JSON line: wall seconds and process CPU seconds
// (all threads) of one full check of the torrent's data. With a fourth argument (the payload: a file
// or directory), its page cache is evicted (evict.py) right before the timed check: a cold cache.
//   node lodestone-check.mjs engine <file.torrent> <dir> [<payload to evict>]   addTorrent (checked, not timed), then torrent.recheck() until 'checked'
//   node lodestone-check.mjs verify <file.torrent> <dir> [<payload to evict>]   verifyTorrentData (the CLI's `lodestone verify`)
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { coreWait, threadTimes } from './threads.mjs'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const { createNodeEngine } = await import(join(repo, 'packages/engine/dist/presets/node.js'))
const { testingSettings, parseTorrent, verifyTorrentData } = await import(join(repo, 'packages/engine/dist/src/index.js'))
const { NodeFileSystem, NodeHasher } = await import(join(repo, 'packages/engine/dist/adapters/node/index.js'))

const [mode, torrentPath, dir, evictPath] = process.argv.slice(2)
/** Evicts the payload's pages (untimed); the bytes still cached after it, or null (warm run). */
const evict = () => evictPath === undefined
  ? null
  : JSON.parse(execFileSync('/usr/bin/python3', [join(dirname(fileURLToPath(import.meta.url)), 'evict.py'), evictPath], { encoding: 'utf8' })).residentBytes
let residentBytes = null
const bytes = readFileSync(torrentPath)
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
let seconds, cpuSec, pieces, waits
if (mode === 'engine') {
  const engine = createNodeEngine({ downloadPath: dir, host: '127.0.0.1', port: 0, logLevel: 'off', settings: testingSettings({ discovery: { trackers: false } }) })
  // As libtorrent's side: the first check (on add) is not timed, the recheck after it is.
  const torrent = await engine.addTorrent(bytes)
  await new Promise((resolve) => { const off = torrent.on('state-changed', ({ to }) => { if (to === 'seeding') { off(); resolve() } }) })
  residentBytes = evict()
  const c0 = cpu()
  const s0 = threadTimes()
  const t0 = performance.now()
  const rechecked = new Promise((resolve) => torrent.once('checked', resolve))
  await torrent.recheck()
  const checked = await rechecked
  seconds = (performance.now() - t0) / 1000
  cpuSec = cpu() - c0
  waits = coreWait(s0, threadTimes(), seconds)
  pieces = checked.havePieces
  await engine.close()
} else {
  const meta = await parseTorrent(bytes)
  const hasher = new NodeHasher()
  residentBytes = evict()
  const c0 = cpu()
  const s0 = threadTimes()
  const t0 = performance.now()
  const result = await verifyTorrentData(meta, { fs: new NodeFileSystem(dir), hasher })
  seconds = (performance.now() - t0) / 1000
  cpuSec = cpu() - c0
  waits = coreWait(s0, threadTimes(), seconds)
  pieces = result.goodPieces
  await hasher.close()
}
console.log(JSON.stringify({ mode, seconds, cpuSec, pieces, residentBytes, ...waits }))
