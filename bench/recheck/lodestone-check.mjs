#!/usr/bin/env node
// Lodestone's side of bench/recheck. Prints one JSON line: wall seconds and process CPU seconds
// (all threads) of one full check of the torrent's data, the page cache warm.
//   node lodestone-check.mjs engine <file.torrent> <dir>   addTorrent (checked, not timed), then torrent.recheck() until 'checked'
//   node lodestone-check.mjs verify <file.torrent> <dir>   verifyTorrentData (the CLI's `lodestone verify`)
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const { createNodeEngine } = await import(join(repo, 'packages/engine/dist/presets/node.js'))
const { testingSettings, parseTorrent, verifyTorrentData } = await import(join(repo, 'packages/engine/dist/src/index.js'))
const { NodeFileSystem, NodeHasher } = await import(join(repo, 'packages/engine/dist/adapters/node/index.js'))

const [mode, torrentPath, dir] = process.argv.slice(2)
const bytes = readFileSync(torrentPath)
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
let seconds, cpuSec, pieces
if (mode === 'engine') {
  const engine = createNodeEngine({ downloadPath: dir, host: '127.0.0.1', port: 0, logLevel: 'off', settings: testingSettings({ discovery: { trackers: false } }) })
  // As libtorrent's side: the first check (on add) is not timed, the recheck after it is.
  const torrent = await engine.addTorrent(bytes)
  await new Promise((resolve) => { const off = torrent.on('state-changed', ({ to }) => { if (to === 'seeding') { off(); resolve() } }) })
  const c0 = cpu()
  const t0 = performance.now()
  const rechecked = new Promise((resolve) => torrent.once('checked', resolve))
  await torrent.recheck()
  const checked = await rechecked
  seconds = (performance.now() - t0) / 1000
  cpuSec = cpu() - c0
  pieces = checked.havePieces
  await engine.close()
} else {
  const meta = await parseTorrent(bytes)
  const hasher = new NodeHasher()
  const c0 = cpu()
  const t0 = performance.now()
  const result = await verifyTorrentData(meta, { fs: new NodeFileSystem(dir), hasher })
  seconds = (performance.now() - t0) / 1000
  cpuSec = cpu() - c0
  pieces = result.goodPieces
  await hasher.close()
}
console.log(JSON.stringify({ mode, seconds, cpuSec, pieces }))
