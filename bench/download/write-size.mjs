#!/usr/bin/env node
// bench/download/write-size.mjs: system time of buffered pwrites by write size, the question behind
// NodeFileHandle.write's 256 KiB cap (bench/download/RESULTS.md, session 5). Writes --total MiB into
// a fresh file with sequential pwrites of each size (from 64 MiB of rotating random buffers, so the
// source is not cache-hot), --rounds times interleaved, and prints system seconds per GiB written.
//
//   node bench/download/write-size.mjs [--sizes 1024,512,256,128,64] [--total 512] [--rounds 3] [--dir DIR]
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { randomFillSync } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { commandLine, loadText } from '../lib/transfer.mjs'

const { opt } = commandLine()
const sizesKiB = opt('sizes', '1024,512,256,128,64').split(',').map(Number)
const totalBytes = Number(opt('total', 512)) * 1024 * 1024
const rounds = Number(opt('rounds', 3))
const dir = mkdtempSync(join(opt('dir', tmpdir()), 'lodestone-write-size-'))
const pool = randomFillSync(new Uint8Array(64 * 1024 * 1024))

console.log(`write-size: ${totalBytes / 1024 / 1024} MiB per run, load ${loadText()}`)
const results = Object.fromEntries(sizesKiB.map((k) => [k, []]))
try {
  for (let round = 0; round < rounds; round++) {
    for (const kib of sizesKiB) {
      const chunk = kib * 1024
      const path = join(dir, 'f')
      const before = process.cpuUsage()
      const fd = openSync(path, 'w')
      for (let at = 0; at < totalBytes; at += chunk) writeSync(fd, pool, at % pool.length, chunk, at)
      closeSync(fd)
      const used = process.cpuUsage(before)
      results[kib].push((used.system / 1e6) * (1024 ** 3 / totalBytes))
      rmSync(path)
      spawnSync('sync')
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
for (const kib of sizesKiB) console.log(`${String(kib).padStart(5)} KiB writes: system s per GiB ${results[kib].map((s) => s.toFixed(2)).join(' / ')}`)
console.log(`load after ${loadText()}`)
