#!/usr/bin/env node
// bench/seed/transmission.mjs: Transmission 3.00 downloads from a Lodestone seed (in this process)
// over loopback TCP, once per request-queue depth Lodestone advertises (`reqq`,
// peer.maxIncomingRequests), to show what bounds Transmission's rate from a single peer.
// Transmission never dials a loopback peer, so Lodestone dials its peer port. Measured: payload
// MB/s from Transmission's first byte to its last (polled over RPC every 100 ms; Transmission waits
// ~11 s before it requests anything), and this process's CPU seconds meanwhile.
// Transmission runs with its default encryption preference (1: prefer RC4) unless --encryption 0|2.
//
//   node bench/seed/transmission.mjs                     256 MiB, reqq 500 and 2000, 1 round
//   options: --size N[K|M|G]  --reqq 500,2000  --rounds N  --encryption 0|1|2
// Build first: npx tsc -b. Uses interop/helpers/transmission.ts (bundled here with esbuild).
import { build } from 'esbuild'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { commandLine, loadText, median, parseSize, preparePayload, repoRoot, requireBuild, sizeText } from '../lib/transfer.mjs'

const { opt } = commandLine()
const sizeBytes = parseSize(opt('size', '256M'))
const depths = opt('reqq', '500,2000').split(',').map(Number)
const rounds = Number(opt('rounds', 1))
const encryption = Number(opt('encryption', 1))
requireBuild('bench/seed/transmission')

const work = mkdtempSync(join(tmpdir(), 'lodestone-bench-seed-tr-'))
const helper = join(work, 'transmission-helper.mjs')
await build({ entryPoints: [join(repoRoot, 'interop', 'helpers', 'transmission.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: helper, logLevel: 'error' })
const { startTransmission, TR_STATUS } = await import(pathToFileURL(helper).href)
const { createNodeEngine } = await import(pathToFileURL(join(repoRoot, 'packages', 'engine', 'dist', 'presets', 'node.js')).href)

async function once (reqq) {
  const tr = await startTransmission({ encryption })
  const leechDir = mkdtempSync(join(work, 'leech-'))
  const engine = createNodeEngine({
    downloadPath: join(work, 'seed'), port: 0, host: '127.0.0.1', logLevel: 'off',
    settings: { peer: { maxIncomingRequests: reqq, maxIncomingRequestBytes: reqq * 16_384 } }
  })
  try {
    const metainfo = new Uint8Array(readFileSync(join(work, 'payload.torrent')))
    const torrent = await engine.addTorrent(metainfo)
    await new Promise((resolve) => { const check = () => { if (torrent.state === 'seeding') resolve() }; torrent.on('state-changed', check); check() })
    const { id } = await tr.addTorrent(metainfo, leechDir)
    await tr.waitFor(id, (t) => t.status === TR_STATUS.download || t.status === TR_STATUS.downloadWait, 20_000, 'Transmission to start')
    const dialledAt = performance.now()
    torrent.addPeer(`127.0.0.1:${tr.peerPort}`)
    let first = null
    let firstBytes = 0
    let cpu = null
    for (;;) {
      const t = (await tr.rpc('torrent-get', { ids: [id], fields: ['downloadedEver', 'leftUntilDone'] })).torrents[0]
      if (first === null && t.downloadedEver > 0) {
        first = performance.now()
        firstBytes = t.downloadedEver
        cpu = process.cpuUsage()
      }
      if (t.leftUntilDone === 0) {
        const seconds = (performance.now() - first) / 1000
        const used = process.cpuUsage(cpu)
        return { mbps: (t.downloadedEver - firstBytes) / seconds / 1e6, firstByteSeconds: (first - dialledAt) / 1000, cpuSeconds: (used.user + used.system) / 1e6 }
      }
      if (performance.now() - dialledAt > 300_000) throw new Error(`Transmission did not finish in 300 s (${t.downloadedEver} bytes)`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    await engine.close()
    await tr.close()
    rmSync(leechDir, { recursive: true, force: true })
  }
}

const before = loadText()
const results = Object.fromEntries(depths.map((d) => [d, []]))
try {
  preparePayload(work, sizeBytes)
  for (let round = 0; round < rounds; round++) {
    for (const reqq of depths) {
      const r = await once(reqq)
      results[reqq].push(r)
      console.log(`  round ${round + 1}: reqq ${reqq}: ${r.mbps.toFixed(1)} MB/s, first byte after ${r.firstByteSeconds.toFixed(1)} s, seeder ${r.cpuSeconds.toFixed(2)} CPU-s; load ${loadText()}`)
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
console.log(`bench/seed/transmission: Transmission 3.00 <- Lodestone, ${sizeText(sizeBytes)}, encryption ${encryption}, ${rounds} round(s); load before ${before}, after ${loadText()}`)
for (const reqq of depths) {
  const runs = results[reqq]
  console.log(`reqq ${String(reqq).padStart(5)}: ${median(runs.map((r) => r.mbps)).toFixed(1).padStart(6)} MB/s (${(reqq * 16_384 / 1e6).toFixed(1)} MB/s = reqq blocks a second), seeder ${median(runs.map((r) => r.cpuSeconds)).toFixed(2)} CPU-s`)
}
